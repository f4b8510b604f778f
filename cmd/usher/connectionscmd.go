package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
)

const connectionsUsage = `usage: usher connections create --slug S --type github|google|oidc|saml [settings]
       usher connections update SLUG [settings]
       usher connections list | get SLUG | delete SLUG
settings: --display-name N, --icon-url URL (https), --client-id ID,
  --client-secret-file F, --issuer URL (oidc), --scope S, --saml-metadata-url URL
  or --saml-metadata-file F (saml), --email-domain D (--scope and --email-domain
  repeat; on update a list given replaces the old one, and a single empty value
  empties it), --allow-sign-up=false, --trust-email-verified, --store-tokens,
  --disabled (on update, =true or =false sets each); and --config FILE.
github and google need --client-id and --client-secret-file, oidc those and
--issuer; saml needs its metadata and takes no client credentials. Changing
--type drops the old type's credentials, issuer, scopes and metadata.`

// connectionView is a connection as the CLI prints it: whether it has a
// client secret, never the secret.
type connectionView struct {
	ID                 string    `json:"id"`
	Slug               string    `json:"slug"`
	Type               string    `json:"type"`
	DisplayName        string    `json:"display_name"`
	IconURL            string    `json:"icon_url"`
	Enabled            bool      `json:"enabled"`
	ClientID           string    `json:"client_id"`
	HasClientSecret    bool      `json:"has_client_secret"`
	Issuer             string    `json:"issuer"`
	Scopes             []string  `json:"scopes"`
	SAMLMetadataURL    string    `json:"saml_metadata_url"`
	HasSAMLMetadata    bool      `json:"has_saml_metadata"`
	EmailDomains       []string  `json:"email_domains"`
	AllowSignUp        bool      `json:"allow_sign_up"`
	TrustEmailVerified bool      `json:"trust_email_verified"`
	StoreTokens        bool      `json:"store_tokens"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

func viewConnection(c *storage.Connection) connectionView {
	orEmpty := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	return connectionView{ID: c.ID, Slug: c.Slug, Type: c.Type, DisplayName: c.DisplayName, IconURL: c.IconURL, Enabled: c.Enabled,
		ClientID: c.ClientID, HasClientSecret: len(c.ClientSecret) > 0, Issuer: c.Issuer, Scopes: orEmpty(c.Scopes),
		SAMLMetadataURL: c.SAMLMetadataURL, HasSAMLMetadata: c.SAMLMetadata != "", EmailDomains: orEmpty(c.EmailDomains),
		AllowSignUp: c.AllowSignUp, TrustEmailVerified: c.TrustEmailVerified, StoreTokens: c.StoreTokens,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
}

// connectionFlags are the settings create and update accept.
type connectionFlags struct {
	slug, typ, displayName, iconURL, clientID, secretFile, issuer, metadataURL, metadataFile string
	scopes, domains                                                                          clientListFlag
	allowSignUp, trustEmailVerified, storeTokens, disabled                                   bool
}

func (f *connectionFlags) register(fs *flag.FlagSet) {
	f.scopes.split = true
	fs.StringVar(&f.slug, "slug", "", "the connection's `slug`, used in URLs (create)")
	fs.StringVar(&f.typ, "type", "", "github, google, oidc or saml")
	fs.StringVar(&f.displayName, "display-name", "", "shown as \"Continue with `name`\" (default from the type)")
	fs.StringVar(&f.iconURL, "icon-url", "", "an https `URL` of the button's icon")
	fs.StringVar(&f.clientID, "client-id", "", "the OAuth client `ID` registered at the upstream")
	fs.StringVar(&f.secretFile, "client-secret-file", "", "read the OAuth client secret from this `file`")
	fs.StringVar(&f.issuer, "issuer", "", "an OpenID Connect upstream's issuer `URL` (oidc)")
	fs.Var(&f.scopes, "scope", "a `scope` to ask the upstream for (repeatable)")
	fs.StringVar(&f.metadataURL, "saml-metadata-url", "", "where the SAML IdP publishes its metadata (`URL`)")
	fs.StringVar(&f.metadataFile, "saml-metadata-file", "", "the SAML IdP's metadata XML (`file`)")
	fs.Var(&f.domains, "email-domain", "send users with an email at this `domain` here (repeatable)")
	fs.BoolVar(&f.allowSignUp, "allow-sign-up", true, "a first sign-in creates a user")
	fs.BoolVar(&f.trustEmailVerified, "trust-email-verified", false, "treat the upstream's email as verified")
	fs.BoolVar(&f.storeTokens, "store-tokens", false, "keep the upstream's tokens, sealed")
	fs.BoolVar(&f.disabled, "disabled", false, "hide the connection from the sign-in page")
}

// apply writes the settings given on the command line to c, and returns
// the client secret read from --client-secret-file, if given.
func (f *connectionFlags) apply(c *storage.Connection, set map[string]bool) (secret string, err error) {
	if set["type"] && f.typ != c.Type {
		// A new type keeps nothing of the old one's upstream.
		if c.DisplayName == defaultDisplayName(c.Type, c.Slug) {
			c.DisplayName = ""
		}
		c.Type = f.typ
		c.ClientID, c.ClientSecret, c.Issuer, c.Scopes, c.SAMLMetadataURL, c.SAMLMetadata = "", nil, "", nil, "", ""
	}
	strs := []struct {
		flag string
		v    string
		dst  *string
	}{
		{"display-name", f.displayName, &c.DisplayName},
		{"icon-url", f.iconURL, &c.IconURL},
		{"client-id", f.clientID, &c.ClientID},
		{"issuer", f.issuer, &c.Issuer},
	}
	for _, s := range strs {
		if set[s.flag] {
			*s.dst = s.v
		}
	}
	if set["scope"] {
		c.Scopes = f.scopes.vals
	}
	if set["email-domain"] {
		c.EmailDomains = f.domains.vals
	}
	bools := []struct {
		flag string
		v    bool
		dst  *bool
	}{
		{"allow-sign-up", f.allowSignUp, &c.AllowSignUp},
		{"trust-email-verified", f.trustEmailVerified, &c.TrustEmailVerified},
		{"store-tokens", f.storeTokens, &c.StoreTokens},
		{"disabled", !f.disabled, &c.Enabled},
	}
	for _, b := range bools {
		if set[b.flag] {
			*b.dst = b.v
		}
	}
	if set["saml-metadata-url"] {
		c.SAMLMetadataURL, c.SAMLMetadata = f.metadataURL, ""
	}
	if set["saml-metadata-file"] {
		b, err := os.ReadFile(f.metadataFile)
		if err != nil {
			return "", fmt.Errorf("--saml-metadata-file: %w", err)
		}
		c.SAMLMetadataURL, c.SAMLMetadata = "", string(b)
	}
	if set["client-secret-file"] {
		if secret, err = readSecretFile(f.secretFile); err != nil {
			return "", fmt.Errorf("--client-secret-file: %w", err)
		}
	}
	return secret, nil
}

// readSecretFile reads a secret kept in a file, without the line ending
// editors add.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// connectionSealer seals and opens connections' client secrets under the
// master key; *keys.Manager is one.
type connectionSealer interface {
	Seal(plaintext []byte, purpose string) []byte
	Open(sealed []byte, purpose string) ([]byte, error)
}

func connectionsCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("usher connections", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	var f connectionFlags
	f.register(fs)
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &usageError{connectionsUsage}
	}
	action, rest := pos[0], pos[1:]
	wantArgs := map[string]int{"create": 0, "list": 0, "get": 1, "update": 1, "delete": 1}
	if n, ok := wantArgs[action]; !ok || len(rest) != n {
		return &usageError{connectionsUsage}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name != "config" {
			set[fl.Name] = true
		}
	})
	switch {
	case action != "create" && action != "update" && len(set) > 0:
		return &usageError{"connection settings go with create and update; " + action + " takes only --config"}
	case action == "create" && (!set["slug"] || !set["type"]):
		return &usageError{"connections create needs --slug and --type"}
	case action == "update" && set["slug"]:
		return &usageError{"a connection keeps its slug; create a new one to rename"}
	case action == "update" && len(set) == 0:
		return &usageError{"connections update needs at least one setting to change"}
	case set["saml-metadata-url"] && set["saml-metadata-file"]:
		return &usageError{"give --saml-metadata-url or --saml-metadata-file, not both"}
	}

	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		return err
	}
	db, err := openStorage(ctx, cfg, cfg.Database.MigrateOnStart)
	if err != nil {
		return err
	}
	defer db.Close()

	switch action {
	case "list":
		all, err := db.ListConnections(ctx)
		if err != nil {
			return err
		}
		out := make([]connectionView, 0, len(all))
		for _, c := range all {
			out = append(out, viewConnection(c))
		}
		return writeClientJSON(stdout, out)
	case "get":
		c, err := db.GetConnectionBySlug(ctx, rest[0])
		if err != nil {
			return connectionNotFound(err, rest[0])
		}
		return writeClientJSON(stdout, viewConnection(c))
	case "delete":
		c, err := db.GetConnectionBySlug(ctx, rest[0])
		if err != nil {
			return connectionNotFound(err, rest[0])
		}
		if err := db.DeleteConnection(ctx, c.ID); err != nil {
			return connectionNotFound(err, rest[0])
		}
		_, err = fmt.Fprintf(stdout, "deleted connection %s\n", c.Slug)
		return err
	}

	c := &storage.Connection{Slug: f.slug, Enabled: true, AllowSignUp: true}
	if action == "update" {
		if c, err = db.GetConnectionBySlug(ctx, rest[0]); err != nil {
			return connectionNotFound(err, rest[0])
		}
	}
	secret, err := f.apply(c, set)
	if err != nil {
		return err
	}
	others, err := db.ListConnections(ctx)
	if err != nil {
		return err
	}
	if err := checkConnection(c, secret, others); err != nil {
		return flagConnectionError(err)
	}
	// Only sealing a new secret needs the instance keys, hence the master
	// key.
	var km connectionSealer
	if secret != "" {
		mk, err := loadMasterKey(cfg)
		if err != nil {
			return err
		}
		m, err := keys.New(ctx, db, mk.sealer, keysOptions(cfg, newLogger(cfg, stderr)))
		if err != nil {
			return err
		}
		km = m
	}
	if action == "create" {
		err = createConnection(ctx, db, km, c, secret)
	} else {
		err = updateConnection(ctx, db, km, c, secret)
	}
	if errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("a connection named %s already exists", c.Slug)
	}
	if err != nil {
		return connectionNotFound(err, c.Slug)
	}
	return writeClientJSON(stdout, viewConnection(c))
}

func connectionNotFound(err error, slug string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no connection %s", slug)
	}
	return err
}

// createConnection stores a new connection, its client secret (if any)
// sealed under the ID it is given here.
func createConnection(ctx context.Context, db storage.Connections, km connectionSealer, c *storage.Connection, secret string) error {
	c.ID = storage.NewID(storage.PrefixConnection)
	if secret != "" {
		c.ClientSecret = km.Seal([]byte(secret), keys.ConnectionSecretPurpose(c.ID))
	}
	return db.CreateConnection(ctx, c)
}

// updateConnection writes c, resealing its client secret when a new one
// is given.
func updateConnection(ctx context.Context, db storage.Connections, km connectionSealer, c *storage.Connection, secret string) error {
	if secret != "" {
		c.ClientSecret = km.Seal([]byte(secret), keys.ConnectionSecretPurpose(c.ID))
	}
	return db.UpdateConnection(ctx, c)
}

// connectionError is a connection setting that breaks a rule. field is
// the setting's name in the configuration file; the CLI names its flag.
type connectionError struct {
	field, msg string
}

func (e *connectionError) Error() string { return e.field + ": " + e.msg }

// connectionFlagNames maps connectionError fields to the CLI's flags.
var connectionFlagNames = map[string]string{
	"slug":          "--slug",
	"type":          "--type",
	"display_name":  "--display-name",
	"icon_url":      "--icon-url",
	"client_id":     "--client-id",
	"client_secret": "--client-secret-file",
	"issuer":        "--issuer",
	"scopes":        "--scope",
	"saml_metadata_url or saml_metadata_file": "--saml-metadata-url or --saml-metadata-file",
	"saml_metadata_url":                       "--saml-metadata-url",
	"saml_metadata_file":                      "--saml-metadata-file",
	"email_domains":                           "--email-domain",
}

// flagConnectionError names the flag in a connectionError.
func flagConnectionError(err error) error {
	var ce *connectionError
	if errors.As(err, &ce) {
		if name, ok := connectionFlagNames[ce.field]; ok {
			return errors.New(name + ": " + ce.msg)
		}
	}
	return err
}

var (
	connectionSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	domainLabel    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// connectionTypes are the kinds of upstream, in the order messages list them.
var connectionTypes = []string{storage.ConnectionGitHub, storage.ConnectionGoogle, storage.ConnectionOIDC, storage.ConnectionSAML}

// maxSAMLMetadata bounds a SAML IdP's metadata document.
const maxSAMLMetadata = 1 << 20

// defaultDisplayName is the name a connection's button shows when none is
// given: the provider's for social logins, the slug otherwise.
func defaultDisplayName(typ, slug string) string {
	switch typ {
	case storage.ConnectionGitHub:
		return "GitHub"
	case storage.ConnectionGoogle:
		return "Google"
	}
	return slug
}

// checkConnection is the one set of rules a connection follows, whether
// it comes from the CLI or the configuration file. It normalizes c (email
// domains lower-cased, the display name defaulted) and returns the first
// rule broken, as a *connectionError. secret is a client secret about to
// be set, in the clear; c.ClientSecret is the sealed one kept otherwise.
// c may claim no email domain of others (c itself among them is skipped).
func checkConnection(c *storage.Connection, secret string, others []*storage.Connection) error {
	fail := func(field, format string, args ...any) error {
		return &connectionError{field: field, msg: fmt.Sprintf(format, args...)}
	}
	if !connectionSlug.MatchString(c.Slug) {
		return fail("slug", "%q is not 1 to 63 lower-case letters, digits and hyphens, starting with a letter or digit", c.Slug)
	}
	if !slices.Contains(connectionTypes, c.Type) {
		return fail("type", "%q is not one of %s", c.Type, strings.Join(connectionTypes, ", "))
	}
	kind := "a " + c.Type + " connection"
	if c.Type == storage.ConnectionOIDC {
		kind = "an oidc connection"
	}
	c.DisplayName = strings.TrimSpace(c.DisplayName)
	if c.DisplayName == "" {
		c.DisplayName = defaultDisplayName(c.Type, c.Slug)
	}
	if n := len([]rune(c.DisplayName)); n > 100 {
		return fail("display_name", "%d characters is too long; use at most 100", n)
	}
	if c.IconURL != "" {
		if u, err := url.Parse(c.IconURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return fail("icon_url", "%q is not an https URL", c.IconURL)
		}
	}

	hasSecret := secret != "" || len(c.ClientSecret) > 0
	hasMetadata := c.SAMLMetadataURL != "" || c.SAMLMetadata != ""
	if c.Type == storage.ConnectionSAML {
		switch {
		case c.ClientID != "":
			return fail("client_id", "not used by %s", kind)
		case hasSecret:
			return fail("client_secret", "not used by %s", kind)
		case len(c.Scopes) > 0:
			return fail("scopes", "not used by %s", kind)
		case c.Issuer != "":
			return fail("issuer", "not used by %s: its metadata names the IdP", kind)
		case !hasMetadata:
			return fail("saml_metadata_url or saml_metadata_file", "required for %s", kind)
		case c.SAMLMetadataURL != "" && c.SAMLMetadata != "":
			return fail("saml_metadata_url or saml_metadata_file", "give one, not both")
		}
		if c.SAMLMetadataURL != "" {
			if err := upstreamURL(c.SAMLMetadataURL); err != nil {
				return fail("saml_metadata_url", "%v", err)
			}
		} else if err := samlMetadata(c.SAMLMetadata); err != nil {
			return fail("saml_metadata_file", "%v", err)
		}
	} else {
		switch {
		case hasMetadata:
			return fail("saml_metadata_url or saml_metadata_file", "not used by %s", kind)
		case c.Type == storage.ConnectionOIDC && c.Issuer == "":
			return fail("issuer", "required for %s", kind)
		case c.Type != storage.ConnectionOIDC && c.Issuer != "":
			return fail("issuer", "not used by %s", kind)
		case c.ClientID == "":
			return fail("client_id", "required for %s", kind)
		case !hasSecret:
			return fail("client_secret", "required for %s", kind)
		}
		if c.Issuer != "" {
			if err := upstreamURL(c.Issuer); err != nil {
				return fail("issuer", "%v", err)
			}
		}
		for _, s := range c.Scopes {
			if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r > '~' }) {
				return fail("scopes", "%q is not a scope", s)
			}
		}
	}

	domains := make([]string, 0, len(c.EmailDomains))
	for _, d := range c.EmailDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if !validDomain(d) {
			return fail("email_domains", "%q is not a domain name like example.com", d)
		}
		if slices.Contains(domains, d) {
			return fail("email_domains", "%s is listed twice", d)
		}
		domains = append(domains, d)
	}
	c.EmailDomains = domains
	for _, o := range others {
		if o.Slug == c.Slug || (c.ID != "" && o.ID == c.ID) {
			continue
		}
		for _, d := range domains {
			if slices.Contains(o.EmailDomains, d) {
				return fail("email_domains", "%s already belongs to connection %s", d, o.Slug)
			}
		}
	}
	return nil
}

// upstreamURL checks an upstream's URL: https, or plain http on the local
// machine, and without a fragment.
func upstreamURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("%q is not an https URL", raw)
	case u.Scheme == "http" && !config.IsLocalhost(u.Hostname()):
		return fmt.Errorf("%q uses plain http, which is only allowed for localhost; use https", raw)
	case u.User != nil:
		return fmt.Errorf("%q must not contain a user name or password", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not have a fragment", raw)
	}
	return nil
}

// validDomain reports whether d is a lower-case DNS name with at least two
// labels, as the part of an email address after the @ is.
func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if !domainLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// samlMetadata checks that doc is a SAML metadata document: XML whose root
// is an EntityDescriptor or EntitiesDescriptor.
func samlMetadata(doc string) error {
	if len(doc) > maxSAMLMetadata {
		return fmt.Errorf("%d bytes is more than SAML metadata needs (at most %d)", len(doc), maxSAMLMetadata)
	}
	dec := xml.NewDecoder(bytes.NewReader([]byte(doc)))
	for {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("is not SAML metadata: an XML EntityDescriptor or EntitiesDescriptor")
		}
		if el, ok := tok.(xml.StartElement); ok {
			if el.Name.Local != "EntityDescriptor" && el.Name.Local != "EntitiesDescriptor" {
				return fmt.Errorf("is not SAML metadata: the document is a %s, not an EntityDescriptor or EntitiesDescriptor", el.Name.Local)
			}
			return nil
		}
	}
}

// syncConnections creates or updates each connection the configuration
// declares (by slug) to match it, and says how many of each; connections
// made with the CLI and not in the file are left alone. Every declared
// connection is checked before any is written.
func syncConnections(ctx context.Context, declared []config.Connection, db storage.Connections, km connectionSealer) (created, updated int, err error) {
	if len(declared) == 0 {
		return 0, 0, nil
	}
	stored, err := db.ListConnections(ctx)
	if err != nil {
		return 0, 0, err
	}
	bySlug := map[string]*storage.Connection{}
	for _, c := range stored {
		bySlug[c.Slug] = c
	}
	want := make([]*storage.Connection, len(declared))
	for i, d := range declared {
		c := &storage.Connection{Slug: d.Slug, Type: d.Type, DisplayName: d.DisplayName, IconURL: d.IconURL,
			Enabled: d.Enabled == nil || *d.Enabled, ClientID: d.ClientID, Issuer: d.Issuer, Scopes: d.Scopes,
			SAMLMetadataURL: d.SAMLMetadataURL, EmailDomains: d.EmailDomains, AllowSignUp: d.AllowSignUp == nil || *d.AllowSignUp,
			TrustEmailVerified: d.TrustEmailVerified, StoreTokens: d.StoreTokens}
		if cur := bySlug[d.Slug]; cur != nil {
			c.ID, c.CreatedAt, c.UpdatedAt = cur.ID, cur.CreatedAt, cur.UpdatedAt
		}
		if d.SAMLMetadataFile != "" {
			b, err := os.ReadFile(d.SAMLMetadataFile)
			if err != nil {
				return 0, 0, fmt.Errorf("connection %s in the configuration file: saml_metadata_file: %w", d.Slug, err)
			}
			c.SAMLMetadata = string(b)
		}
		want[i] = c
	}
	// Domains are checked against what every connection will hold, so one
	// may move between two declared connections.
	for i, c := range want {
		var others []*storage.Connection
		for _, s := range stored {
			if !slices.ContainsFunc(declared, func(d config.Connection) bool { return d.Slug == s.Slug }) {
				others = append(others, s)
			}
		}
		others = append(others, slices.Delete(slices.Clone(want), i, i+1)...)
		if err := checkConnection(c, declared[i].ClientSecret, others); err != nil {
			return 0, 0, fmt.Errorf("connection %s in the configuration file: %w", c.Slug, configConnectionError(err))
		}
	}
	for i, c := range want {
		secret := declared[i].ClientSecret
		cur := bySlug[c.Slug]
		switch {
		case cur == nil:
			err = createConnection(ctx, db, km, c, secret)
			created++
		case sameConnection(cur, c, secret, km):
			continue
		default:
			err = updateConnection(ctx, db, km, c, secret)
			updated++
		}
		if err != nil {
			return created, updated, fmt.Errorf("connection %s in the configuration file: %w", c.Slug, err)
		}
	}
	return created, updated, nil
}

// configConnectionError names both ways a secret is set in the file.
func configConnectionError(err error) error {
	var ce *connectionError
	if errors.As(err, &ce) && ce.field == "client_secret" {
		return &connectionError{field: "client_secret (or client_secret_file)", msg: ce.msg}
	}
	return err
}

// sameConnection reports whether the stored connection cur already holds
// the settings of want and the client secret secret, so a restart need
// not rewrite it.
func sameConnection(cur, want *storage.Connection, secret string, km connectionSealer) bool {
	if cur.Type != want.Type || cur.DisplayName != want.DisplayName || cur.IconURL != want.IconURL || cur.Enabled != want.Enabled ||
		cur.ClientID != want.ClientID || cur.Issuer != want.Issuer || !slices.Equal(cur.Scopes, want.Scopes) ||
		cur.SAMLMetadataURL != want.SAMLMetadataURL || cur.SAMLMetadata != want.SAMLMetadata ||
		!slices.Equal(cur.EmailDomains, want.EmailDomains) || cur.AllowSignUp != want.AllowSignUp ||
		cur.TrustEmailVerified != want.TrustEmailVerified || cur.StoreTokens != want.StoreTokens {
		return false
	}
	if len(cur.ClientSecret) == 0 || secret == "" {
		return len(cur.ClientSecret) == 0 && secret == ""
	}
	plain, err := km.Open(cur.ClientSecret, keys.ConnectionSecretPurpose(cur.ID))
	return err == nil && string(plain) == secret
}
