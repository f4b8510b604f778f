// Package config holds Usher's settings: defaults, then a YAML file, then
// USHER_* environment variables, and Validate reports every problem at once.
//
// Adding a setting is one struct field with a yaml tag plus its rule in
// Validate: environment variable names and the Settings reference are
// derived from the yaml tags by reflection, so they cannot drift apart.
package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is every setting Usher reads at start-up.
type Config struct {
	// Issuer is the exact OpenID Connect issuer identifier; clients compare
	// it byte for byte, which is why Validate is strict about its shape.
	Issuer string `yaml:"issuer"`
	// Mode is development, production or auto (development exactly when
	// the issuer is on localhost). Development mode trades safety for a
	// zero-setup start, such as a generated master key.
	Mode            string   `yaml:"mode"`
	Listen          string   `yaml:"listen"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the addresses or CIDR ranges of load balancers
	// in front of Usher; their X-Forwarded-For names the client address
	// that per-address limits count. Empty: the peer address counts.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// HSTSMaxAge is how long browsers are told to reach Usher over https
	// only (Strict-Transport-Security), sent when the issuer is https.
	// 0 sends nothing.
	HSTSMaxAge Duration `yaml:"hsts_max_age"`
	// MasterKey encrypts private signing keys and other secrets at rest:
	// 32 random bytes as base64 or hex. MasterKeyPrevious opens what was
	// sealed before a master-key rotation, until `usher keys rewrap`.
	MasterKey         string   `yaml:"master_key"`
	MasterKeyPrevious string   `yaml:"master_key_previous"`
	Database          Database `yaml:"database"`
	Keys              Keys     `yaml:"keys"`
	Sessions          Sessions `yaml:"sessions"`
	Tokens            Tokens   `yaml:"tokens"`
	Accounts          Accounts `yaml:"accounts"`
	Branding          Branding `yaml:"branding"`
	SMTP              SMTP     `yaml:"smtp"`
	Log               Log      `yaml:"log"`
	// Clients are OAuth clients declared in the file (they have no
	// environment variables); start-up creates, updates and removes
	// clients to match.
	Clients []Client `yaml:"clients"`
	// Templates are JWT templates declared in the file; start-up creates
	// or updates each to match. Templates made with the CLI are left as
	// they are.
	Templates []Template `yaml:"templates"`
	// Connections are upstream identity providers declared in the file;
	// start-up creates or updates each (by slug) to match. Connections
	// made with the CLI are left as they are.
	Connections []Connection `yaml:"connections"`
}

// Connection declares one upstream identity provider: GitHub, Google, any
// OpenID Connect provider or a SAML IdP. Unset fields take the same
// defaults as `usher connections create`; the settings are checked at
// start-up by the same rules.
type Connection struct {
	Slug               string   `yaml:"slug"`
	Type               string   `yaml:"type"` // github, google, oidc or saml
	DisplayName        string   `yaml:"display_name"`
	IconURL            string   `yaml:"icon_url"`
	ClientID           string   `yaml:"client_id"`
	ClientSecret       string   `yaml:"client_secret"`
	ClientSecretFile   string   `yaml:"client_secret_file"`
	Issuer             string   `yaml:"issuer"`
	Scopes             []string `yaml:"scopes"`
	SAMLMetadataURL    string   `yaml:"saml_metadata_url"`
	SAMLMetadataFile   string   `yaml:"saml_metadata_file"`
	EmailDomains       []string `yaml:"email_domains"`
	AllowSignUp        *bool    `yaml:"allow_sign_up"` // default true
	TrustEmailVerified bool     `yaml:"trust_email_verified"`
	StoreTokens        bool     `yaml:"store_tokens"`
	Enabled            *bool    `yaml:"enabled"` // default true
}

// Template declares one JWT template: its claims, or a preset's, and how
// tokens are signed (an instance key's algorithm, or the template's own
// HS256 secret or RS256 key, read from a file).
type Template struct {
	Name             string         `yaml:"name"`
	Preset           string         `yaml:"preset"`
	Claims           map[string]any `yaml:"claims"`
	Lifetime         Duration       `yaml:"lifetime"`
	AllowedClockSkew *Duration      `yaml:"allowed_clock_skew"`
	SigningAlgorithm string         `yaml:"signing_algorithm"`
	HS256SecretFile  string         `yaml:"hs256_secret_file"`
	RS256KeyFile     string         `yaml:"rs256_key_file"`
}

// Client declares one OAuth client. Unset fields take the same defaults as
// `usher clients create`.
type Client struct {
	ID                     string   `yaml:"id"`
	Name                   string   `yaml:"name"`
	Secret                 string   `yaml:"secret"`
	SecretFile             string   `yaml:"secret_file"`
	Public                 bool     `yaml:"public"`
	ApplicationType        string   `yaml:"application_type"`
	AuthMethod             string   `yaml:"token_endpoint_auth_method"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	GrantTypes             []string `yaml:"grant_types"`
	Scopes                 []string `yaml:"scopes"`
	CORSOrigins            []string `yaml:"cors_origins"`
	JWKSURI                string   `yaml:"jwks_uri"`
	AccessTokenFormat      string   `yaml:"access_token_format"`
	AccessTokenTemplate    string   `yaml:"access_token_template"` // a JWT template name
	AccessTokenTTL         Duration `yaml:"access_token_ttl"`
	IDTokenTTL             Duration `yaml:"id_token_ttl"`
	RefreshTokenIdleTTL    Duration `yaml:"refresh_token_idle_ttl"`
	RefreshTokenMaxTTL     Duration `yaml:"refresh_token_max_ttl"`
	FirstParty             *bool    `yaml:"first_party"`
	IDTokenUserinfoClaims  *bool    `yaml:"id_token_userinfo_claims"`
}

// Sessions configures browser sessions at Usher (single sign-on).
type Sessions struct {
	IdleTimeout Duration `yaml:"idle_timeout"` // ends after this long without use
	MaxLifetime Duration `yaml:"max_lifetime"` // ends this long after sign-in, used or not
}

// Tokens configures protocol details of tokens.
type Tokens struct {
	// RefreshReuseGrace lets two concurrent refreshes of one token both
	// succeed when they come this close together; a later reuse revokes
	// the token's family.
	RefreshReuseGrace Duration `yaml:"refresh_reuse_grace"`
}

// Accounts configures the hosted sign-up and sign-in pages and the rules
// they enforce.
type Accounts struct {
	// SignUp lets anyone create an account on the hosted pages; off, only
	// the CLI and API create users.
	SignUp bool `yaml:"sign_up"`
	// RequireName and RequireUsername make those sign-up fields
	// mandatory; otherwise they are optional.
	RequireName     bool `yaml:"require_name"`
	RequireUsername bool `yaml:"require_username"`
	// EmailCodeTTL is how long an emailed code or link works.
	EmailCodeTTL Duration `yaml:"email_code_ttl"`
	// LockoutAttempts failed attempts (passwords and codes) lock an
	// account for LockoutDuration; a duration of 0 locks it until
	// `usher users unlock`.
	LockoutAttempts int      `yaml:"lockout_attempts"`
	LockoutDuration Duration `yaml:"lockout_duration"`
	// Argon2 parameters for new password hashes (OWASP's by default);
	// existing hashes keep the parameters they were made with.
	Argon2MemoryKiB   int `yaml:"argon2_memory_kib"`
	Argon2Iterations  int `yaml:"argon2_iterations"`
	Argon2Parallelism int `yaml:"argon2_parallelism"`
	// GeoIPDatabase is the path to a MaxMind GeoLite2 or GeoIP2 City or
	// Country .mmdb file, for the approximate location of signed-in
	// devices; empty: no locations.
	GeoIPDatabase string `yaml:"geoip_database"`
}

// Branding is what the hosted pages and emails show of the product.
type Branding struct {
	ProductName  string `yaml:"product_name"`
	LogoURL      string `yaml:"logo_url"`
	PrimaryColor string `yaml:"primary_color"` // #rrggbb
	SupportEmail string `yaml:"support_email"`
	TermsURL     string `yaml:"terms_url"`
	PrivacyURL   string `yaml:"privacy_url"`
}

// SMTP is the mail server emails go through. With no host, development
// mode keeps emails in a mailbox page at /dev/mail; production requires
// one.
type SMTP struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// From is the sender, like "Acme <no-reply@acme.example>".
	From string `yaml:"from"`
	// TLS is starttls, tls (implicit, usually port 465) or none (loopback
	// servers only).
	TLS     string   `yaml:"tls"`
	Timeout Duration `yaml:"timeout"`
}

// Keys configures token signing keys.
type Keys struct {
	// Algorithms each get a current key; the first signs ID and access
	// tokens unless a client or template asks for another.
	Algorithms     []string `yaml:"algorithms"`
	RotationPeriod Duration `yaml:"rotation_period"`
	// JWKSMaxAge is the Cache-Control max-age of the JWKS. A new key is
	// published at least this long before it signs anything.
	JWKSMaxAge Duration `yaml:"jwks_max_age"`
	// RefreshInterval bounds how long a replica takes to see a rotation
	// made by another.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// MaxTokenLifetime is the longest lifetime of any token Usher signs; a
	// retired key stays published this long after it last signed.
	MaxTokenLifetime Duration `yaml:"max_token_lifetime"`
}

// Database selects and tunes the storage backend.
type Database struct {
	// URL is a file path, sqlite:PATH or file:PATH for SQLite, or a
	// postgres:// or postgresql:// URL for PostgreSQL.
	URL            string `yaml:"url"`
	MaxConns       int    `yaml:"max_conns"`
	MigrateOnStart bool   `yaml:"migrate_on_start"`
}

// Log configures the server's log output.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default returns the settings used when neither the file nor the
// environment says otherwise. They are enough to try Usher on one machine.
func Default() Config {
	return Config{
		Issuer:          "http://localhost:8080",
		Mode:            "auto",
		Listen:          "localhost:8080",
		ShutdownTimeout: Duration(15 * time.Second),
		HSTSMaxAge:      Duration(365 * 24 * time.Hour),
		Database: Database{
			URL:            "usher.db",
			MaxConns:       10,
			MigrateOnStart: true,
		},
		Keys: Keys{
			Algorithms:       []string{"RS256"},
			RotationPeriod:   Duration(90 * 24 * time.Hour),
			JWKSMaxAge:       Duration(15 * time.Minute),
			RefreshInterval:  Duration(30 * time.Second),
			MaxTokenLifetime: Duration(24 * time.Hour),
		},
		Sessions: Sessions{
			IdleTimeout: Duration(7 * 24 * time.Hour),
			MaxLifetime: Duration(30 * 24 * time.Hour),
		},
		Tokens: Tokens{RefreshReuseGrace: Duration(5 * time.Second)},
		Accounts: Accounts{
			SignUp:            true,
			EmailCodeTTL:      Duration(10 * time.Minute),
			LockoutAttempts:   10,
			LockoutDuration:   Duration(time.Hour),
			Argon2MemoryKiB:   19 * 1024,
			Argon2Iterations:  2,
			Argon2Parallelism: 1,
		},
		Branding: Branding{ProductName: "Usher", PrimaryColor: "#4f46e5"},
		SMTP:     SMTP{Port: 587, TLS: "starttls", Timeout: Duration(10 * time.Second)},
		Log: Log{
			Level:  "info",
			Format: "text",
		},
	}
}

// Duration is a time.Duration written as a Go duration string ("15s",
// "2m") in YAML and the environment, since bare integers would be
// nanoseconds and easy to get wrong.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d the shortest way parseDuration reads back: whole days
// as "90d", otherwise like time.Duration without zero units ("15m", not
// "15m0s").
func (d Duration) String() string {
	const day = 24 * time.Hour
	if v := time.Duration(d); v >= day && v%day == 0 {
		return strconv.FormatInt(int64(v/day), 10) + "d"
	}
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// UnmarshalYAML accepts a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "expected a duration like 15s or 2m")
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return typeError(n, err.Error())
	}
	*d = v
	return nil
}

// typeError returns the error type yaml.v3 collects and keeps decoding
// after; any other error would abort the file at the first bad value.
func typeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}

// MarshalYAML writes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// parseDuration reads a Go duration, or a whole number of days ("90d"),
// since key rotation periods are counted in days.
func parseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(t, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100*365 {
			return Duration(time.Duration(n) * 24 * time.Hour), nil
		}
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 15s, 2m, 36h or 90d", s)
	}
	return Duration(v), nil
}

// Problems is every reason a configuration was rejected, so an operator can
// fix them all in one pass instead of one restart per mistake.
type Problems struct {
	List []string
}

func (p *Problems) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, s := range p.List {
		b.WriteString("\n  - ")
		b.WriteString(s)
	}
	return b.String()
}

func (p *Problems) add(format string, args ...any) {
	p.List = append(p.List, fmt.Sprintf(format, args...))
}

// err returns nil rather than an empty *Problems, which would be a non-nil
// error interface.
func (p *Problems) err() error {
	if len(p.List) == 0 {
		return nil
	}
	return p
}

// Load returns Default overlaid with the YAML file at path (skipped when
// path is empty) and then with USHER_* variables from environ, which has the
// form of os.Environ. Every problem found is returned in one *Problems; the
// Config is the zero value whenever the error is not nil.
func Load(path string, environ []string) (Config, error) {
	c := Default()
	var p Problems
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is already in our message
			}
			p.add("config file %s: %v", path, err)
		} else {
			decodeYAML(data, path, &c, &p)
		}
	}
	applyEnv(&c, settings, environ, os.ReadFile, &p)
	readClientSecrets(c.Clients, os.ReadFile, &p)
	readConnectionSecrets(c.Connections, os.ReadFile, &p)
	if err := c.Validate(); err != nil {
		p.List = append(p.List, err.(*Problems).List...)
	}
	if err := p.err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

var unknownField = regexp.MustCompile(`^(line \d+): field (.+) not found in type `)

// decodeYAML overlays data onto c. Keys yaml.v3 does not know are errors
// because a misspelt key would otherwise silently leave the default in place.
func decodeYAML(data []byte, name string, c *Config, p *Problems) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	var te *yaml.TypeError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return // an empty file sets nothing
	case errors.As(err, &te):
		keys := keysByLine(data)
		for _, e := range te.Errors {
			if m := unknownField.FindStringSubmatch(e); m != nil {
				e = fmt.Sprintf("%s: unknown setting %q", m[1], m[2])
			} else if m := errorLine.FindStringSubmatch(e); m != nil {
				if key := keys[m[1]]; key != "" {
					if !strings.Contains(key, "[") { // settings in lists have no environment variable
						key = label(key)
					}
					e = fmt.Sprintf("%s (line %s): %s", key, m[1], strings.TrimPrefix(e, m[0]))
				}
			}
			p.add("config file %s: %s", name, e)
		}
	default:
		p.add("config file %s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
		return // the parser stopped, so there is no next document to find
	}
	// A second document would be ignored without this check, and whatever
	// the operator put in it would silently not apply.
	var rest yaml.Node
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		p.add("config file %s: holds more than one YAML document; keep all settings in one", name)
	}
}

var errorLine = regexp.MustCompile(`^line (\d+): `)

// keysByLine maps each line of a YAML file to the dotted key whose value
// starts there, so a type error yaml reports by line can name its setting.
func keysByLine(data []byte) map[string]string {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 {
		return nil
	}
	out := make(map[string]string)
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := prefix + n.Content[i].Value
				out[strconv.Itoa(n.Content[i+1].Line)] = key
				walk(n.Content[i+1], key+".")
			}
		case yaml.SequenceNode:
			base := strings.TrimSuffix(prefix, ".")
			for i, item := range n.Content {
				walk(item, fmt.Sprintf("%s[%d].", base, i))
			}
		}
	}
	walk(root.Content[0], "")
	return out
}

var validLevels = []string{"debug", "info", "warn", "error"}
var validModes = []string{"auto", "development", "production"}

// SigningAlgorithms are the JWS algorithms Usher can sign with.
var SigningAlgorithms = []string{"RS256", "ES256", "EdDSA"}
var validFormats = []string{"text", "json"}

// Validate reports every setting that is out of range or malformed, as a
// *Problems, or returns nil.
func (c Config) Validate() error {
	var p Problems
	c.validateIssuer(&p)
	issuerOK := len(p.List) == 0
	if !slices.Contains(validModes, c.Mode) {
		p.add("%s: %q is not one of %s", label("mode"), c.Mode, strings.Join(validModes, ", "))
	}
	// Whether a master key is required depends on the issuer; with a
	// broken issuer that question is noise.
	c.validateMasterKeys(&p, issuerOK)
	c.validateKeys(&p)
	c.validateClients(&p)
	c.validateTemplates(&p)
	c.validateConnections(&p)
	if _, err := c.TrustedProxyPrefixes(); err != nil {
		p.add("%s: %v", label("trusted_proxies"), err)
	}
	if d := c.Sessions.IdleTimeout.Std(); d < time.Minute || d > 365*24*time.Hour {
		p.add("%s: %s is not from 1m to 365d", label("sessions.idle_timeout"), c.Sessions.IdleTimeout)
	}
	if d := c.Sessions.MaxLifetime.Std(); d < c.Sessions.IdleTimeout.Std() || d > 365*24*time.Hour {
		p.add("%s: %s must be at least sessions.idle_timeout and at most 365d", label("sessions.max_lifetime"), c.Sessions.MaxLifetime)
	}
	if d := c.Tokens.RefreshReuseGrace.Std(); d < 0 || d > time.Minute {
		p.add("%s: %s is not from 0s to 1m", label("tokens.refresh_reuse_grace"), c.Tokens.RefreshReuseGrace)
	}

	// Any host is acceptable; an empty one means every interface.
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("%s: %q is not host:port, like localhost:8080 or :8080", label("listen"), c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("%s: port %q in %q is not a number from 0 to 65535", label("listen"), port, c.Listen)
	}

	if d := c.HSTSMaxAge.Std(); d < 0 || d > 2*365*24*time.Hour || d%time.Second != 0 {
		p.add("%s: %s is not whole seconds from 0s (off) to 730d", label("hsts_max_age"), c.HSTSMaxAge)
	}

	if t := c.ShutdownTimeout.Std(); t <= 0 || t > 10*time.Minute {
		p.add("%s: %s is not between 0s (exclusive) and 10m", label("shutdown_timeout"), t)
	}

	c.validateDatabaseURL(&p)
	if n := c.Database.MaxConns; n < 1 || n > 1000 {
		p.add("%s: %d is not from 1 to 1000", label("database.max_conns"), n)
	}

	c.validateAccounts(&p)
	c.validateBranding(&p)
	c.validateSMTP(&p)

	if !slices.Contains(validLevels, c.Log.Level) {
		p.add("%s: %q is not one of %s", label("log.level"), c.Log.Level, strings.Join(validLevels, ", "))
	}
	if !slices.Contains(validFormats, c.Log.Format) {
		p.add("%s: %q is not one of %s", label("log.format"), c.Log.Format, strings.Join(validFormats, ", "))
	}
	return p.err()
}

func (c Config) validateAccounts(p *Problems) {
	a := c.Accounts
	if d := a.EmailCodeTTL.Std(); d < time.Minute || d > 24*time.Hour {
		p.add("%s: %s is not from 1m to 24h", label("accounts.email_code_ttl"), a.EmailCodeTTL)
	}
	if a.LockoutAttempts < 1 || a.LockoutAttempts > 1000 {
		p.add("%s: %d is not from 1 to 1000", label("accounts.lockout_attempts"), a.LockoutAttempts)
	}
	if d := a.LockoutDuration.Std(); d < 0 || d > 365*24*time.Hour {
		p.add("%s: %s is not from 0s (until unlocked) to 365d", label("accounts.lockout_duration"), a.LockoutDuration)
	}
	if a.Argon2MemoryKiB < 8*1024 || a.Argon2MemoryKiB > 1024*1024 {
		p.add("%s: %d is not from 8192 (8 MiB) to 1048576 (1 GiB)", label("accounts.argon2_memory_kib"), a.Argon2MemoryKiB)
	}
	if a.Argon2Iterations < 1 || a.Argon2Iterations > 64 {
		p.add("%s: %d is not from 1 to 64", label("accounts.argon2_iterations"), a.Argon2Iterations)
	}
	if a.Argon2Parallelism < 1 || a.Argon2Parallelism > 64 {
		p.add("%s: %d is not from 1 to 64", label("accounts.argon2_parallelism"), a.Argon2Parallelism)
	}
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

func (c Config) validateBranding(p *Problems) {
	b := c.Branding
	if n := len(strings.TrimSpace(b.ProductName)); n == 0 || n > 64 {
		p.add("%s: give a name of 1 to 64 characters", label("branding.product_name"))
	}
	if !hexColor.MatchString(b.PrimaryColor) {
		p.add("%s: %q is not a colour like #4f46e5", label("branding.primary_color"), b.PrimaryColor)
	}
	for key, v := range map[string]string{"branding.logo_url": b.LogoURL, "branding.terms_url": b.TermsURL, "branding.privacy_url": b.PrivacyURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("%s: %q is not an http(s) URL", label(key), v)
		}
	}
	if b.SupportEmail != "" && !strings.Contains(b.SupportEmail, "@") {
		p.add("%s: %q is not an email address", label("branding.support_email"), b.SupportEmail)
	}
}

var validSMTPTLS = []string{"starttls", "tls", "none"}

func (c Config) validateSMTP(p *Problems) {
	s := c.SMTP
	if !slices.Contains(validSMTPTLS, s.TLS) {
		p.add("%s: %q is not one of %s", label("smtp.tls"), s.TLS, strings.Join(validSMTPTLS, ", "))
	}
	if s.Port < 1 || s.Port > 65535 {
		p.add("%s: %d is not from 1 to 65535", label("smtp.port"), s.Port)
	}
	if t := s.Timeout.Std(); t < time.Second || t > 5*time.Minute {
		p.add("%s: %s is not from 1s to 5m", label("smtp.timeout"), s.Timeout)
	}
	if s.Host == "" {
		if c.Mode == "production" {
			p.add("%s: required in production mode: users could not receive verification and sign-in emails", label("smtp.host"))
		}
		return
	}
	if s.From == "" {
		p.add("%s: required when smtp.host is set, like \"Acme <no-reply@acme.example>\"", label("smtp.from"))
	}
	if (s.Username == "") != (s.Password == "") {
		p.add("%s: give both smtp.username and smtp.password, or neither", label("smtp.username"))
	}
}

func (c Config) validateMasterKeys(p *Problems, issuerOK bool) {
	if c.MasterKey == "" {
		if c.Mode == "production" || (c.Mode == "auto" && issuerOK && !c.DevMode()) {
			p.add("%s: required outside development mode; generate one with: openssl rand -base64 32", label("master_key"))
		}
	} else if _, err := ParseMasterKey(c.MasterKey); err != nil {
		p.add("%s: %v", label("master_key"), err) // the value is a secret: never echo it
	}
	if c.MasterKeyPrevious != "" {
		if _, err := ParseMasterKey(c.MasterKeyPrevious); err != nil {
			p.add("%s: %v", label("master_key_previous"), err)
		}
		if c.MasterKey == "" {
			p.add("%s: is only used together with master_key", label("master_key_previous"))
		}
	}
}

func (c Config) validateKeys(p *Problems) {
	k := c.Keys
	if len(k.Algorithms) == 0 {
		p.add("%s: name at least one of %s", label("keys.algorithms"), strings.Join(SigningAlgorithms, ", "))
	}
	for i, a := range k.Algorithms {
		if !slices.Contains(SigningAlgorithms, a) {
			p.add("%s: unknown algorithm %q; use %s", label("keys.algorithms"), a, strings.Join(SigningAlgorithms, ", "))
		} else if slices.Index(k.Algorithms, a) != i {
			p.add("%s: %s is listed twice", label("keys.algorithms"), a)
		}
	}
	if k.JWKSMaxAge.Std() < 0 || k.JWKSMaxAge.Std() > 24*time.Hour {
		p.add("%s: %s is not from 0s to 24h", label("keys.jwks_max_age"), k.JWKSMaxAge)
	}
	if k.RefreshInterval.Std() < time.Second || k.RefreshInterval.Std() > 10*time.Minute {
		p.add("%s: %s is not from 1s to 10m", label("keys.refresh_interval"), k.RefreshInterval)
	}
	if k.MaxTokenLifetime.Std() < time.Minute || k.MaxTokenLifetime.Std() > 10*365*24*time.Hour {
		p.add("%s: %s is not from 1m to 10 years", label("keys.max_token_lifetime"), k.MaxTokenLifetime)
	}
	// A key must be able to live out its publication before it rotates.
	if minimum := 2 * (k.JWKSMaxAge.Std() + k.RefreshInterval.Std()); k.RotationPeriod.Std() < minimum || k.RotationPeriod.Std() < time.Hour {
		p.add("%s: %s is too short; use at least 1h and twice jwks_max_age + refresh_interval", label("keys.rotation_period"), k.RotationPeriod)
	}
}

// ParseMasterKey decodes a master key written as base64 (standard or URL
// alphabet, padded or not) or hex; it must decode to 32 bytes.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("a master key is 32 random bytes written as base64 or hex (generate one with: openssl rand -base64 32)")
}

// readClientSecrets resolves secret_file into secret for declared clients.
func readClientSecrets(list []Client, readFile func(string) ([]byte, error), p *Problems) {
	for i := range list {
		c := &list[i]
		switch {
		case c.SecretFile != "" && c.Secret != "":
			p.add("clients[%d] (%s): set secret or secret_file, not both", i, c.ID)
		case c.SecretFile != "":
			b, err := readFile(c.SecretFile)
			if err != nil {
				p.add("clients[%d] (%s): secret_file: %v", i, c.ID, err)
				continue
			}
			c.Secret = trimNewline(string(b))
		}
	}
}

func (c Config) validateTemplates(p *Problems) {
	names := map[string]bool{}
	for i, t := range c.Templates {
		switch {
		case t.Name == "":
			p.add("templates[%d]: name is required", i)
		case names[t.Name]:
			p.add("templates[%d]: name %q is used twice", i, t.Name)
		}
		names[t.Name] = true
		if (t.Preset == "") == (t.Claims == nil) {
			p.add("templates[%d] (%s): give claims or a preset, not both or neither", i, t.Name)
		}
		if t.HS256SecretFile != "" && t.RS256KeyFile != "" {
			p.add("templates[%d] (%s): give one of hs256_secret_file and rs256_key_file", i, t.Name)
		}
	}
}

// readConnectionSecrets resolves client_secret_file into client_secret for
// declared connections.
func readConnectionSecrets(list []Connection, readFile func(string) ([]byte, error), p *Problems) {
	for i := range list {
		c := &list[i]
		switch {
		case c.ClientSecretFile != "" && c.ClientSecret != "":
			p.add("connections[%d] (%s): set client_secret or client_secret_file, not both", i, c.Slug)
		case c.ClientSecretFile != "":
			b, err := readFile(c.ClientSecretFile)
			if err != nil {
				p.add("connections[%d] (%s): client_secret_file: %v", i, c.Slug, err)
				continue
			}
			c.ClientSecret = trimNewline(string(b))
		}
	}
}

// validateConnections checks what the file alone can tell; the rules on
// each connection's settings are checked at start-up, as for the CLI.
func (c Config) validateConnections(p *Problems) {
	slugs := map[string]bool{}
	for i, conn := range c.Connections {
		switch {
		case conn.Slug == "":
			p.add("connections[%d]: slug is required", i)
		case slugs[conn.Slug]:
			p.add("connections[%d]: slug %q is used twice", i, conn.Slug)
		}
		slugs[conn.Slug] = true
		if conn.SAMLMetadataURL != "" && conn.SAMLMetadataFile != "" {
			p.add("connections[%d] (%s): set saml_metadata_url or saml_metadata_file, not both", i, conn.Slug)
		}
	}
}

func (c Config) validateClients(p *Problems) {
	ids := make(map[string]bool)
	for i, cl := range c.Clients {
		switch {
		case cl.ID == "":
			p.add("clients[%d]: id is required", i)
		case ids[cl.ID]:
			p.add("clients[%d]: id %q is used twice", i, cl.ID)
		}
		ids[cl.ID] = true
		if cl.Name == "" {
			p.add("clients[%d] (%s): name is required", i, cl.ID)
		}
	}
}

// TrustedProxyPrefixes parses TrustedProxies; a bare address is a /32 or
// /128.
func (c Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// DevMode reports whether development conveniences are on: mode
// development, or mode auto with a localhost issuer.
func (c Config) DevMode() bool {
	switch c.Mode {
	case "development":
		return true
	case "auto":
		u, err := url.Parse(c.Issuer)
		return err == nil && IsLocalhost(u.Hostname())
	}
	return false
}

func (c Config) validateIssuer(p *Problems) {
	l := label("issuer")
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		p.add("%s: %q is not an absolute http or https URL", l, c.Issuer)
		return
	}
	if u.Host == "" {
		p.add("%s: %q has no host", l, c.Issuer)
	}
	if u.User != nil {
		p.add("%s: %q must not contain a user name or password", l, c.Issuer)
	}
	if u.RawQuery != "" || u.ForceQuery {
		p.add("%s: %q must not have a query", l, c.Issuer)
	}
	if u.Fragment != "" || strings.Contains(c.Issuer, "#") {
		p.add("%s: %q must not have a fragment", l, c.Issuer)
	}
	// Clients build discovery URLs by appending to the issuer and compare it
	// exactly, so "https://id.example/" and "https://id.example" differ.
	if strings.HasSuffix(u.Path, "/") {
		p.add("%s: %q ends in a slash; remove the trailing slash", l, c.Issuer)
	}
	if u.Scheme == "http" && u.Host != "" && !IsLocalhost(u.Hostname()) {
		p.add("%s: %q uses plain http, which is only allowed for localhost; use https", l, c.Issuer)
	}
}

// schemePrefix matches a URL scheme. One-letter schemes are left out so
// Windows paths such as C:\usher.db count as plain paths.
var schemePrefix = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+):`)

func (c Config) validateDatabaseURL(p *Problems) {
	l := label("database.url")
	raw := c.Database.URL
	if strings.TrimSpace(raw) == "" {
		p.add("%s: must be set", l)
		return
	}
	if c.DatabaseKind() == "postgres" {
		// Neither the value nor url.Parse's error may be echoed: both can
		// carry the password.
		if _, err := url.Parse(raw); err != nil {
			p.add("%s: is not a valid PostgreSQL URL", l)
		}
		return
	}
	if m := schemePrefix.FindStringSubmatch(raw); m != nil {
		s := strings.ToLower(m[1])
		if s != "sqlite" && s != "file" {
			p.add("%s: unsupported scheme %q; use postgres://, postgresql://, sqlite:PATH, file:PATH or a plain file path", l, m[1])
			return
		}
	}
	if c.SQLitePath() == "" {
		p.add("%s: %q names no SQLite file", l, raw)
	}
}

// DatabaseKind returns "postgres" for a postgres:// or postgresql:// URL
// and "sqlite" for anything else.
func (c Config) DatabaseKind() string {
	u := strings.ToLower(c.Database.URL)
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

// SQLitePath returns the file named by a SQLite database URL: a plain path
// as given, or the path part of sqlite:PATH and file:PATH without any
// ?query. An empty authority is dropped, so sqlite:///var/usher.db names
// /var/usher.db. It is meaningless when DatabaseKind is "postgres".
func (c Config) SQLitePath() string {
	raw := c.Database.URL
	for _, prefix := range []string{"sqlite:", "file:"} {
		if len(raw) >= len(prefix) && strings.EqualFold(raw[:len(prefix)], prefix) {
			rest := raw[len(prefix):]
			if i := strings.IndexByte(rest, '?'); i >= 0 {
				rest = rest[:i]
			}
			return strings.TrimPrefix(rest, "//")
		}
	}
	return raw
}

// Redacted returns a copy of c that is safe to log: a password in a
// PostgreSQL URL, in its user part or a password= query parameter, becomes
// xxxxx. An unparsable PostgreSQL URL is replaced whole, since there is no
// telling where its password is.
func (c Config) Redacted() Config {
	for _, k := range []*string{&c.MasterKey, &c.MasterKeyPrevious, &c.SMTP.Password} {
		if *k != "" {
			*k = "xxxxx"
		}
	}
	c.Clients = slices.Clone(c.Clients)
	for i := range c.Clients {
		if c.Clients[i].Secret != "" {
			c.Clients[i].Secret = "xxxxx"
		}
	}
	c.Connections = slices.Clone(c.Connections)
	for i := range c.Connections {
		if c.Connections[i].ClientSecret != "" {
			c.Connections[i].ClientSecret = "xxxxx"
		}
	}
	if c.DatabaseKind() != "postgres" {
		return c
	}
	u, err := url.Parse(c.Database.URL)
	if err != nil {
		c.Database.URL = "xxxxx"
		return c
	}
	changed := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		changed = true
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
		changed = true
	}
	if changed {
		c.Database.URL = u.String()
	}
	return c
}

// IsLocalhost reports whether host names the local machine: localhost,
// anything under .localhost, 127.0.0.1 or ::1. It is the only place plain
// http is acceptable, since nothing crosses a network there.
func IsLocalhost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || h == "127.0.0.1" || h == "::1"
}
