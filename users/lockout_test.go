package users_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres"
	"github.com/usher-id/usher/storage/postgres/pgtest"
	"github.com/usher-id/usher/users"
)

// Wrong passwords and failed attempts of other factors count alike; the
// attempt that reaches the limit locks the account, even against the right
// password, and appends a user.locked event; the lock runs out on its own.
func TestRecordFailedAttemptLocks(t *testing.T) {
	ctx := t.Context()
	s, db, c := newService(t)
	s.Lockout = users.Lockout{MaxAttempts: 3, Duration: 15 * time.Minute}
	u, err := s.Create(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	failures := func() int {
		t.Helper()
		got, err := db.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.FailedAttempts
	}

	if _, err := s.Authenticate(ctx, "ada@example.com", "difference engine"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	until, err := s.RecordFailedAttempt(ctx, u.ID) // a wrong email code, say
	if err != nil || !until.IsZero() {
		t.Fatalf("second failed attempt = %v, %v; want not locked", until, err)
	}
	if n := failures(); n != 2 {
		t.Fatalf("FailedAttempts = %d after a wrong password and a wrong code, want 2", n)
	}
	if until, locked, err := s.CheckLocked(ctx, u.ID); err != nil || locked || !until.IsZero() {
		t.Fatalf("CheckLocked before the limit = %v, %v, %v", until, locked, err)
	}

	wantUntil := c.t.Add(15 * time.Minute)
	until, err = s.RecordFailedAttempt(ctx, u.ID)
	if err != nil || !until.Equal(wantUntil) {
		t.Fatalf("third failed attempt = %v, %v; want locked until %v", until, err, wantUntil)
	}
	if until, locked, err := s.CheckLocked(ctx, u.ID); err != nil || !locked || !until.Equal(wantUntil) {
		t.Fatalf("CheckLocked = %v, %v, %v; want locked until %v", until, locked, err, wantUntil)
	}
	_, err = s.Authenticate(ctx, "ada@example.com", "analytical engine")
	var le *users.LockedError
	if !errors.Is(err, users.ErrLocked) || !errors.As(err, &le) || !le.Until.Equal(wantUntil) || le.Indefinite() {
		t.Fatalf("the right password while locked: %v, want a *LockedError until %v", err, wantUntil)
	}
	if want := "users: the user is locked until 2026-03-01T12:15:00Z"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}

	lockedEvents := func() []*storage.Event {
		t.Helper()
		var out []*storage.Event
		for _, e := range pending(t, db) { // user.created and user.locked, at the same instant
			if e.Type == users.EventUserLocked {
				out = append(out, e)
			}
		}
		return out
	}
	evs := lockedEvents()
	if len(evs) != 1 {
		t.Fatalf("%d user.locked events pending, want 1", len(evs))
	}
	var p map[string]any
	if err := json.Unmarshal(evs[0].Payload, &p); err != nil || p["id"] != u.ID || p["locked"] != true {
		t.Fatalf("user.locked payload = %s (%v)", evs[0].Payload, err)
	}
	if strings.Contains(string(evs[0].Payload), "argon2id") {
		t.Fatalf("user.locked payload leaks the password hash: %s", evs[0].Payload)
	}

	// Attempts during the lock are neither counted nor extend it.
	c.t = c.t.Add(10 * time.Minute)
	if until, err := s.RecordFailedAttempt(ctx, u.ID); err != nil || !until.Equal(wantUntil) {
		t.Fatalf("failed attempt while locked = %v, %v; want still locked until %v", until, err, wantUntil)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", "difference engine"); !errors.Is(err, users.ErrLocked) {
		t.Fatalf("wrong password while locked: %v, want ErrLocked", err)
	}
	if n := failures(); n != 0 {
		t.Fatalf("FailedAttempts = %d: attempts during the lock were counted", n)
	}
	if n := len(lockedEvents()); n != 1 {
		t.Fatalf("%d user.locked events pending: a lock was announced twice", n)
	}

	c.t = wantUntil
	if _, locked, err := s.CheckLocked(ctx, u.ID); err != nil || locked {
		t.Fatalf("CheckLocked when the lock ends = %v, %v", locked, err)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", "analytical engine"); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}

// CountFailedAttempt says which attempt locked the account, once per lock,
// whichever factor made the earlier ones.
func TestCountFailedAttemptJustLocked(t *testing.T) {
	ctx := t.Context()
	s, db, c := newService(t)
	s.Lockout = users.Lockout{MaxAttempts: 3, Duration: time.Minute}
	u, err := s.Create(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", "difference engine"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := s.CountFailedAttempt(ctx, u.ID); err != nil {
		t.Fatalf("second failed attempt: %v, want nil (not locked)", err)
	}
	var first, again *users.LockedError
	if err := s.CountFailedAttempt(ctx, u.ID); !errors.As(err, &first) || !first.JustLocked || !first.Until.Equal(c.t.Add(time.Minute)) {
		t.Fatalf("third failed attempt: %v, want the *LockedError that locked it", err)
	}
	if err := s.CountFailedAttempt(ctx, u.ID); !errors.As(err, &again) || again.JustLocked || !again.Until.Equal(first.Until) {
		t.Fatalf("failed attempt while locked: %v, want the same lock, not just made", err)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", "analytical engine"); !errors.As(err, &again) || again.JustLocked || err.Error() != first.Error() {
		t.Fatalf("the right password while locked: %v, want the same answer as the lock", err)
	}
	n := 0
	for _, e := range pending(t, db) {
		if e.Type == users.EventUserLocked {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d user.locked events, want 1", n)
	}

	// The next lock is announced again.
	c.t = first.Until
	for range 2 {
		if err := s.CountFailedAttempt(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CountFailedAttempt(ctx, u.ID); !errors.As(err, &again) || !again.JustLocked {
		t.Fatalf("the attempt that locks again: %v, want JustLocked", err)
	}
}

// Duration 0 locks until an operator unlocks, however long that takes.
func TestLockoutIndefinite(t *testing.T) {
	s, db, c := newService(t)
	testLockoutIndefinite(t, s, db, c)
}

// On PostgreSQL too: LockedIndefinitely is kept exactly, and the stand-in
// update for an unknown email runs in a serializable transaction.
func TestLockoutIndefinitePostgres(t *testing.T) {
	db, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	testLockoutIndefinite(t, users.NewService(db, users.NewHasher(testParams, 2), c.Now), db, c)
}

func testLockoutIndefinite(t *testing.T, s *users.Service, db storage.Storage, c *clock) {
	ctx := t.Context()
	s.Lockout = users.Lockout{MaxAttempts: 2}
	u, err := s.Create(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "nobody@example.com", "analytical engine"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("unknown email: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", "difference engine"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatal(err)
	}
	// The wrong password that locks the account is answered as the lock.
	_, err = s.Authenticate(ctx, "ada@example.com", "difference engine")
	var locking *users.LockedError
	if !errors.As(err, &locking) || !locking.JustLocked || !locking.Indefinite() {
		t.Fatalf("the attempt that locks: %v, want an indefinite *LockedError with JustLocked", err)
	}
	stored, err := db.GetUser(ctx, u.ID)
	if err != nil || !stored.LockedUntil.Equal(users.LockedIndefinitely) {
		t.Fatalf("LockedUntil = %v (%v), want LockedIndefinitely as stored", stored.LockedUntil, err)
	}
	if until, err := s.RecordFailedAttempt(ctx, u.ID); err != nil || !until.Equal(users.LockedIndefinitely) {
		t.Fatalf("RecordFailedAttempt = %v, %v; want LockedIndefinitely", until, err)
	}

	c.t = c.t.AddDate(100, 0, 0)
	_, err = s.Authenticate(ctx, "ada@example.com", "analytical engine")
	var le *users.LockedError
	if !errors.As(err, &le) || !le.Indefinite() || le.JustLocked {
		t.Fatalf("a century later: %v, want an indefinite *LockedError, not the one that locked", err)
	}
	if want := "users: the user is locked until an operator unlocks it"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
	if until, locked, err := s.CheckLocked(ctx, u.ID); err != nil || !locked || !until.Equal(users.LockedIndefinitely) {
		t.Fatalf("CheckLocked = %v, %v, %v", until, locked, err)
	}

	if err := s.Unlock(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, locked, err := s.CheckLocked(ctx, u.ID); err != nil || locked {
		t.Fatalf("CheckLocked after Unlock = %v, %v", locked, err)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", "analytical engine"); err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
}

func TestUnlockClearsTheCount(t *testing.T) {
	ctx := t.Context()
	s, db, _ := newService(t)
	u, err := s.Create(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	for range 9 {
		if _, err := s.RecordFailedAttempt(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Unlock(ctx, u.ID); err != nil { // not locked: still fine
		t.Fatal(err)
	}
	if got, _ := db.GetUser(ctx, u.ID); got.FailedAttempts != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("after Unlock: FailedAttempts %d, LockedUntil %v", got.FailedAttempts, got.LockedUntil)
	}
	// The default policy again needs all ten.
	if until, err := s.RecordFailedAttempt(ctx, u.ID); err != nil || !until.IsZero() {
		t.Fatalf("one attempt after Unlock = %v, %v; want not locked", until, err)
	}
}

func TestMaxAttemptsBelowOneNeverLocks(t *testing.T) {
	ctx := t.Context()
	s, db, _ := newService(t)
	s.Lockout = users.Lockout{}
	u, err := s.Create(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if until, err := s.RecordFailedAttempt(ctx, u.ID); err != nil || !until.IsZero() {
			t.Fatalf("attempt %d = %v, %v; want never locked", i+1, until, err)
		}
	}
	if got, _ := db.GetUser(ctx, u.ID); got.FailedAttempts != 20 {
		t.Fatalf("FailedAttempts = %d, want 20 (still counted)", got.FailedAttempts)
	}
}

func TestLockoutUnknownUser(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newService(t)
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, users.ErrNotFound) || !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s of an unknown user = %v, want users.ErrNotFound (and storage.ErrNotFound)", name, err)
		}
	}
	_, err := s.RecordFailedAttempt(ctx, "user_nobody")
	check("RecordFailedAttempt", err)
	_, err = s.RecordFailedAttempt(ctx, "")
	check("RecordFailedAttempt with no ID", err)
	_, _, err = s.CheckLocked(ctx, "user_nobody")
	check("CheckLocked", err)
	check("Unlock", s.Unlock(ctx, "user_nobody"))
	if err := s.Unlock(ctx, "user_nobody"); err.Error() != "users: no such user: user_nobody" {
		t.Errorf("Unlock error = %q", err)
	}
}
