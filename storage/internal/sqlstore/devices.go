package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

const deviceColumns = `id, device_code_hash, user_code, client_id, scopes, status,
	user_id, session_id, auth_time, amr, decided_at, polled_at, polls, claimed_at, created_at, expires_at`

func scanDevice(r Row) (*storage.DeviceAuthorization, error) {
	d := new(storage.DeviceAuthorization)
	err := r.Scan(&d.ID, &d.DeviceCodeHash, &d.UserCode, &d.ClientID, list(&d.Scopes), &d.Status,
		&d.UserID, &d.SessionID, tm(&d.AuthTime), list(&d.AMR), tm(&d.DecidedAt), tm(&d.PolledAt), &d.Polls, tm(&d.ClaimedAt),
		tm(&d.CreatedAt), tm(&d.ExpiresAt))
	return d, err
}

// CreateDeviceAuthorization implements storage.DeviceAuthorizations. The
// unique index on user_code holds every row, so an expired holder of the
// code is removed first, in the same transaction.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d *storage.DeviceAuthorization) error {
	if len(d.DeviceCodeHash) == 0 || d.UserCode == "" || d.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: a device authorization needs a device code hash, a user code and an expiry", storage.ErrInvalid)
	}
	if d.ID == "" {
		d.ID = storage.NewID(storage.PrefixDeviceAuthorization)
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	if d.Status == "" {
		d.Status = storage.DeviceAuthPending
	}
	err := s.atomic(ctx, func(tx *Store) error {
		if _, err := tx.exec(ctx, `DELETE FROM device_authorizations WHERE user_code = $1 AND expires_at <= $2`,
			d.UserCode, tx.t(d.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO device_authorizations (`+deviceColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			d.ID, d.DeviceCodeHash, d.UserCode, d.ClientID, listArg(d.Scopes), d.Status,
			d.UserID, d.SessionID, tx.t(d.AuthTime), listArg(d.AMR), tx.t(d.DecidedAt), tx.t(d.PolledAt), d.Polls, tx.t(d.ClaimedAt),
			tx.t(d.CreatedAt), tx.t(d.ExpiresAt))
		return err
	})
	if errors.Is(err, storage.ErrInvalid) {
		return fmt.Errorf("%w: no client %q", storage.ErrInvalid, d.ClientID)
	}
	return err
}

// GetDeviceAuthorizationByUserCode implements storage.DeviceAuthorizations.
func (s *Store) GetDeviceAuthorizationByUserCode(ctx context.Context, userCode string, now time.Time) (*storage.DeviceAuthorization, error) {
	d, err := scanDevice(s.q.QueryRow(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
		WHERE user_code = $1 AND expires_at > $2`, userCode, s.t(now)))
	return d, s.d.MapError(err)
}

// GetDeviceAuthorizationByDeviceCode implements storage.DeviceAuthorizations.
func (s *Store) GetDeviceAuthorizationByDeviceCode(ctx context.Context, deviceCodeHash []byte) (*storage.DeviceAuthorization, error) {
	d, err := scanDevice(s.q.QueryRow(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
		WHERE device_code_hash = $1`, deviceCodeHash))
	return d, s.d.MapError(err)
}

// ApproveDeviceAuthorization implements storage.DeviceAuthorizations with
// a compare-and-set on the status, so of two concurrent answers one wins.
func (s *Store) ApproveDeviceAuthorization(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, now time.Time) error {
	n, err := s.exec(ctx, `UPDATE device_authorizations
		SET status = $2, user_id = $3, session_id = $4, auth_time = $5, amr = $6, decided_at = $7
		WHERE id = $1 AND status = $8 AND expires_at > $7`,
		id, storage.DeviceAuthApproved, userID, sessionID, s.t(authTime), listArg(amr), s.t(now), storage.DeviceAuthPending)
	if err != nil || n == 1 {
		return err
	}
	return s.whyNotDecided(ctx, id, now)
}

// DenyDeviceAuthorization implements storage.DeviceAuthorizations.
func (s *Store) DenyDeviceAuthorization(ctx context.Context, id, userID, sessionID string, now time.Time) error {
	n, err := s.exec(ctx, `UPDATE device_authorizations SET status = $2, user_id = $3, session_id = $4, decided_at = $5
		WHERE id = $1 AND status = $6 AND expires_at > $5`,
		id, storage.DeviceAuthDenied, userID, sessionID, s.t(now), storage.DeviceAuthPending)
	if err != nil || n == 1 {
		return err
	}
	return s.whyNotDecided(ctx, id, now)
}

// whyNotDecided explains an answer that changed nothing: the authorization
// is unknown or expired (ErrNotFound) or was already answered (ErrConflict).
func (s *Store) whyNotDecided(ctx context.Context, id string, now time.Time) error {
	var expires time.Time
	if err := s.queryRow(ctx, `SELECT expires_at FROM device_authorizations WHERE id = $1`, []any{id}, tm(&expires)); err != nil {
		return err
	}
	if !now.Before(expires) {
		return storage.ErrNotFound
	}
	return fmt.Errorf("%w: the device authorization was already answered", storage.ErrConflict)
}

// PollDeviceAuthorization implements storage.DeviceAuthorizations. The
// poll is counted by one conditional UPDATE (whose SET expressions all
// read the row as it was), so replicas agree on which polls came too soon.
func (s *Store) PollDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, clientID string, now time.Time, interval time.Duration, burst int) (*storage.DeviceAuthorization, error) {
	d, err := scanDevice(s.q.QueryRow(ctx, `UPDATE device_authorizations
		SET polls = CASE WHEN polled_at IS NULL OR polled_at <= $4 THEN 1 ELSE polls + 1 END,
			polled_at = CASE WHEN polled_at IS NULL OR polled_at <= $4 THEN $3 ELSE polled_at END
		WHERE device_code_hash = $1 AND client_id = $2 AND (polled_at IS NULL OR polled_at <= $4 OR polls < $5)
		RETURNING `+deviceColumns, deviceCodeHash, clientID, s.t(now), s.t(now.Add(-interval)), burst))
	if err = s.d.MapError(err); !errors.Is(err, storage.ErrNotFound) {
		return d, err
	}
	d, err = scanDevice(s.q.QueryRow(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
		WHERE device_code_hash = $1 AND client_id = $2`, deviceCodeHash, clientID))
	if err != nil {
		return nil, s.d.MapError(err)
	}
	return d, fmt.Errorf("%w: polled more often than the interval allows", storage.ErrConflict)
}

// ClaimDeviceAuthorization implements storage.DeviceAuthorizations.
func (s *Store) ClaimDeviceAuthorization(ctx context.Context, id string, now time.Time) error {
	n, err := s.exec(ctx, `UPDATE device_authorizations SET claimed_at = $2
		WHERE id = $1 AND status = $3 AND claimed_at IS NULL`, id, s.t(now), storage.DeviceAuthApproved)
	if err != nil || n == 1 {
		return err
	}
	var status string
	if err := s.queryRow(ctx, `SELECT status FROM device_authorizations WHERE id = $1`, []any{id}, &status); err != nil {
		return err
	}
	if status != storage.DeviceAuthApproved {
		return fmt.Errorf("%w: the device authorization is %s, not approved", storage.ErrConflict, status)
	}
	return fmt.Errorf("%w: the device authorization was already exchanged for tokens", storage.ErrConflict)
}

// DeleteDeviceAuthorization implements storage.DeviceAuthorizations.
func (s *Store) DeleteDeviceAuthorization(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM device_authorizations WHERE id = $1`, id)
}
