package provider_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/client/rs"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres"
	"github.com/usher-id/usher/storage/postgres/pgtest"
)

func TestUserinfoChallenges(t *testing.T) {
	u := startUsher(t, nil)
	for _, tc := range []struct {
		name, auth, want string
	}{
		{"no token", "", `Bearer realm="usher"`},
		{"bad token", "Bearer not-a-token", `error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", u.URL+"/userinfo", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tc.want) {
				t.Fatalf("status %d, WWW-Authenticate %q; want 401 with %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.want)
			}
		})
	}
}

func TestDiscoveryAdvertisesOnlyWhatWorks(t *testing.T) {
	u := startUsher(t, nil)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, err := http.Get(u.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		err = json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		if d["issuer"] != u.URL || resp.Header.Get("Cache-Control") == "" {
			t.Fatalf("%s: issuer %v, Cache-Control %q", path, d["issuer"], resp.Header.Get("Cache-Control"))
		}
		grants, _ := json.Marshal(d["grant_types_supported"])
		for _, absent := range []string{"implicit", "jwt-bearer"} {
			if strings.Contains(string(grants), absent) {
				t.Errorf("%s advertises %s: %s", path, absent, grants)
			}
		}
		if rt, _ := json.Marshal(d["response_types_supported"]); string(rt) != `["code"]` {
			t.Errorf("%s: response_types_supported %s", path, rt)
		}
	}
}

var logoutForm = regexp.MustCompile(`(?s)name="csrf" value="([^"]+)".*name="redirect" value="([^"]+)".*name="sig" value="([^"]+)"`)

// RP-initiated logout: end_session never signs out by itself; the
// confirmation page does, and then the app's post-logout URI gets state.
func TestRPInitiatedLogout(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	const after = "http://127.0.0.1:9999/signed-out"
	f := newFlow(t, u, false, func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{after} })
	tok := f.login(t)
	idToken := tok.Extra("id_token").(string)
	endSession := u.URL + "/end_session?" + url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {after}, "state": {"bye"}}.Encode()

	resp, err := f.b.Client.Get(endSession)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := logoutForm.FindSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("end_session: %d, want the confirmation page: %s", resp.StatusCode, page)
	}
	// The session still works until the user confirms.
	verifier := oauth2.GenerateVerifier()
	resp, err = f.b.Client.Get(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("the session ended before confirmation: %v", resp.Header.Get("Location"))
	}
	// A forged confirmation without the CSRF token does nothing.
	resp, err = f.b.Client.PostForm(u.URL+"/logout", url.Values{"redirect": {string(m[2])}, "sig": {string(m[3])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF token: %d", resp.StatusCode)
	}
	// A tampered destination is refused.
	resp, err = f.b.Client.PostForm(u.URL+"/logout", url.Values{"csrf": {string(m[1])}, "redirect": {"https://evil.example/"}, "sig": {string(m[3])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("logout to a tampered destination: %d", resp.StatusCode)
	}
	resp, err = f.b.Client.PostForm(u.URL+"/logout", url.Values{"csrf": {string(m[1])}, "redirect": {html(string(m[2]))}, "sig": {string(m[3])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), after) || loc.Query().Get("state") != "bye" {
		t.Fatalf("confirmed logout: %d to %v", resp.StatusCode, loc)
	}
	// Signed out: prompt=none now answers login_required.
	resp, err = f.b.Client.Get(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "login_required" {
		t.Fatalf("after logout, prompt=none went to %v", resp.Header.Get("Location"))
	}
	_ = ctx
}

// html undoes the template's escaping of a hidden field's value.
func html(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'").Replace(s)
}

// via sends every request for the shared issuer's host to one replica,
// as a load balancer would.
func via(replica string) *http.Client {
	target, _ := url.Parse(replica)
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Host = target.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Two replicas on one PostgreSQL behind one issuer: a token issued by one
// is refreshed, introspected and revoked on the other.
func TestPostgresTwoReplicas(t *testing.T) {
	const issuer = "http://usher.test"
	dsn := pgtest.URL(t)
	open := func() storage.Storage {
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a := startUsherAt(t, open(), issuer)
	b := startUsherAt(t, open(), issuer)
	a.newUser(t, "jane@example.com")
	id, secret := a.newClient(t, appRedirect, false)
	toA, toB := via(a.URL), via(b.URL)
	ctxA := oidc.ClientContext(context.Background(), toA)
	ctxB := oidc.ClientContext(context.Background(), toB)

	op, err := oidc.NewProvider(ctxA, issuer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: op.Endpoint(), RedirectURL: appRedirect,
		Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
	verifier := oauth2.GenerateVerifier()
	browser := oidctest.NewBrowser(t, issuer)
	browser.Client.Transport = toA.Transport
	loc := browser.Authorize(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "jane@example.com", testPassword)
	tok, err := cfg.Exchange(ctxA, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	// B verifies A's ID token against its own JWKS: the keys are shared.
	if _, err := op.Verifier(&oidc.Config{ClientID: id}).Verify(ctxB, tok.Extra("id_token").(string)); err != nil {
		t.Fatalf("verifying A's ID token through B: %v", err)
	}
	// A's access token introspects active on B.
	api, err := rs.NewResourceServerClientCredentials(ctxB, issuer, id, secret, rs.WithClient(toB))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Introspect[*zoidc.IntrospectionResponse](ctxB, api, tok.AccessToken)
	if err != nil || !resp.Active {
		t.Fatalf("introspection on B of A's token: %+v %v", resp, err)
	}
	// Refresh on B.
	refreshed, err := cfg.TokenSource(ctxB, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh on the other replica: %v", err)
	}
	// Revoke on A; B refuses the refresh token and reports the access
	// tokens of its grant inactive.
	party, err := rp.NewRelyingPartyOIDC(ctxA, issuer, id, secret, "", nil, rp.WithHTTPClient(toA))
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.RevokeToken(ctxA, party, refreshed.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.TokenSource(ctxB, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Fatal("B accepted a refresh token revoked on A")
	}
	resp, err = rs.Introspect[*zoidc.IntrospectionResponse](ctxB, api, refreshed.AccessToken)
	if err != nil || resp.Active {
		t.Fatalf("introspection on B of an access token whose grant was revoked on A: %+v %v", resp, err)
	}
}
