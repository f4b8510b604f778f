// Package storage defines Usher's records, the small per-area interfaces that
// the rest of the server consumes, and the errors every backend maps its
// driver errors to. Backends live in storage/sqlite and storage/postgres and
// must pass the conformance suite in storage/storagetest.
package storage

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound means the record asked for does not exist (or has expired
	// where the method says so).
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict means a uniqueness rule was broken (an email, username,
	// client id or current signing key already exists) or a conditional
	// update lost a race (a code or refresh token already used).
	ErrConflict = errors.New("storage: conflict")
	// ErrInvalid means the record given cannot be stored as it is; the
	// wrapped message names the field.
	ErrInvalid = errors.New("storage: invalid record")
	// ErrSchemaTooNew means the database was migrated by a newer Usher than
	// this one; running would risk misreading its data.
	ErrSchemaTooNew = errors.New("storage: database schema is newer than this binary")
)

// CodeReplayWindow is how long a used authorization code stays known.
const CodeReplayWindow = 24 * time.Hour

// Tx is every per-area store, bound to one transaction or to the database.
type Tx interface {
	Users
	Sessions
	Clients
	AuthRequests
	RefreshTokens
	AccessTokens
	DeviceAuthorizations
	Consents
	EmailChallenges
	RateLimits
	JWTTemplates
	SigningKeys
	Secrets
	Outbox
	Connections
	ExternalIdentities
	UpstreamLogins
	SignInFlows
}

// Storage is a whole backend. Only cmd/usher and storagetest need all of it;
// everything else declares the smaller interface it uses.
type Storage interface {
	Tx
	Cleaner
	// InTx runs fn in one transaction: everything fn does commits together
	// or not at all. fn may be called more than once when the database
	// reports a serialization conflict, so it must do no I/O except via tx.
	InTx(ctx context.Context, fn func(tx Tx) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// SchemaStatus reports the applied and known migration versions.
	SchemaStatus(ctx context.Context) (SchemaStatus, error)
	// Describe names the backend and where its data lives, for people.
	Describe() string
	Close() error
}

// SchemaStatus compares the database's schema with the migrations this binary
// embeds.
type SchemaStatus struct {
	Current int // highest applied version, 0 for an empty database
	Latest  int // highest version this binary knows
	Pending []Migration
}

// UpToDate reports whether every known migration is applied.
func (s SchemaStatus) UpToDate() bool { return s.Current == s.Latest }

// Migration names one schema change.
type Migration struct {
	Version int
	Name    string
}

// Page selects a slice of a list ordered newest first.
type Page struct {
	Limit  int // 1..500; 0 means 50
	Offset int
}

// Normalize returns the page with defaults applied and bounds enforced.
func (p Page) Normalize() Page {
	switch {
	case p.Limit <= 0:
		p.Limit = 50
	case p.Limit > 500:
		p.Limit = 500
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	return p
}

// Cleaner removes records whose lifetime is over.
type Cleaner interface {
	DeleteExpired(ctx context.Context, now time.Time) (CleanupCounts, error)
}

// CleanupCounts says how many records DeleteExpired removed, per kind.
type CleanupCounts struct {
	Sessions             int64
	AuthRequests         int64
	RefreshTokens        int64
	AccessTokens         int64
	DeviceAuthorizations int64
	RateLimits           int64
	EmailChallenges      int64
	UpstreamLogins       int64
	SignInFlows          int64
}
