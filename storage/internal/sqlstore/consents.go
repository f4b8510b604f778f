package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

func scanConsent(r Row) (*storage.Consent, error) {
	c := new(storage.Consent)
	err := r.Scan(&c.UserID, &c.ClientID, list(&c.Scopes), tm(&c.CreatedAt), tm(&c.UpdatedAt))
	return c, err
}

// GetConsent implements storage.Consents.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	c, err := scanConsent(s.q.QueryRow(ctx, `SELECT user_id, client_id, scopes, created_at, updated_at FROM consents
		WHERE user_id = $1 AND client_id = $2`, userID, clientID))
	return c, s.d.MapError(err)
}

// SaveConsent implements storage.Consents as one upsert, which both
// backends spell the same way.
func (s *Store) SaveConsent(ctx context.Context, c *storage.Consent) error {
	if c.UserID == "" || c.ClientID == "" {
		return fmt.Errorf("%w: a consent needs a user and a client", storage.ErrInvalid)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.UpdatedAt = now
	_, err := s.exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
		c.UserID, c.ClientID, listArg(c.Scopes), s.t(c.CreatedAt), s.t(c.UpdatedAt))
	return err
}

// DeleteConsent implements storage.Consents.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return s.execOne(ctx, `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
}

// ListUserConsents implements storage.Consents.
func (s *Store) ListUserConsents(ctx context.Context, userID string) ([]*storage.Consent, error) {
	return queryList(ctx, s, `SELECT user_id, client_id, scopes, created_at, updated_at FROM consents
		WHERE user_id = $1 ORDER BY updated_at DESC, client_id`, []any{userID}, scanConsent)
}
