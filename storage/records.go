package storage

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// User is an account. Email addresses live in Emails; exactly one of them is
// primary when the user has any.
type User struct {
	ID           string
	Username     string // optional; unique case-insensitively when set
	FirstName    string
	LastName     string
	ImageURL     string
	PasswordHash string // an argon2id PHC string; empty when the user has no password
	Emails       []EmailAddress

	// Metadata are JSON objects. Public is readable by the frontend and
	// templates, private only by the backend API, unsafe is writable by the
	// user. Nil means {}.
	PublicMetadata  json.RawMessage
	PrivateMetadata json.RawMessage
	UnsafeMetadata  json.RawMessage

	Banned         bool
	LockedUntil    time.Time // zero when not locked
	FailedAttempts int

	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastSignInAt time.Time // zero until the first sign-in
	LastActiveAt time.Time // zero until first seen
}

// PrimaryEmail returns the user's primary address, or a zero EmailAddress.
func (u *User) PrimaryEmail() EmailAddress {
	for _, e := range u.Emails {
		if e.Primary {
			return e
		}
	}
	return EmailAddress{}
}

// EmailAddress is one of a user's addresses. An address belongs to at most one
// user, compared case-insensitively.
type EmailAddress struct {
	ID        string
	Email     string
	Verified  bool
	Primary   bool
	CreatedAt time.Time
}

// NormalizeEmail is the form in which addresses are compared.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Users stores accounts and their email addresses.
type Users interface {
	// CreateUser stores u with its Emails, filling in IDs and times. The
	// first email becomes primary when none is marked.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByEmail finds the owner of any of its addresses.
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// UpdateUser writes every field of u except Emails and CreatedAt, and
	// sets UpdatedAt.
	UpdateUser(ctx context.Context, u *User) error
	// ReserveAttempt counts an attempt at the user's credentials before
	// they are checked, as one atomic increment-and-check: it adds one to
	// FailedAttempts when the user is not locked at now (LockedUntil is
	// zero or not after now) and fewer than limit attempts are counted
	// (limit < 1: no bound), and returns the count with this attempt. Run
	// outside a transaction it takes no more than a row lock, so callers on
	// any number of replicas each get their own place without retries.
	// When it counts nothing it returns ErrConflict (locked, or limit
	// reached), or ErrNotFound when no user has the ID. UpdatedAt is left
	// as it is.
	ReserveAttempt(ctx context.Context, userID string, limit int, now time.Time) (int, error)
	DeleteUser(ctx context.Context, id string) error
	// ListUsers returns users newest first.
	ListUsers(ctx context.Context, page Page) ([]*User, error)
	CountUsers(ctx context.Context) (int, error)

	AddEmail(ctx context.Context, userID string, e *EmailAddress) error
	SetEmailVerified(ctx context.Context, userID, emailID string, verified bool) error
	// SetPrimaryEmail makes emailID the user's only primary address.
	SetPrimaryEmail(ctx context.Context, userID, emailID string) error
	// DeleteEmail removes a non-primary address; removing the primary one
	// is ErrConflict.
	DeleteEmail(ctx context.Context, userID, emailID string) error
}

// Session is a signed-in browser. Its cookie carries a random token of which
// only the hash is stored; the ID is safe to show.
type Session struct {
	ID           string
	TokenHash    []byte
	UserID       string
	AuthTime     time.Time
	AMR          []string // authentication methods, as in the OIDC amr claim
	UserAgent    string
	IPAddress    string
	CreatedAt    time.Time
	LastActiveAt time.Time
	ExpiresAt    time.Time
	RevokedAt    time.Time // zero while the session may be used
}

// Active reports whether the session may be used at now.
func (s *Session) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt)
}

// Sessions stores browser sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, id string) (*Session, error)
	GetSessionByTokenHash(ctx context.Context, hash []byte) (*Session, error)
	// TouchSession records activity and moves the expiry (sliding lifetime).
	TouchSession(ctx context.Context, id string, lastActive, expiresAt time.Time) error
	// RotateSessionToken gives an active session a new token hash, so the
	// cookie it had before stops working (on sign-in with a higher
	// privilege, say). A revoked or unknown session is ErrNotFound.
	RotateSessionToken(ctx context.Context, id string, tokenHash []byte) error
	RevokeSession(ctx context.Context, id string, at time.Time) error
	// RevokeUserSessions revokes every active session of the user except
	// exceptID (which may be empty) and returns how many it revoked.
	RevokeUserSessions(ctx context.Context, userID, exceptID string, at time.Time) (int64, error)
	// ListUserSessions returns the user's sessions, most recently active first.
	ListUserSessions(ctx context.Context, userID string) ([]*Session, error)
}

// Client is an OAuth 2.0 / OpenID Connect relying party.
type Client struct {
	ID         string // the client_id
	Name       string
	SecretHash []byte // keyed hash of the secret; empty for public clients
	// AuthMethod is the token endpoint authentication method:
	// client_secret_basic, client_secret_post, private_key_jwt or none.
	AuthMethod             string
	ApplicationType        string // web, native or user_agent
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	ResponseTypes          []string
	Scopes                 []string
	CORSOrigins            []string
	JWKSURI                string          // for private_key_jwt
	JWKS                   json.RawMessage // inline alternative to JWKSURI
	AccessTokenFormat      string          // jwt or opaque
	AccessTokenTemplate    string          // JWT template whose claims its JWT access tokens for users carry; "": none
	AccessTokenTTL         time.Duration
	IDTokenTTL             time.Duration
	RefreshTokenIdleTTL    time.Duration
	RefreshTokenMaxTTL     time.Duration
	IDTokenUserinfoClaims  bool   // put profile and email claims in the ID token
	FirstParty             bool   // no consent screen
	Source                 string // "config" when declared in the config file, else "api"
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// Clients stores OIDC clients.
type Clients interface {
	CreateClient(ctx context.Context, c *Client) error
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient writes every field except ID and CreatedAt.
	UpdateClient(ctx context.Context, c *Client) error
	DeleteClient(ctx context.Context, id string) error
	// ListClients returns clients newest first.
	ListClients(ctx context.Context, page Page) ([]*Client, error)
}

// AuthRequest is an authorization request in flight, from /authorize until its
// code is exchanged or it expires. Only a hash of the code is stored.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	State               string
	Nonce               string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              int // seconds; -1 when not requested
	LoginHint           string
	HintSubject         string // sub of a valid id_token_hint: the user the app expects
	UILocales           []string
	ACRValues           []string

	// Set once the user has authenticated.
	UserID    string
	SessionID string
	AuthTime  time.Time
	AMR       []string
	Done      bool

	CodeHash   []byte
	CodeUsedAt time.Time // zero until the code is exchanged

	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthRequests stores authorization requests and their codes.
type AuthRequests interface {
	CreateAuthRequest(ctx context.Context, r *AuthRequest) error
	// GetAuthRequest returns the request, or ErrNotFound once expired.
	GetAuthRequest(ctx context.Context, id string, now time.Time) (*AuthRequest, error)
	// CompleteAuthRequest records who authenticated and marks it done, once:
	// a request already done is ErrNotFound, so nobody can overwrite who
	// completed it.
	CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string) error
	// SaveAuthCode attaches a code hash to a done request and shortens its
	// expiry to the code's (codes live for seconds, requests for minutes). A
	// request that is not done is ErrConflict.
	SaveAuthCode(ctx context.Context, id string, codeHash []byte, expiresAt time.Time) error
	// ClaimAuthCode marks the code used and returns its request, atomically:
	// of two concurrent claims exactly one succeeds. A code already used
	// returns the request together with ErrConflict, so the caller can revoke
	// what was issued from it; an unknown or expired code is ErrNotFound.
	// A claimed request is kept for CodeReplayWindow, so that a replay long
	// after the code expired is still recognised as one.
	ClaimAuthCode(ctx context.Context, codeHash []byte, now time.Time) (*AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error
}

// RefreshToken is one link of a rotation chain. Tokens issued from one grant
// share a FamilyID, so reuse of a rotated token can revoke them all.
type RefreshToken struct {
	ID            string
	TokenHash     []byte
	FamilyID      string
	ClientID      string
	UserID        string
	SessionID     string
	AuthRequestID string // the code grant it came from, if any
	Scopes        []string
	Audience      []string
	AMR           []string
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time // idle expiry of this token
	FamilyExpires time.Time // absolute expiry of the family
	RotatedAt     time.Time // zero until exchanged for a successor
	ReplacedBy    string    // ID of the successor
	RevokedAt     time.Time
}

// RefreshTokens stores refresh tokens by hash.
type RefreshTokens interface {
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	GetRefreshTokenByHash(ctx context.Context, hash []byte) (*RefreshToken, error)
	// MarkRefreshTokenRotated records that id was exchanged for replacedBy.
	// It succeeds once: a token already rotated or revoked is ErrConflict.
	MarkRefreshTokenRotated(ctx context.Context, id, replacedBy string, at time.Time) error
	// RevokeRefreshTokenFamily revokes every unrevoked token of the family.
	RevokeRefreshTokenFamily(ctx context.Context, familyID string, at time.Time) (int64, error)
	// RevokeRefreshTokens revokes the user's tokens, for one client or for
	// all when clientID is empty.
	RevokeRefreshTokens(ctx context.Context, userID, clientID string, at time.Time) (int64, error)
	// RevokeRefreshTokensByAuthRequest revokes what a code grant issued.
	RevokeRefreshTokensByAuthRequest(ctx context.Context, authRequestID string, at time.Time) (int64, error)
}

// AccessToken records an issued access token (its value is a JWT or an
// encrypted reference, never stored). Client-credentials tokens have no
// UserID; tokens from a refresh grant carry its FamilyID.
type AccessToken struct {
	ID        string
	ClientID  string
	UserID    string
	SessionID string
	FamilyID  string
	// AuthRequestID is the code grant the token came from, directly or
	// through refreshes, so a replayed code can revoke exactly its tokens.
	AuthRequestID string
	Scopes        []string
	Audience      []string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	RevokedAt     time.Time
}

// Active reports whether the token may be used at now.
func (t *AccessToken) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// AccessTokens stores issued access tokens.
type AccessTokens interface {
	CreateAccessToken(ctx context.Context, t *AccessToken) error
	GetAccessToken(ctx context.Context, id string) (*AccessToken, error)
	RevokeAccessToken(ctx context.Context, id string, at time.Time) error
	// RevokeAccessTokens revokes the user's tokens, for one client or all
	// when clientID is empty, and returns how many.
	RevokeAccessTokens(ctx context.Context, userID, clientID string, at time.Time) (int64, error)
	// RevokeAccessTokenFamily revokes the tokens issued from a refresh
	// token family.
	RevokeAccessTokenFamily(ctx context.Context, familyID string, at time.Time) (int64, error)
	// RevokeAccessTokensByAuthRequest revokes the tokens a code grant led to.
	RevokeAccessTokensByAuthRequest(ctx context.Context, authRequestID string, at time.Time) (int64, error)
}

// Signing key states, in lifecycle order.
const (
	KeyNext    = "next"
	KeyCurrent = "current"
	KeyRetired = "retired"
)

// SigningKey is a key pair. The private part is stored only encrypted; the
// storage layer never sees it in the clear.
type SigningKey struct {
	ID                  string // the kid
	Algorithm           string // RS256, ES256, EdDSA...
	State               string // next, current or retired
	PrivateKeyEncrypted []byte
	PublicKeyJWK        json.RawMessage
	CreatedAt           time.Time
	ActivatedAt         time.Time // when it became current
	RetiredAt           time.Time
	DeleteAfter         time.Time // when a retired key leaves the JWKS
}

// SigningKeys stores signing keys. At most one key per algorithm is current
// and at most one is next; creating or promoting a second is ErrConflict.
// Every change that succeeds (create, update, delete) raises
// SigningKeysVersion in the same transaction.
type SigningKeys interface {
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	GetSigningKey(ctx context.Context, id string) (*SigningKey, error)
	// ListSigningKeys returns every key, oldest first.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// UpdateSigningKey writes State, ActivatedAt, RetiredAt, DeleteAfter and
	// PrivateKeyEncrypted (for master-key rotation).
	UpdateSigningKey(ctx context.Context, k *SigningKey) error
	DeleteSigningKey(ctx context.Context, id string) error
	// SigningKeysVersion is a number that goes up with every change to
	// the signing keys. Replicas read it every second, which costs one
	// row, to learn that they must reload the keys.
	SigningKeysVersion(ctx context.Context) (int64, error)
}

// Secret is an instance secret sealed under the master key, such as the key
// that encrypts authorization codes. Every replica reads the same value.
type Secret struct {
	Name           string
	ValueEncrypted []byte
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Secrets stores sealed instance secrets by name.
type Secrets interface {
	// CreateSecret stores a new secret; an existing name is ErrConflict,
	// so of two replicas creating one, one wins and the other reads it.
	CreateSecret(ctx context.Context, s *Secret) error
	GetSecret(ctx context.Context, name string) (*Secret, error)
	// ListSecrets returns every secret by name.
	ListSecrets(ctx context.Context) ([]*Secret, error)
	// UpdateSecret rewrites the sealed value (for master-key rotation).
	UpdateSecret(ctx context.Context, s *Secret) error
}

// Event is an entry of the transactional outbox: written in the same
// transaction as the change it describes, dispatched later.
type Event struct {
	ID           string
	Type         string // user.created, session.ended...
	Payload      json.RawMessage
	CreatedAt    time.Time
	DispatchedAt time.Time // zero while pending
}

// Outbox stores events until they are dispatched.
type Outbox interface {
	AppendEvent(ctx context.Context, e *Event) error
	// PendingEvents returns undispatched events, oldest first.
	PendingEvents(ctx context.Context, limit int) ([]*Event, error)
	MarkEventDispatched(ctx context.Context, id string, at time.Time) error
}
