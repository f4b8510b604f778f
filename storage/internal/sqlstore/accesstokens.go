package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

const accessTokenColumns = `id, client_id, user_id, session_id, family_id, auth_request_id, scopes, audience, created_at, expires_at, revoked_at`

func scanAccessToken(r Row) (*storage.AccessToken, error) {
	t := new(storage.AccessToken)
	err := r.Scan(&t.ID, &t.ClientID, &t.UserID, &t.SessionID, &t.FamilyID, &t.AuthRequestID, list(&t.Scopes), list(&t.Audience),
		tm(&t.CreatedAt), tm(&t.ExpiresAt), tm(&t.RevokedAt))
	return t, err
}

// CreateAccessToken implements storage.AccessTokens.
func (s *Store) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	if t.ClientID == "" || t.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: an access token needs a client and an expiry", storage.ErrInvalid)
	}
	if t.ID == "" {
		t.ID = storage.NewID(storage.PrefixAccessToken)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	_, err := s.exec(ctx, `INSERT INTO access_tokens (`+accessTokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		t.ID, t.ClientID, t.UserID, t.SessionID, t.FamilyID, t.AuthRequestID, listArg(t.Scopes), listArg(t.Audience),
		s.t(t.CreatedAt), s.t(t.ExpiresAt), s.t(t.RevokedAt))
	return err
}

// GetAccessToken implements storage.AccessTokens.
func (s *Store) GetAccessToken(ctx context.Context, id string) (*storage.AccessToken, error) {
	t, err := scanAccessToken(s.q.QueryRow(ctx, `SELECT `+accessTokenColumns+` FROM access_tokens WHERE id = $1`, id))
	return t, s.d.MapError(err)
}

// RevokeAccessToken implements storage.AccessTokens. Revoking twice keeps
// the first time.
func (s *Store) RevokeAccessToken(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, `UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, s.t(at))
}

// RevokeAccessTokens implements storage.AccessTokens.
//
// The "column is not empty" terms here let SQLite and PostgreSQL use the
// partial indexes: neither planner can prove a bound parameter non-empty.
func (s *Store) RevokeAccessTokens(ctx context.Context, userID, clientID string, at time.Time) (int64, error) {
	return s.exec(ctx, `UPDATE access_tokens SET revoked_at = $3
		WHERE user_id = $1 AND user_id <> '' AND ($2 = '' OR client_id = $2) AND revoked_at IS NULL`, userID, clientID, s.t(at))
}

// RevokeAccessTokenFamily implements storage.AccessTokens.
func (s *Store) RevokeAccessTokenFamily(ctx context.Context, familyID string, at time.Time) (int64, error) {
	if familyID == "" {
		return 0, nil
	}
	return s.exec(ctx, `UPDATE access_tokens SET revoked_at = $2 WHERE family_id = $1 AND family_id <> '' AND revoked_at IS NULL`, familyID, s.t(at))
}

// RevokeAccessTokensByAuthRequest implements storage.AccessTokens.
func (s *Store) RevokeAccessTokensByAuthRequest(ctx context.Context, authRequestID string, at time.Time) (int64, error) {
	if authRequestID == "" {
		return 0, nil
	}
	return s.exec(ctx, `UPDATE access_tokens SET revoked_at = $2 WHERE auth_request_id = $1 AND auth_request_id <> '' AND revoked_at IS NULL`, authRequestID, s.t(at))
}
