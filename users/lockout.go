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
// CountFailedAttempt. A sign-in with the right password clears the count.
// While an account is locked, every sign-in is refused, even with the right
// password or code, and attempts are not counted.
//
// A password attempt is counted before the password is checked, so that
// attempts arriving together cannot all be checked: it takes one of the
// MaxAttempts places, and an attempt that finds none left is refused
// unchecked and locks the account (the places are held by attempts that
// failed, or are being checked and will fail unless one is right).
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

// until returns when a lock starting at now ends, to the microsecond that
// both storage backends keep, so that the caller that locks reports the
// same time as those that read the lock back.
func (l Lockout) until(now time.Time) time.Time {
	if l.Duration <= 0 {
		return LockedIndefinitely
	}
	return now.Add(l.Duration).UTC().Truncate(time.Microsecond)
}

// decoyUserID is an ID no user has: NewID never makes it ('o' is not in
// its alphabet). The stand-in statements that keep refusals as costly as
// counted attempts read and update it.
const decoyUserID = storage.PrefixUser + "_decoy"

// settle is the transaction that ends an attempt that failed or was
// refused: it adds add (0 or 1) to the failed-attempt count of user id
// and, when the count has reached Lockout.MaxAttempts, locks the account,
// clears the count and appends a user.locked event. It returns the
// account's lock, if any: a *LockedError whose JustLocked says this
// transaction made it. An attempt while the account is locked changes
// nothing.
//
// Authenticate counts its attempts before the check (ReserveAttempt) and
// settles with add 0: the count may then have reached the limit by its own
// place or others'. With id "" it counts nothing, but does the same work
// against a user that does not exist.
func (s *Service) settle(ctx context.Context, id string, add int, now time.Time) (*LockedError, error) {
	var locked *LockedError
	err := s.store.InTx(ctx, func(tx storage.Tx) error {
		locked = nil // fn may run again
		if id == "" {
			return decoyUpdate(ctx, tx)
		}
		cur, err := tx.GetUser(ctx, id)
		if err != nil {
			return err
		}
		if now.Before(cur.LockedUntil) {
			locked = &LockedError{Until: cur.LockedUntil}
			return standIn(ctx, tx)
		}
		cur.FailedAttempts += add
		if s.Lockout.MaxAttempts < 1 || cur.FailedAttempts < s.Lockout.MaxAttempts {
			if add == 0 {
				return standIn(ctx, tx)
			}
			return tx.UpdateUser(ctx, cur)
		}
		// The count starts again once the lock is over.
		cur.LockedUntil = s.Lockout.until(now)
		cur.FailedAttempts = 0
		if err := tx.UpdateUser(ctx, cur); err != nil {
			return err
		}
		payload, err := json.Marshal(NewPublic(cur, now))
		if err != nil {
			return err
		}
		if err := tx.AppendEvent(ctx, &storage.Event{Type: EventUserLocked, Payload: payload, CreatedAt: now}); err != nil {
			return err
		}
		locked = &LockedError{Until: cur.LockedUntil, JustLocked: true}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return locked, nil
}

// decoyUpdate reads decoyUserID, which matches no row, and updates it.
func decoyUpdate(ctx context.Context, tx storage.Tx) error {
	if _, err := tx.GetUser(ctx, decoyUserID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return standIn(ctx, tx)
}

// standIn is the update of a transaction that has nothing to write: one by
// ID, of decoyUserID, which matches no row.
func standIn(ctx context.Context, tx storage.Tx) error {
	if err := tx.UpdateUser(ctx, &storage.User{ID: decoyUserID}); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// CountFailedAttempt counts one failed attempt of any factor against the
// user (a wrong email code, say) that was checked already: the attempt
// that reaches Lockout.MaxAttempts locks the account, as Authenticate's
// do. It returns nil while the account is not locked, else a *LockedError
// (ErrLocked) saying until when; its JustLocked is set when this attempt
// locked the account, which happens once per lock, and is when the owner
// should be told. An attempt while the account is locked is not counted.
// An unknown ID is ErrNotFound.
func (s *Service) CountFailedAttempt(ctx context.Context, userID string) error {
	if userID == "" {
		return fmt.Errorf("%w: the user ID is empty", ErrNotFound)
	}
	locked, err := s.settle(ctx, userID, 1, s.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, userID)
	}
	if err != nil {
		return fmt.Errorf("users: record failed attempt of %s: %w", userID, err)
	}
	if locked != nil {
		return locked
	}
	return nil
}

// RecordFailedAttempt is CountFailedAttempt for callers that only need to
// know whether the account is locked: it returns until when, zero if it is
// not, else the end of the lock (LockedIndefinitely for one only Unlock
// lifts), whether this attempt locked it or it was locked already (and the
// attempt not counted). To tell the owner once per lock, use
// CountFailedAttempt's JustLocked instead. An unknown ID is ErrNotFound.
func (s *Service) RecordFailedAttempt(ctx context.Context, userID string) (lockedUntil time.Time, err error) {
	err = s.CountFailedAttempt(ctx, userID)
	var locked *LockedError
	if errors.As(err, &locked) {
		return locked.Until, nil
	}
	return time.Time{}, err
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
