package users

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/sqlite"
)

// recordingStore notes the storage calls the service makes.
type recordingStore struct {
	*sqlite.DB
	calls []string
}

func (r *recordingStore) GetUserByEmail(ctx context.Context, email string) (*storage.User, error) {
	r.calls = append(r.calls, "GetUserByEmail")
	return r.DB.GetUserByEmail(ctx, email)
}

func (r *recordingStore) ReserveAttempt(ctx context.Context, id string, limit int, now time.Time) (int, error) {
	r.calls = append(r.calls, "ReserveAttempt")
	return r.DB.ReserveAttempt(ctx, id, limit, now)
}

func (r *recordingStore) InTx(ctx context.Context, fn func(tx storage.Tx) error) error {
	r.calls = append(r.calls, "InTx")
	return r.DB.InTx(ctx, func(tx storage.Tx) error { return fn(recordingTx{tx, r}) })
}

type recordingTx struct {
	storage.Tx
	r *recordingStore
}

func (t recordingTx) GetUser(ctx context.Context, id string) (*storage.User, error) {
	t.r.calls = append(t.r.calls, "GetUser")
	return t.Tx.GetUser(ctx, id)
}

func (t recordingTx) UpdateUser(ctx context.Context, u *storage.User) error {
	t.r.calls = append(t.r.calls, "UpdateUser")
	return t.Tx.UpdateUser(ctx, u)
}

// Every answer of Authenticate costs one hash and the same storage calls,
// so that its time does not tell whether the account exists, has a
// password, is locked, or has no attempt left.
func TestAuthenticateDoesLikeWorkOnEveryPath(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "usher.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	store := &recordingStore{DB: db}
	h := NewHasher(cheap, 1)
	hashes := 0
	h.inSlot = func() { hashes++ }
	s := NewService(store, h, func() time.Time { return now })

	for _, nu := range []NewUser{
		{Email: "ada@example.com", Password: "analytical engine"},
		{Email: "locked@example.com", Password: "analytical engine"},
		{Email: "full@example.com", Password: "analytical engine"},
	} {
		if _, err := s.Create(ctx, nu); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateUser(ctx, &storage.User{Emails: []storage.EmailAddress{{Email: "sso@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	locked, err := db.GetUserByEmail(ctx, "locked@example.com")
	if err != nil {
		t.Fatal(err)
	}
	locked.LockedUntil = now.Add(time.Hour)
	if err := db.UpdateUser(ctx, locked); err != nil {
		t.Fatal(err)
	}
	// Every place taken by attempts still being checked, say.
	full, err := db.GetUserByEmail(ctx, "full@example.com")
	if err != nil {
		t.Fatal(err)
	}
	full.FailedAttempts = s.Lockout.MaxAttempts
	if err := db.UpdateUser(ctx, full); err != nil {
		t.Fatal(err)
	}
	users, err := db.CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}

	want := []string{"GetUserByEmail", "ReserveAttempt", "InTx", "GetUser", "UpdateUser"}
	for _, tt := range []struct {
		name, email, password string
		wantErr               error
	}{
		{"unknown email", "nobody@example.com", "analytical engine", ErrInvalidCredentials},
		{"no password", "sso@example.com", "analytical engine", ErrInvalidCredentials},
		{"locked", "locked@example.com", "analytical engine", ErrLocked},
		{"no place left", "full@example.com", "analytical engine", ErrLocked},
		{"wrong password", "ada@example.com", "difference engine", ErrInvalidCredentials},
		{"right password", "ada@example.com", "analytical engine", nil},
	} {
		store.calls, hashes = nil, 0
		_, err := s.Authenticate(ctx, tt.email, tt.password)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
		if hashes != 1 || !slices.Equal(store.calls, want) {
			t.Errorf("%s: %d hashes and storage calls %v; want 1 and %v", tt.name, hashes, store.calls, want)
		}
	}

	// The stand-in update for no account touched nothing.
	if n, err := db.CountUsers(ctx); err != nil || n != users {
		t.Fatalf("%d users, want %d (%v)", n, users, err)
	}
	if _, err := db.GetUser(ctx, decoyUserID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetUser(%s) = %v, want ErrNotFound", decoyUserID, err)
	}
	if got, _ := db.GetUserByEmail(ctx, "locked@example.com"); got.FailedAttempts != 0 || !got.UpdatedAt.Equal(locked.UpdatedAt) {
		t.Fatalf("an attempt on the locked account changed it: %+v", got)
	}
}

// clearingStore clears the user's count right after the first reservation
// it sees refused, as a sign-in elsewhere would between the refusal and
// what follows it.
type clearingStore struct {
	*sqlite.DB
	cleared bool
}

func (c *clearingStore) ReserveAttempt(ctx context.Context, id string, limit int, now time.Time) (int, error) {
	n, err := c.DB.ReserveAttempt(ctx, id, limit, now)
	if errors.Is(err, storage.ErrConflict) && !c.cleared {
		c.cleared = true
		u, gerr := c.DB.GetUser(ctx, id)
		if gerr != nil {
			return n, gerr
		}
		u.FailedAttempts = 0
		if uerr := c.DB.UpdateUser(ctx, u); uerr != nil {
			return n, uerr
		}
	}
	return n, err
}

// An attempt refused a place that a sign-in frees before the refusal is
// settled asks again, and is checked like any other: it neither locks the
// account nor is answered without its password being looked at.
func TestAuthenticateRetriesAFreedPlace(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "usher.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := NewHasher(cheap, 1)
	checked := 0
	h.checking = func(encoded string) {
		if encoded != h.dummy {
			checked++
		}
	}
	store := &clearingStore{DB: db}
	s := NewService(store, h, func() time.Time { return now })
	for _, tt := range []struct {
		name, password string
		wantErr        error
		wantCount      int
	}{
		{"wrong", "difference engine", ErrInvalidCredentials, 1},
		{"right", "analytical engine", nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.Create(ctx, NewUser{Email: tt.name + "@example.com", Password: "analytical engine"})
			if err != nil {
				t.Fatal(err)
			}
			u.FailedAttempts = s.Lockout.MaxAttempts // every place taken
			if err := db.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			store.cleared, checked = false, 0
			_, err = s.Authenticate(ctx, u.Emails[0].Email, tt.password)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Authenticate = %v, want %v", err, tt.wantErr)
			}
			got, err := db.GetUser(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !store.cleared || checked != 1 || got.FailedAttempts != tt.wantCount || !got.LockedUntil.IsZero() {
				t.Fatalf("cleared %v, %d passwords checked, %d failed attempts, locked until %v; want cleared, 1, %d, not locked",
					store.cleared, checked, got.FailedAttempts, got.LockedUntil, tt.wantCount)
			}
		})
	}
}
