package users

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres"
	"github.com/usher-id/usher/storage/postgres/pgtest"
	"github.com/usher-id/usher/storage/sqlite"
)

// replica is one Usher process: a store and a service of its own.
type replica struct {
	store interface {
		Store
		storage.Outbox
	}
	svc *Service
}

// A burst of guesses for one account, all sent at once, gets at most
// MaxAttempts passwords checked, whichever replica answers each. SQLite
// runs as one process serving two services; PostgreSQL as two processes,
// each with its own pool, on one database.
func TestConcurrentGuessesSQLite(t *testing.T) {
	testConcurrentGuesses(t, func(t *testing.T) [2]replica {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "usher.db"), sqlite.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return [2]replica{{store: db}, {store: db}}
	})
}

func TestConcurrentGuessesPostgres(t *testing.T) {
	testConcurrentGuesses(t, func(t *testing.T) [2]replica {
		url := pgtest.URL(t)
		var rs [2]replica
		for i := range rs {
			db, err := postgres.Open(t.Context(), url, postgres.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			rs[i].store = db
		}
		return rs
	})
}

func testConcurrentGuesses(t *testing.T, open func(*testing.T) [2]replica) {
	// "Same instant": no password is checked before every attempt has
	// reached its hash, the worst case, where every reservation races.
	// "Free": attempts run as they come, so checks, sign-ins and locks
	// interleave with reservations.
	for _, mode := range []struct {
		name    string
		barrier bool
	}{{"SameInstant", true}, {"Free", false}} {
		t.Run(mode.name, func(t *testing.T) {
			guessBurst(t, open(t), mode.barrier)
		})
	}
}

func guessBurst(t *testing.T, rs [2]replica, barrier bool) {
	const (
		calls   = 100
		right   = "analytical engine"
		maxTrys = 10
	)
	ctx := t.Context()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for i := range rs {
		rs[i].svc = NewService(rs[i].store, NewHasher(cheap, 2), clock)
	}
	if rs[0].svc.Lockout.MaxAttempts != maxTrys {
		t.Fatalf("DefaultLockout.MaxAttempts = %d; this test expects %d", rs[0].svc.Lockout.MaxAttempts, maxTrys)
	}
	u, err := rs[0].svc.Create(ctx, NewUser{Email: "ada@example.com", Password: right})
	if err != nil {
		t.Fatal(err)
	}

	// Count the passwords actually checked against the account's hash, on
	// both replicas; the dummy hash of a refusal does not count.
	var checked atomic.Int32
	var arrived atomic.Int32
	release := make(chan struct{})
	arrive := func() {
		if arrived.Add(1) == calls {
			close(release)
		}
	}
	for _, r := range rs {
		h := r.svc.hasher
		h.checking = func(encoded string) {
			if encoded == u.PasswordHash {
				checked.Add(1)
			}
		}
		if barrier {
			h.waiting = func() {
				arrive()
				<-release
			}
		}
	}

	passwords := make([]string, calls)
	for i := range passwords {
		passwords[i] = "difference engine " + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	rightAt := rand.IntN(calls)
	passwords[rightAt] = right

	type answer struct {
		user *storage.User
		err  error
	}
	answers := make([]answer, calls)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, i := range rand.Perm(calls) {
		wg.Go(func() {
			<-start
			u, err := rs[i%2].svc.Authenticate(ctx, "ada@example.com", passwords[i])
			answers[i] = answer{u, err}
			if barrier && !errors.Is(err, ErrLocked) && !errors.Is(err, ErrInvalidCredentials) && err != nil {
				arrive() // an unexpected failure must not leave the others waiting
			}
		})
	}
	close(start)
	wg.Wait()

	var lock *LockedError
	justLocked, invalid, locked := 0, 0, 0
	rightAccepted := false
	for i, a := range answers {
		var le *LockedError
		switch {
		case a.err == nil:
			if i != rightAt || a.user == nil || a.user.ID != u.ID {
				t.Fatalf("attempt %d signed in with a wrong password: %+v", i, a.user)
			}
			rightAccepted = true
		case errors.As(a.err, &le):
			locked++
			if le.JustLocked {
				justLocked++
			}
			if lock == nil {
				lock = le
			}
			if !le.Until.Equal(lock.Until) || le.Error() != lock.Error() {
				t.Errorf("attempt %d: %v, until %v; another answered %v, until %v: locked answers differ",
					i, le, le.Until, lock, lock.Until)
			}
		case errors.Is(a.err, ErrInvalidCredentials):
			if i == rightAt {
				t.Errorf("the right password was answered as a wrong one")
			}
			invalid++
		default:
			t.Fatalf("attempt %d: %v", i, a.err)
		}
	}
	n := int(checked.Load())
	t.Logf("%d passwords checked; %d answered wrong, %d locked, right one accepted: %v", n, invalid, locked, rightAccepted)

	// A right password accepted clears the count, and the attempts that
	// follow get a fresh MaxAttempts: that is the one way past the bound,
	// and needs the password.
	bound := maxTrys
	if rightAccepted {
		bound = 2 * maxTrys
	}
	if n > bound {
		t.Errorf("%d passwords checked, want at most %d", n, bound)
	}
	if invalid+btoi(rightAccepted) > n {
		t.Errorf("%d answers said the password was wrong or right, but only %d were checked", invalid+btoi(rightAccepted), n)
	}
	if lock == nil || justLocked != 1 {
		t.Fatalf("%d answers say they locked the account (of %d locked answers), want exactly 1", justLocked, locked)
	}
	if barrier {
		// Every place was taken before any password was checked, so the
		// account locked before any answer: all answers are the lock.
		if locked != calls || rightAccepted {
			t.Errorf("%d of %d answers are the lock (right password accepted: %v), want all", locked, calls, rightAccepted)
		}
	}

	// The right password is refused from now on, on either replica, with
	// the same answer.
	for _, r := range rs {
		_, err := r.svc.Authenticate(ctx, "ada@example.com", right)
		var le *LockedError
		if !errors.As(err, &le) || le.JustLocked || !le.Until.Equal(lock.Until) || le.Error() != lock.Error() {
			t.Errorf("the right password after the burst: %v, want %v again", err, lock)
		}
	}
	evs, err := rs[1].store.PendingEvents(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	for _, e := range evs {
		if e.Type == EventUserLocked {
			events++
		}
	}
	if events != 1 {
		t.Errorf("%d user.locked events, want 1", events)
	}
	got, err := rs[1].store.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LockedUntil.Equal(lock.Until) || got.FailedAttempts != 0 {
		t.Errorf("stored: locked until %v with %d failed attempts, want until %v with 0", got.LockedUntil, got.FailedAttempts, lock.Until)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
