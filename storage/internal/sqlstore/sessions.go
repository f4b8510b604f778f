package sqlstore

import (
	"context"
	"time"

	"github.com/usher-id/usher/storage"
)

const sessionColumns = `id, token_hash, user_id, auth_time, amr, user_agent, ip_address,
	created_at, last_active_at, expires_at, revoked_at`

func scanSession(r Row) (*storage.Session, error) {
	x := new(storage.Session)
	err := r.Scan(&x.ID, &x.TokenHash, &x.UserID, tm(&x.AuthTime), list(&x.AMR), &x.UserAgent, &x.IPAddress,
		tm(&x.CreatedAt), tm(&x.LastActiveAt), tm(&x.ExpiresAt), tm(&x.RevokedAt))
	return x, err
}

// CreateSession implements storage.Sessions.
func (s *Store) CreateSession(ctx context.Context, x *storage.Session) error {
	if x.ID == "" {
		x.ID = storage.NewID(storage.PrefixSession)
	}
	if x.CreatedAt.IsZero() {
		x.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	if x.LastActiveAt.IsZero() {
		x.LastActiveAt = x.CreatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		x.ID, x.TokenHash, x.UserID, s.t(x.AuthTime), listArg(x.AMR), x.UserAgent, x.IPAddress,
		s.t(x.CreatedAt), s.t(x.LastActiveAt), s.t(x.ExpiresAt), s.t(x.RevokedAt))
	return err
}

// GetSession implements storage.Sessions.
func (s *Store) GetSession(ctx context.Context, id string) (*storage.Session, error) {
	x, err := scanSession(s.q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	return x, s.d.MapError(err)
}

// GetSessionByTokenHash implements storage.Sessions.
func (s *Store) GetSessionByTokenHash(ctx context.Context, hash []byte) (*storage.Session, error) {
	x, err := scanSession(s.q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1`, hash))
	return x, s.d.MapError(err)
}

// TouchSession implements storage.Sessions.
func (s *Store) TouchSession(ctx context.Context, id string, lastActive, expiresAt time.Time) error {
	return s.execOne(ctx, `UPDATE sessions SET last_active_at = $2, expires_at = $3 WHERE id = $1`, id, s.t(lastActive), s.t(expiresAt))
}

// RotateSessionToken implements storage.Sessions.
func (s *Store) RotateSessionToken(ctx context.Context, id string, tokenHash []byte) error {
	return s.execOne(ctx, `UPDATE sessions SET token_hash = $2 WHERE id = $1 AND revoked_at IS NULL`, id, tokenHash)
}

// RevokeSession implements storage.Sessions. Revoking twice keeps the first
// time.
func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, `UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, s.t(at))
}

// RevokeUserSessions implements storage.Sessions.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, exceptID string, at time.Time) (int64, error) {
	return s.exec(ctx, `UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`, userID, exceptID, s.t(at))
}

// ListUserSessions implements storage.Sessions.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*storage.Session, error) {
	return queryList(ctx, s, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1 ORDER BY last_active_at DESC, id DESC`,
		[]any{userID}, scanSession)
}
