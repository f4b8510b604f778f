package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres/pgtest"
	"github.com/usher-id/usher/storage/sqlite"
)

const samlMetadataXML = `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.corp.example/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.corp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
`

type connectionJSON struct {
	ID                 string   `json:"id"`
	Slug               string   `json:"slug"`
	Type               string   `json:"type"`
	DisplayName        string   `json:"display_name"`
	IconURL            string   `json:"icon_url"`
	Enabled            bool     `json:"enabled"`
	ClientID           string   `json:"client_id"`
	HasClientSecret    bool     `json:"has_client_secret"`
	Issuer             string   `json:"issuer"`
	Scopes             []string `json:"scopes"`
	SAMLMetadataURL    string   `json:"saml_metadata_url"`
	HasSAMLMetadata    bool     `json:"has_saml_metadata"`
	EmailDomains       []string `json:"email_domains"`
	AllowSignUp        bool     `json:"allow_sign_up"`
	TrustEmailVerified bool     `json:"trust_email_verified"`
	StoreTokens        bool     `json:"store_tokens"`
	CreatedAt          string   `json:"created_at"`
	UpdatedAt          string   `json:"updated_at"`
}

// connectionsOK runs a connections command that must succeed, decodes its
// JSON into v and returns what it printed.
func connectionsOK(t *testing.T, env []string, v any, args ...string) string {
	t.Helper()
	code, out, errOut := runCmd(t, env, append([]string{"connections"}, args...)...)
	if code != 0 {
		t.Fatalf("usher connections %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("usher connections %s printed %q: %v", strings.Join(args, " "), out, err)
		}
	}
	return out
}

func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// storedConnection reads a connection as stored, and its client secret
// opened with the instance's keys ("" when it has none).
func storedConnection(t *testing.T, env []string, slug string) (*storage.Connection, string) {
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
	c, err := db.GetConnectionBySlug(t.Context(), slug)
	if err != nil {
		t.Fatalf("connection %s: %v", slug, err)
	}
	if len(c.ClientSecret) == 0 {
		return c, ""
	}
	km := testKeys(t, cfg, db)
	plain, err := km.Open(c.ClientSecret, keys.ConnectionSecretPurpose(c.ID))
	if err != nil {
		t.Fatalf("connection %s: the sealed secret does not open under its ID: %v", slug, err)
	}
	return c, string(plain)
}

func testKeys(t *testing.T, cfg config.Config, db storage.Storage) *keys.Manager {
	t.Helper()
	mk, err := loadMasterKey(cfg)
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.New(t.Context(), db, mk.sealer, keysOptions(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return km
}

func TestConnectionsCommandSQLite(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "usher.db")
	env := testEnv("USHER_DATABASE_URL="+dbPath, "USHER_MASTER_KEY="+masterKeyA)
	secrets := testConnectionsCommand(t, env)

	// The secrets are in the database sealed: neither the record read
	// with storage/sqlite nor any byte of the files holds them.
	db, err := sqlite.Open(t.Context(), dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := db.ListConnections(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no connections stored")
	}
	for _, c := range all {
		for _, s := range secrets {
			if bytes.Contains(c.ClientSecret, []byte(s)) {
				t.Errorf("connection %s stores its client secret in the clear", c.Slug)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(dbPath + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a client secret in the clear", filepath.Base(f))
			}
		}
	}
}

func TestConnectionsCommandPostgres(t *testing.T) {
	t.Chdir(t.TempDir())
	testConnectionsCommand(t, testEnv("USHER_DATABASE_URL="+pgtest.URL(t), "USHER_MASTER_KEY="+masterKeyA))
}

// testConnectionsCommand drives create, list, get, update and delete for
// oidc, github and saml connections, and every refusal; it returns the
// client secrets it set.
func testConnectionsCommand(t *testing.T, env []string) []string {
	dir := t.TempDir()
	oktaSecret, oktaSecret2, ghSecret := "okta-client-secret-0123456789", "okta-rotated-secret-9876543210", "github-client-secret-abcdef"
	oktaFile := writeTestFile(t, dir, "okta", oktaSecret+"\n")
	oktaFile2 := writeTestFile(t, dir, "okta2", oktaSecret2+"\r\n")
	ghFile := writeTestFile(t, dir, "github", ghSecret)
	metadata := writeTestFile(t, dir, "metadata.xml", samlMetadataXML)
	notMetadata := writeTestFile(t, dir, "not-metadata.xml", `<html><body>Sign in</body></html>`)
	notXML := writeTestFile(t, dir, "not-xml", "just text")
	empty := writeTestFile(t, dir, "empty", "\n")

	// An OpenID Connect upstream.
	var okta connectionJSON
	out := connectionsOK(t, env, &okta, "create", "--slug", "okta", "--type", "oidc", "--issuer", "https://acme.okta.com",
		"--client-id", "usher-at-acme", "--client-secret-file", oktaFile, "--scope", "openid", "--scope", "email profile",
		"--email-domain", "ACME.com", "--email-domain", "acme.co.uk", "--trust-email-verified")
	if !strings.HasPrefix(okta.ID, storage.PrefixConnection+"_") || okta.Slug != "okta" || okta.Type != "oidc" || okta.DisplayName != "okta" ||
		!okta.Enabled || !okta.AllowSignUp || !okta.TrustEmailVerified || okta.StoreTokens || !okta.HasClientSecret ||
		okta.ClientID != "usher-at-acme" || okta.Issuer != "https://acme.okta.com" ||
		!slices.Equal(okta.Scopes, []string{"openid", "email", "profile"}) ||
		!slices.Equal(okta.EmailDomains, []string{"acme.com", "acme.co.uk"}) ||
		!strings.HasSuffix(okta.CreatedAt, "Z") || !strings.HasSuffix(okta.UpdatedAt, "Z") {
		t.Fatalf("create oidc printed %s", out)
	}
	if strings.Contains(out, oktaSecret) || strings.Contains(out, `"client_secret"`) {
		t.Fatalf("create printed the secret: %s", out)
	}
	rec, plain := storedConnection(t, env, "okta")
	if plain != oktaSecret || bytes.Contains(rec.ClientSecret, []byte(oktaSecret)) || rec.ID != okta.ID {
		t.Fatalf("stored secret opens to %q", plain)
	}

	// A social login, off and closed to sign-up.
	var gh connectionJSON
	out = connectionsOK(t, env, &gh, "create", "--slug", "github", "--type", "github", "--client-id", "Iv1.abc",
		"--client-secret-file", ghFile, "--allow-sign-up=false", "--disabled")
	if gh.DisplayName != "GitHub" || gh.Enabled || gh.AllowSignUp || !gh.HasClientSecret || gh.Issuer != "" || strings.Contains(out, ghSecret) ||
		gh.Scopes == nil || len(gh.EmailDomains) != 0 {
		t.Fatalf("create github printed %s", out)
	}
	if _, plain := storedConnection(t, env, "github"); plain != ghSecret {
		t.Fatalf("github secret opens to %q", plain)
	}

	// A SAML IdP, from its metadata file, and one from a URL.
	var adfs connectionJSON
	out = connectionsOK(t, env, &adfs, "create", "--slug", "adfs", "--type", "saml", "--saml-metadata-file", metadata,
		"--email-domain", "corp.example", "--store-tokens", "--icon-url", "https://corp.example/logo.png", "--display-name", "Corp SSO")
	if adfs.DisplayName != "Corp SSO" || !adfs.HasSAMLMetadata || adfs.SAMLMetadataURL != "" || adfs.HasClientSecret || adfs.ClientID != "" ||
		!adfs.StoreTokens || adfs.IconURL != "https://corp.example/logo.png" || !slices.Equal(adfs.EmailDomains, []string{"corp.example"}) {
		t.Fatalf("create saml printed %s", out)
	}
	if rec, _ := storedConnection(t, env, "adfs"); rec.SAMLMetadata != samlMetadataXML {
		t.Fatalf("stored metadata %q", rec.SAMLMetadata)
	}
	var shib connectionJSON
	connectionsOK(t, env, &shib, "create", "--slug", "shib-2", "--type", "saml", "--saml-metadata-url", "https://idp.uni.example/metadata?a=1&b=2")
	if shib.SAMLMetadataURL != "https://idp.uni.example/metadata?a=1&b=2" || shib.HasSAMLMetadata || shib.DisplayName != "shib-2" {
		t.Fatalf("create saml from a URL: %+v", shib)
	}
	// Plain http is fine for an upstream on this machine.
	connectionsOK(t, env, nil, "create", "--slug", "dev", "--type", "oidc", "--issuer", "http://127.0.0.1:9000",
		"--client-id", "dev", "--client-secret-file", ghFile)
	connectionsOK(t, env, nil, "create", "--slug", "dev2", "--type", "oidc", "--issuer", "http://localhost:9000/realms/x",
		"--client-id", "dev", "--client-secret-file", ghFile)

	// list and get: by slug, never a secret.
	var list []connectionJSON
	out = connectionsOK(t, env, &list, "list")
	var slugs []string
	for _, c := range list {
		slugs = append(slugs, c.Slug)
	}
	if !slices.Equal(slugs, []string{"adfs", "dev", "dev2", "github", "okta", "shib-2"}) || strings.Contains(out, oktaSecret) || strings.Contains(out, ghSecret) {
		t.Fatalf("list printed %s", out)
	}
	var got connectionJSON
	out = connectionsOK(t, env, &got, "get", "okta")
	if got.ID != okta.ID || !got.HasClientSecret || got.CreatedAt != okta.CreatedAt || strings.Contains(out, oktaSecret) {
		t.Fatalf("get printed %s", out)
	}

	// update: what is given changes; a new secret is sealed again under the
	// same ID; without one the sealed secret stays as it was.
	var upd connectionJSON
	out = connectionsOK(t, env, &upd, "update", "okta", "--display-name", "Acme SSO", "--email-domain", "acme.com",
		"--client-secret-file", oktaFile2, "--trust-email-verified=false")
	if upd.ID != okta.ID || upd.DisplayName != "Acme SSO" || !slices.Equal(upd.EmailDomains, []string{"acme.com"}) || upd.TrustEmailVerified ||
		upd.Issuer != okta.Issuer || !slices.Equal(upd.Scopes, okta.Scopes) || upd.CreatedAt != okta.CreatedAt || strings.Contains(out, oktaSecret2) {
		t.Fatalf("update printed %s", out)
	}
	before, plain := storedConnection(t, env, "okta")
	if plain != oktaSecret2 {
		t.Fatalf("after update the secret opens to %q", plain)
	}
	connectionsOK(t, env, &upd, "update", "okta", "--disabled", "--scope", "")
	after, plain := storedConnection(t, env, "okta")
	if upd.Enabled || len(upd.Scopes) != 0 || !bytes.Equal(after.ClientSecret, before.ClientSecret) || plain != oktaSecret2 {
		t.Fatalf("update without a secret: %+v, secret %q", upd, plain)
	}
	connectionsOK(t, env, &upd, "update", "okta", "--disabled=false")
	if !upd.Enabled {
		t.Fatal("--disabled=false did not enable the connection")
	}

	// A new type drops the old one's upstream: it must be given anew.
	code, _, errOut := runCmd(t, env, "connections", "update", "github", "--type", "google")
	if code != 1 || !strings.Contains(errOut, "--client-id: required for a google connection") {
		t.Fatalf("type change without credentials: %d %q", code, errOut)
	}
	var google connectionJSON
	connectionsOK(t, env, &google, "update", "github", "--type", "google", "--client-id", "g.apps", "--client-secret-file", oktaFile)
	if google.Type != "google" || google.DisplayName != "Google" || google.ClientID != "g.apps" || google.ID != gh.ID {
		t.Fatalf("type change: %+v", google)
	}
	connectionsOK(t, env, &google, "update", "github", "--type", "github", "--client-id", "Iv1.abc", "--client-secret-file", ghFile)
	if google.DisplayName != "GitHub" {
		t.Fatalf("back to github: %+v", google)
	}

	// Refusals: one line on stderr, nothing on stdout.
	long := strings.Repeat("a", 64)
	oidc := func(extra ...string) []string {
		return append([]string{"connections", "create", "--slug", "x", "--type", "oidc"}, extra...)
	}
	creds := []string{"--client-id", "id", "--client-secret-file", ghFile}
	bad := []struct {
		args []string
		code int
		err  string
	}{
		// the slug and the type
		{[]string{"connections", "create", "--slug", "Bad_Slug", "--type", "saml", "--saml-metadata-file", metadata}, 1, `--slug: "Bad_Slug" is not 1 to 63 lower-case letters`},
		{[]string{"connections", "create", "--slug", "-x", "--type", "saml", "--saml-metadata-file", metadata}, 1, `--slug: "-x" is not`},
		{[]string{"connections", "create", "--slug", long, "--type", "saml", "--saml-metadata-file", metadata}, 1, "--slug: "},
		{[]string{"connections", "create", "--slug", "x", "--type", "facebook"}, 1, `--type: "facebook" is not one of github, google, oidc, saml`},
		{[]string{"connections", "create", "--slug", "okta", "--type", "github", "--client-id", "a", "--client-secret-file", ghFile}, 1, "a connection named okta already exists"},
		// oidc
		{oidc(creds...), 1, "--issuer: required for an oidc connection"},
		{oidc(append(creds, "--issuer", "http://idp.example")...), 1, `--issuer: "http://idp.example" uses plain http, which is only allowed for localhost`},
		{oidc(append(creds, "--issuer", "idp.example")...), 1, `--issuer: "idp.example" is not an https URL`},
		{oidc(append(creds, "--issuer", "https://idp.example#x")...), 1, "must not have a fragment"},
		{oidc("--issuer", "https://idp.example", "--client-secret-file", ghFile), 1, "--client-id: required for an oidc connection"},
		{oidc("--issuer", "https://idp.example", "--client-id", "id"), 1, "--client-secret-file: required for an oidc connection"},
		{oidc(append(creds, "--issuer", "https://idp.example", "--saml-metadata-url", "https://idp.example/md")...), 1,
			"--saml-metadata-url or --saml-metadata-file: not used by an oidc connection"},
		// github and google
		{[]string{"connections", "create", "--slug", "x", "--type", "github", "--client-secret-file", ghFile}, 1, "--client-id: required for a github connection"},
		{[]string{"connections", "create", "--slug", "x", "--type", "google", "--client-id", "a"}, 1, "--client-secret-file: required for a google connection"},
		{[]string{"connections", "create", "--slug", "x", "--type", "github", "--client-id", "a", "--client-secret-file", ghFile, "--issuer", "https://github.com"}, 1,
			"--issuer: not used by a github connection"},
		// saml
		{[]string{"connections", "create", "--slug", "x", "--type", "saml"}, 1, "--saml-metadata-url or --saml-metadata-file: required for a saml connection"},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--client-id", "a"}, 1, "--client-id: not used by a saml connection"},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--client-secret-file", ghFile}, 1,
			"--client-secret-file: not used by a saml connection"},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--scope", "openid"}, 1, "--scope: not used by a saml connection"},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", notMetadata}, 1, "--saml-metadata-file: is not SAML metadata"},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", notXML}, 1, "--saml-metadata-file: is not SAML metadata"},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", filepath.Join(dir, "missing.xml")}, 1, "--saml-metadata-file: open"},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-url", "http://idp.example/md"}, 1, "--saml-metadata-url: \"http://idp.example/md\" uses plain http"},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-url", "https://a/md", "--saml-metadata-file", metadata}, 2,
			"give --saml-metadata-url or --saml-metadata-file, not both"},
		// email domains, including one another connection has
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--email-domain", "not a domain"}, 1,
			`--email-domain: "not a domain" is not a domain name`},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--email-domain", "acme"}, 1, `--email-domain: "acme" is not a domain name`},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--email-domain", "-acme.com"}, 1, `"-acme.com" is not a domain name`},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--email-domain", "x.example", "--email-domain", "X.example"}, 1,
			"--email-domain: x.example is listed twice"},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--email-domain", "new.example", "--email-domain", "Acme.COM"}, 1,
			"--email-domain: acme.com already belongs to connection okta"},
		{[]string{"connections", "update", "adfs", "--email-domain", "acme.com"}, 1, "--email-domain: acme.com already belongs to connection okta"},
		// the button
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--icon-url", "http://corp.example/logo.png"}, 1,
			`--icon-url: "http://corp.example/logo.png" is not an https URL`},
		{[]string{"connections", "create", "--slug", "x", "--type", "saml", "--saml-metadata-file", metadata, "--display-name", strings.Repeat("n", 101)}, 1,
			"--display-name: 101 characters is too long"},
		// the secret file
		{oidc("--issuer", "https://idp.example", "--client-id", "id", "--client-secret-file", filepath.Join(dir, "missing")), 1, "--client-secret-file: open"},
		{oidc("--issuer", "https://idp.example", "--client-id", "id", "--client-secret-file", empty), 1, "--client-secret-file: " + empty + " is empty"},
		// the command line
		{[]string{"connections", "create", "--type", "github"}, 2, "connections create needs --slug and --type"},
		{[]string{"connections", "create", "--slug", "x"}, 2, "connections create needs --slug and --type"},
		{[]string{"connections", "update", "okta"}, 2, "connections update needs at least one setting"},
		{[]string{"connections", "update", "okta", "--slug", "okta2"}, 2, "a connection keeps its slug"},
		{[]string{"connections", "get", "okta", "--type", "oidc"}, 2, "get takes only --config"},
		{[]string{"connections", "get"}, 2, "usage: usher connections"},
		{[]string{"connections", "rename", "okta"}, 2, "usage: usher connections"},
		{[]string{"connections"}, 2, "usage: usher connections"},
		// what is not there
		{[]string{"connections", "get", "missing"}, 1, "usher: no connection missing"},
		{[]string{"connections", "update", "missing", "--disabled"}, 1, "usher: no connection missing"},
		{[]string{"connections", "delete", "missing"}, 1, "usher: no connection missing"},
	}
	for _, b := range bad {
		code, out, errOut := runCmd(t, env, b.args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if b.code == 2 {
			lines = lines[:len(lines)-1] // "Run 'usher help' for usage."
		}
		if code != b.code || out != "" || !strings.Contains(errOut, b.err) || (b.code == 1 && len(lines) != 1) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", b.args, code, out, errOut, b.code, b.err)
		}
	}
	if _, _, errOut := runCmd(t, env, "connections", "get", "x"); !strings.Contains(errOut, "no connection x") {
		t.Fatalf("a refused create left a connection behind: %s", errOut)
	}

	// delete: gone, and its domains are free again.
	if code, out, _ := runCmd(t, env, "connections", "delete", "adfs"); code != 0 || out != "deleted connection adfs\n" {
		t.Fatalf("delete: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, env, "connections", "get", "adfs"); code != 1 || !strings.Contains(errOut, "no connection adfs") {
		t.Fatalf("get after delete: %d %q", code, errOut)
	}
	connectionsOK(t, env, nil, "update", "shib-2", "--email-domain", "corp.example")
	return []string{oktaSecret, oktaSecret2, ghSecret}
}

// Connections declared in the file are created at start-up, then updated to
// match it; one made with the CLI is left alone; and a declaration that
// breaks a rule stops start-up with a line naming it.
func TestDeclaredConnectionsSyncAtStartup(t *testing.T) {
	dir := t.TempDir()
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(dir, "usher.db"), "USHER_LISTEN=127.0.0.1:0", "USHER_MASTER_KEY="+masterKeyA)
	secretFile := writeTestFile(t, dir, "okta-secret", "declared-okta-secret-42\n")
	metadata := writeTestFile(t, dir, "metadata.xml", samlMetadataXML)
	cliSecret := writeTestFile(t, dir, "cli-secret", "cli-made-secret-0000")

	// Made with the CLI: one the file never names, one it takes over.
	connectionsOK(t, env, nil, "create", "--slug", "manual", "--type", "github", "--client-id", "m", "--client-secret-file", cliSecret,
		"--email-domain", "manual.example")
	var before connectionJSON
	connectionsOK(t, env, &before, "create", "--slug", "google", "--type", "google", "--client-id", "old", "--client-secret-file", cliSecret)

	cfgPath := writeTestFile(t, dir, "usher.yaml", `connections:
  - slug: okta
    type: oidc
    display_name: Acme SSO
    issuer: https://acme.okta.com
    client_id: usher
    client_secret_file: `+secretFile+`
    scopes: [openid, email]
    email_domains: [Acme.com]
    allow_sign_up: false
  - slug: google
    type: google
    client_id: new.apps.googleusercontent.com
    client_secret: declared-google-secret
    enabled: false
  - slug: corp
    type: saml
    saml_metadata_file: `+metadata+`
    email_domains: [corp.example]
    trust_email_verified: true
`)
	_, stop := startServeArgs(t, env, "--config", cfgPath)
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}

	var okta connectionJSON
	out := connectionsOK(t, env, &okta, "get", "okta")
	if okta.DisplayName != "Acme SSO" || okta.Type != "oidc" || okta.Issuer != "https://acme.okta.com" || okta.ClientID != "usher" ||
		!okta.HasClientSecret || okta.AllowSignUp || !okta.Enabled || !slices.Equal(okta.EmailDomains, []string{"acme.com"}) ||
		!slices.Equal(okta.Scopes, []string{"openid", "email"}) || strings.Contains(out, "declared-okta-secret") {
		t.Fatalf("declared okta: %s", out)
	}
	if _, plain := storedConnection(t, env, "okta"); plain != "declared-okta-secret-42" {
		t.Fatalf("declared okta's secret opens to %q", plain)
	}
	var google connectionJSON
	connectionsOK(t, env, &google, "get", "google")
	if google.ID != before.ID || google.ClientID != "new.apps.googleusercontent.com" || google.Enabled || google.DisplayName != "Google" {
		t.Fatalf("declared google: %+v", google)
	}
	if _, plain := storedConnection(t, env, "google"); plain != "declared-google-secret" {
		t.Fatalf("declared google's secret opens to %q", plain)
	}
	var corp connectionJSON
	connectionsOK(t, env, &corp, "get", "corp")
	if !corp.HasSAMLMetadata || corp.HasClientSecret || !corp.TrustEmailVerified || corp.DisplayName != "corp" {
		t.Fatalf("declared corp: %+v", corp)
	}
	var manual connectionJSON
	connectionsOK(t, env, &manual, "get", "manual")
	if manual.ClientID != "m" || !manual.HasClientSecret {
		t.Fatalf("the CLI's connection changed: %+v", manual)
	}

	// A second start with the same file rewrites nothing.
	_, stop = startServeArgs(t, env, "--config", cfgPath)
	stop()
	var again connectionJSON
	connectionsOK(t, env, &again, "get", "okta")
	if again.UpdatedAt != okta.UpdatedAt {
		t.Fatalf("an unchanged declaration was rewritten: %s then %s", okta.UpdatedAt, again.UpdatedAt)
	}

	// A declaration that breaks a rule stops start-up.
	badCfg := writeTestFile(t, dir, "bad.yaml", `connections:
  - slug: okta
    type: oidc
    client_id: usher
    client_secret: x
  - slug: corp2
    type: saml
    saml_metadata_url: https://idp.example/md
    email_domains: [manual.example]
`)
	code, _, errOut := runCmd(t, env, "serve", "--config", badCfg)
	if code != 1 || !strings.Contains(errOut, "usher: connection okta in the configuration file: issuer: required for an oidc connection") {
		t.Fatalf("serve with an oidc connection without issuer: %d %q", code, errOut)
	}
	badCfg = writeTestFile(t, dir, "bad2.yaml", `connections:
  - slug: corp2
    type: saml
    saml_metadata_url: https://idp.example/md
    email_domains: [manual.example]
  - slug: gh
    type: github
    client_id: x
`)
	code, _, errOut = runCmd(t, env, "serve", "--config", badCfg)
	if code != 1 || !strings.Contains(errOut, "connection corp2 in the configuration file: email_domains: manual.example already belongs to connection manual") {
		t.Fatalf("serve with a domain the CLI's connection has: %d %q", code, errOut)
	}
	if _, _, errOut := runCmd(t, env, "connections", "get", "corp2"); !strings.Contains(errOut, "no connection corp2") {
		t.Fatal("a refused declaration was stored")
	}
}

// syncConnections counts what it creates and updates, lets a domain move
// between two declared connections, and writes nothing when any
// declaration is refused.
func TestSyncConnections(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(dir, "usher.db"), "USHER_MASTER_KEY="+masterKeyA)
	cfg, err := config.Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openStorage(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	km := testKeys(t, cfg, db)
	no := false
	declared := []config.Connection{
		{Slug: "a", Type: "github", ClientID: "a", ClientSecret: "secret-a", EmailDomains: []string{"a.example", "moving.example"}},
		{Slug: "b", Type: "oidc", Issuer: "https://b.example", ClientID: "b", ClientSecret: "secret-b", AllowSignUp: &no},
	}
	if c, u, err := syncConnections(ctx, declared, db, km); err != nil || c != 2 || u != 0 {
		t.Fatalf("first sync: created %d, updated %d, %v", c, u, err)
	}
	if c, u, err := syncConnections(ctx, declared, db, km); err != nil || c != 0 || u != 0 {
		t.Fatalf("unchanged sync: created %d, updated %d, %v", c, u, err)
	}
	declared[0].EmailDomains = []string{"a.example"}
	declared[1].EmailDomains = []string{"Moving.example"}
	declared[1].ClientSecret = "secret-b2"
	if c, u, err := syncConnections(ctx, declared, db, km); err != nil || c != 0 || u != 2 {
		t.Fatalf("moving a domain: created %d, updated %d, %v", c, u, err)
	}
	b, err := db.GetConnectionBySlug(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := km.Open(b.ClientSecret, keys.ConnectionSecretPurpose(b.ID))
	if err != nil || string(plain) != "secret-b2" || b.AllowSignUp || !b.Enabled || !slices.Equal(b.EmailDomains, []string{"moving.example"}) {
		t.Fatalf("b after sync: %+v, secret %q %v", b, plain, err)
	}

	refused := append(slices.Clone(declared), config.Connection{Slug: "c", Type: "saml", SAMLMetadataURL: "https://c.example/md", EmailDomains: []string{"a.example"}})
	refused[0].DisplayName = "Renamed"
	if _, _, err := syncConnections(ctx, refused, db, km); err == nil || !strings.Contains(err.Error(), "connection a in the configuration file: email_domains: a.example already belongs to connection c") {
		t.Fatalf("a domain claimed twice in the file: %v", err)
	}
	if a, _ := db.GetConnectionBySlug(ctx, "a"); a.DisplayName != "GitHub" {
		t.Fatalf("a refused sync wrote connection a: %+v", a)
	}
	refused = []config.Connection{{Slug: "d", Type: "oidc", Issuer: "https://d.example", ClientID: "d"}}
	if _, _, err := syncConnections(ctx, refused, db, km); err == nil ||
		err.Error() != "connection d in the configuration file: client_secret (or client_secret_file): required for an oidc connection" {
		t.Fatalf("an oidc connection without a secret: %v", err)
	}
}
