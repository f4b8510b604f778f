package storage

import (
	"context"
	"strings"
	"time"
)

// PrefixDeviceAuthorization starts the IDs of device authorizations.
const PrefixDeviceAuthorization = "devauth"

// Device authorization states, in lifecycle order: pending until the user
// answers, then approved or denied for good.
const (
	DeviceAuthPending  = "pending"
	DeviceAuthApproved = "approved"
	DeviceAuthDenied   = "denied"
)

// DeviceAuthorization is an OAuth 2.0 device authorization (RFC 8628) in
// flight: a device (a TV, a CLI) polls with a long device code, of which
// only the SHA-256 hash is stored, while the user enters the short user code
// in a browser and approves or denies.
type DeviceAuthorization struct {
	ID             string
	DeviceCodeHash []byte // SHA-256 of the device code
	UserCode       string // as NormalizeUserCode returns it
	ClientID       string
	Scopes         []string
	Status         string // DeviceAuthPending, DeviceAuthApproved or DeviceAuthDenied

	// Set when the user answers; AuthTime and AMR only on approval.
	UserID    string
	SessionID string // the browser session that answered
	AuthTime  time.Time
	AMR       []string
	DecidedAt time.Time

	PolledAt  time.Time // when the current polling window started; zero before the first poll
	Polls     int       // polls answered in that window
	ClaimedAt time.Time // when tokens were issued for it; zero until then

	CreatedAt time.Time
	ExpiresAt time.Time
}

// NormalizeUserCode is the form in which user codes are stored and compared:
// upper case, with the dashes and spaces people type or leave out removed.
func NormalizeUserCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return -1
	}, code)
}

// DeviceAuthorizations stores device authorizations. User codes are short,
// so they are unique only among authorizations that have not expired.
type DeviceAuthorizations interface {
	// CreateDeviceAuthorization stores a new pending authorization, filling
	// in ID and CreatedAt. A user code held by an authorization that has not
	// expired at d.CreatedAt, or a device code hash already stored, is
	// ErrConflict; an expired holder of the user code is removed.
	CreateDeviceAuthorization(ctx context.Context, d *DeviceAuthorization) error
	// GetDeviceAuthorizationByUserCode returns the authorization with the
	// normalized user code, or ErrNotFound once it has expired at now.
	GetDeviceAuthorizationByUserCode(ctx context.Context, userCode string, now time.Time) (*DeviceAuthorization, error)
	// GetDeviceAuthorizationByDeviceCode returns the authorization with the
	// device code hash, expired or not, so a poller can be told it expired.
	GetDeviceAuthorizationByDeviceCode(ctx context.Context, deviceCodeHash []byte) (*DeviceAuthorization, error)
	// ApproveDeviceAuthorization records who approved a pending
	// authorization. It succeeds once: an authorization already approved or
	// denied is ErrConflict; an unknown one, or one expired at now, is
	// ErrNotFound.
	ApproveDeviceAuthorization(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, now time.Time) error
	// DenyDeviceAuthorization records that the user refused, with the same
	// rules as ApproveDeviceAuthorization.
	DenyDeviceAuthorization(ctx context.Context, id, userID, sessionID string, now time.Time) error
	// PollDeviceAuthorization records a poll by clientID at now and returns
	// the authorization, expired or not. Polls are counted in windows of
	// interval, each starting with the first poll after the last one ended;
	// a poll beyond burst in a window is not recorded: it returns the
	// authorization with ErrConflict, so the caller can answer slow_down. A
	// device code that is unknown or belongs to another client is
	// ErrNotFound.
	PollDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, clientID string, now time.Time, interval time.Duration, burst int) (*DeviceAuthorization, error)
	// ClaimDeviceAuthorization marks an approved authorization as having
	// been exchanged for tokens. It succeeds once: of two concurrent claims
	// one wins; a second claim, or a claim of an authorization that is not
	// approved, is ErrConflict; an unknown one is ErrNotFound.
	ClaimDeviceAuthorization(ctx context.Context, id string, now time.Time) error
	DeleteDeviceAuthorization(ctx context.Context, id string) error
}
