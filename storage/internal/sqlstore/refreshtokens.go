package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

const refreshTokenColumns = `id, token_hash, family_id, client_id, user_id, session_id, auth_request_id,
	scopes, audience, amr, auth_time, created_at, expires_at, family_expires, rotated_at, replaced_by, revoked_at`

func scanRefreshToken(r Row) (*storage.RefreshToken, error) {
	t := new(storage.RefreshToken)
	err := r.Scan(&t.ID, &t.TokenHash, &t.FamilyID, &t.ClientID, &t.UserID, &t.SessionID, &t.AuthRequestID,
		list(&t.Scopes), list(&t.Audience), list(&t.AMR), tm(&t.AuthTime), tm(&t.CreatedAt), tm(&t.ExpiresAt),
		tm(&t.FamilyExpires), tm(&t.RotatedAt), &t.ReplacedBy, tm(&t.RevokedAt))
	return t, err
}

// CreateRefreshToken implements storage.RefreshTokens. A token without a
// family starts one.
func (s *Store) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	if t.ID == "" {
		t.ID = storage.NewID(storage.PrefixRefreshToken)
	}
	if t.FamilyID == "" {
		t.FamilyID = storage.NewID(storage.PrefixTokenFamily)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	if len(t.TokenHash) == 0 {
		return fmt.Errorf("%w: refresh token hash is empty", storage.ErrInvalid)
	}
	_, err := s.exec(ctx, `INSERT INTO refresh_tokens (`+refreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		t.ID, t.TokenHash, t.FamilyID, t.ClientID, t.UserID, t.SessionID, t.AuthRequestID,
		listArg(t.Scopes), listArg(t.Audience), listArg(t.AMR), s.t(t.AuthTime), s.t(t.CreatedAt), s.t(t.ExpiresAt),
		s.t(t.FamilyExpires), s.t(t.RotatedAt), t.ReplacedBy, s.t(t.RevokedAt))
	return err
}

// GetRefreshTokenByHash implements storage.RefreshTokens.
func (s *Store) GetRefreshTokenByHash(ctx context.Context, hash []byte) (*storage.RefreshToken, error) {
	t, err := scanRefreshToken(s.q.QueryRow(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens WHERE token_hash = $1`, hash))
	return t, s.d.MapError(err)
}

// MarkRefreshTokenRotated implements storage.RefreshTokens with a
// compare-and-set, so of two concurrent rotations one wins.
func (s *Store) MarkRefreshTokenRotated(ctx context.Context, id, replacedBy string, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE refresh_tokens SET rotated_at = $3, replaced_by = $2
		WHERE id = $1 AND rotated_at IS NULL AND revoked_at IS NULL`, id, replacedBy, s.t(at))
	if err != nil || n == 1 {
		return err
	}
	var exists int
	if err := s.queryRow(ctx, `SELECT 1 FROM refresh_tokens WHERE id = $1`, []any{id}, &exists); err != nil {
		return err
	}
	return fmt.Errorf("%w: the refresh token was already used or revoked", storage.ErrConflict)
}

// RevokeRefreshTokenFamily implements storage.RefreshTokens.
func (s *Store) RevokeRefreshTokenFamily(ctx context.Context, familyID string, at time.Time) (int64, error) {
	return s.exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`, familyID, s.t(at))
}

// RevokeRefreshTokens implements storage.RefreshTokens.
func (s *Store) RevokeRefreshTokens(ctx context.Context, userID, clientID string, at time.Time) (int64, error) {
	return s.exec(ctx, `UPDATE refresh_tokens SET revoked_at = $3
		WHERE user_id = $1 AND ($2 = '' OR client_id = $2) AND revoked_at IS NULL`, userID, clientID, s.t(at))
}

// RevokeRefreshTokensByAuthRequest implements storage.RefreshTokens. It
// revokes whole families, since rotation moves tokens away from the first.
func (s *Store) RevokeRefreshTokensByAuthRequest(ctx context.Context, authRequestID string, at time.Time) (int64, error) {
	return s.exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND family_id IN
		(SELECT family_id FROM refresh_tokens WHERE auth_request_id = $1 AND auth_request_id <> '')`, authRequestID, s.t(at))
}
