package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

func scanSecret(r Row) (*storage.Secret, error) {
	x := new(storage.Secret)
	err := r.Scan(&x.Name, &x.ValueEncrypted, tm(&x.CreatedAt), tm(&x.UpdatedAt))
	return x, err
}

// CreateSecret implements storage.Secrets.
func (s *Store) CreateSecret(ctx context.Context, x *storage.Secret) error {
	if x.Name == "" || len(x.ValueEncrypted) == 0 {
		return fmt.Errorf("%w: a secret needs a name and a value", storage.ErrInvalid)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	x.CreatedAt, x.UpdatedAt = now, now
	_, err := s.exec(ctx, `INSERT INTO secrets (name, value_encrypted, created_at, updated_at) VALUES ($1, $2, $3, $4)`,
		x.Name, x.ValueEncrypted, s.t(now), s.t(now))
	return err
}

// GetSecret implements storage.Secrets.
func (s *Store) GetSecret(ctx context.Context, name string) (*storage.Secret, error) {
	x, err := scanSecret(s.q.QueryRow(ctx, `SELECT name, value_encrypted, created_at, updated_at FROM secrets WHERE name = $1`, name))
	return x, s.d.MapError(err)
}

// ListSecrets implements storage.Secrets.
func (s *Store) ListSecrets(ctx context.Context) ([]*storage.Secret, error) {
	return queryList(ctx, s, `SELECT name, value_encrypted, created_at, updated_at FROM secrets ORDER BY name`, nil, scanSecret)
}

// UpdateSecret implements storage.Secrets.
func (s *Store) UpdateSecret(ctx context.Context, x *storage.Secret) error {
	if len(x.ValueEncrypted) == 0 {
		return fmt.Errorf("%w: a secret needs a value", storage.ErrInvalid)
	}
	x.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	return s.execOne(ctx, `UPDATE secrets SET value_encrypted = $2, updated_at = $3 WHERE name = $1`, x.Name, x.ValueEncrypted, s.t(x.UpdatedAt))
}
