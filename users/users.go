// Package users owns accounts: creating them, their passwords (argon2id),
// and checking credentials.
package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/usher-id/usher/storage"
)

var (
	// ErrEmailTaken means another user already has the address (compared
	// case-insensitively).
	ErrEmailTaken = errors.New("users: a user with that email already exists")
	// ErrUsernameTaken means another user already has the username.
	ErrUsernameTaken = errors.New("users: a user with that username already exists")
	// ErrInvalidCredentials means the email is unknown, the password wrong,
	// or the user has no password; callers must not tell which.
	ErrInvalidCredentials = errors.New("users: invalid email or password")
	// ErrBanned means the credentials are right but the user is banned.
	ErrBanned = errors.New("users: the user is banned")
	// ErrLocked means the user is locked out for now.
	ErrLocked = errors.New("users: the user is locked")
)

// EventUserCreated is the outbox event type appended with each new user; its
// payload is the user's Public form.
const EventUserCreated = "user.created"

// Store is what the service needs from storage.
type Store interface {
	InTx(ctx context.Context, fn func(tx storage.Tx) error) error
	GetUserByEmail(ctx context.Context, email string) (*storage.User, error)
}

// Service creates accounts and checks their credentials.
type Service struct {
	store  Store
	hasher *Hasher
	now    func() time.Time
	// Lockout applies to wrong passwords; NewService sets DefaultLockout.
	Lockout Lockout
}

// NewService returns a service over store that hashes with hasher and reads
// the time from now.
func NewService(store Store, hasher *Hasher, now func() time.Time) *Service {
	return &Service{store: store, hasher: hasher, now: now, Lockout: DefaultLockout}
}

// NewUser is what Create needs to make an account.
type NewUser struct {
	Email         string
	Password      string
	FirstName     string
	LastName      string
	Username      string // optional
	EmailVerified bool   // mark the address verified (an operator vouches for it)
}

// Create validates nu, stores the user with nu.Email as its primary address
// and appends a user.created event, in one transaction. Bad input is a
// *ValidationError; a taken email or username is ErrEmailTaken or
// ErrUsernameTaken.
func (s *Service) Create(ctx context.Context, nu NewUser) (*storage.User, error) {
	email, err := ValidateEmail(nu.Email)
	if err != nil {
		return nil, err
	}
	if err := ValidatePassword(nu.Password); err != nil {
		return nil, err
	}
	username := strings.TrimSpace(nu.Username)
	if err := validateUsername(username); err != nil {
		return nil, err
	}
	first, last := strings.TrimSpace(nu.FirstName), strings.TrimSpace(nu.LastName)
	if err := validateName("first_name", first); err != nil {
		return nil, err
	}
	if err := validateName("last_name", last); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, nu.Password)
	if err != nil {
		return nil, err
	}

	var u *storage.User
	err = s.store.InTx(ctx, func(tx storage.Tx) error {
		// Built afresh on each attempt: InTx may retry fn.
		u = &storage.User{
			Username:     username,
			FirstName:    first,
			LastName:     last,
			PasswordHash: hash,
			Emails:       []storage.EmailAddress{{Email: email, Verified: nu.EmailVerified, Primary: true}},
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		payload, err := json.Marshal(NewPublic(u, s.now()))
		if err != nil {
			return err
		}
		return tx.AppendEvent(ctx, &storage.Event{Type: EventUserCreated, Payload: payload, CreatedAt: s.now().UTC()})
	})
	if errors.Is(err, storage.ErrConflict) {
		return nil, s.whichTaken(ctx, email, username, err)
	}
	if err != nil {
		return nil, fmt.Errorf("users: create: %w", err)
	}
	return u, nil
}

// whichTaken turns CreateUser's conflict into ErrEmailTaken or
// ErrUsernameTaken: the address is looked up, and the backend's message is
// the fallback when the other owner is already gone again.
func (s *Service) whichTaken(ctx context.Context, email, username string, conflict error) error {
	_, err := s.store.GetUserByEmail(ctx, email)
	switch {
	case err == nil:
		return ErrEmailTaken
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("users: create: %w (looking up the address: %v)", conflict, err)
	}
	msg := strings.ToLower(conflict.Error())
	switch {
	case strings.Contains(msg, "email"):
		return ErrEmailTaken
	case username != "":
		return ErrUsernameTaken
	}
	return fmt.Errorf("users: create: %w", conflict)
}

// Lockout is when repeated wrong passwords lock an account, as Clerk does
// by default: 10 attempts, then an hour.
type Lockout struct {
	MaxAttempts int
	Duration    time.Duration
}

// DefaultLockout is 10 failed attempts, then locked for an hour.
var DefaultLockout = Lockout{MaxAttempts: 10, Duration: time.Hour}

// Authenticate checks an email and password and returns the user they belong
// to. An unknown email, a wrong password and a user without a password are
// all ErrInvalidCredentials, and take the same time (a hash is checked in
// every case). A locked user is ErrLocked before the password is looked at,
// so that guesses during a lockout learn nothing; a banned one is ErrBanned
// once the password has been found right. A wrong password counts a failed
// attempt; success clears the count and records the sign-in.
func (s *Service) Authenticate(ctx context.Context, email, password string) (*storage.User, error) {
	u, err := s.store.GetUserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, s.noSuchUser(ctx, password)
	}
	if err != nil {
		return nil, fmt.Errorf("users: authenticate: %w", err)
	}
	now := s.now().UTC()
	if now.Before(u.LockedUntil) {
		return nil, ErrLocked
	}
	if u.PasswordHash == "" {
		return nil, s.noSuchUser(ctx, password)
	}
	ok, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("users: authenticate %s: %w", u.ID, err)
	}
	if !ok {
		err := s.update(ctx, u.ID, func(cur *storage.User) error {
			cur.FailedAttempts++
			if cur.FailedAttempts >= s.Lockout.MaxAttempts {
				// Locked for a while; the count starts again afterwards.
				cur.LockedUntil = now.Add(s.Lockout.Duration)
				cur.FailedAttempts = 0
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("users: authenticate %s: count failed attempt: %w", u.ID, err)
		}
		return nil, ErrInvalidCredentials
	}
	if u.Banned {
		return nil, ErrBanned
	}
	var out *storage.User
	err = s.update(ctx, u.ID, func(cur *storage.User) error {
		switch {
		case cur.Banned:
			return ErrBanned
		case now.Before(cur.LockedUntil):
			return ErrLocked
		}
		cur.FailedAttempts = 0
		cur.LastSignInAt = now
		out = cur
		return nil
	})
	if errors.Is(err, ErrBanned) || errors.Is(err, ErrLocked) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("users: authenticate %s: record sign-in: %w", u.ID, err)
	}
	return out, nil
}

// noSuchUser spends the time a password check takes, then reports invalid
// credentials.
func (s *Service) noSuchUser(ctx context.Context, password string) error {
	if _, err := s.hasher.Verify(ctx, password, s.hasher.dummy); err != nil {
		return fmt.Errorf("users: authenticate: %w", err)
	}
	return ErrInvalidCredentials
}

// update reads the user, applies change and writes it back, in one
// transaction.
func (s *Service) update(ctx context.Context, id string, change func(*storage.User) error) error {
	return s.store.InTx(ctx, func(tx storage.Tx) error {
		cur, err := tx.GetUser(ctx, id)
		if err != nil {
			return err
		}
		if err := change(cur); err != nil {
			return err
		}
		return tx.UpdateUser(ctx, cur)
	})
}
