package provider

import (
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/usher-id/usher/storage"
)

// client adapts a stored client to op.Client.
type client struct {
	c        *storage.Client
	loginURL func(authRequestID string) string
}

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c *client) LoginURL(id string) string        { return c.loginURL(id) }
func (c *client) IDTokenLifetime() time.Duration   { return c.c.IDTokenTTL }
func (c *client) DevMode() bool                    { return false }
func (c *client) ClockSkew() time.Duration         { return 0 }
func (c *client) IDTokenUserinfoClaimsAssertion() bool {
	return c.c.IDTokenUserinfoClaims
}

func (c *client) ApplicationType() op.ApplicationType {
	switch c.c.ApplicationType {
	case "native":
		return op.ApplicationTypeNative
	case "user_agent":
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}

func (c *client) AuthMethod() oidc.AuthMethod { return oidc.AuthMethod(c.c.AuthMethod) }

func (c *client) ResponseTypes() []oidc.ResponseType {
	out := make([]oidc.ResponseType, len(c.c.ResponseTypes))
	for i, t := range c.c.ResponseTypes {
		out[i] = oidc.ResponseType(t)
	}
	return out
}

func (c *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, len(c.c.GrantTypes))
	for i, g := range c.c.GrantTypes {
		out[i] = oidc.GrantType(g)
	}
	return out
}

func (c *client) AccessTokenType() op.AccessTokenType {
	if c.c.AccessTokenFormat == "opaque" {
		return op.AccessTokenTypeBearer
	}
	return op.AccessTokenTypeJWT
}

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed admits the client's configured scopes; the library already
// admits the standard OpenID ones.
func (c *client) IsScopeAllowed(scope string) bool { return slices.Contains(c.c.Scopes, scope) }

// authRequest adapts a stored authorization request to op.AuthRequest.
type authRequest struct{ r *storage.AuthRequest }

func (a *authRequest) GetID() string          { return a.r.ID }
func (a *authRequest) GetACR() string         { return "" }
func (a *authRequest) GetAMR() []string       { return a.r.AMR }
func (a *authRequest) GetAudience() []string  { return []string{a.r.ClientID} }
func (a *authRequest) GetAuthTime() time.Time { return a.r.AuthTime }
func (a *authRequest) GetClientID() string    { return a.r.ClientID }
func (a *authRequest) GetNonce() string       { return a.r.Nonce }
func (a *authRequest) GetRedirectURI() string { return a.r.RedirectURI }
func (a *authRequest) GetScopes() []string    { return a.r.Scopes }
func (a *authRequest) GetState() string       { return a.r.State }
func (a *authRequest) GetSubject() string     { return a.r.UserID }
func (a *authRequest) Done() bool             { return a.r.Done }
func (a *authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.r.ResponseType)
}

func (a *authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.r.ResponseMode)
}

func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.r.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.CodeChallengeMethod)}
}

// refreshRequest adapts a stored refresh token to op.RefreshTokenRequest.
type refreshRequest struct {
	t      *storage.RefreshToken
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return r.t.AMR }
func (r *refreshRequest) GetAudience() []string       { return r.t.Audience }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.t.UserID }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// clientCredentialsRequest is the token request of a client acting for
// itself: the subject is the client.
type clientCredentialsRequest struct {
	clientID string
	scopes   []string
}

func (c *clientCredentialsRequest) GetSubject() string    { return c.clientID }
func (c *clientCredentialsRequest) GetAudience() []string { return []string{c.clientID} }
func (c *clientCredentialsRequest) GetScopes() []string   { return c.scopes }

// publicKey adapts a published JWK to op.Key.
type publicKey struct {
	id  string
	alg string
	key any
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return jose.SignatureAlgorithm(k.alg) }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.key }
