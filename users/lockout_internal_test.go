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
// password, or is locked.
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
	users, err := db.CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}

	want := []string{"GetUserByEmail", "InTx", "GetUser", "UpdateUser"}
	for _, tt := range []struct {
		name, email, password string
		wantErr               error
	}{
		{"unknown email", "nobody@example.com", "analytical engine", ErrInvalidCredentials},
		{"no password", "sso@example.com", "analytical engine", ErrInvalidCredentials},
		{"locked", "locked@example.com", "analytical engine", ErrLocked},
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
