package storage

import (
	"context"
	"time"
)

// Purposes of an email challenge.
const (
	ChallengeVerifyEmail   = "verify_email"   // prove an address is the user's
	ChallengeSignIn        = "sign_in"        // sign in without a password
	ChallengeResetPassword = "reset_password" // choose a new password
)

// EmailChallenge is one email Usher sent to prove control of an address:
// it carries a short code to type and a link to open, both single-use and
// stored only as hashes. Whichever is used first uses the challenge up.
type EmailChallenge struct {
	ID       string // PrefixChallenge_...
	Purpose  string // one of the Challenge* constants
	UserID   string
	EmailID  string // the address record the email went to
	Email    string // the address, as sent to
	CodeHash []byte // keyed hash of the code
	LinkHash []byte // hash of the link token; unique
	// FlowID is the sign-in flow to resume after the challenge, if it was
	// sent during one.
	FlowID string
	// BrowserHash is the hash of a random value kept in a cookie of the
	// browser that asked for the email, so the page that completes the
	// challenge can tell whether it runs in the same browser.
	BrowserHash []byte
	// IPAddress and UserAgent are of the browser that asked, to tell the
	// user where a link opened elsewhere was requested from.
	IPAddress string
	UserAgent string
	Attempts  int // codes tried so far
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used or superseded
}

// Usable reports whether the challenge may still be answered at now.
func (c *EmailChallenge) Usable(now time.Time) bool {
	return c.UsedAt.IsZero() && now.Before(c.ExpiresAt)
}

// EmailChallenges stores email challenges.
type EmailChallenges interface {
	// CreateEmailChallenge stores c (ID, when empty, is assigned) and marks
	// every earlier unused challenge of the same user and purpose used at
	// c.CreatedAt: only the newest email works.
	CreateEmailChallenge(ctx context.Context, c *EmailChallenge) error
	GetEmailChallenge(ctx context.Context, id string) (*EmailChallenge, error)
	GetEmailChallengeByLinkHash(ctx context.Context, linkHash []byte) (*EmailChallenge, error)
	// TakeEmailChallengeAttempt claims one try of a code before it is
	// compared, and returns the tries made, this one included. It succeeds
	// only while the challenge is unused, unexpired at now and has had
	// fewer than max tries, so concurrent guesses cannot exceed max:
	// otherwise ErrConflict (ErrNotFound when there is no such challenge).
	TakeEmailChallengeAttempt(ctx context.Context, id string, max int, now time.Time) (int, error)
	// UseEmailChallenge marks the challenge used at at. It succeeds once,
	// and only while the challenge is unused and unexpired at at: otherwise
	// ErrConflict (ErrNotFound when there is no such challenge).
	UseEmailChallenge(ctx context.Context, id string, at time.Time) error
	// SupersedeEmailChallenges marks the user's unused challenges of that
	// purpose used at at (a password reset ends pending sign-in links, for
	// example), and returns how many it marked.
	SupersedeEmailChallenges(ctx context.Context, userID, purpose string, at time.Time) (int64, error)
}
