// Package users owns accounts: creating them, their passwords (argon2id),
// checking credentials, and locking an account after repeated failed
// attempts of any factor.
//
// New passwords are checked against an embedded list of the passwords most
// commonly found in data breaches, taken from zxcvbn (MIT; see breached.go).
package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

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
	// ErrLocked means the user is locked out for now. The error returned is
	// a *LockedError, which says until when; errors.Is matches it to
	// ErrLocked.
	ErrLocked = errors.New("users: the user is locked")
	// ErrNotFound means no user has the ID given. errors.Is matches it to
	// storage.ErrNotFound too.
	ErrNotFound error = notFoundError{}
)

type notFoundError struct{}

func (notFoundError) Error() string        { return "users: no such user" }
func (notFoundError) Is(target error) bool { return target == storage.ErrNotFound }

// LockedError is ErrLocked with the time the lock ends.
type LockedError struct {
	// Until is when the lock ends; LockedIndefinitely for a lock that lasts
	// until an operator lifts it (Unlock).
	Until time.Time
	// JustLocked is true for exactly one error per lock: the one answering
	// the call that locked the account, in the transaction that appended
	// the user.locked event. Callers that tell the owner about the lock
	// (an email) do it when JustLocked is set, and only then, so that one
	// lock makes one notice however many replicas answer the attempts.
	// It is not part of what the error says: every answer while locked
	// reads the same.
	JustLocked bool
}

func (e *LockedError) Error() string {
	if e.Indefinite() {
		return "users: the user is locked until an operator unlocks it"
	}
	return "users: the user is locked until " + e.Until.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Indefinite reports whether the lock lasts until an operator lifts it.
func (e *LockedError) Indefinite() bool { return !e.Until.Before(LockedIndefinitely) }

// Outbox event types. Their payload is the user's Public form.
const (
	// EventUserCreated is appended with each new user.
	EventUserCreated = "user.created"
	// EventUserLocked is appended when failed attempts lock an account (its
	// payload says "locked": true). Nothing is appended when a lock runs
	// out or is lifted.
	EventUserLocked = "user.locked"
)

// Store is what the service needs from storage.
type Store interface {
	InTx(ctx context.Context, fn func(tx storage.Tx) error) error
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserByEmail(ctx context.Context, email string) (*storage.User, error)
	// ReserveAttempt runs outside any transaction, so that concurrent
	// sign-ins wait for a row lock instead of failing and retrying.
	ReserveAttempt(ctx context.Context, userID string, limit int, now time.Time) (int, error)
}

// Service creates accounts, checks their credentials and locks them after
// repeated failed attempts.
type Service struct {
	store  Store
	hasher *Hasher
	now    func() time.Time
	// Lockout decides when failed attempts lock an account; NewService sets
	// DefaultLockout. Set it before the service is first used.
	Lockout Lockout
}

// NewService returns a service over store that hashes with hasher, reads
// the time from now and locks accounts by DefaultLockout.
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
	// ImageURL is a profile picture (an upstream's); anything but an https
	// URL of at most 2048 characters is dropped.
	ImageURL string
	// NoPassword makes an account that signs in another way (an upstream
	// identity provider, emailed codes); Password is then ignored.
	NoPassword bool
	// Identity, when set, links the new user to an upstream identity in
	// the same transaction (its UserID is filled in).
	Identity *storage.ExternalIdentity
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
	if !nu.NoPassword {
		if err := ValidatePassword(nu.Password); err != nil {
			return nil, err
		}
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
	hash := ""
	if !nu.NoPassword {
		if hash, err = s.hasher.Hash(ctx, nu.Password); err != nil {
			return nil, err
		}
	}

	var u *storage.User
	err = s.store.InTx(ctx, func(tx storage.Tx) error {
		// Built afresh on each attempt: InTx may retry fn.
		u = &storage.User{
			Username:     username,
			FirstName:    first,
			LastName:     last,
			ImageURL:     httpsOrEmpty(nu.ImageURL),
			PasswordHash: hash,
			Emails:       []storage.EmailAddress{{Email: email, Verified: nu.EmailVerified, Primary: true}},
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if nu.Identity != nil {
			link := *nu.Identity
			link.UserID = u.ID
			if err := tx.CreateExternalIdentity(ctx, &link); err != nil {
				return err
			}
			*nu.Identity = link
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

// Authenticate checks an email and password and returns the user they belong
// to. An unknown email, a wrong password and a user without a password are
// all ErrInvalidCredentials; a banned user is ErrBanned once the password
// has been found right. Success clears the failed-attempt count and records
// the sign-in.
//
// Each attempt takes its place in the count (see Lockout) before the
// password is hashed, in one atomic statement against the database that
// every replica shares: however many guesses arrive at once, at most
// Lockout.MaxAttempts are checked before the account locks. Once it is
// locked, every answer is the same *LockedError (ErrLocked) whatever the
// password, including the answer to the attempt that locked it, which
// alone has JustLocked set. An attempt that finds no place left locks the
// account itself: the places are taken by attempts that have failed or are
// being checked, and the account locks as soon as one of them fails.
//
// Every answer costs about the same, so that the time taken does not tell
// whether an account exists, has a password or is locked: one reservation
// statement, one hash checked (a dummy one when there is no password to
// check, or no place to check it in) and one transaction that reads a user
// and updates one by ID (when there is nothing to change, a user that does
// not exist). What remains is that an update of no row gives the database
// nothing to log or flush at commit, and that a refused reservation asks
// whether the user exists: fractions of a millisecond against the tens of
// a hash. Closing that too would mean writing a real row on every refused
// sign-in, rows an attacker could multiply or make every replica contend
// for.
func (s *Service) Authenticate(ctx context.Context, email, password string) (*storage.User, error) {
	if !utf8.ValidString(email) || strings.ContainsRune(email, 0) || len(email) > MaxEmailLength {
		// No account has such an address, and some databases refuse to
		// even look it up.
		email = ""
	}
	u, err := s.store.GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("users: authenticate: %w", err)
	}
	now := s.now().UTC()
	if err != nil || u.PasswordHash == "" {
		// Nothing to count: the stand-in reservation finds no user.
		if _, err := s.store.ReserveAttempt(ctx, decoyUserID, s.Lockout.MaxAttempts, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("users: authenticate: %w", err)
		}
		return nil, s.refuse(ctx, password, now)
	}

	for tries := 1; ; tries++ {
		_, err = s.store.ReserveAttempt(ctx, u.ID, s.Lockout.MaxAttempts, now)
		if !errors.Is(err, storage.ErrConflict) {
			break
		}
		// Locked, or every place is taken: this password is not looked
		// at, and the account locks if it is not locked yet.
		locked, err := s.settle(ctx, u.ID, 0, now)
		if err != nil {
			return nil, fmt.Errorf("users: authenticate %s: %w", u.ID, err)
		}
		if locked != nil || tries == maxReserveTries {
			return nil, s.stall(ctx, password, locked)
		}
		// Neither: a sign-in cleared the count since, and this attempt
		// takes a place like any other.
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Deleted since it was looked up.
		return nil, s.refuse(ctx, password, now)
	case err != nil:
		return nil, fmt.Errorf("users: authenticate %s: reserve an attempt: %w", u.ID, err)
	}

	// From here on the attempt is counted as failed until the password is
	// found right, so an attempt abandoned half-way (a cancelled request,
	// a replica that stops) still counts.
	ok, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("users: authenticate %s: %w", u.ID, err)
	}
	if !ok {
		locked, err := s.settle(ctx, u.ID, 0, now)
		if err != nil {
			return nil, fmt.Errorf("users: authenticate %s: count failed attempt: %w", u.ID, err)
		}
		if locked != nil {
			return nil, locked
		}
		return nil, ErrInvalidCredentials
	}
	out, err := s.signedIn(ctx, u.ID, now)
	if errors.Is(err, ErrBanned) || errors.Is(err, ErrLocked) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("users: authenticate %s: record sign-in: %w", u.ID, err)
	}
	return out, nil
}

// signedIn records a sign-in with the right password, in one transaction:
// the failed-attempt count is cleared (attempts of others still being
// checked lose their place with it, as in a sign-in between two of them)
// and the time recorded. An account that was locked meanwhile, by attempts
// that took the other places, stays locked and refuses it as it would any
// password; a banned one is ErrBanned, the count cleared all the same.
func (s *Service) signedIn(ctx context.Context, id string, now time.Time) (*storage.User, error) {
	var out *storage.User
	var refusal error
	err := s.store.InTx(ctx, func(tx storage.Tx) error {
		out, refusal = nil, nil
		cur, err := tx.GetUser(ctx, id)
		if err != nil {
			return err
		}
		if now.Before(cur.LockedUntil) {
			refusal = &LockedError{Until: cur.LockedUntil}
			return standIn(ctx, tx)
		}
		cur.FailedAttempts = 0
		if cur.Banned {
			refusal = ErrBanned
		} else {
			cur.LastSignInAt = now
			out = cur
		}
		return tx.UpdateUser(ctx, cur)
	})
	if err != nil {
		return nil, err
	}
	return out, refusal
}

// maxReserveTries bounds how often an attempt asks again for a place that
// a concurrent sign-in freed; the last refusal is final.
const maxReserveTries = 3

// refuse answers an attempt whose password is not checked because there
// is no account with one to check, after doing the work a checked one
// costs: a transaction like settle's, against a user that does not exist,
// and stall's hash.
func (s *Service) refuse(ctx context.Context, password string, now time.Time) error {
	if _, err := s.settle(ctx, "", 0, now); err != nil {
		return fmt.Errorf("users: authenticate: %w", err)
	}
	return s.stall(ctx, password, nil)
}

// stall checks password against the dummy hash, to take the time a real
// check takes, and answers an attempt that was not checked: locked when
// the account is, else ErrInvalidCredentials (the answer must not depend
// on a password that was never looked at).
func (s *Service) stall(ctx context.Context, password string, locked *LockedError) error {
	if _, err := s.hasher.Verify(ctx, password, s.hasher.dummy); err != nil {
		return fmt.Errorf("users: authenticate: %w", err)
	}
	if locked != nil {
		return locked
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

// httpsOrEmpty keeps an https URL of acceptable length, else nothing.
func httpsOrEmpty(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(s) > maxImageURL {
		return ""
	}
	return s
}
