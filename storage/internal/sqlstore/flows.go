package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

const flowColumns = `id, browser_hash, auth_request_id, next, step, email, user_id, factor, amr, session_id,
	auth_time, created_at, updated_at, expires_at`

func scanFlow(r Row) (*storage.SignInFlow, error) {
	f := new(storage.SignInFlow)
	err := r.Scan(&f.ID, &f.BrowserHash, &f.AuthRequestID, &f.Next, &f.Step, &f.Email, &f.UserID, &f.Factor, list(&f.AMR),
		&f.SessionID, tm(&f.AuthTime), tm(&f.CreatedAt), tm(&f.UpdatedAt), tm(&f.ExpiresAt))
	return f, err
}

// CreateSignInFlow implements storage.SignInFlows.
func (s *Store) CreateSignInFlow(ctx context.Context, f *storage.SignInFlow) error {
	if len(f.BrowserHash) == 0 || f.Step == "" || f.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: a sign-in flow needs a browser hash, a step and an expiry", storage.ErrInvalid)
	}
	if f.ID == "" {
		f.ID = storage.NewID(storage.PrefixSignInFlow)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	if f.UpdatedAt.IsZero() {
		f.UpdatedAt = f.CreatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO sign_in_flows (`+flowColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		f.ID, f.BrowserHash, f.AuthRequestID, f.Next, f.Step, f.Email, f.UserID, f.Factor, listArg(f.AMR), f.SessionID,
		s.t(f.AuthTime), s.t(f.CreatedAt), s.t(f.UpdatedAt), s.t(f.ExpiresAt))
	return err
}

// GetSignInFlow implements storage.SignInFlows. Like a session, a flow is
// over at ExpiresAt itself.
func (s *Store) GetSignInFlow(ctx context.Context, id string, now time.Time) (*storage.SignInFlow, error) {
	f, err := scanFlow(s.q.QueryRow(ctx, `SELECT `+flowColumns+` FROM sign_in_flows WHERE id = $1 AND expires_at > $2`, id, s.t(now)))
	return f, s.d.MapError(err)
}

// UpdateSignInFlow implements storage.SignInFlows with one conditional
// UPDATE: of two concurrent updates from the same step, one matches.
func (s *Store) UpdateSignInFlow(ctx context.Context, f *storage.SignInFlow, from string) error {
	n, err := s.exec(ctx, `UPDATE sign_in_flows SET step = $3, email = $4, user_id = $5, factor = $6, amr = $7, session_id = $8,
		auth_time = $9, updated_at = $10, expires_at = $11
		WHERE id = $1 AND step = $2 AND expires_at > $10`,
		f.ID, from, f.Step, f.Email, f.UserID, f.Factor, listArg(f.AMR), f.SessionID, s.t(f.AuthTime), s.t(f.UpdatedAt), s.t(f.ExpiresAt))
	if err != nil || n == 1 {
		return err
	}
	var one int
	switch err := s.d.MapError(s.q.QueryRow(ctx, `SELECT 1 FROM sign_in_flows WHERE id = $1`, f.ID).Scan(&one)); {
	case err == nil:
		return fmt.Errorf("%w: the sign-in flow moved on or expired", storage.ErrConflict)
	default:
		return err
	}
}
