package main

import (
	"encoding/json"
	"errors"
	"github.com/usher-id/usher/config"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/usher-id/usher/clients"
)

type clientJSON struct {
	ClientID               string   `json:"client_id"`
	ClientSecret           *string  `json:"client_secret"`
	Name                   string   `json:"name"`
	ApplicationType        string   `json:"application_type"`
	AuthMethod             string   `json:"token_endpoint_auth_method"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	CORSOrigins            []string `json:"cors_origins"`
	AccessTokenFormat      string   `json:"access_token_format"`
	AccessTokenTemplate    string   `json:"access_token_template"`
	AccessTokenTTL         int      `json:"access_token_ttl_seconds"`
	FirstParty             bool     `json:"first_party"`
	IDTokenUserinfoClaims  bool     `json:"id_token_userinfo_claims"`
	CreatedAt              string   `json:"created_at"`
}

// clientsOK runs a clients command that must succeed and decodes its JSON.
func clientsOK(t *testing.T, env []string, v any, args ...string) string {
	t.Helper()
	code, out, errOut := runCmd(t, env, append([]string{"clients"}, args...)...)
	if code != 0 {
		t.Fatalf("usher clients %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("usher clients %s printed %q: %v", strings.Join(args, " "), out, err)
		}
	}
	return out
}

// authenticate checks a client secret the way the provider will: through
// the shared client service, on the same database and instance key.
func authenticate(t *testing.T, env []string, id, secret string) error {
	t.Helper()
	cfg, err := config.Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openStorage(t.Context(), cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := clientService(t.Context(), cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Authenticate(t.Context(), id, secret)
	return err
}

func TestClientsCommands(t *testing.T) {
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(t.TempDir(), "usher.db"), "USHER_MASTER_KEY="+masterKeyA)

	// A confidential client: its secret is printed once and verifies.
	var web clientJSON
	out := clientsOK(t, env, &web, "create", "--name", "Web app",
		"--redirect-uri", "https://app.example.com/cb", "--redirect-uri", "http://localhost:3000/cb",
		"--scope", "openid profile", "--scope", "read:invoices", "--cors-origin", "https://app.example.com")
	if !strings.HasPrefix(web.ClientID, "client_") || web.ClientSecret == nil || !strings.HasPrefix(*web.ClientSecret, clients.SecretPrefix) {
		t.Fatalf("create printed %s", out)
	}
	if web.AuthMethod != "client_secret_basic" || web.ApplicationType != "web" || !web.FirstParty || !web.IDTokenUserinfoClaims ||
		!slices.Equal(web.RedirectURIs, []string{"https://app.example.com/cb", "http://localhost:3000/cb"}) ||
		!slices.Equal(web.Scopes, []string{"openid", "profile", "read:invoices"}) ||
		!slices.Equal(web.GrantTypes, []string{"authorization_code", "refresh_token"}) ||
		!slices.Equal(web.CORSOrigins, []string{"https://app.example.com"}) || web.AccessTokenTTL != 900 || web.CreatedAt == "" {
		t.Fatalf("create printed %s", out)
	}
	if strings.Contains(out, "hash") || strings.Contains(out, `\u0026`) {
		t.Fatalf("create printed %s", out)
	}
	secret := *web.ClientSecret
	if err := authenticate(t, env, web.ClientID, secret); err != nil {
		t.Fatalf("the printed secret does not authenticate: %v", err)
	}
	if err := authenticate(t, env, web.ClientID, secret+"x"); !errors.Is(err, clients.ErrInvalidClient) {
		t.Fatalf("a wrong secret: %v", err)
	}

	// rotate-secret: the old secret stops working at once.
	var rotated map[string]string
	clientsOK(t, env, &rotated, "rotate-secret", web.ClientID)
	if rotated["client_id"] != web.ClientID || !strings.HasPrefix(rotated["client_secret"], clients.SecretPrefix) || rotated["client_secret"] == secret {
		t.Fatalf("rotate-secret printed %v", rotated)
	}
	if err := authenticate(t, env, web.ClientID, secret); !errors.Is(err, clients.ErrInvalidClient) {
		t.Fatalf("the old secret after rotate-secret: %v", err)
	}
	if err := authenticate(t, env, web.ClientID, rotated["client_secret"]); err != nil {
		t.Fatalf("the new secret: %v", err)
	}

	// A public native client: no secret, ever.
	var cli clientJSON
	out = clientsOK(t, env, &cli, "create", "--name", "CLI", "--public", "--native",
		"--redirect-uri", "com.example.cli:/cb", "--redirect-uri", "http://127.0.0.1/cb")
	if cli.ClientSecret != nil || strings.Contains(out, "client_secret\"") || cli.AuthMethod != "none" || cli.ApplicationType != "native" {
		t.Fatalf("create --public printed %s", out)
	}
	code, _, errOut := runCmd(t, env, "clients", "rotate-secret", cli.ClientID)
	if code != 1 || !strings.Contains(errOut, "has no secret") {
		t.Fatalf("rotate-secret of a public client: exit %d, %q", code, errOut)
	}

	// get and list never show a secret.
	var got clientJSON
	out = clientsOK(t, env, &got, "get", web.ClientID)
	if got.ClientID != web.ClientID || got.Name != "Web app" || strings.Contains(out, "secret\"") {
		t.Fatalf("get printed %s", out)
	}
	var list []clientJSON
	out = clientsOK(t, env, &list, "list")
	if len(list) != 2 || list[0].ClientID != cli.ClientID || list[1].ClientID != web.ClientID || strings.Contains(out, "secret\"") {
		t.Fatalf("list printed %s", out)
	}

	// update replaces the lists given and leaves the rest alone.
	var upd clientJSON
	out = clientsOK(t, env, &upd, "update", web.ClientID, "--name", "Renamed", "--third-party",
		"--redirect-uri", "https://app.example.com/new", "--post-logout-redirect-uri", "https://app.example.com/bye",
		"--access-token-format", "opaque", "--access-token-ttl", "5m")
	if upd.Name != "Renamed" || upd.FirstParty || upd.AccessTokenFormat != "opaque" || upd.AccessTokenTTL != 300 ||
		!slices.Equal(upd.RedirectURIs, []string{"https://app.example.com/new"}) ||
		!slices.Equal(upd.PostLogoutRedirectURIs, []string{"https://app.example.com/bye"}) ||
		!slices.Equal(upd.Scopes, web.Scopes) || !slices.Equal(upd.CORSOrigins, web.CORSOrigins) || upd.ClientSecret != nil {
		t.Fatalf("update printed %s", out)
	}
	if err := authenticate(t, env, web.ClientID, rotated["client_secret"]); err != nil {
		t.Fatalf("the secret after update: %v", err)
	}
	clientsOK(t, env, &upd, "update", web.ClientID, "--post-logout-redirect-uri", "")
	if len(upd.PostLogoutRedirectURIs) != 0 || upd.Name != "Renamed" {
		t.Fatalf("an empty --post-logout-redirect-uri did not clear the list: %+v", upd)
	}

	// A public client made confidential gets its secret then.
	out = clientsOK(t, env, &upd, "update", cli.ClientID, "--public=false")
	if upd.AuthMethod != "client_secret_basic" || upd.ClientSecret == nil {
		t.Fatalf("update --public=false printed %s", out)
	}
	if err := authenticate(t, env, cli.ClientID, *upd.ClientSecret); err != nil {
		t.Fatalf("the secret of a client made confidential: %v", err)
	}

	// Invalid settings are refused with the field named, and nothing changes.
	code, _, errOut = runCmd(t, env, "clients", "create", "--name", "Bad", "--redirect-uri", "http://example.com/cb")
	if code != 1 || !strings.HasPrefix(errOut, "usher: invalid client: redirect_uris[0]: ") {
		t.Fatalf("create with an http redirect: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCmd(t, env, "clients", "update", web.ClientID, "--redirect-uri", "https://app.example.com/*", "--scope", "")
	if code != 1 || !strings.Contains(errOut, "redirect_uris[0]") {
		t.Fatalf("update with a wildcard: exit %d, %q", code, errOut)
	}
	clientsOK(t, env, &got, "get", web.ClientID)
	if !slices.Equal(got.RedirectURIs, []string{"https://app.example.com/new"}) {
		t.Fatalf("a refused update changed the client: %+v", got)
	}
	clientsOK(t, env, &list, "list")
	if len(list) != 2 {
		t.Fatalf("a refused create stored a client: %d clients", len(list))
	}

	// delete, then the client is gone.
	var deleted map[string]any
	clientsOK(t, env, &deleted, "delete", web.ClientID)
	if deleted["client_id"] != web.ClientID || deleted["deleted"] != true {
		t.Fatalf("delete printed %v", deleted)
	}
	for _, args := range [][]string{{"get", web.ClientID}, {"delete", web.ClientID}, {"update", web.ClientID, "--name", "x"}, {"rotate-secret", web.ClientID}} {
		code, _, errOut = runCmd(t, env, append([]string{"clients"}, args...)...)
		if code != 1 || strings.TrimSpace(errOut) != "usher: no client "+web.ClientID {
			t.Errorf("clients %s of a deleted client: exit %d, %q", args[0], code, errOut)
		}
	}
	if err := authenticate(t, env, web.ClientID, rotated["client_secret"]); !errors.Is(err, clients.ErrInvalidClient) {
		t.Fatalf("a deleted client authenticates: %v", err)
	}
}

func TestClientsCommandLine(t *testing.T) {
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(t.TempDir(), "usher.db"), "USHER_MASTER_KEY="+masterKeyA)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no action", nil, 2, "usage: usher clients"},
		{"unknown action", []string{"frobnicate"}, 2, "usage: usher clients"},
		{"get without id", []string{"get"}, 2, "usage: usher clients"},
		{"get with two ids", []string{"get", "a", "b"}, 2, "usage: usher clients"},
		{"create without name", []string{"create", "--redirect-uri", "https://e.com/cb"}, 2, "needs --name"},
		{"update without settings", []string{"update", "client_x"}, 2, "at least one setting"},
		{"settings on list", []string{"list", "--name", "x"}, 2, "go with create and update"},
		{"public with a secret method", []string{"create", "--name", "x", "--public", "--auth-method", "client_secret_post"}, 2, "--public"},
		{"unknown flag", []string{"create", "--colour", "red"}, 2, "flag provided but not defined"},
		{"bad duration", []string{"create", "--name", "x", "--access-token-ttl", "soon"}, 2, "invalid value"},
		{"get unknown", []string{"get", "client_nope"}, 1, "usher: no client client_nope"},
		{"client credentials for a public client", []string{"create", "--name", "x", "--public", "--grant", "client_credentials"}, 1,
			"usher: invalid client: grant_types: "},
		{"custom scheme on a web client", []string{"create", "--name", "x", "--redirect-uri", "com.example.app:/cb"}, 1,
			"usher: invalid client: redirect_uris[0]: "},
		{"short lifetime", []string{"create", "--name", "x", "--redirect-uri", "https://e.com/cb", "--access-token-ttl", "10s"}, 1,
			"access_token_ttl_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, env, append([]string{"clients"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and stderr containing %q", code, out, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
	// A client-credentials service needs no redirect URI.
	var svc clientJSON
	out := clientsOK(t, env, &svc, "create", "--name", "Backend job", "--grant", "client_credentials", "--scope", "read:invoices")
	if svc.ClientSecret == nil || !slices.Equal(svc.GrantTypes, []string{"client_credentials"}) || len(svc.RedirectURIs) != 0 {
		t.Fatalf("create a client_credentials client printed %s", out)
	}
	var list []clientJSON
	if clientsOK(t, env, &list, "list"); len(list) != 1 {
		t.Fatalf("list = %+v", list)
	}
}

func TestClientsAccessTokenTemplate(t *testing.T) {
	dir := t.TempDir()
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(dir, "usher.db"), "USHER_MASTER_KEY="+masterKeyA)

	// A template that does not exist yet may be named; the operator is told.
	code, out, errOut := runCmd(t, env, "clients", "create", "--name", "App", "--redirect-uri", "https://app.example.com/cb",
		"--access-token-template", "hasura")
	var c clientJSON
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil || c.AccessTokenTemplate != "hasura" {
		t.Fatalf("create --access-token-template: exit %d, stdout %s, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "no JWT template has this name yet") || !strings.Contains(errOut, "hasura") {
		t.Errorf("create naming a missing template warned %q", errOut)
	}
	clientsOK(t, env, &c, "get", c.ClientID)
	if c.AccessTokenTemplate != "hasura" {
		t.Fatalf("get after create: %+v", c)
	}

	// Once the template exists, naming it warns of nothing.
	claimsFile := filepath.Join(dir, "claims.json")
	if err := os.WriteFile(claimsFile, []byte(`{"role":"authenticated"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, env, "templates", "create", "--name", "db.v2", "--claims-file", claimsFile); code != 0 {
		t.Fatalf("templates create: exit %d, %q", code, errOut)
	}
	code, out, errOut = runCmd(t, env, "clients", "update", c.ClientID, "--access-token-template", "db.v2")
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil || c.AccessTokenTemplate != "db.v2" || strings.Contains(errOut, "no JWT template") {
		t.Fatalf("update --access-token-template db.v2: exit %d, stdout %s, stderr %q", code, out, errOut)
	}

	// Refused: a bad name, and a template on opaque access tokens, whether
	// the format or the template comes second. Nothing changes.
	for _, args := range [][]string{
		{"update", c.ClientID, "--access-token-template", "_session"},
		{"update", c.ClientID, "--access-token-template", "a b"},
		{"update", c.ClientID, "--access-token-format", "opaque"},
		{"create", "--name", "Opaque", "--redirect-uri", "https://e.com/cb", "--access-token-format", "opaque", "--access-token-template", "db.v2"},
	} {
		code, out, errOut := runCmd(t, env, append([]string{"clients"}, args...)...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "usher: invalid client: access_token_template: ") {
			t.Errorf("clients %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
		}
	}
	code, _, errOut = runCmd(t, env, "clients", "update", c.ClientID, "--access-token-format", "opaque")
	if !strings.Contains(errOut, "access_token_format to jwt") {
		t.Errorf("opaque with a template: the message %q does not say what to do", errOut)
	}
	clientsOK(t, env, &c, "get", c.ClientID)
	if c.AccessTokenTemplate != "db.v2" || c.AccessTokenFormat != "jwt" {
		t.Fatalf("a refused update changed the client: %+v", c)
	}

	// "" clears it, and then the client may go opaque.
	var cleared clientJSON // a fresh value: an omitted key leaves a field as it was
	out = clientsOK(t, env, &cleared, "update", c.ClientID, "--access-token-template", "")
	if cleared.ClientID != c.ClientID || cleared.AccessTokenTemplate != "" || strings.Contains(out, "access_token_template") {
		t.Fatalf("update --access-token-template \"\" printed %s", out)
	}
	clientsOK(t, env, &c, "update", c.ClientID, "--access-token-format", "opaque")
	if c.AccessTokenFormat != "opaque" {
		t.Fatalf("update --access-token-format opaque: %+v", c)
	}
}

func TestDeclaredClientsAccessTokenTemplate(t *testing.T) {
	cfg := config.Config{Clients: []config.Client{{ID: "app", Name: "App", AccessTokenTemplate: "hasura"}, {ID: "plain", Name: "Plain"}}}
	got := declaredClients(cfg)
	if len(got) != 2 || got[0].Client.AccessTokenTemplate != "hasura" || got[1].Client.AccessTokenTemplate != "" {
		t.Fatalf("declaredClients = %+v", got)
	}
}
