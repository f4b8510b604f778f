package clients

import (
	"context"
	"errors"
	"fmt"

	"github.com/usher-id/usher/storage"
)

// Declared is a client written in the configuration file, with its secret
// (the file is where the operator keeps it; only its hash is stored).
type Declared struct {
	Client storage.Client // ID, Name and the settings; Source is set here
	Secret string         // required for client_secret_* methods
	Public bool
}

// MinDeclaredSecretLength keeps declared secrets as strong as generated
// ones: 32 random bytes encode to 43 characters.
const MinDeclaredSecretLength = 32

// SyncResult counts what Sync changed.
type SyncResult struct{ Created, Updated, Deleted int }

// Sync makes the stored configuration clients match declared: it creates
// the missing ones, rewrites the ones that exist (secret included), and
// deletes configuration clients no longer declared. A declared ID taken by
// a client made with the CLI or API is an error: the file does not take
// over clients it did not create.
func (s *Service) Sync(ctx context.Context, declared []Declared) (SyncResult, error) {
	var res SyncResult
	seen := make(map[string]bool)
	for i := range declared {
		d := declared[i]
		c := d.Client
		if c.ID == "" {
			return res, fmt.Errorf("clients[%d]: id is required for a declared client", i)
		}
		if seen[c.ID] {
			return res, fmt.Errorf("clients[%d]: client %s is declared twice", i, c.ID)
		}
		seen[c.ID] = true
		if d.Public {
			c.AuthMethod = AuthNone
		}
		c.Source = SourceConfig
		ApplyDefaults(&c)
		if err := Validate(&c); err != nil {
			return res, fmt.Errorf("client %s: %w", c.ID, err)
		}
		c.SecretHash = nil
		if UsesSecret(c.AuthMethod) {
			if len(d.Secret) < MinDeclaredSecretLength {
				return res, fmt.Errorf("client %s: a declared secret must be at least %d characters (generate one with: openssl rand -base64 32)", c.ID, MinDeclaredSecretLength)
			}
			c.SecretHash = s.secrets.Hash(d.Secret)
		}
		old, err := s.store.GetClient(ctx, c.ID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			if err := s.store.CreateClient(ctx, &c); err != nil {
				return res, fmt.Errorf("client %s: %w", c.ID, err)
			}
			res.Created++
		case err != nil:
			return res, fmt.Errorf("client %s: %w", c.ID, err)
		case old.Source != SourceConfig:
			return res, fmt.Errorf("client %s: an existing client created with the CLI or API has this id; pick another id or delete it", c.ID)
		default:
			c.CreatedAt = old.CreatedAt
			if err := s.store.UpdateClient(ctx, &c); err != nil {
				return res, fmt.Errorf("client %s: %w", c.ID, err)
			}
			res.Updated++
		}
	}
	// Collect first: deleting while paging would shift the pages.
	var stale []string
	for page := (storage.Page{Limit: 500}); ; page.Offset += page.Limit {
		list, err := s.store.ListClients(ctx, page)
		if err != nil {
			return res, err
		}
		for _, c := range list {
			if c.Source == SourceConfig && !seen[c.ID] {
				stale = append(stale, c.ID)
			}
		}
		if len(list) < page.Limit {
			break
		}
	}
	for _, id := range stale {
		if err := s.store.DeleteClient(ctx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return res, fmt.Errorf("client %s: %w", id, err)
		}
		res.Deleted++
	}
	return res, nil
}
