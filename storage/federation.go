package storage

import (
	"context"
	"time"
)

// Connection types.
const (
	ConnectionGitHub = "github"
	ConnectionGoogle = "google"
	ConnectionOIDC   = "oidc"
	ConnectionSAML   = "saml"
)

// Connection is an upstream identity provider users may sign in with:
// a social login (GitHub, Google), any OpenID Connect provider, or an
// enterprise's SAML IdP.
type Connection struct {
	ID          string // PrefixConnection_...
	Slug        string // unique, used in URLs: /sso/{slug}
	Type        string // one of the Connection* constants
	DisplayName string // "Continue with <DisplayName>"
	IconURL     string
	Enabled     bool
	// ClientID and the sealed ClientSecret (sealed under the master key by
	// the caller) for OAuth and OpenID Connect connections.
	ClientID     string
	ClientSecret []byte
	// Issuer is an OpenID Connect upstream's issuer (discovery is read
	// from it).
	Issuer string
	Scopes []string
	// SAMLMetadataURL or SAMLMetadata (XML) describe a SAML IdP.
	SAMLMetadataURL string
	SAMLMetadata    string
	// EmailDomains send users whose email is in them straight to this
	// connection at the sign-in identifier step (home-realm discovery).
	EmailDomains []string
	// AllowSignUp lets a first sign-in create a user.
	AllowSignUp bool
	// TrustEmailVerified treats the upstream's email as verified (SAML
	// asserts no email_verified; an operator vouches for the IdP).
	TrustEmailVerified bool
	// StoreTokens keeps the upstream's access and refresh tokens, sealed.
	StoreTokens bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Connections stores upstream connections.
type Connections interface {
	CreateConnection(ctx context.Context, c *Connection) error // ID and times assigned; a taken slug is ErrConflict
	GetConnection(ctx context.Context, id string) (*Connection, error)
	GetConnectionBySlug(ctx context.Context, slug string) (*Connection, error)
	UpdateConnection(ctx context.Context, c *Connection) error  // every field but ID and CreatedAt
	DeleteConnection(ctx context.Context, id string) error      // its external identities go with it
	ListConnections(ctx context.Context) ([]*Connection, error) // by slug
}

// ExternalIdentity links a user to an identity at a connection. The link
// is (connection, upstream subject), never an email.
type ExternalIdentity struct {
	ID            string // PrefixExternalIdentity_...
	ConnectionID  string
	Subject       string // the upstream's stable user ID
	UserID        string
	Email         string // as the upstream last said
	EmailVerified bool
	// Sealed upstream tokens, when the connection stores them.
	AccessToken  []byte
	RefreshToken []byte
	CreatedAt    time.Time
	LastSignInAt time.Time
}

// ExternalIdentities stores the links.
type ExternalIdentities interface {
	CreateExternalIdentity(ctx context.Context, e *ExternalIdentity) error // a taken (connection, subject) is ErrConflict
	GetExternalIdentity(ctx context.Context, connectionID, subject string) (*ExternalIdentity, error)
	ListUserExternalIdentities(ctx context.Context, userID string) ([]*ExternalIdentity, error) // oldest first
	UpdateExternalIdentity(ctx context.Context, e *ExternalIdentity) error                      // email, verified, tokens, last sign-in
	DeleteExternalIdentity(ctx context.Context, id string) error
}

// UpstreamLogin is one round trip to an upstream provider, kept on the
// server: the state sent (stored as its hash), the PKCE verifier and the
// nonce, bound to the browser that started it. It is used once.
type UpstreamLogin struct {
	ID           string // PrefixUpstreamLogin_...
	StateHash    []byte // unique
	ConnectionID string
	BrowserHash  []byte
	PKCEVerifier string
	Nonce        string
	// FlowID is the sign-in flow to resume afterwards, if any;
	// LinkUserID is set when a signed-in user links a new identity.
	FlowID     string
	LinkUserID string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time
}

// UpstreamLogins stores round trips in flight.
type UpstreamLogins interface {
	CreateUpstreamLogin(ctx context.Context, l *UpstreamLogin) error
	// UseUpstreamLogin finds the unused, unexpired login with that state
	// hash and marks it used at at, once: ErrNotFound otherwise.
	UseUpstreamLogin(ctx context.Context, stateHash []byte, at time.Time) (*UpstreamLogin, error)
}
