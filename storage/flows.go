package storage

import (
	"context"
	"time"
)

// SignInFlow is one browser's way through signing in: which step it is at
// and what it has shown so far. It is bound to the browser that started it
// (BrowserHash is the hash of a value in that browser's cookie) and lives
// for minutes. A flow started by an application's authorization request
// ends in that request; one started on Usher's own pages ends at Next.
type SignInFlow struct {
	ID            string // PrefixSignInFlow_...
	BrowserHash   []byte
	AuthRequestID string // the authorization request it completes, or ""
	Next          string // a local page to go to when done without a request
	Step          string // the step the browser is at
	Email         string // the identifier the user gave
	UserID        string // the user, once a first factor proved who it is
	Factor        string // how the first factor was proven (password, email_code, ...)
	AMR           []string
	SessionID     string // the browser session, once signed in
	AuthTime      time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ExpiresAt     time.Time
}

// SignInFlows stores sign-in flows.
type SignInFlows interface {
	// CreateSignInFlow stores f, assigning ID and times when empty.
	CreateSignInFlow(ctx context.Context, f *SignInFlow) error
	// GetSignInFlow returns the flow, or ErrNotFound once it has expired.
	GetSignInFlow(ctx context.Context, id string, now time.Time) (*SignInFlow, error)
	// UpdateSignInFlow writes f's step, email, user, factor, AMR, session,
	// auth time, UpdatedAt and ExpiresAt, but only while the stored flow is
	// still at step from and unexpired at f.UpdatedAt: two posts of one
	// step (two tabs, a double click) cannot both move it on. Otherwise
	// ErrConflict (ErrNotFound when there is no such flow).
	UpdateSignInFlow(ctx context.Context, f *SignInFlow, from string) error
}
