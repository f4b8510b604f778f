package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

// Lockout is when failed attempts lock an account. Every failed attempt
// counts the same, whatever the factor: a wrong password (Authenticate), or
// a wrong email code or anything else a flow reports with
// RecordFailedAttempt. A sign-in with the right password clears the count.
// While an account is locked, every sign-in is refused, even with the right
// password or code, and attempts are not counted.
type Lockout struct {
	// MaxAttempts failed attempts lock the account, and the count starts
	// again from zero. Below 1, attempts are counted but never lock.
	MaxAttempts int
	// Duration is how long a lock lasts. 0 (or less) means indefinitely:
	// until an operator lifts it with Unlock ("usher users unlock"); the
	// account's LockedUntil is then LockedIndefinitely.
	Duration time.Duration
}

// DefaultLockout is Clerk's default: 10 failed attempts, then locked for an
// hour.
var DefaultLockout = Lockout{MaxAttempts: 10, Duration: time.Hour}

// LockedIndefinitely is the LockedUntil of an account locked until an
// operator unlocks it: the last second of the year 9999, which both storage
// backends keep exactly. Compare with !t.Before(LockedIndefinitely).
var LockedIndefinitely = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// until returns when a lock starting at now ends.
func (l Lockout) until(now time.Time) time.Time {
	if l.Duration <= 0 {
		return LockedIndefinitely
	}
	return now.Add(l.Duration)
}

// decoyUserID is an ID no user has: NewID never makes it ('o' is not in
// its alphabet). countFailure reads and updates it when there is no attempt
// to count.
const decoyUserID = storage.PrefixUser + "_decoy"

// countFailure counts one failed attempt against user id, in one
// transaction: when the count reaches Lockout.MaxAttempts, the account is
// locked and a user.locked event appended. It returns until when the
// account is locked, zero if it is not. An attempt while the account is
// locked is not counted.
//
// With id "" it counts nothing, but does the same work against a user that
// does not exist: it reads it and updates it by ID.
func (s *Service) countFailure(ctx context.Context, id string, now time.Time) (until time.Time, err error) {
	err = s.store.InTx(ctx, func(tx storage.Tx) error {
		until = time.Time{}
		if id == "" {
			return decoyUpdate(ctx, tx)
		}
		cur, err := tx.GetUser(ctx, id)
		if err != nil {
			return err
		}
		if now.Before(cur.LockedUntil) {
			until = cur.LockedUntil
			return nil
		}
		cur.FailedAttempts++
		locks := s.Lockout.MaxAttempts > 0 && cur.FailedAttempts >= s.Lockout.MaxAttempts
		if locks {
			// The count starts again once the lock is over.
			cur.LockedUntil = s.Lockout.until(now)
			cur.FailedAttempts = 0
		}
		if err := tx.UpdateUser(ctx, cur); err != nil {
			return err
		}
		if !locks {
			return nil
		}
		until = cur.LockedUntil
		payload, err := json.Marshal(NewPublic(cur, now))
		if err != nil {
			return err
		}
		return tx.AppendEvent(ctx, &storage.Event{Type: EventUserLocked, Payload: payload, CreatedAt: now})
	})
	return until, err
}

// decoyUpdate reads and writes back decoyUserID, which matches no row (and
// should one ever exist, it is written back as read).
func decoyUpdate(ctx context.Context, tx storage.Tx) error {
	u, err := tx.GetUser(ctx, decoyUserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		u = &storage.User{ID: decoyUserID}
	case err != nil:
		return err
	}
	if err := tx.UpdateUser(ctx, u); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// RecordFailedAttempt counts one failed attempt of any factor against the
// user (a wrong email code, say) exactly as Authenticate counts a wrong
// password: the attempt that reaches Lockout.MaxAttempts locks the account.
// It returns until when the account is locked: zero if it is not, else the
// end of the lock (LockedIndefinitely for one only Unlock lifts), whether
// this attempt locked it or it was locked already (and the attempt not
// counted). An unknown ID is ErrNotFound.
func (s *Service) RecordFailedAttempt(ctx context.Context, userID string) (lockedUntil time.Time, err error) {
	if userID == "" {
		return time.Time{}, fmt.Errorf("%w: the user ID is empty", ErrNotFound)
	}
	until, err := s.countFailure(ctx, userID, s.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, fmt.Errorf("%w: %s", ErrNotFound, userID)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("users: record failed attempt of %s: %w", userID, err)
	}
	return until, nil
}

// CheckLocked reports whether the user is locked out now and, if so, until
// when (LockedIndefinitely for a lock only Unlock lifts). Flows that sign in
// by another factor than the password (email codes, links) call it and
// refuse a locked account even when the code is right. An unknown ID is
// ErrNotFound.
func (s *Service) CheckLocked(ctx context.Context, userID string) (until time.Time, locked bool, err error) {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, false, fmt.Errorf("%w: %s", ErrNotFound, userID)
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("users: check lock of %s: %w", userID, err)
	}
	if !s.now().Before(u.LockedUntil) {
		return time.Time{}, false, nil
	}
	return u.LockedUntil, true, nil
}

// Unlock lifts the user's lock, if any, and clears the failed-attempt
// count. An unknown ID is ErrNotFound.
func (s *Service) Unlock(ctx context.Context, userID string) error {
	err := s.update(ctx, userID, func(cur *storage.User) error {
		cur.LockedUntil = time.Time{}
		cur.FailedAttempts = 0
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, userID)
	}
	if err != nil {
		return fmt.Errorf("users: unlock %s: %w", userID, err)
	}
	return nil
}
