package storage

import (
	"context"
	"time"
)

// Consent is what a user allowed a third-party client: the scopes it may
// ask for without asking the user again.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Consents stores consents, one per user and client.
type Consents interface {
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// SaveConsent creates the consent or replaces its scopes.
	SaveConsent(ctx context.Context, c *Consent) error
	// DeleteConsent withdraws a consent.
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// ListUserConsents returns the user's consents, newest first.
	ListUserConsents(ctx context.Context, userID string) ([]*Consent, error)
}
