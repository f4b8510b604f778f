package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

const authRequestColumns = `id, client_id, redirect_uri, state, nonce, scopes, response_type, response_mode,
	code_challenge, code_challenge_method, prompt, max_age, login_hint, hint_subject, ui_locales, acr_values,
	user_id, session_id, auth_time, amr, done, code_hash, code_used_at, created_at, expires_at`

func scanAuthRequest(r Row) (*storage.AuthRequest, error) {
	a := new(storage.AuthRequest)
	err := r.Scan(&a.ID, &a.ClientID, &a.RedirectURI, &a.State, &a.Nonce, list(&a.Scopes), &a.ResponseType, &a.ResponseMode,
		&a.CodeChallenge, &a.CodeChallengeMethod, list(&a.Prompt), &a.MaxAge, &a.LoginHint, &a.HintSubject, list(&a.UILocales), list(&a.ACRValues),
		&a.UserID, &a.SessionID, tm(&a.AuthTime), list(&a.AMR), &a.Done, &a.CodeHash, tm(&a.CodeUsedAt), tm(&a.CreatedAt), tm(&a.ExpiresAt))
	return a, err
}

// CreateAuthRequest implements storage.AuthRequests.
func (s *Store) CreateAuthRequest(ctx context.Context, a *storage.AuthRequest) error {
	if a.ID == "" {
		a.ID = storage.NewID(storage.PrefixAuthRequest)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	var codeHash []byte
	if len(a.CodeHash) > 0 {
		codeHash = a.CodeHash
	}
	_, err := s.exec(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
		$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`,
		a.ID, a.ClientID, a.RedirectURI, a.State, a.Nonce, listArg(a.Scopes), a.ResponseType, a.ResponseMode,
		a.CodeChallenge, a.CodeChallengeMethod, listArg(a.Prompt), a.MaxAge, a.LoginHint, a.HintSubject, listArg(a.UILocales), listArg(a.ACRValues),
		a.UserID, a.SessionID, s.t(a.AuthTime), listArg(a.AMR), a.Done, codeHash, s.t(a.CodeUsedAt), s.t(a.CreatedAt), s.t(a.ExpiresAt))
	if errors.Is(err, storage.ErrInvalid) {
		return fmt.Errorf("%w: no client %q", storage.ErrInvalid, a.ClientID)
	}
	return err
}

// GetAuthRequest implements storage.AuthRequests.
func (s *Store) GetAuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	a, err := scanAuthRequest(s.q.QueryRow(ctx, `SELECT `+authRequestColumns+` FROM auth_requests WHERE id = $1 AND expires_at > $2`, id, s.t(now)))
	return a, s.d.MapError(err)
}

// CompleteAuthRequest implements storage.AuthRequests.
func (s *Store) CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string) error {
	return s.execOne(ctx, `UPDATE auth_requests SET user_id = $2, session_id = $3, auth_time = $4, amr = $5, done = TRUE WHERE id = $1 AND NOT done`,
		id, userID, sessionID, s.t(authTime), listArg(amr))
}

// SaveAuthCode implements storage.AuthRequests.
func (s *Store) SaveAuthCode(ctx context.Context, id string, codeHash []byte, expiresAt time.Time) error {
	n, err := s.exec(ctx, `UPDATE auth_requests SET code_hash = $2,
		expires_at = CASE WHEN expires_at < $3 THEN expires_at ELSE $3 END
		WHERE id = $1 AND done AND code_hash IS NULL`, id, codeHash, s.t(expiresAt))
	if err != nil || n == 1 {
		return err
	}
	var done bool
	if err := s.queryRow(ctx, `SELECT done FROM auth_requests WHERE id = $1`, []any{id}, &done); err != nil {
		return err
	}
	if !done {
		return fmt.Errorf("%w: the authorization request is not complete", storage.ErrConflict)
	}
	return fmt.Errorf("%w: the authorization request already has a code", storage.ErrConflict)
}

// ClaimAuthCode implements storage.AuthRequests. The claim is one
// conditional UPDATE, so the database decides which of two racing
// exchanges wins.
func (s *Store) ClaimAuthCode(ctx context.Context, codeHash []byte, now time.Time) (*storage.AuthRequest, error) {
	a, err := scanAuthRequest(s.q.QueryRow(ctx, `UPDATE auth_requests SET code_used_at = $2, expires_at = $3
		WHERE code_hash = $1 AND code_used_at IS NULL AND expires_at > $2
		RETURNING `+authRequestColumns, codeHash, s.t(now), s.t(now.Add(storage.CodeReplayWindow))))
	if err = s.d.MapError(err); !errors.Is(err, storage.ErrNotFound) {
		return a, err
	}
	a, err = scanAuthRequest(s.q.QueryRow(ctx, `SELECT `+authRequestColumns+` FROM auth_requests WHERE code_hash = $1`, codeHash))
	if err != nil {
		return nil, s.d.MapError(err)
	}
	if !a.CodeUsedAt.IsZero() {
		return a, fmt.Errorf("%w: the authorization code was already used", storage.ErrConflict)
	}
	return nil, storage.ErrNotFound // expired
}

// DeleteAuthRequest implements storage.AuthRequests.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM auth_requests WHERE id = $1`, id)
}
