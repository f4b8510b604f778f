// Package clients manages OAuth clients: validation of their settings, their
// secrets (random 256-bit, stored as HMAC-SHA-256), and authentication.
package clients

import (
	"regexp"
	"time"

	"github.com/usher-id/usher/storage"
)

// Grant types a client may be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Token endpoint authentication methods. AuthNone is a public client: it
// holds no secret and must use PKCE.
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthNone              = "none"
)

// Application types, as in OpenID Connect Dynamic Client Registration.
// Only native clients may use custom URI schemes (RFC 8252).
const (
	AppWeb       = "web"
	AppNative    = "native"
	AppUserAgent = "user_agent"
)

// Access token formats.
const (
	FormatJWT    = "jwt"
	FormatOpaque = "opaque"
)

// ResponseTypeCode is the only response type Usher issues.
const ResponseTypeCode = "code"

// Sources of a client record.
const (
	SourceAPI    = "api"    // created with the CLI or the API
	SourceConfig = "config" // declared in the configuration file
)

// Token lifetime defaults and bounds.
const (
	DefaultAccessTokenTTL      = 15 * time.Minute
	DefaultIDTokenTTL          = time.Hour
	DefaultRefreshTokenIdleTTL = 30 * 24 * time.Hour
	DefaultRefreshTokenMaxTTL  = 90 * 24 * time.Hour

	MinAccessTokenTTL  = time.Minute
	MaxAccessTokenTTL  = 24 * time.Hour
	MinIDTokenTTL      = time.Minute
	MaxIDTokenTTL      = 24 * time.Hour
	MinRefreshTokenTTL = time.Minute
	MaxRefreshTokenTTL = 365 * 24 * time.Hour
)

// Limits on a client's settings.
const (
	MaxNameLength = 200 // characters
	MaxURILength  = 2048
	MaxListLength = 100 // entries in any one list
)

// templateName is the rule JWT template names follow (the provider's
// templates keep the same one): a client's AccessTokenTemplate must be
// such a name, or empty.
var templateName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

var (
	knownGrants      = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode, GrantJWTBearer, GrantTokenExchange}
	knownAuthMethods = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthNone}
	knownAppTypes    = []string{AppWeb, AppNative, AppUserAgent}
)

// UsesSecret reports whether a client with this authentication method
// authenticates with a client secret.
func UsesSecret(authMethod string) bool {
	return authMethod == AuthClientSecretBasic || authMethod == AuthClientSecretPost
}

// ApplyDefaults fills in every empty setting of c: client_secret_basic
// authentication (set AuthMethod to none first for a public client), a web
// application, the authorization_code and refresh_token grants, the code
// response type, the openid, profile, email and offline_access scopes, JWT
// access tokens, and the default lifetimes.
//
// IDTokenUserinfoClaims and FirstParty default to true, but false is a
// valid choice that cannot be told apart from unset, so they are set only
// on a record that has never had defaults applied, which is one whose
// Source is empty. To make a third-party client, call ApplyDefaults and then
// clear FirstParty.
func ApplyDefaults(c *storage.Client) {
	if c.Source == "" {
		c.Source = SourceAPI
		c.IDTokenUserinfoClaims = true
		c.FirstParty = true
	}
	if c.AuthMethod == "" {
		c.AuthMethod = AuthClientSecretBasic
	}
	if c.ApplicationType == "" {
		c.ApplicationType = AppWeb
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	if len(c.ResponseTypes) == 0 {
		c.ResponseTypes = []string{ResponseTypeCode}
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	if c.AccessTokenFormat == "" {
		c.AccessTokenFormat = FormatJWT
	}
	if c.AccessTokenTTL == 0 {
		c.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if c.IDTokenTTL == 0 {
		c.IDTokenTTL = DefaultIDTokenTTL
	}
	if c.RefreshTokenIdleTTL == 0 {
		c.RefreshTokenIdleTTL = DefaultRefreshTokenIdleTTL
	}
	if c.RefreshTokenMaxTTL == 0 {
		c.RefreshTokenMaxTTL = DefaultRefreshTokenMaxTTL
	}
}
