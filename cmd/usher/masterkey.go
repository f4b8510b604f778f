package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/keys"
)

// masterKey is the resolved master key and where it came from, for the
// start-up message.
type masterKey struct {
	sealer *keys.Sealer
	source string
}

// devMasterKeyPath is where development mode keeps a generated master key:
// beside the SQLite file, or in the working folder for PostgreSQL.
func devMasterKeyPath(cfg config.Config) string {
	if cfg.DatabaseKind() == "sqlite" {
		db := cfg.SQLitePath()
		return filepath.Join(filepath.Dir(db), strings.TrimSuffix(filepath.Base(db), filepath.Ext(db))+".master.key")
	}
	return "usher.master.key"
}

// loadMasterKey returns the configured master key, or in development mode
// the one kept in a local file, generated on first use.
func loadMasterKey(cfg config.Config) (masterKey, error) {
	var current []byte
	var source string
	switch {
	case cfg.MasterKey != "":
		k, err := config.ParseMasterKey(cfg.MasterKey)
		if err != nil {
			return masterKey{}, fmt.Errorf("master_key: %w", err)
		}
		current, source = k, "from the configuration"
	case cfg.DevMode():
		path := devMasterKeyPath(cfg)
		k, created, err := devMasterKey(path)
		if err != nil {
			return masterKey{}, err
		}
		current, source = k, "from "+path+" (development mode)"
		if created {
			source = "generated into " + path + " (development mode; set USHER_MASTER_KEY in production)"
		}
	default:
		return masterKey{}, errors.New("no master key: set USHER_MASTER_KEY (generate one with: openssl rand -base64 32)")
	}
	var previous [][]byte
	if cfg.MasterKeyPrevious != "" {
		k, err := config.ParseMasterKey(cfg.MasterKeyPrevious)
		if err != nil {
			return masterKey{}, fmt.Errorf("master_key_previous: %w", err)
		}
		previous = append(previous, k)
	}
	s, err := keys.NewSealer(current, previous...)
	if err != nil {
		return masterKey{}, err
	}
	return masterKey{sealer: s, source: source}, nil
}

// devMasterKey reads the key kept in path, creating the file (mode 0600)
// with a new random key when it does not exist.
func devMasterKey(path string) (key []byte, created bool, err error) {
	for range 50 {
		b, err := os.ReadFile(path)
		if err == nil {
			if len(strings.TrimSpace(string(b))) == 0 {
				// Another process has created the file and not yet
				// written it.
				time.Sleep(20 * time.Millisecond)
				continue
			}
			k, err := config.ParseMasterKey(string(b))
			if err != nil {
				return nil, false, fmt.Errorf("master key file %s: %w", path, err)
			}
			return k, false, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, false, fmt.Errorf("master key file: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue // created by a process starting beside us: read theirs
		}
		if err != nil {
			return nil, false, fmt.Errorf("master key file: %w", err)
		}
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, false, fmt.Errorf("master key file %s: %w", path, werr)
		}
		return k, true, nil
	}
	return nil, false, fmt.Errorf("master key file %s stays empty", path)
}
