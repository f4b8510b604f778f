package provider_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/claims"
	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"

// templateFixture is an app allowed the token exchange, Jane signed in
// to it, and the template service.
type templateFixture struct {
	u    *testUsher
	f    *flow
	tok  *oauth2.Token
	svc  *provider.Templates
	jane *storage.User
}

func newTemplateFixture(t *testing.T) *templateFixture {
	t.Helper()
	u := startUsher(t, nil)
	jane := u.newUser(t, "jane@example.com")
	if _, err := u.Users.UpdateMetadata(context.Background(), jane.ID, users.MetadataUpdate{
		Public: json.RawMessage(`{"plan":"pro","onboarded":true,"org":{"tier":3}}`)}); err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, u, false, func(c *storage.Client) {
		c.GrantTypes = []string{clients.GrantAuthorizationCode, clients.GrantRefreshToken, tokenExchangeGrant}
	})
	return &templateFixture{u: u, f: f, tok: f.login(t), jane: jane,
		svc: &provider.Templates{Store: u.Store, Keys: u.Keys, Provider: u.Provider, Now: u.Clock.Now}}
}

func (x *templateFixture) create(t *testing.T, spec provider.TemplateSpec) {
	t.Helper()
	if _, _, err := x.svc.Create(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
}

// exchange runs the token exchange for the app and returns the status and
// the decoded answer.
func (x *templateFixture) exchange(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("grant_type", tokenExchangeGrant)
	if !form.Has("subject_token_type") {
		form.Set("subject_token_type", "urn:ietf:params:oauth:token-type:access_token")
	}
	req, _ := http.NewRequest(http.MethodPost, x.u.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(x.f.cfg.ClientID), url.QueryEscape(x.f.secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// verifyWithJWKS checks a token the way a database configured with only
// the issuer's JWKS URL does, and returns its claims.
func verifyWithJWKS(t *testing.T, u *testUsher, token string) map[string]any {
	t.Helper()
	resp, err := http.Get(u.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	if err := parsed.Claims(set, &out); err != nil {
		t.Fatalf("the token does not verify against the JWKS: %v", err)
	}
	return out
}

func TestTokenExchangeMintsTemplateTokens(t *testing.T) {
	x := newTemplateFixture(t)
	skew := 10 * time.Second
	x.create(t, provider.TemplateSpec{Name: "hasura", Claims: claimsOf(t, "hasura"), Lifetime: 120 * time.Second, ClockSkew: &skew})

	before := x.u.Clock.Now().Unix()
	st, out := x.exchange(t, url.Values{"subject_token": {x.tok.AccessToken}, "audience": {"hasura"}})
	if st != http.StatusOK || out["issued_token_type"] != "urn:ietf:params:oauth:token-type:jwt" || out["token_type"] != "N_A" {
		t.Fatalf("token exchange: %d %v", st, out)
	}
	got := verifyWithJWKS(t, x.u, out["access_token"].(string))
	h, _ := got["https://hasura.io/jwt/claims"].(map[string]any)
	if got["sub"] != x.jane.ID || got["iss"] != x.u.URL || got["azp"] != x.f.cfg.ClientID || h["x-hasura-user-id"] != x.jane.ID {
		t.Fatalf("claims %v", got)
	}
	iat, exp, nbf := int64(got["iat"].(float64)), int64(got["exp"].(float64)), int64(got["nbf"].(float64))
	if iat < before-1 || exp-iat != 120 || iat-nbf != 10 || got["jti"] == "" {
		t.Fatalf("iat %d exp %d nbf %d jti %v", iat, exp, nbf, got["jti"])
	}

	// An edit takes effect on the next mint.
	if _, _, err := x.svc.Update(context.Background(), "hasura", provider.TemplateSpec{
		Claims: json.RawMessage(`{"plan": "{{user.public_metadata.plan}}", "tier": "{{user.public_metadata.org.tier}}"}`)}); err != nil {
		t.Fatal(err)
	}
	_, out = x.exchange(t, url.Values{"subject_token": {x.tok.AccessToken}, "template": {"hasura"}})
	got = verifyWithJWKS(t, x.u, out["access_token"].(string))
	if got["plan"] != "pro" || got["tier"] != float64(3) || got["https://hasura.io/jwt/claims"] != nil {
		t.Fatalf("after the edit: %v", got)
	}
}

func TestTokenExchangeRefusals(t *testing.T) {
	x := newTemplateFixture(t)
	x.create(t, provider.TemplateSpec{Name: "db", Claims: json.RawMessage(`{"role":"authenticated"}`)})
	ctx := context.Background()

	// Another client's token, an unknown template, a malformed request.
	other := newFlow(t, x.u, false)
	otherTok := other.login(t)
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"foreign token", url.Values{"subject_token": {otherTok.AccessToken}, "audience": {"db"}}, 400, "invalid_request"},
		{"not a token", url.Values{"subject_token": {"eyJ.not.a.token"}, "audience": {"db"}}, 400, "invalid_request"},
		{"unknown template", url.Values{"subject_token": {x.tok.AccessToken}, "audience": {"nope"}}, 400, "invalid_target"},
		{"no template", url.Values{"subject_token": {x.tok.AccessToken}}, 400, "invalid_request"},
		{"wrong token type", url.Values{"subject_token": {x.tok.AccessToken}, "audience": {"db"}, "subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}, 400, "invalid_request"},
		{"session claims are not a template", url.Values{"subject_token": {x.tok.AccessToken}, "audience": {provider.SessionClaimsTemplate}}, 400, "invalid_target"},
	} {
		st, out := x.exchange(t, c.form)
		if st != c.status || out["error"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, out, c.status, c.code)
		}
	}

	// A client without the grant.
	req, _ := http.NewRequest(http.MethodPost, x.u.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {tokenExchangeGrant},
		"subject_token": {otherTok.AccessToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "audience": {"db"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(other.cfg.ClientID, other.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "unauthorized_client") {
		t.Fatalf("a client without the grant: %d %s", resp.StatusCode, body)
	}

	// Revoked, then expired.
	fresh := x.f.login(t)
	if err := revoke(x.u.URL, x.f.cfg.ClientID, x.f.secret, fresh.AccessToken); err != nil {
		t.Fatal(err)
	}
	if st, out := x.exchange(t, url.Values{"subject_token": {fresh.AccessToken}, "audience": {"db"}}); st != 400 || out["error"] != "invalid_request" {
		t.Fatalf("revoked token: %d %v", st, out)
	}
	x.u.Clock.Advance(2 * time.Hour)
	if st, out := x.exchange(t, url.Values{"subject_token": {x.tok.AccessToken}, "audience": {"db"}}); st != 400 || out["error"] != "invalid_request" {
		t.Fatalf("expired token: %d %v", st, out)
	}
	_ = ctx
}

func revoke(base, id, secret, token string) error {
	req, _ := http.NewRequest(http.MethodPost, base+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// /v1/tokens/{template}: the user's bearer token in, {"jwt"} out; an
// HS256 template verifies with its shared secret only.
func TestMintEndpointAndCustomKeys(t *testing.T) {
	x := newTemplateFixture(t)
	secret := []byte("a shared secret of at least thirty-two bytes")
	x.create(t, provider.TemplateSpec{Name: "supabase", Claims: claimsOf(t, "supabase"), HS256Secret: secret})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	x.create(t, provider.TemplateSpec{Name: "own-rsa", Claims: json.RawMessage(`{"email":"{{user.primary_email_address}}"}`),
		RS256PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})})

	mint := func(template, bearer string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, x.u.URL+"/v1/tokens/"+template, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}

	st, out, _ := mint("supabase", x.tok.AccessToken)
	if st != 200 {
		t.Fatalf("mint: %d %v", st, out)
	}
	parsed, err := jwt.ParseSigned(out["jwt"].(string), []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := parsed.Claims(secret, &got); err != nil {
		t.Fatalf("the HS256 token does not verify with its secret: %v", err)
	}
	if got["role"] != "authenticated" || got["email"] != "jane@example.com" || got["sub"] != x.jane.ID {
		t.Fatalf("supabase claims %v", got)
	}
	if err := parsed.Claims([]byte("another secret of at least thirty-two bytes!"), &got); err == nil {
		t.Fatal("the HS256 token verified with another secret")
	}

	_, out, _ = mint("own-rsa", x.tok.AccessToken)
	parsed, err = jwt.ParseSigned(out["jwt"].(string), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Claims(&rsaKey.PublicKey, &got); err != nil || got["email"] != "jane@example.com" {
		t.Fatalf("own RSA key: %v %v", got, err)
	}

	for _, c := range []struct {
		template, bearer string
		status           int
		code             string
	}{
		{"supabase", "", 401, "unauthenticated"},
		{"supabase", "garbage", 401, "invalid_token"},
		{"missing", x.tok.AccessToken, 404, "template_not_found"},
	} {
		st, out, h := mint(c.template, c.bearer)
		if st != c.status || out["code"] != c.code || out["message"] == "" {
			t.Errorf("%s with %q: %d %v", c.template, c.bearer, st, out)
		}
		if st == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without WWW-Authenticate")
		}
	}

	// The custom key is stored sealed, never as given.
	rec, err := x.u.Store.GetJWTTemplateByName(context.Background(), "supabase")
	if err != nil || strings.Contains(string(rec.CustomKey), string(secret)) {
		t.Fatalf("the HS256 secret is stored in the clear: %v", err)
	}
}

// Custom session claims reach every access token and ID token, and never
// replace a standard claim.
func TestSessionClaims(t *testing.T) {
	x := newTemplateFixture(t)
	x.create(t, provider.TemplateSpec{Name: provider.SessionClaimsTemplate,
		Claims: json.RawMessage(`{"metadata": "{{user.public_metadata}}", "onboarded": "{{user.public_metadata.onboarded}}", "email": "spoofed", "aud": "x"}`)})
	tok := x.f.login(t)

	idToken, err := x.f.op.Verifier(&oidc.Config{ClientID: x.f.cfg.ClientID}).Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var id map[string]any
	if err := idToken.Claims(&id); err != nil {
		t.Fatal(err)
	}
	at := verifyWithJWKS(t, x.u, tok.AccessToken)
	for name, c := range map[string]map[string]any{"ID token": id, "access token": at} {
		md, _ := c["metadata"].(map[string]any)
		if md["plan"] != "pro" || c["onboarded"] != true {
			t.Errorf("%s lacks the session claims: %v", name, c)
		}
		if c["email"] == "spoofed" || c["aud"] == "x" {
			t.Errorf("%s: a session claim replaced a standard one: %v", name, c)
		}
	}
	// Refreshed tokens carry them too.
	refreshed, err := x.f.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if c := verifyWithJWKS(t, x.u, refreshed.AccessToken); c["onboarded"] != true {
		t.Fatalf("refreshed access token: %v", c)
	}
}

func TestTemplateValidation(t *testing.T) {
	x := newTemplateFixture(t)
	ctx := context.Background()
	long := 48 * time.Hour
	neg := -time.Second
	for _, c := range []struct {
		name string
		spec provider.TemplateSpec
		want string
	}{
		{"reserved claim", provider.TemplateSpec{Name: "a", Claims: json.RawMessage(`{"sub":"x"}`)}, "$.claims.sub"},
		{"bad shortcode", provider.TemplateSpec{Name: "a", Claims: json.RawMessage(`{"x":"{{user.private_metadata}}"}`)}, "$.claims.x"},
		{"short lifetime", provider.TemplateSpec{Name: "a", Claims: json.RawMessage(`{}`), Lifetime: time.Second}, "$.lifetime"},
		{"instance key outlives the JWKS", provider.TemplateSpec{Name: "a", Claims: json.RawMessage(`{}`), Lifetime: long}, "keys.max_token_lifetime"},
		{"negative skew", provider.TemplateSpec{Name: "a", Claims: json.RawMessage(`{}`), ClockSkew: &neg}, "$.allowed_clock_skew"},
		{"unknown algorithm", provider.TemplateSpec{Name: "a", Claims: json.RawMessage(`{}`), Algorithm: "HS512"}, "$.signing_algorithm"},
		{"short HS256 secret", provider.TemplateSpec{Name: "a", Claims: json.RawMessage(`{}`), HS256Secret: []byte("short")}, "at least 32 bytes"},
		{"bad name", provider.TemplateSpec{Name: "_mine", Claims: json.RawMessage(`{}`)}, "$.name"},
	} {
		_, _, err := x.svc.Create(ctx, c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a problem with %q", c.name, err, c.want)
		}
	}
	// A long lifetime is fine with the template's own key; a name is unique.
	x.create(t, provider.TemplateSpec{Name: "long", Claims: json.RawMessage(`{}`), Lifetime: long, HS256Secret: []byte(strings.Repeat("k", 32))})
	if _, _, err := x.svc.Create(ctx, provider.TemplateSpec{Name: "long", Claims: json.RawMessage(`{}`)}); err == nil {
		t.Fatal("a second template with the same name was stored")
	}
}

func claimsOf(t *testing.T, preset string) json.RawMessage {
	t.Helper()
	p, ok := claims.PresetByName(preset)
	if !ok {
		t.Fatalf("no preset %s", preset)
	}
	return p.Claims
}

// An opaque access token is exchanged like a JWT one.
func TestTokenExchangeWithOpaqueAccessToken(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false, func(c *storage.Client) {
		c.GrantTypes = []string{clients.GrantAuthorizationCode, tokenExchangeGrant}
		c.AccessTokenFormat = "opaque"
	})
	tok := f.login(t)
	if strings.Count(tok.AccessToken, ".") == 2 {
		t.Fatalf("the access token is a JWT: %s", tok.AccessToken)
	}
	x := &templateFixture{u: u, f: f, tok: tok, svc: &provider.Templates{Store: u.Store, Keys: u.Keys, Provider: u.Provider}}
	x.create(t, provider.TemplateSpec{Name: "db", Claims: json.RawMessage(`{"role":"authenticated"}`)})
	st, out := x.exchange(t, url.Values{"subject_token": {tok.AccessToken}, "audience": {"db"}})
	if st != http.StatusOK {
		t.Fatalf("exchange of an opaque token: %d %v", st, out)
	}
	if c := verifyWithJWKS(t, u, out["access_token"].(string)); c["role"] != "authenticated" {
		t.Fatalf("claims %v", c)
	}
}
