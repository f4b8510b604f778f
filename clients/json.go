package clients

import (
	"encoding/json"
	"time"

	"github.com/usher-id/usher/storage"
)

// View is the public view of a client, as the CLI and the API show it. It
// never carries the secret or its hash.
type View struct {
	ClientID                   string          `json:"client_id"`
	Name                       string          `json:"name"`
	ApplicationType            string          `json:"application_type"`
	TokenEndpointAuthMethod    string          `json:"token_endpoint_auth_method"`
	RedirectURIs               []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs     []string        `json:"post_logout_redirect_uris"`
	GrantTypes                 []string        `json:"grant_types"`
	ResponseTypes              []string        `json:"response_types"`
	Scopes                     []string        `json:"scopes"`
	CORSOrigins                []string        `json:"cors_origins"`
	AccessTokenFormat          string          `json:"access_token_format"`
	AccessTokenTemplate        string          `json:"access_token_template,omitempty"`
	AccessTokenTTLSeconds      int64           `json:"access_token_ttl_seconds"`
	IDTokenTTLSeconds          int64           `json:"id_token_ttl_seconds"`
	RefreshTokenIdleTTLSeconds int64           `json:"refresh_token_idle_ttl_seconds"`
	RefreshTokenMaxTTLSeconds  int64           `json:"refresh_token_max_ttl_seconds"`
	IDTokenUserinfoClaims      bool            `json:"id_token_userinfo_claims"`
	FirstParty                 bool            `json:"first_party"`
	JWKSURI                    string          `json:"jwks_uri,omitempty"`
	JWKS                       json.RawMessage `json:"jwks,omitempty"` // public keys only
	Source                     string          `json:"source"`
	CreatedAt                  string          `json:"created_at,omitempty"`
	UpdatedAt                  string          `json:"updated_at,omitempty"`
}

// JSON returns the public view of c. Lists are never null.
func JSON(c *storage.Client) View {
	v := View{
		ClientID:                   c.ID,
		Name:                       c.Name,
		ApplicationType:            c.ApplicationType,
		TokenEndpointAuthMethod:    c.AuthMethod,
		RedirectURIs:               nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs:     nonNil(c.PostLogoutRedirectURIs),
		GrantTypes:                 nonNil(c.GrantTypes),
		ResponseTypes:              nonNil(c.ResponseTypes),
		Scopes:                     nonNil(c.Scopes),
		CORSOrigins:                nonNil(c.CORSOrigins),
		AccessTokenFormat:          c.AccessTokenFormat,
		AccessTokenTemplate:        c.AccessTokenTemplate,
		AccessTokenTTLSeconds:      int64(c.AccessTokenTTL / time.Second),
		IDTokenTTLSeconds:          int64(c.IDTokenTTL / time.Second),
		RefreshTokenIdleTTLSeconds: int64(c.RefreshTokenIdleTTL / time.Second),
		RefreshTokenMaxTTLSeconds:  int64(c.RefreshTokenMaxTTL / time.Second),
		IDTokenUserinfoClaims:      c.IDTokenUserinfoClaims,
		FirstParty:                 c.FirstParty,
		JWKSURI:                    c.JWKSURI,
		Source:                     c.Source,
		CreatedAt:                  rfc3339(c.CreatedAt),
		UpdatedAt:                  rfc3339(c.UpdatedAt),
	}
	if len(c.JWKS) > 0 && json.Valid(c.JWKS) {
		v.JWKS = c.JWKS
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
