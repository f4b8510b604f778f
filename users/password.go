package users

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
)

// Password length bounds, in characters (runes). Long passphrases are
// welcome; the upper bound only keeps a single hash cheap to compute.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

// ErrMalformedHash means a stored password hash is not an argon2id string
// this package can check. It is a fault in the data, not a wrong password.
var ErrMalformedHash = errors.New("users: password hash is malformed")

// Params are argon2id's cost settings.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultParams are OWASP's recommended argon2id settings: 19 MiB of memory,
// 2 iterations, 1 lane, a 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Limits on the cost a stored hash may ask for, so that one bad row cannot
// make a verification allocate gigabytes or spin for minutes.
const (
	maxHashMemory     = 1 << 20 // KiB, 1 GiB
	maxHashIterations = 64
	minHashSalt       = 8
	minHashKey        = 16
	maxHashKey        = 256
)

// Hasher hashes and checks passwords with argon2id. A semaphore bounds how
// many hashes run at once, so that a burst of sign-ins cannot exhaust memory:
// callers beyond the bound wait their turn, or give up with their context.
type Hasher struct {
	params argon2id.Params
	sem    chan struct{}
	// dummy is a well-formed hash at params that no password matches in
	// practice, checked when there is no real hash so that the time taken
	// does not tell whether an account exists.
	dummy string
	// Test hooks: waiting runs when a caller is about to wait for a slot,
	// inSlot while it holds one; checking when Verify, holding one, is
	// about to compare a password with encoded.
	waiting, inSlot func()
	checking        func(encoded string)
}

// NewHasher returns a hasher with p (zero fields take DefaultParams' value)
// that runs at most maxConcurrent hashes at a time; maxConcurrent <= 0 means
// one per CPU.
func NewHasher(p Params, maxConcurrent int) *Hasher {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Iterations == 0 {
		p.Iterations = d.Iterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = d.Parallelism
	}
	if p.SaltLength == 0 {
		p.SaltLength = d.SaltLength
	}
	if p.KeyLength == 0 {
		p.KeyLength = d.KeyLength
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	salt := make([]byte, p.SaltLength)
	key := make([]byte, p.KeyLength)
	for i := range key {
		key[i] = 0xa5
	}
	return &Hasher{
		params: argon2id.Params{Memory: p.Memory, Iterations: p.Iterations, Parallelism: p.Parallelism,
			SaltLength: p.SaltLength, KeyLength: p.KeyLength},
		sem: make(chan struct{}, maxConcurrent),
		dummy: fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.Memory, p.Iterations, p.Parallelism,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)),
	}
}

// acquire waits for a slot, or for ctx to end.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.waiting != nil {
		h.waiting()
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if h.inSlot != nil {
		h.inSlot()
	}
	return func() { <-h.sem }, nil
}

// Hash returns the argon2id PHC string of password, with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("users: hash password: %w", err)
	}
	defer release()
	p := h.params
	encoded, err := argon2id.CreateHash(password, &p)
	if err != nil {
		return "", fmt.Errorf("users: hash password: %w", err)
	}
	return encoded, nil
}

// Verify reports whether password matches the argon2id hash encoded. The
// comparison is constant-time. A hash that cannot be checked is
// ErrMalformedHash, never a plain mismatch.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok bool, err error) {
	if err := checkEncoded(encoded); err != nil {
		return false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("users: verify password: %w", err)
	}
	defer release()
	if h.checking != nil {
		h.checking(encoded)
	}
	ok, err = argon2id.ComparePasswordAndHash(password, encoded)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return ok, nil
}

// checkEncoded rejects what argon2id would refuse, panic on, or spend
// unbounded resources on.
func checkEncoded(encoded string) error {
	p, salt, key, err := argon2id.DecodeHash(encoded)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrMalformedHash, err)
	case p.Iterations < 1 || p.Iterations > maxHashIterations:
		return fmt.Errorf("%w: t=%d is out of range", ErrMalformedHash, p.Iterations)
	case p.Parallelism < 1:
		return fmt.Errorf("%w: p=%d is out of range", ErrMalformedHash, p.Parallelism)
	case p.Memory > maxHashMemory:
		return fmt.Errorf("%w: m=%d is out of range", ErrMalformedHash, p.Memory)
	case len(salt) < minHashSalt:
		return fmt.Errorf("%w: the salt is too short", ErrMalformedHash)
	case len(key) < minHashKey || len(key) > maxHashKey:
		return fmt.Errorf("%w: the key length %d is out of range", ErrMalformedHash, len(key))
	}
	return nil
}

// ValidatePassword checks a new password against the policy: 8 to 128
// characters, and not one of the passwords most commonly found in data
// breaches (compared case-insensitively; see breached.go). Its error is a
// *ValidationError a person can act on.
func ValidatePassword(pw string) error {
	if pw == "" {
		return &ValidationError{Field: "password", Message: "enter a password"}
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLength {
		return &ValidationError{Field: "password", Message: fmt.Sprintf("use at least %d characters", MinPasswordLength)}
	}
	if n > MaxPasswordLength {
		return &ValidationError{Field: "password", Message: fmt.Sprintf("use at most %d characters", MaxPasswordLength)}
	}
	if commonlyBreached(pw) {
		return &ValidationError{Field: "password", Message: msgBreachedPassword}
	}
	return nil
}

// msgBreachedPassword is ValidatePassword's message for a password on the
// breached list.
const msgBreachedPassword = "this password is one of the most common passwords found in data breaches; " +
	"choose another — a few unrelated words make a strong one"
