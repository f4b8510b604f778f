package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/internal/oidctest"
)

// The promise of JWT templates: templates declared in the file, a user
// signed in to an app, a token minted from a preset through /v1/tokens
// and through the token exchange, and a standard JWT library configured
// with only Usher's issuer and JWKS URL (or the shared secret) accepts it.
func TestDeclaredTemplatesMintTokensDatabasesAccept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "supabase-secret")
	secret := "a supabase jwt secret of at least 32 bytes"
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "usher.yaml")
	appSecret := strings.Repeat("s", 43)
	const redirect = "http://127.0.0.1:3000/callback"
	if err := os.WriteFile(cfgPath, []byte(`clients:
  - id: web-app
    name: Web App
    secret: `+appSecret+`
    redirect_uris: [`+redirect+`]
    grant_types: [authorization_code, refresh_token, "urn:ietf:params:oauth:grant-type:token-exchange"]
templates:
  - name: hasura
    preset: hasura
  - name: supabase
    preset: supabase
    hs256_secret_file: `+secretFile+`
  - name: _session
    claims:
      plan: "{{user.public_metadata.plan || 'free'}}"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	issuer := "http://" + addr
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(dir, "usher.db"), "USHER_LISTEN="+addr, "USHER_ISSUER="+issuer)
	_, stop := startServeArgs(t, env, "--config", cfgPath)
	defer stop()
	if code, _, errOut := runCmd(t, env, "users", "create", "--email", "db@example.com", "--password", "a long database password", "--email-verified"); code != 0 {
		t.Fatal(errOut)
	}

	op, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: "web-app", ClientSecret: appSecret, Endpoint: op.Endpoint(), RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID}}
	verifier := oauth2.GenerateVerifier()
	loc := oidctest.NewBrowser(t, issuer).Authorize(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "db@example.com", "a long database password")
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}

	// The custom session claims are in the ID token.
	idt, err := op.Verifier(&oidc.Config{ClientID: "web-app"}).Verify(ctx, tok.Extra("id_token").(string))
	var idClaims map[string]any
	if err != nil || idt.Claims(&idClaims) != nil || idClaims["plan"] != "free" {
		t.Fatalf("session claims in the ID token: %v %v", idClaims, err)
	}

	// /v1/tokens/hasura, checked as Hasura would: issuer and JWKS URL only.
	req, _ := http.NewRequest(http.MethodPost, issuer+"/v1/tokens/hasura", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var minted struct{ JWT string }
	if err := json.NewDecoder(resp.Body).Decode(&minted); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/v1/tokens/hasura: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	db := oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(ctx, issuer+"/keys"), &oidc.Config{SkipClientIDCheck: true})
	hasura, err := db.Verify(ctx, minted.JWT)
	if err != nil {
		t.Fatalf("a JWKS verifier refuses the hasura token: %v", err)
	}
	var hc map[string]any
	if err := hasura.Claims(&hc); err != nil {
		t.Fatal(err)
	}
	if h, _ := hc["https://hasura.io/jwt/claims"].(map[string]any); h["x-hasura-user-id"] != hasura.Subject {
		t.Fatalf("hasura claims %v", hc)
	}

	// The token exchange for supabase, checked with the shared secret.
	resp, err = http.PostForm(issuer+"/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"client_id": {"web-app"}, "client_secret": {appSecret}, "subject_token": {tok.AccessToken},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "audience": {"supabase"}})
	if err != nil {
		t.Fatal(err)
	}
	var exchanged struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&exchanged); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token exchange: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	parsed, err := jwt.ParseSigned(exchanged.AccessToken, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var sc jwt.Claims
	var extra map[string]any
	if err := parsed.Claims([]byte(secret), &sc, &extra); err != nil {
		t.Fatalf("the supabase token does not verify with the shared secret: %v", err)
	}
	if err := sc.Validate(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{"authenticated"}}); err != nil || extra["role"] != "authenticated" {
		t.Fatalf("supabase claims %+v %v: %v", sc, extra, err)
	}
}
