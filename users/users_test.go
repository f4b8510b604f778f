package users_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/sqlite"
	"github.com/usher-id/usher/users"
)

var testParams = users.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func newService(t *testing.T) (*users.Service, *sqlite.DB, *clock) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "usher.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return users.NewService(db, users.NewHasher(testParams, 2), c.Now), db, c
}

func ada() users.NewUser {
	return users.NewUser{Email: "Ada@Example.com", Password: "analytical engine", FirstName: "Ada", LastName: "Lovelace", Username: "ada_l"}
}

func pending(t *testing.T, db storage.Outbox) []*storage.Event {
	t.Helper()
	evs, err := db.PendingEvents(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestCreate(t *testing.T) {
	s, db, _ := newService(t)
	nu := ada()
	nu.EmailVerified = true
	u, err := s.Create(t.Context(), nu)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.ID, "user_") || u.FirstName != "Ada" || u.LastName != "Lovelace" || u.Username != "ada_l" {
		t.Fatalf("created %+v", u)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("password hash = %q", u.PasswordHash)
	}
	stored, err := db.GetUserByEmail(t.Context(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if stored.ID != u.ID || len(stored.Emails) != 1 || !stored.Emails[0].Primary || !stored.Emails[0].Verified ||
		stored.Emails[0].Email != "Ada@example.com" || stored.PasswordHash != u.PasswordHash {
		t.Fatalf("stored %+v", stored)
	}

	evs := pending(t, db)
	if len(evs) != 1 || evs[0].Type != "user.created" {
		t.Fatalf("pending events = %+v, want one user.created", evs)
	}
	payload := string(evs[0].Payload)
	for _, secret := range []string{u.PasswordHash, "argon2id", "password_hash", "private_metadata", "failed_attempts"} {
		if strings.Contains(payload, secret) {
			t.Fatalf("user.created payload contains %q: %s", secret, payload)
		}
	}
	var p map[string]any
	if err := json.Unmarshal(evs[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	emails, _ := p["email_addresses"].([]any)
	if p["id"] != u.ID || p["object"] != "user" || p["first_name"] != "Ada" || p["last_name"] != "Lovelace" || p["username"] != "ada_l" ||
		len(emails) != 1 || p["primary_email_address_id"] != u.Emails[0].ID || p["last_sign_in_at"] != nil {
		t.Fatalf("payload = %s", payload)
	}
	e := emails[0].(map[string]any)
	if e["email_address"] != "Ada@example.com" || e["verification"].(map[string]any)["status"] != "verified" {
		t.Fatalf("payload email = %v", e)
	}
	if ms, ok := p["created_at"].(float64); !ok || int64(ms) != u.CreatedAt.UnixMilli() {
		t.Fatalf("created_at = %v, want %d (Unix ms)", p["created_at"], u.CreatedAt.UnixMilli())
	}
	if pm, ok := p["public_metadata"].(map[string]any); !ok || len(pm) != 0 {
		t.Fatalf("public_metadata = %v, want {}", p["public_metadata"])
	}
}

func TestCreateUnverifiedWithoutUsername(t *testing.T) {
	s, _, c := newService(t)
	u, err := s.Create(t.Context(), users.NewUser{Email: "bob@example.com", Password: "abacus lantern"})
	if err != nil {
		t.Fatal(err)
	}
	p := users.NewPublic(u, c.Now())
	if p.Username != nil || p.FirstName != nil || p.EmailAddresses[0].Verification.Status != "unverified" || !p.PasswordEnabled {
		t.Fatalf("public = %+v", p)
	}
}

func TestCreateValidates(t *testing.T) {
	s, db, _ := newService(t)
	tests := []struct {
		name  string
		edit  func(*users.NewUser)
		field string
	}{
		{"bad email", func(n *users.NewUser) { n.Email = "Ada <ada@example.com>" }, "email"},
		{"no email", func(n *users.NewUser) { n.Email = "" }, "email"},
		{"no password", func(n *users.NewUser) { n.Password = "" }, "password"},
		{"short password", func(n *users.NewUser) { n.Password = "1234567" }, "password"},
		{"bad username", func(n *users.NewUser) { n.Username = "a@b" }, "username"},
		{"control character in name", func(n *users.NewUser) { n.FirstName = "Ada\x07" }, "first_name"},
		{"long last name", func(n *users.NewUser) { n.LastName = strings.Repeat("x", 257) }, "last_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nu := ada()
			tt.edit(&nu)
			_, err := s.Create(t.Context(), nu)
			var ve *users.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("Create = %v, want a ValidationError for %s", err, tt.field)
			}
		})
	}
	if n, _ := db.CountUsers(t.Context()); n != 0 || len(pending(t, db)) != 0 {
		t.Fatalf("invalid input left %d users and %d events", n, len(pending(t, db)))
	}
}

func TestCreateDuplicates(t *testing.T) {
	s, db, _ := newService(t)
	if _, err := s.Create(t.Context(), ada()); err != nil {
		t.Fatal(err)
	}
	sameEmail := ada()
	sameEmail.Email, sameEmail.Username = "  ADA@example.COM ", "other"
	if _, err := s.Create(t.Context(), sameEmail); !errors.Is(err, users.ErrEmailTaken) {
		t.Fatalf("Create with the same email in other case = %v, want ErrEmailTaken", err)
	}
	sameUsername := ada()
	sameUsername.Email, sameUsername.Username = "ada2@example.com", "ADA_L"
	if _, err := s.Create(t.Context(), sameUsername); !errors.Is(err, users.ErrUsernameTaken) {
		t.Fatalf("Create with the same username in other case = %v, want ErrUsernameTaken", err)
	}
	if n, _ := db.CountUsers(t.Context()); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
	if evs := pending(t, db); len(evs) != 1 {
		t.Fatalf("%d pending events, want only the first user's", len(evs))
	}
}

func TestAuthenticate(t *testing.T) {
	s, db, c := newService(t)
	created, err := s.Create(t.Context(), ada())
	if err != nil {
		t.Fatal(err)
	}
	failures := func() int {
		t.Helper()
		u, err := db.GetUser(t.Context(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u.FailedAttempts
	}

	if _, err := s.Authenticate(t.Context(), "nobody@example.com", "analytical engine"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("unknown email: %v, want ErrInvalidCredentials", err)
	}
	for i := 1; i <= 2; i++ {
		if _, err := s.Authenticate(t.Context(), "ada@example.com", "difference engine"); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v, want ErrInvalidCredentials", err)
		}
		if n := failures(); n != i {
			t.Fatalf("FailedAttempts after %d wrong passwords = %d", i, n)
		}
	}

	c.t = c.t.Add(time.Hour)
	u, err := s.Authenticate(t.Context(), " ADA@example.com", "analytical engine")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != created.ID || u.FailedAttempts != 0 || !u.LastSignInAt.Equal(c.t) {
		t.Fatalf("signed in %+v", u)
	}
	stored, err := db.GetUser(t.Context(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.FailedAttempts != 0 || !stored.LastSignInAt.Equal(c.t) || stored.PasswordHash != created.PasswordHash {
		t.Fatalf("after sign-in: FailedAttempts %d, LastSignInAt %v, want 0, %v", stored.FailedAttempts, stored.LastSignInAt, c.t)
	}
	if p := users.NewPublic(stored, c.Now()); p.LastSignInAt == nil || *p.LastSignInAt != c.t.UnixMilli() {
		t.Fatalf("public last_sign_in_at = %v", p.LastSignInAt)
	}
}

func TestAuthenticateBannedAndLocked(t *testing.T) {
	s, db, c := newService(t)
	created, err := s.Create(t.Context(), ada())
	if err != nil {
		t.Fatal(err)
	}
	set := func(edit func(*storage.User)) {
		t.Helper()
		u, err := db.GetUser(t.Context(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		edit(u)
		if err := db.UpdateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}

	set(func(u *storage.User) { u.Banned = true })
	if _, err := s.Authenticate(t.Context(), "ada@example.com", "analytical engine"); !errors.Is(err, users.ErrBanned) {
		t.Fatalf("banned: %v, want ErrBanned", err)
	}
	if _, err := s.Authenticate(t.Context(), "ada@example.com", "wrong password"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("banned, wrong password: %v, want ErrInvalidCredentials (a ban shows only to the right password)", err)
	}

	set(func(u *storage.User) { u.Banned, u.FailedAttempts, u.LockedUntil = false, 0, c.t.Add(time.Minute) })
	for _, pw := range []string{"analytical engine", "wrong password"} {
		if _, err := s.Authenticate(t.Context(), "ada@example.com", pw); !errors.Is(err, users.ErrLocked) {
			t.Fatalf("locked, password %q: %v, want ErrLocked", pw, err)
		}
	}
	if u, _ := db.GetUser(t.Context(), created.ID); u.FailedAttempts != 0 {
		t.Fatalf("attempts during a lock were counted: %d", u.FailedAttempts)
	}
	if p := users.NewPublic(created, c.Now()); p.Locked {
		t.Fatal("Public says locked for a user never locked")
	}

	c.t = c.t.Add(2 * time.Minute) // the lock has run out
	if _, err := s.Authenticate(t.Context(), "ada@example.com", "analytical engine"); err != nil {
		t.Fatalf("after the lock ran out: %v", err)
	}
}

func TestAuthenticateUserWithoutPassword(t *testing.T) {
	s, db, _ := newService(t)
	u := &storage.User{Emails: []storage.EmailAddress{{Email: "sso@example.com"}}}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "anything at all"} {
		if _, err := s.Authenticate(t.Context(), "sso@example.com", pw); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("user without a password, password %q: %v, want ErrInvalidCredentials", pw, err)
		}
	}
}

func TestAuthenticateMalformedStoredHash(t *testing.T) {
	s, db, _ := newService(t)
	u := &storage.User{PasswordHash: "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		Emails: []storage.EmailAddress{{Email: "odd@example.com"}}}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	_, err := s.Authenticate(t.Context(), "odd@example.com", "whatever1")
	if !errors.Is(err, users.ErrMalformedHash) || errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("Authenticate with a malformed stored hash = %v, want ErrMalformedHash", err)
	}
}

// Ten wrong passwords lock the account for an hour, even against the right
// password; the tenth is answered with the lock, as the one that made it;
// afterwards the account signs in again.
func TestLockoutAfterFailedAttempts(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "usher.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := users.NewService(db, users.NewHasher(testParams, 0), clock)
	if _, err := svc.Create(ctx, users.NewUser{Email: "jane@example.com", Password: "right password"}); err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		if _, err := svc.Authenticate(ctx, "jane@example.com", "wrong password"); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	_, err = svc.Authenticate(ctx, "jane@example.com", "wrong password")
	var locking *users.LockedError
	if !errors.As(err, &locking) || !locking.JustLocked || !locking.Until.Equal(now.Add(time.Hour)) {
		t.Fatalf("wrong password 10: %v, want the *LockedError that locked it, until %v", err, now.Add(time.Hour))
	}
	_, err = svc.Authenticate(ctx, "jane@example.com", "right password")
	var locked *users.LockedError
	if !errors.As(err, &locked) || locked.JustLocked || !locked.Until.Equal(locking.Until) || err.Error() != locking.Error() {
		t.Fatalf("the right password after 10 wrong ones: %v, want the same lock, not announced again", err)
	}
	now = now.Add(time.Hour)
	if _, err := svc.Authenticate(ctx, "jane@example.com", "right password"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
}
