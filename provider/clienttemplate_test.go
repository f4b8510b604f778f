package provider_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres/pgtest"
)

// setAccessTokenTemplate names the template a client's access tokens
// carry, in the store as another replica would, then lets the provider's
// client cache run out.
func (x *templateFixture) setAccessTokenTemplate(t *testing.T, clientID, name string) {
	t.Helper()
	ctx := context.Background()
	c, err := x.u.Store.GetClient(ctx, clientID)
	if err != nil {
		t.Fatal(err)
	}
	c.AccessTokenTemplate = name
	if err := x.u.Store.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	x.u.Clock.Advance(10 * time.Second) // past the 5s client cache
}

// idTokenClaims verifies the ID token the app got and returns its claims.
func (x *templateFixture) idTokenClaims(t *testing.T, tok *oauth2.Token) map[string]any {
	t.Helper()
	idToken, err := x.f.op.Verifier(&oidc.Config{ClientID: x.f.cfg.ClientID, Now: x.u.Clock.Now}).
		Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := idToken.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// A client's access token template shapes the JWT access tokens it gets
// for users: they carry the rendered claims, a standard claim is never
// replaced, and over the session claims the client's template wins. Its
// ID tokens, and other clients' tokens, do not carry them.
func TestClientAccessTokenTemplate(t *testing.T) {
	x := newTemplateFixture(t)
	x.create(t, provider.TemplateSpec{Name: provider.SessionClaimsTemplate,
		Claims: json.RawMessage(`{"plan": "from the session", "onboarded": "{{user.public_metadata.onboarded}}"}`)})
	x.create(t, provider.TemplateSpec{Name: "db", Claims: json.RawMessage(`{"role": "authenticated",
		"plan": "{{user.public_metadata.plan}}", "tier": "{{user.public_metadata.org.tier}}",
		"email": "spoofed", "aud": "x", "scope": "admin", "client_id": "other", "auth_time": 1}`)})
	x.setAccessTokenTemplate(t, x.f.cfg.ClientID, "db")

	tok := x.f.login(t)
	at := verifyWithJWKS(t, x.u, tok.AccessToken)
	if at["role"] != "authenticated" || at["plan"] != "pro" || at["tier"] != float64(3) {
		t.Errorf("the access token lacks the client's template claims, or the session's won: %v", at)
	}
	if at["onboarded"] != true {
		t.Errorf("the access token lost the session claims: %v", at)
	}
	aud, _ := at["aud"].([]any)
	if at["sub"] != x.jane.ID || at["iss"] != x.u.URL || at["client_id"] != x.f.cfg.ClientID || at["email"] == "spoofed" ||
		!slices.Contains(aud, any(x.f.cfg.ClientID)) || slices.Contains(aud, any("x")) || at["scope"] == "admin" || at["auth_time"] == float64(1) {
		t.Errorf("a template claim replaced a standard one: %v", at)
	}

	id := x.idTokenClaims(t, tok)
	if id["role"] != nil || id["tier"] != nil || id["plan"] != "from the session" || id["email"] != "jane@example.com" {
		t.Errorf("the ID token carries the access token template, or lost its own claims: %v", id)
	}

	// Refreshed access tokens carry them too.
	refreshed, err := x.f.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if c := verifyWithJWKS(t, x.u, refreshed.AccessToken); c["role"] != "authenticated" || c["plan"] != "pro" {
		t.Errorf("refreshed access token: %v", c)
	}

	// A client without the setting gets none of them.
	other := newFlow(t, x.u, false)
	c := verifyWithJWKS(t, x.u, other.login(t).AccessToken)
	if c["role"] != nil || c["tier"] != nil || c["plan"] != "from the session" {
		t.Errorf("another client's access token: %v", c)
	}

	// A template that does not exist renders nothing, and tokens are still
	// issued.
	x.setAccessTokenTemplate(t, x.f.cfg.ClientID, "gone")
	c = verifyWithJWKS(t, x.u, x.f.login(t).AccessToken)
	if c["role"] != nil || c["plan"] != "from the session" || c["sub"] != x.jane.ID {
		t.Errorf("with a missing template: %v", c)
	}

	// Cleared, the client's tokens are back to the session claims.
	x.setAccessTokenTemplate(t, x.f.cfg.ClientID, "")
	c = verifyWithJWKS(t, x.u, x.f.login(t).AccessToken)
	if c["role"] != nil || c["plan"] != "from the session" {
		t.Errorf("with the template cleared: %v", c)
	}
}

// A client acting for itself (client_credentials) has no user to render
// its template for: its tokens carry none of it, and are still issued.
func TestClientAccessTokenTemplateWithoutUser(t *testing.T) {
	x := newTemplateFixture(t)
	x.create(t, provider.TemplateSpec{Name: "db", Claims: json.RawMessage(`{"role": "{{user.public_metadata.plan}}", "fixed": "x"}`)})
	id, secret := x.u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.GrantTypes, c.RedirectURIs = []string{clients.GrantClientCredentials}, nil
		c.Scopes = []string{"reports:read"}
		c.AccessTokenTemplate = "db"
	})
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: x.u.URL + "/oauth/token", Scopes: []string{"reports:read"}}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := verifyWithJWKS(t, x.u, tok.AccessToken)
	if c["sub"] != id || c["role"] != nil || c["fixed"] != nil {
		t.Fatalf("a client_credentials access token: %v", c)
	}
}

// The same, on PostgreSQL.
func TestPostgresClientAccessTokenTemplate(t *testing.T) {
	pgtest.URL(t) // skips (or, in CI, fails) without a server
	onPostgres = true
	defer func() { onPostgres = false }()
	t.Run("ClientAccessTokenTemplate", TestClientAccessTokenTemplate)
	t.Run("ClientAccessTokenTemplateWithoutUser", TestClientAccessTokenTemplateWithoutUser)
}
