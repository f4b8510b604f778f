package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/storage/postgres/pgtest"
)

// freeAddr returns a loopback address with a free port, so the issuer can
// name the port before the server starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The README's promise: start Usher, create a user and a client with two
// commands, and sign in from a real client library with code + PKCE.
func testNewUserFlow(t *testing.T, databaseURL string) {
	ctx := context.Background()
	addr := freeAddr(t)
	issuer := "http://" + addr
	env := testEnv("USHER_DATABASE_URL="+databaseURL, "USHER_LISTEN="+addr, "USHER_ISSUER="+issuer,
		"USHER_MASTER_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	_, stop := startServe(t, env)
	defer stop()

	code, out, errOut := runCmd(t, env, "users", "create", "--email", "ada@example.com", "--password", "analytical engine", "--name", "Ada Lovelace", "--email-verified")
	if code != 0 {
		t.Fatalf("users create: %s", errOut)
	}
	var user struct{ ID string }
	if err := json.Unmarshal([]byte(out), &user); err != nil || !strings.HasPrefix(user.ID, "user_") {
		t.Fatalf("users create printed %q (%v)", out, err)
	}
	const redirect = "http://127.0.0.1:3000/callback"
	code, out, errOut = runCmd(t, env, "clients", "create", "--name", "My app", "--redirect-uri", redirect)
	if code != 0 {
		t.Fatalf("clients create: %s", errOut)
	}
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &client); err != nil || client.ClientSecret == "" {
		t.Fatalf("clients create printed %q (%v)", out, err)
	}

	op, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: client.ClientID, ClientSecret: client.ClientSecret, Endpoint: op.Endpoint(),
		RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	verifier := oauth2.GenerateVerifier()
	loc := oidctest.NewBrowser(t, issuer).Authorize(cfg.AuthCodeURL("xyz", oauth2.S256ChallengeOption(verifier)), "ada@example.com", "analytical engine")
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: client.ClientID}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != user.ID || claims.Name != "Ada Lovelace" || claims.Email != "ada@example.com" {
		t.Fatalf("ID token sub %q claims %+v", idt.Subject, claims)
	}
}

func TestNewUserFlowSQLite(t *testing.T) {
	testNewUserFlow(t, filepath.Join(t.TempDir(), "usher.db"))
}

func TestPostgresNewUserFlow(t *testing.T) {
	testNewUserFlow(t, pgtest.URL(t))
}

// Clients declared in the configuration file are there after start-up,
// with the secret from the file, and leave when the file drops them.
func TestDeclaredClientsSync(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("k", 43)
	cfgPath := filepath.Join(dir, "usher.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`clients:
  - id: reports
    name: Reports
    secret: ` + secret + `
    grant_types: [client_credentials]
    scopes: [reports:read]
`)
	addr := freeAddr(t)
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(dir, "usher.db"), "USHER_LISTEN="+addr, "USHER_ISSUER=http://"+addr)
	_, stop := startServeArgs(t, env, "--config", cfgPath)
	cc := clientcredentials.Config{ClientID: "reports", ClientSecret: secret, TokenURL: "http://" + addr + "/oauth/token", Scopes: []string{"reports:read"}}
	if _, err := cc.Token(context.Background()); err != nil {
		t.Fatalf("a declared client cannot get a token: %v", err)
	}
	stop()
	write("clients: []\n")
	code, out, errOut := runCmd(t, env, "clients", "get", "reports", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, `"source": "config"`) {
		t.Fatalf("clients get before the next start: %d %q %q", code, out, errOut)
	}
	_, stop = startServeArgs(t, env, "--config", cfgPath)
	stop()
	if code, _, _ := runCmd(t, env, "clients", "get", "reports", "--config", cfgPath); code != 1 {
		t.Fatalf("a client dropped from the file is still there (exit %d)", code)
	}
}
