package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres"
	"github.com/usher-id/usher/storage/sqlite"
)

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "read settings from this YAML `file`")
}

// openStorage opens the configured backend, migrating it when migrate is set.
func openStorage(ctx context.Context, cfg config.Config, migrate bool) (storage.Storage, error) {
	switch cfg.DatabaseKind() {
	case "postgres":
		return postgres.Open(ctx, cfg.Database.URL, postgres.Options{MaxConns: cfg.Database.MaxConns, Migrate: migrate})
	default:
		return sqlite.Open(ctx, cfg.SQLitePath(), sqlite.Options{MaxConns: cfg.Database.MaxConns, Migrate: migrate})
	}
}

// newLogger builds the process logger; libraries get it injected.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(cfg.Log.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// describeSchema is a short human description of a schema status.
func describeSchema(st storage.SchemaStatus) string {
	if st.UpToDate() {
		return fmt.Sprintf("schema version %d, up to date", st.Current)
	}
	return fmt.Sprintf("schema version %d of %d, %d migration(s) pending", st.Current, st.Latest, len(st.Pending))
}
