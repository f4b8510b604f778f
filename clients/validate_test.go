package clients

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

// goodClient is a valid confidential web client with defaults applied.
func goodClient() *storage.Client {
	c := &storage.Client{Name: "Example", RedirectURIs: []string{"https://app.example.com/cb"}}
	ApplyDefaults(c)
	return c
}

func TestApplyDefaults(t *testing.T) {
	c := &storage.Client{Name: "x"}
	ApplyDefaults(c)
	if c.AuthMethod != AuthClientSecretBasic || c.ApplicationType != AppWeb || c.AccessTokenFormat != FormatJWT || c.Source != SourceAPI {
		t.Errorf("defaults: %+v", c)
	}
	if !slices.Equal(c.GrantTypes, []string{GrantAuthorizationCode, GrantRefreshToken}) ||
		!slices.Equal(c.ResponseTypes, []string{"code"}) ||
		!slices.Equal(c.Scopes, []string{"openid", "profile", "email", "offline_access"}) {
		t.Errorf("default lists: %v %v %v", c.GrantTypes, c.ResponseTypes, c.Scopes)
	}
	if c.AccessTokenTTL != 15*time.Minute || c.IDTokenTTL != time.Hour || c.RefreshTokenIdleTTL != 30*24*time.Hour || c.RefreshTokenMaxTTL != 90*24*time.Hour {
		t.Errorf("default lifetimes: %v %v %v %v", c.AccessTokenTTL, c.IDTokenTTL, c.RefreshTokenIdleTTL, c.RefreshTokenMaxTTL)
	}
	if !c.IDTokenUserinfoClaims || !c.FirstParty {
		t.Error("IDTokenUserinfoClaims and FirstParty do not default to true")
	}
	// Applying again keeps choices made after the first time.
	c.FirstParty, c.IDTokenUserinfoClaims = false, false
	c.AccessTokenTTL = 5 * time.Minute
	ApplyDefaults(c)
	if c.FirstParty || c.IDTokenUserinfoClaims || c.AccessTokenTTL != 5*time.Minute {
		t.Errorf("a second ApplyDefaults overrode settings: %+v", c)
	}
	pub := &storage.Client{AuthMethod: AuthNone}
	ApplyDefaults(pub)
	if pub.AuthMethod != AuthNone {
		t.Errorf("public client's auth method became %s", pub.AuthMethod)
	}
}

func TestValidate(t *testing.T) {
	native := func(c *storage.Client) { c.ApplicationType = AppNative; c.AuthMethod = AuthNone }
	redirect := func(u string) func(*storage.Client) {
		return func(c *storage.Client) { c.RedirectURIs = []string{u} }
	}
	nativeRedirect := func(u string) func(*storage.Client) {
		return func(c *storage.Client) { native(c); c.RedirectURIs = []string{u} }
	}
	tests := []struct {
		name      string
		edit      func(*storage.Client)
		wantField string // "" when valid
	}{
		{"defaults", func(*storage.Client) {}, ""},
		// name
		{"no name", func(c *storage.Client) { c.Name = " " }, "name"},
		{"name of 200", func(c *storage.Client) { c.Name = strings.Repeat("é", 200) }, ""},
		{"name of 201", func(c *storage.Client) { c.Name = strings.Repeat("a", 201) }, "name"},
		{"name with newline", func(c *storage.Client) { c.Name = "a\nb" }, "name"},
		{"custom id", func(c *storage.Client) { c.ID = "my-app.v2" }, ""},
		{"id with space", func(c *storage.Client) { c.ID = "my app" }, "client_id"},
		{"id with colon", func(c *storage.Client) { c.ID = "my:app" }, "client_id"},
		// types and methods
		{"unknown application type", func(c *storage.Client) { c.ApplicationType = "desktop" }, "application_type"},
		{"user_agent", func(c *storage.Client) { c.ApplicationType = AppUserAgent; c.AuthMethod = AuthNone }, ""},
		{"unknown auth method", func(c *storage.Client) { c.AuthMethod = "client_secret_jwt" }, "token_endpoint_auth_method"},
		{"client_secret_post", func(c *storage.Client) { c.AuthMethod = AuthClientSecretPost }, ""},
		// redirect URIs
		{"https", redirect("https://example.com/cb?x=1"), ""},
		{"http localhost", redirect("http://localhost:3000/cb"), ""},
		{"http 127.0.0.1 any port", redirect("http://127.0.0.1:51234/cb"), ""},
		{"http [::1]", redirect("http://[::1]:8080/cb"), ""},
		{"http elsewhere", redirect("http://example.com/cb"), "redirect_uris[0]"},
		{"http localhost lookalike", redirect("http://localhost.example.com/cb"), "redirect_uris[0]"},
		{"fragment", redirect("https://example.com/cb#x"), "redirect_uris[0]"},
		{"empty fragment", redirect("https://example.com/cb#"), "redirect_uris[0]"},
		{"wildcard host", redirect("https://*.example.com/cb"), "redirect_uris[0]"},
		{"wildcard path", redirect("https://example.com/*"), "redirect_uris[0]"},
		{"relative", redirect("/cb"), "redirect_uris[0]"},
		{"no host", redirect("https:///cb"), "redirect_uris[0]"},
		{"opaque https", redirect("https:example.com"), "redirect_uris[0]"},
		{"user info", redirect("https://user:pw@example.com/cb"), "redirect_uris[0]"},
		{"space", redirect("https://example.com/c b"), "redirect_uris[0]"},
		{"empty", redirect(""), "redirect_uris[0]"},
		{"too long", redirect("https://example.com/" + strings.Repeat("a", MaxURILength)), "redirect_uris[0]"},
		{"custom scheme on web", redirect("com.example.app:/cb"), "redirect_uris[0]"},
		{"javascript", redirect("javascript:alert(1)"), "redirect_uris[0]"},
		{"no redirect for code", func(c *storage.Client) { c.RedirectURIs = nil }, "redirect_uris"},
		{"second redirect bad", func(c *storage.Client) {
			c.RedirectURIs = []string{"https://example.com/a", "http://example.com/b"}
		}, "redirect_uris[1]"},
		{"repeated redirect", func(c *storage.Client) {
			c.RedirectURIs = []string{"https://example.com/a", "https://example.com/a"}
		}, "redirect_uris"},
		// native
		{"native custom scheme", nativeRedirect("com.example.app:/cb"), ""},
		{"native custom scheme with authority", nativeRedirect("com.example.app://callback"), ""},
		{"native loopback", nativeRedirect("http://127.0.0.1/cb"), ""},
		{"native claimed https", nativeRedirect("https://app.example.com/cb"), ""},
		{"native http elsewhere", nativeRedirect("http://example.com/cb"), "redirect_uris[0]"},
		{"native scheme without dot", nativeRedirect("myapp:/cb"), "redirect_uris[0]"},
		{"native javascript", nativeRedirect("javascript:alert(1)"), "redirect_uris[0]"},
		{"native javascript with dot", nativeRedirect("javascript:a.b/c"), "redirect_uris[0]"},
		{"native data", nativeRedirect("data:text/html,hi"), "redirect_uris[0]"},
		{"native file", nativeRedirect("file:///etc/passwd"), "redirect_uris[0]"},
		{"native vbscript", nativeRedirect("vbscript:msgbox"), "redirect_uris[0]"},
		{"native scheme only", nativeRedirect("com.example.app:"), "redirect_uris[0]"},
		{"native wildcard", nativeRedirect("com.example.app:/*"), "redirect_uris[0]"},
		{"native fragment", nativeRedirect("com.example.app:/cb#f"), "redirect_uris[0]"},
		// post-logout
		{"post-logout https", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"https://example.com/bye"} }, ""},
		{"post-logout loopback", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"http://localhost:3000/"} }, ""},
		{"post-logout http", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"http://example.com/bye"} }, "post_logout_redirect_uris[0]"},
		{"post-logout wildcard", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"https://example.com/*"} }, "post_logout_redirect_uris[0]"},
		{"post-logout custom on web", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"com.example.app:/bye"} }, "post_logout_redirect_uris[0]"},
		{"post-logout custom on native", func(c *storage.Client) {
			native(c)
			c.PostLogoutRedirectURIs = []string{"com.example.app:/bye"}
		}, ""},
		// grants
		{"no grants", func(c *storage.Client) { c.GrantTypes = nil }, "grant_types"},
		{"unknown grant", func(c *storage.Client) { c.GrantTypes = append(c.GrantTypes, "implicit") }, "grant_types"},
		{"every grant", func(c *storage.Client) {
			c.GrantTypes, c.JWKSURI = slices.Clone(knownGrants), "https://app.example/jwks"
		}, ""},
		{"jwt bearer without keys", func(c *storage.Client) {
			c.GrantTypes = []string{GrantJWTBearer}
			c.RedirectURIs, c.ResponseTypes = nil, nil
		}, "grant_types"},
		{"repeated grant", func(c *storage.Client) { c.GrantTypes = append(c.GrantTypes, GrantRefreshToken) }, "grant_types"},
		{"client credentials only", func(c *storage.Client) {
			c.GrantTypes, c.RedirectURIs, c.ResponseTypes = []string{GrantClientCredentials}, nil, nil
		}, ""},
		{"public with client credentials", func(c *storage.Client) {
			c.AuthMethod = AuthNone
			c.GrantTypes = append(c.GrantTypes, GrantClientCredentials)
		}, "grant_types"},
		{"public with code (PKCE)", func(c *storage.Client) { c.AuthMethod = AuthNone }, ""},
		{"public device flow", func(c *storage.Client) {
			c.AuthMethod, c.GrantTypes, c.RedirectURIs = AuthNone, []string{GrantDeviceCode, GrantRefreshToken}, nil
		}, ""},
		// response types
		{"token response type", func(c *storage.Client) { c.ResponseTypes = []string{"code", "id_token"} }, "response_types"},
		{"code grant without code response", func(c *storage.Client) { c.ResponseTypes = nil }, "response_types"},
		// private_key_jwt
		{"private_key_jwt without keys", func(c *storage.Client) { c.AuthMethod = AuthPrivateKeyJWT }, "jwks_uri"},
		{"private_key_jwt with jwks_uri", func(c *storage.Client) {
			c.AuthMethod, c.JWKSURI = AuthPrivateKeyJWT, "https://app.example.com/jwks.json"
		}, ""},
		{"private_key_jwt with http jwks_uri", func(c *storage.Client) {
			c.AuthMethod, c.JWKSURI = AuthPrivateKeyJWT, "http://app.example.com/jwks.json"
		}, "jwks_uri"},
		{"private_key_jwt with jwks", func(c *storage.Client) {
			c.AuthMethod, c.JWKS = AuthPrivateKeyJWT, json.RawMessage(`{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"}]}`)
		}, ""},
		{"empty jwks", func(c *storage.Client) {
			c.AuthMethod, c.JWKS = AuthPrivateKeyJWT, json.RawMessage(`{"keys":[]}`)
		}, "jwks"},
		{"jwks not json", func(c *storage.Client) { c.JWKS = json.RawMessage(`nope`) }, "jwks"},
		{"jwks and jwks_uri", func(c *storage.Client) {
			c.JWKSURI, c.JWKS = "https://app.example.com/jwks.json", json.RawMessage(`{"keys":[{}]}`)
		}, "jwks_uri"},
		// scopes
		{"custom scope", func(c *storage.Client) { c.Scopes = append(c.Scopes, "read:invoices") }, ""},
		{"no scopes", func(c *storage.Client) { c.Scopes = nil }, ""},
		{"empty scope", func(c *storage.Client) { c.Scopes = append(c.Scopes, "") }, "scopes"},
		{"scope with space", func(c *storage.Client) { c.Scopes = append(c.Scopes, "read write") }, "scopes"},
		{"scope with quote", func(c *storage.Client) { c.Scopes = append(c.Scopes, `a"b`) }, "scopes"},
		{"scope non-ASCII", func(c *storage.Client) { c.Scopes = append(c.Scopes, "lesen€") }, "scopes"},
		// CORS
		{"origin", func(c *storage.Client) {
			c.CORSOrigins = []string{"https://app.example.com", "https://app.example.com:8443"}
		}, ""},
		{"loopback origin", func(c *storage.Client) { c.CORSOrigins = []string{"http://localhost:5173"} }, ""},
		{"origin with slash", func(c *storage.Client) { c.CORSOrigins = []string{"https://app.example.com/"} }, "cors_origins[0]"},
		{"origin with path", func(c *storage.Client) { c.CORSOrigins = []string{"https://app.example.com/app"} }, "cors_origins[0]"},
		{"origin with query", func(c *storage.Client) { c.CORSOrigins = []string{"https://app.example.com?x"} }, "cors_origins[0]"},
		{"http origin", func(c *storage.Client) { c.CORSOrigins = []string{"http://app.example.com"} }, "cors_origins[0]"},
		{"star origin", func(c *storage.Client) { c.CORSOrigins = []string{"*"} }, "cors_origins[0]"},
		{"wildcard origin", func(c *storage.Client) { c.CORSOrigins = []string{"https://*.example.com"} }, "cors_origins[0]"},
		{"null origin", func(c *storage.Client) { c.CORSOrigins = []string{"null"} }, "cors_origins[0]"},
		{"upper-case origin", func(c *storage.Client) { c.CORSOrigins = []string{"https://App.example.com"} }, "cors_origins[0]"},
		{"default port origin", func(c *storage.Client) { c.CORSOrigins = []string{"https://app.example.com:443"} }, "cors_origins[0]"},
		{"custom scheme origin", func(c *storage.Client) { c.CORSOrigins = []string{"com.example.app://x"} }, "cors_origins[0]"},
		// formats and lifetimes
		{"opaque", func(c *storage.Client) { c.AccessTokenFormat = FormatOpaque }, ""},
		{"unknown format", func(c *storage.Client) { c.AccessTokenFormat = "jwe" }, "access_token_format"},
		// access token template
		{"template", func(c *storage.Client) { c.AccessTokenTemplate = "hasura" }, ""},
		{"template with . _ -", func(c *storage.Client) { c.AccessTokenTemplate = "db_v2.claims-1" }, ""},
		{"template of 64", func(c *storage.Client) { c.AccessTokenTemplate = strings.Repeat("a", 64) }, ""},
		{"template of 65", func(c *storage.Client) { c.AccessTokenTemplate = strings.Repeat("a", 65) }, "access_token_template"},
		{"template starting with _", func(c *storage.Client) { c.AccessTokenTemplate = "_session" }, "access_token_template"},
		{"template with space", func(c *storage.Client) { c.AccessTokenTemplate = "my template" }, "access_token_template"},
		{"template with slash", func(c *storage.Client) { c.AccessTokenTemplate = "a/b" }, "access_token_template"},
		{"template with opaque", func(c *storage.Client) {
			c.AccessTokenFormat, c.AccessTokenTemplate = FormatOpaque, "hasura"
		}, "access_token_template"},
		{"no template with opaque", func(c *storage.Client) { c.AccessTokenFormat, c.AccessTokenTemplate = FormatOpaque, "" }, ""},
		{"access ttl min", func(c *storage.Client) { c.AccessTokenTTL = MinAccessTokenTTL }, ""},
		{"access ttl max", func(c *storage.Client) { c.AccessTokenTTL = MaxAccessTokenTTL }, ""},
		{"access ttl short", func(c *storage.Client) { c.AccessTokenTTL = 59 * time.Second }, "access_token_ttl_seconds"},
		{"access ttl long", func(c *storage.Client) { c.AccessTokenTTL = 25 * time.Hour }, "access_token_ttl_seconds"},
		{"id ttl short", func(c *storage.Client) { c.IDTokenTTL = time.Second }, "id_token_ttl_seconds"},
		{"id ttl long", func(c *storage.Client) { c.IDTokenTTL = 48 * time.Hour }, "id_token_ttl_seconds"},
		{"refresh idle short", func(c *storage.Client) { c.RefreshTokenIdleTTL = time.Second }, "refresh_token_idle_ttl_seconds"},
		{"refresh max a year", func(c *storage.Client) { c.RefreshTokenMaxTTL = MaxRefreshTokenTTL }, ""},
		{"refresh max over a year", func(c *storage.Client) {
			c.RefreshTokenMaxTTL = MaxRefreshTokenTTL + time.Hour
		}, "refresh_token_max_ttl_seconds"},
		{"refresh max under idle", func(c *storage.Client) {
			c.RefreshTokenIdleTTL, c.RefreshTokenMaxTTL = 48*time.Hour, 24*time.Hour
		}, "refresh_token_max_ttl_seconds"},
		{"unknown source", func(c *storage.Client) { c.Source = "import" }, "source"},
		{"config source", func(c *storage.Client) { c.Source = SourceConfig }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := goodClient()
			tt.edit(c)
			err := Validate(c)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError naming %s", err, tt.wantField)
			}
			for _, p := range ve.Problems {
				if p.Field == tt.wantField {
					if p.Message == "" {
						t.Fatal("empty message")
					}
					return
				}
			}
			t.Fatalf("Validate = %v, want a problem with field %s", err, tt.wantField)
		})
	}
}

func TestValidationErrorListsEveryProblem(t *testing.T) {
	c := goodClient()
	c.Name = ""
	c.RedirectURIs = []string{"http://example.com/cb"}
	c.AccessTokenFormat = "x"
	err := Validate(c)
	want := `name: is required; redirect_uris[0]: "http://example.com/cb" must use https`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "; access_token_format: ") {
		t.Fatalf("Validate = %v, want it to start with %q and name access_token_format", err, want)
	}
}

// FuzzValidate feeds arbitrary strings as redirect URIs, post-logout URIs
// and CORS origins: Validate never panics, and what it accepts is never
// unsafe.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"https://example.com/cb", "http://localhost:3000/cb", "http://127.0.0.1:51234/cb", "http://[::1]/cb",
		"com.example.app:/cb", "javascript:alert(1)", "https://*.example.com/", "https://e.com/#x", "http://example.com",
		"data:text/html,x", "https://user@e.com/", "http://[::1", "%zz", "", "\x00", "https://e.com/\u2028",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, uri string, native bool) {
		c := goodClient()
		if native {
			c.ApplicationType, c.AuthMethod = AppNative, AuthNone
		}
		c.RedirectURIs = []string{uri}
		c.PostLogoutRedirectURIs = []string{uri}
		c.CORSOrigins = []string{uri}
		err := Validate(c)
		var ve *ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("Validate returned %T, not *ValidationError", err)
		}
		if err != nil {
			_ = err.Error()
		}
		redirectOK := checkRedirectURI(uri, native) == ""
		if redirectOK {
			u, perr := url.Parse(uri)
			if perr != nil || strings.ContainsAny(uri, "*# \t\r\n") || slices.Contains(unsafeSchemes, u.Scheme) || u.Scheme == "" {
				t.Fatalf("accepted unsafe redirect URI %q", uri)
			}
			if u.Scheme == "http" && !isLoopback(u.Hostname()) {
				t.Fatalf("accepted http redirect URI %q off loopback", uri)
			}
			if !native && u.Scheme != "http" && u.Scheme != "https" {
				t.Fatalf("accepted custom scheme %q for a web client", uri)
			}
		}
		if checkOrigin(uri) == "" {
			u, perr := url.Parse(uri)
			if perr != nil || strings.Contains(uri, "*") || (u.Scheme != "http" && u.Scheme != "https") || uri != u.Scheme+"://"+u.Host {
				t.Fatalf("accepted origin %q that is not scheme://host", uri)
			}
		}
	})
}
