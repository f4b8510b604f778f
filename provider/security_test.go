package provider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/client/rs"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/storage"
)

func noFollow() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// An attacker starts an authorization request with his own PKCE verifier,
// lures a signed-in victim to its sign-in link and polls the callback for
// the code. The request belongs to the attacker's browser, so the victim's
// browser cannot complete it and the attacker's callback gets nothing.
func TestAuthRequestBoundToItsBrowser(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, true)
	f.login(t) // the victim's browser has a session

	attacker := noFollow()
	resp, err := attacker.Get(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loginURL, _ := url.Parse(resp.Header.Get("Location"))
	id := loginURL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("authorize sent the attacker to %v", loginURL)
	}
	resp, err = f.b.Client.Get(u.URL + "/login?authRequestID=" + url.QueryEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the victim's browser opened another browser's sign-in request: %d", resp.StatusCode)
	}
	resp, err = attacker.Get(u.URL + "/authorize/callback?id=" + url.QueryEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "code=") || resp.StatusCode == http.StatusFound {
		t.Fatalf("the callback handed out %d %s", resp.StatusCode, loc)
	}
}

// prompt=none with an id_token_hint for Jane, in a browser signed in as
// Bob, must not answer with a code for Bob.
func TestIDTokenHintMustMatchSession(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	u.newUser(t, "bob@example.com")
	f := newFlow(t, u, false)
	hint := f.login(t).Extra("id_token").(string)
	bob := oidctest.NewBrowser(t, u.URL)
	bob.Authorize(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "bob@example.com", testPassword)
	resp, err := bob.Client.Get(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", hint)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none for Jane in Bob's browser went to %v", resp.Header.Get("Location"))
	}
}

func TestBannedUserLosesSSOAndRefresh(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	usr := u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	tok := f.login(t)
	cur, _ := u.Store.GetUser(ctx, usr.ID)
	cur.Banned = true
	if err := u.Store.UpdateUser(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := f.refresh(tok.RefreshToken); err == nil {
		t.Error("a banned user's refresh token still works")
	}
	resp, err := f.b.Client.Get(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "login_required" {
		t.Errorf("a banned user's session still signs in: %v", resp.Header.Get("Location"))
	}
}

func TestProtocolAnswers(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	tok := f.login(t)

	// Token responses are never cached.
	resp, err := http.PostForm(u.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {f.cfg.ClientID}, "client_secret": {f.secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}

	// A client without the grant: unauthorized_client.
	cc := clientcredentials.Config{ClientID: f.cfg.ClientID, ClientSecret: f.secret, TokenURL: u.URL + "/oauth/token"}
	if _, err := cc.Token(ctx); err == nil || !strings.Contains(err.Error(), "unauthorized_client") {
		t.Errorf("client_credentials for a client without the grant: %v", err)
	}

	// A revoked token at userinfo: 401 invalid_token.
	form := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}
	req, _ := http.NewRequest("POST", u.URL+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.cfg.ClientID, f.secret)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("GET", u.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("userinfo with a revoked token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// An unparsable end_session request: 400, not 500.
	if resp, err = noFollow().Get(u.URL + "/end_session?a=%zz"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("end_session with a malformed query: %d", resp.StatusCode)
	}

	// Discovery names the assertion algorithms it advertises private_key_jwt with.
	if resp, err = http.Get(u.URL + "/.well-known/openid-configuration"); err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["token_endpoint_auth_signing_alg_values_supported"] == nil {
		t.Error("discovery advertises private_key_jwt without token_endpoint_auth_signing_alg_values_supported")
	}
}

// Another client may introspect a token (a resource server) but learns
// only that it is live, not who its user is.
func TestIntrospectionByAnotherClient(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	f.cfg.Scopes = append(f.cfg.Scopes, "email")
	tok := f.login(t)
	apiID, apiSecret := u.newClient(t, appRedirect, false)
	introspect := func(id, secret string) *zoidc.IntrospectionResponse {
		rsrv, err := rs.NewResourceServerClientCredentials(ctx, u.URL, id, secret)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rs.Introspect[*zoidc.IntrospectionResponse](ctx, rsrv, tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if own := introspect(f.cfg.ClientID, f.secret); !own.Active || own.Email != "jane@example.com" {
		t.Fatalf("the token's own client: %+v", own)
	}
	if other := introspect(apiID, apiSecret); !other.Active || other.Email != "" {
		t.Fatalf("another client: active %v, email %q; want active and no personal data", other.Active, other.Email)
	}
}

// client_credentials for a client that authenticates with private_key_jwt.
func TestPrivateKeyJWTClientCredentials(t *testing.T) {
	u := startUsher(t, nil)
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	id, _ := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.AuthMethod, c.JWKS, c.GrantTypes, c.RedirectURIs, c.Scopes = "private_key_jwt", jwks, []string{"client_credentials"}, nil, []string{"reports:read"}
	})
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}}, nil)
	now := time.Now()
	assertion, _ := jwt.Signed(signer).Claims(jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{u.URL}, ID: "j1",
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
	resp, err := http.PostForm(u.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"reports:read"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"access_token"`) || !strings.Contains(string(body), `reports:read`) {
		t.Fatalf("private_key_jwt client_credentials: %d %s", resp.StatusCode, body)
	}
}

// Failed sign-ins are limited per network address, across accounts.
func TestSignInFailuresLimitedPerAddress(t *testing.T) {
	u := startUsher(t, nil)
	// Six accounts, so that none reaches its own lockout (ten failures)
	// before the address reaches its limit.
	for i := range 6 {
		u.newUser(t, fmt.Sprintf("user%d@example.com", i))
	}
	f := newFlow(t, u, false)
	var status int
	for i := range 51 {
		resp, err := f.b.Client.Get(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp, _ = f.b.SignIn(page, fmt.Sprintf("user%d@example.com", i%6), "wrong password")
		status = resp.StatusCode
		if i < 50 && status != http.StatusUnauthorized {
			t.Fatalf("failed sign-in %d: %d, want 401", i+1, status)
		}
	}
	if status != http.StatusTooManyRequests {
		t.Fatalf("the 51st failed sign-in from one address: %d, want 429", status)
	}
}
