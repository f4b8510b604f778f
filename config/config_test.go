package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problems asserts err is a *Problems and returns its list.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var p *Problems
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T) is not a *Problems", err, err)
	}
	return p.List
}

// wantProblems asserts that each of want is a substring of a different
// problem, and that there are exactly len(want) problems.
func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	list := problems(t, err)
	if len(list) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(list), len(want), strings.Join(list, "\n"))
	}
	used := make([]bool, len(list))
outer:
	for _, w := range want {
		for i, got := range list {
			if !used[i] && strings.Contains(got, w) {
				used[i] = true
				continue outer
			}
		}
		t.Errorf("no problem contains %q; got:\n%s", w, strings.Join(list, "\n"))
	}
}

// wantOneProblem asserts there is exactly one problem and that it contains
// every one of want.
func wantOneProblem(t *testing.T, err error, want ...string) {
	t.Helper()
	list := problems(t, err)
	if len(list) != 1 {
		t.Fatalf("got %d problems, want 1:\n%s", len(list), strings.Join(list, "\n"))
	}
	for _, w := range want {
		if !strings.Contains(list[0], w) {
			t.Errorf("problem %q does not contain %q", list[0], w)
		}
	}
}

func TestDefaultsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load with nothing = %+v, want defaults %+v", c, Default())
	}
	if c.ShutdownTimeout.Std() != 15*time.Second || c.Database.MaxConns != 10 || !c.Database.MigrateOnStart {
		t.Errorf("unexpected defaults %+v", c)
	}
}

func TestProblemsError(t *testing.T) {
	p := &Problems{List: []string{"a", "b"}}
	if got, want := p.Error(), "invalid configuration:\n  - a\n  - b"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestFileThenEnv(t *testing.T) {
	path := writeFile(t, "usher.yaml", `
issuer: https://id.example.com
shutdown_timeout: 2m
database:
  url: file.db
  max_conns: 20
log:
  level: debug
`)
	c, err := Load(path, []string{
		"USHER_DATABASE_MAX_CONNS=30",
		"USHER_LOG_FORMAT=json",
		"USHER_DATABASE_MIGRATE_ON_START=false",
		"HOME=/root", // not ours
		"USHER_MASTER_KEY=" + testMasterKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Issuer = "https://id.example.com"
	want.MasterKey = testMasterKey
	want.ShutdownTimeout = Duration(2 * time.Minute)
	want.Database.URL = "file.db" // file only
	want.Database.MaxConns = 30   // env wins over file
	want.Database.MigrateOnStart = false
	want.Log.Level = "debug" // file, default for the rest of log
	want.Log.Format = "json"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestEnvFile(t *testing.T) {
	secret := writeFile(t, "db-url", "postgres://u:p%40ss@db/usher\n")
	c, err := Load("", []string{"USHER_DATABASE_URL_FILE=" + secret})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Database.URL, "postgres://u:p%40ss@db/usher"; got != want {
		t.Errorf("URL = %q, want %q (one trailing newline trimmed)", got, want)
	}

	two := writeFile(t, "two", "info\n\n")
	_, err = Load("", []string{"USHER_LOG_LEVEL_FILE=" + two})
	wantProblems(t, err, `log.level (USHER_LOG_LEVEL): "info\n" is not one of`)

	_, err = Load("", []string{"USHER_LOG_LEVEL_FILE=" + filepath.Join(t.TempDir(), "missing")})
	wantProblems(t, err, "log.level (USHER_LOG_LEVEL_FILE): open ")

	bad := writeFile(t, "bad", "lots\n")
	_, err = Load("", []string{"USHER_DATABASE_MAX_CONNS_FILE=" + bad})
	wantProblems(t, err, `database.max_conns (USHER_DATABASE_MAX_CONNS_FILE): "lots" is not a whole number`)
}

func TestEnvAndEnvFileBothSet(t *testing.T) {
	secret := writeFile(t, "url", "x.db")
	_, err := Load("", []string{"USHER_DATABASE_URL=y.db", "USHER_DATABASE_URL_FILE=" + secret})
	wantProblems(t, err, "USHER_DATABASE_URL and USHER_DATABASE_URL_FILE")
}

func TestUnknownYAMLKeys(t *testing.T) {
	path := writeFile(t, "usher.yaml", "issuer: http://localhost:9000\nlsten: :80\ndatabase:\n  urll: x.db\n")
	_, err := Load(path, nil)
	wantProblems(t, err,
		path+`: line 2: unknown setting "lsten"`,
		path+`: line 4: unknown setting "urll"`)
}

func TestBadYAML(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"syntax", "issuer: [", []string{"usher.yaml: line 1: did not find expected node content"}},
		{"two documents", "log:\n  level: debug\n---\nlog:\n  level: warn\n", []string{"more than one YAML document"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1"}},
		{"bad values", "database:\n  max_conns: lots\nshutdown_timeout: 5 parsecs\n", []string{
			"database.max_conns (USHER_DATABASE_MAX_CONNS) (line 2): cannot unmarshal",
			`shutdown_timeout (USHER_SHUTDOWN_TIMEOUT) (line 3): "5 parsecs" is not a duration`,
		}},
		{"duration not scalar", "shutdown_timeout: [1s]\n", []string{"shutdown_timeout (USHER_SHUTDOWN_TIMEOUT) (line 1): expected a duration"}},
		{"bad value in a declared client", "clients:\n  - id: a\n    name: A\n    access_token_ttl: soon\n", []string{"clients[0].access_token_ttl (line 4): \"soon\" is not a duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "usher.yaml", tt.file), nil)
			wantProblems(t, err, tt.want...)
		})
	}
}

func TestEmptyFile(t *testing.T) {
	for _, content := range []string{"", "# only a comment\n", "~\n"} {
		c, err := Load(writeFile(t, "usher.yaml", content), nil)
		if err != nil {
			t.Errorf("%q: %v", content, err)
		} else if !reflect.DeepEqual(c, Default()) {
			t.Errorf("%q: got %+v, want defaults", content, c)
		}
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path, nil)
	wantProblems(t, err, "config file "+path+": no such file or directory")
}

func TestUnknownEnv(t *testing.T) {
	_, err := Load("", []string{"USHER_DATABSE_URL=x.db", "USHER_LOG_LEVEL=debug"})
	wantProblems(t, err, "unknown setting USHER_DATABSE_URL")
}

func TestTestPrefixIgnored(t *testing.T) {
	_, err := Load("", []string{"USHER_TEST_POSTGRES_URL=postgres://x", "USHER_TEST_=1", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
}

func TestManyBadValuesAtOnce(t *testing.T) {
	path := writeFile(t, "usher.yaml", "log:\n  format: xml\n")
	_, err := Load(path, []string{
		"USHER_DATABASE_MAX_CONNS=abc",
		"USHER_LOG_LEVEL=loud",
		"USHER_SHUTDOWN_TIMEOUT=5 parsecs",
		"USHER_DATABASE_MIGRATE_ON_START=maybe",
		"USHER_ISSUER=ftp://id.example.com",
		"USHER_NOPE=1",
	})
	wantProblems(t, err,
		`database.max_conns (USHER_DATABASE_MAX_CONNS): "abc" is not a whole number`,
		`log.level (USHER_LOG_LEVEL): "loud" is not one of debug, info, warn, error`,
		`shutdown_timeout (USHER_SHUTDOWN_TIMEOUT): "5 parsecs" is not a duration`,
		`database.migrate_on_start (USHER_DATABASE_MIGRATE_ON_START): "maybe" is not true or false`,
		`issuer (USHER_ISSUER): "ftp://id.example.com" is not an absolute http or https URL`,
		`log.format (USHER_LOG_FORMAT): "xml" is not one of text, json`,
		"unknown setting USHER_NOPE",
	)
}

func TestIssuer(t *testing.T) {
	tests := []struct {
		issuer string
		want   string // substring of the one problem, or "" for valid
	}{
		{"https://id.example.com", ""},
		{"https://id.example.com/tenant", ""},
		{"https://id.example.com:8443", ""},
		{"http://localhost:8080", ""},
		{"http://127.0.0.1", ""},
		{"http://[::1]:8080", ""},
		{"http://usher.localhost", ""},
		{"http://id.example.com", "use https"},
		{"http://10.0.0.1", "use https"},
		{"https://id.example.com/", "remove the trailing slash"},
		{"https://id.example.com/a/", "remove the trailing slash"},
		{"https://id.example.com?x=1", "must not have a query"},
		{"https://id.example.com?", "must not have a query"},
		{"https://id.example.com#top", "must not have a fragment"},
		{"https://id.example.com#", "must not have a fragment"},
		{"https://user:pw@id.example.com", "user name or password"},
		{"https:///path", "has no host"},
		{"id.example.com", "not an absolute http or https URL"},
		{"/issuer", "not an absolute http or https URL"},
		{"ftp://id.example.com", "not an absolute http or https URL"},
		{"", "not an absolute http or https URL"},
		{"https://id example.com", "not an absolute http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.issuer, func(t *testing.T) {
			c := Default()
			c.Mode = "development" // so a non-local issuer needs no master key here
			c.Issuer = tt.issuer
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantOneProblem(t, err, "issuer (USHER_ISSUER): ", tt.want)
		})
	}
}

func TestIssuerProblemsCombine(t *testing.T) {
	c := Default()
	c.Mode = "development"
	c.Issuer = "http://id.example.com/?a=1#f"
	wantProblems(t, c.Validate(), "use https", "trailing slash", "query", "fragment")
}

func TestValidateOther(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"listen any interface", func(c *Config) { c.Listen = ":8080" }, ""},
		{"listen ipv6", func(c *Config) { c.Listen = "[::1]:0" }, ""},
		{"listen no port", func(c *Config) { c.Listen = "localhost" }, `listen (USHER_LISTEN): "localhost" is not host:port`},
		{"listen port too big", func(c *Config) { c.Listen = ":65536" }, "from 0 to 65535"},
		{"listen port name", func(c *Config) { c.Listen = ":http" }, "from 0 to 65535"},
		{"timeout zero", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown_timeout (USHER_SHUTDOWN_TIMEOUT)"},
		{"timeout negative", func(c *Config) { c.ShutdownTimeout = Duration(-time.Second) }, "shutdown_timeout"},
		{"timeout max", func(c *Config) { c.ShutdownTimeout = Duration(10 * time.Minute) }, ""},
		{"timeout too long", func(c *Config) { c.ShutdownTimeout = Duration(11 * time.Minute) }, "and 10m"},
		{"hsts off", func(c *Config) { c.HSTSMaxAge = 0 }, ""},
		{"hsts two years", func(c *Config) { c.HSTSMaxAge = Duration(730 * 24 * time.Hour) }, ""},
		{"hsts negative", func(c *Config) { c.HSTSMaxAge = Duration(-time.Second) }, "hsts_max_age (USHER_HSTS_MAX_AGE)"},
		{"hsts too long", func(c *Config) { c.HSTSMaxAge = Duration(731 * 24 * time.Hour) }, "hsts_max_age"},
		{"hsts fraction", func(c *Config) { c.HSTSMaxAge = Duration(1500 * time.Millisecond) }, "whole seconds"},
		{"max_conns 0", func(c *Config) { c.Database.MaxConns = 0 }, "database.max_conns (USHER_DATABASE_MAX_CONNS): 0 is not from 1 to 1000"},
		{"max_conns 1000", func(c *Config) { c.Database.MaxConns = 1000 }, ""},
		{"max_conns 1001", func(c *Config) { c.Database.MaxConns = 1001 }, "1001 is not from 1 to 1000"},
		{"db empty", func(c *Config) { c.Database.URL = "" }, "database.url (USHER_DATABASE_URL): must be set"},
		{"db blank", func(c *Config) { c.Database.URL = "  " }, "must be set"},
		{"db mysql", func(c *Config) { c.Database.URL = "mysql://db/usher" }, `unsupported scheme "mysql"; use postgres://, postgresql://, sqlite:`},
		{"db sqlite no path", func(c *Config) { c.Database.URL = "sqlite:" }, "names no SQLite file"},
		{"db postgres", func(c *Config) { c.Database.URL = "postgresql://u:p@db:5432/usher?sslmode=require" }, ""},
		{"db bad postgres hides password", func(c *Config) { c.Database.URL = "postgres://u:s3cret@db:badport/x" }, "is not a valid PostgreSQL URL"},
		{"db windows path", func(c *Config) { c.Database.URL = `C:\usher\usher.db` }, ""},
		{"db file uri", func(c *Config) { c.Database.URL = "file:usher.db?mode=rwc" }, ""},
		{"level", func(c *Config) { c.Log.Level = "INFO" }, `log.level (USHER_LOG_LEVEL): "INFO" is not one of`},
		{"format", func(c *Config) { c.Log.Format = "" }, `log.format (USHER_LOG_FORMAT): "" is not one of text, json`},
		{"code ttl short", func(c *Config) { c.Accounts.EmailCodeTTL = Duration(time.Second) }, "accounts.email_code_ttl (USHER_ACCOUNTS_EMAIL_CODE_TTL): 1s is not from 1m to 24h"},
		{"lockout attempts 0", func(c *Config) { c.Accounts.LockoutAttempts = 0 }, "accounts.lockout_attempts (USHER_ACCOUNTS_LOCKOUT_ATTEMPTS): 0 is not from 1 to 1000"},
		{"lockout until unlocked", func(c *Config) { c.Accounts.LockoutDuration = 0 }, ""},
		{"lockout negative", func(c *Config) { c.Accounts.LockoutDuration = Duration(-time.Second) }, "accounts.lockout_duration"},
		{"argon2 memory small", func(c *Config) { c.Accounts.Argon2MemoryKiB = 1024 }, "accounts.argon2_memory_kib (USHER_ACCOUNTS_ARGON2_MEMORY_KIB): 1024 is not from 8192"},
		{"argon2 iterations", func(c *Config) { c.Accounts.Argon2Iterations = 0 }, "accounts.argon2_iterations"},
		{"argon2 parallelism", func(c *Config) { c.Accounts.Argon2Parallelism = 65 }, "accounts.argon2_parallelism"},
		{"product name empty", func(c *Config) { c.Branding.ProductName = " " }, "branding.product_name (USHER_BRANDING_PRODUCT_NAME): give a name of 1 to 64 characters"},
		{"colour", func(c *Config) { c.Branding.PrimaryColor = "blue" }, `branding.primary_color (USHER_BRANDING_PRIMARY_COLOR): "blue" is not a colour like #4f46e5`},
		{"logo not http", func(c *Config) { c.Branding.LogoURL = "javascript:alert(1)" }, `branding.logo_url (USHER_BRANDING_LOGO_URL): "javascript:alert(1)" is not an http(s) URL`},
		{"terms https", func(c *Config) { c.Branding.TermsURL = "https://acme.example/terms" }, ""},
		{"support email", func(c *Config) { c.Branding.SupportEmail = "help" }, "branding.support_email"},
		{"smtp tls", func(c *Config) { c.SMTP.TLS = "ssl" }, `smtp.tls (USHER_SMTP_TLS): "ssl" is not one of starttls, tls, none`},
		{"smtp port", func(c *Config) { c.SMTP.Port = 0 }, "smtp.port (USHER_SMTP_PORT): 0 is not from 1 to 65535"},
		{"smtp without from", func(c *Config) { c.SMTP.Host = "smtp.example.com" }, "smtp.from (USHER_SMTP_FROM): required when smtp.host is set"},
		{"smtp half credentials", func(c *Config) { c.SMTP.Host, c.SMTP.From, c.SMTP.Username = "smtp.example.com", "a@example.com", "me" }, "give both smtp.username and smtp.password"},
		{"smtp complete", func(c *Config) {
			c.SMTP.Host, c.SMTP.From, c.SMTP.Username, c.SMTP.Password = "smtp.example.com", "Acme <a@example.com>", "me", "s3cret"
		}, ""},
		{"smtp required in production", func(c *Config) { c.Mode, c.MasterKey = "production", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }, "smtp.host (USHER_SMTP_HOST): required in production mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantProblems(t, err, tt.want)
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("problem leaks the password: %v", err)
			}
		})
	}
}

func TestDatabaseKindAndSQLitePath(t *testing.T) {
	tests := []struct{ url, kind, path string }{
		{"usher.db", "sqlite", "usher.db"},
		{"/var/lib/usher/usher.db", "sqlite", "/var/lib/usher/usher.db"},
		{"sqlite:usher.db", "sqlite", "usher.db"},
		{"sqlite:/var/usher.db?_pragma=busy_timeout(5000)", "sqlite", "/var/usher.db"},
		{"SQLite:usher.db", "sqlite", "usher.db"},
		{"sqlite:///var/usher.db", "sqlite", "/var/usher.db"},
		{"file:usher.db?mode=rwc", "sqlite", "usher.db"},
		{"file:///tmp/u.db", "sqlite", "/tmp/u.db"},
		{"postgres://db/usher", "postgres", ""},
		{"postgresql://u:p@db/usher", "postgres", ""},
		{"POSTGRES://db/usher", "postgres", ""},
	}
	for _, tt := range tests {
		c := Default()
		c.Database.URL = tt.url
		if got := c.DatabaseKind(); got != tt.kind {
			t.Errorf("DatabaseKind(%q) = %q, want %q", tt.url, got, tt.kind)
		}
		if tt.kind == "sqlite" {
			if got := c.SQLitePath(); got != tt.path {
				t.Errorf("SQLitePath(%q) = %q, want %q", tt.url, got, tt.path)
			}
		}
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct{ url, want string }{
		{"postgres://usher:s3cret@db:5432/usher?sslmode=require", "postgres://usher:xxxxx@db:5432/usher?sslmode=require"},
		{"postgresql://db/usher?password=s3cret&user=usher", "postgresql://db/usher?password=xxxxx&user=usher"},
		{"postgres://usher@db/usher", "postgres://usher@db/usher"},
		{"postgres://u:s3cret@db:badport/x", "xxxxx"},
		{"sqlite:usher.db", "sqlite:usher.db"},
	}
	for _, tt := range tests {
		c := Default()
		c.Database.URL = tt.url
		r := c.Redacted()
		if r.Database.URL != tt.want {
			t.Errorf("Redacted(%q) = %q, want %q", tt.url, r.Database.URL, tt.want)
		}
		if c.Database.URL != tt.url {
			t.Errorf("Redacted modified the original: %q", c.Database.URL)
		}
		if r.Issuer != c.Issuer || r.Database.MaxConns != c.Database.MaxConns {
			t.Errorf("Redacted changed other settings: %+v", r)
		}
	}
}

func TestIsLocalhost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "localhost.": true, "a.localhost": true,
		"127.0.0.1": true, "::1": true, "[::1]": true,
		"example.com": false, "localhost.example.com": false, "127.0.0.2": false,
		"notlocalhost": false, "": false,
	} {
		if got := IsLocalhost(host); got != want {
			t.Errorf("IsLocalhost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestSettings(t *testing.T) {
	list := Settings()
	byKey := map[string]Setting{}
	var keys []string
	for _, s := range list {
		byKey[s.Key] = s
		keys = append(keys, s.Key)
	}
	wantKeys := []string{
		"issuer", "mode", "listen", "shutdown_timeout", "trusted_proxies", "hsts_max_age", "master_key", "master_key_previous",
		"database.url", "database.max_conns", "database.migrate_on_start",
		"keys.algorithms", "keys.rotation_period", "keys.jwks_max_age", "keys.refresh_interval", "keys.max_token_lifetime",
		"sessions.idle_timeout", "sessions.max_lifetime", "tokens.refresh_reuse_grace",
		"accounts.sign_up", "accounts.require_name", "accounts.require_username", "accounts.email_code_ttl",
		"accounts.lockout_attempts", "accounts.lockout_duration",
		"accounts.argon2_memory_kib", "accounts.argon2_iterations", "accounts.argon2_parallelism",
		"accounts.geoip_database",
		"branding.product_name", "branding.logo_url", "branding.primary_color", "branding.support_email",
		"branding.terms_url", "branding.privacy_url",
		"smtp.host", "smtp.port", "smtp.username", "smtp.password", "smtp.from", "smtp.tls", "smtp.timeout",
		"log.level", "log.format",
	}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("keys = %v, want %v", keys, wantKeys)
	}
	for key, want := range map[string]Setting{
		"database.url":              {"database.url", "USHER_DATABASE_URL", "usher.db", "string"},
		"database.max_conns":        {"database.max_conns", "USHER_DATABASE_MAX_CONNS", "10", "int"},
		"database.migrate_on_start": {"database.migrate_on_start", "USHER_DATABASE_MIGRATE_ON_START", "true", "bool"},
		"shutdown_timeout":          {"shutdown_timeout", "USHER_SHUTDOWN_TIMEOUT", "15s", "duration"},
		"hsts_max_age":              {"hsts_max_age", "USHER_HSTS_MAX_AGE", "365d", "duration"},
	} {
		if got := byKey[key]; got != want {
			t.Errorf("Settings()[%s] = %+v, want %+v", key, got, want)
		}
	}
}

// TestSettingsRoundTrip checks every listed default reads back through the
// environment as the same value, so the reference never shows a value that
// would be rejected.
func TestSettingsRoundTrip(t *testing.T) {
	var env []string
	for _, s := range Settings() {
		env = append(env, s.Env+"="+s.Default)
	}
	c, err := Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("got %+v, want defaults", c)
	}
}

func TestDurationYAML(t *testing.T) {
	d := Duration(90 * time.Second)
	v, err := d.MarshalYAML()
	if err != nil || v != "1m30s" {
		t.Errorf("MarshalYAML = %v, %v; want 1m30s", v, err)
	}
	c, err := Load(writeFile(t, "u.yaml", "shutdown_timeout: "+d.String()+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ShutdownTimeout != d {
		t.Errorf("read back %v, want %v", c.ShutdownTimeout, d)
	}
}

// testSettings exercises kinds no Config field uses yet.
type testSettings struct {
	Name  string   `yaml:"name"`
	Tags  []string `yaml:"tags,omitempty"`
	Skip  string   `yaml:"-"`
	Inner struct {
		Wait  Duration `yaml:"wait"`
		Count int      `yaml:"count"`
	} `yaml:"inner"`
}

func TestReflectionListKind(t *testing.T) {
	list := settingsOf(reflect.TypeFor[testSettings]())
	var envs []string
	for _, s := range list {
		envs = append(envs, s.env+":"+kindOf(s.typ))
	}
	want := []string{"USHER_NAME:string", "USHER_TAGS:list", "USHER_INNER_WAIT:duration", "USHER_INNER_COUNT:int"}
	if !reflect.DeepEqual(envs, want) {
		t.Fatalf("settings = %v, want %v", envs, want)
	}

	var got testSettings
	var p Problems
	applyEnv(&got, list, []string{
		"USHER_TAGS=a, b,,c ",
		"USHER_INNER_WAIT=2m",
		"USHER_INNER_COUNT=x",
		"USHER_SKIP=1",
	}, os.ReadFile, &p)
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(got.Tags, want) {
		t.Errorf("Tags = %q, want %q", got.Tags, want)
	}
	if got.Inner.Wait.Std() != 2*time.Minute {
		t.Errorf("Wait = %v", got.Inner.Wait)
	}
	wantProblems(t, p.err(),
		`inner.count (USHER_INNER_COUNT): "x" is not a whole number`,
		"unknown setting USHER_SKIP")
	if s := format(reflect.ValueOf(got.Tags)); s != "a,b,c" {
		t.Errorf("format(list) = %q", s)
	}
}

func TestReflectionRejectsMistakes(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
	}{
		{"no tag", reflect.TypeFor[struct{ A string }]()},
		{"unsupported kind", reflect.TypeFor[struct {
			A float64 `yaml:"a"`
		}]()},
		{"clash with _FILE", reflect.TypeFor[struct {
			A     string `yaml:"a"`
			AFile string `yaml:"a_file"`
		}]()},
		{"reserved prefix", reflect.TypeFor[struct {
			T struct {
				X string `yaml:"x"`
			} `yaml:"test"`
		}]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("settingsOf did not panic")
				}
			}()
			settingsOf(tt.typ)
		})
	}
}

func FuzzLoadYAML(f *testing.F) {
	f.Add([]byte("issuer: https://id.example.com\ndatabase:\n  url: postgres://u:p@db/x\n  max_conns: 5\n"))
	f.Add([]byte("shutdown_timeout: 5 parsecs\nlog: {level: loud, format: xml}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("database: [1, 2]\nshutdown_timeout: {a: b}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		var p Problems
		decodeYAML(data, "fuzz.yaml", &c, &p)
		_ = c.Validate()
		_ = c.Redacted()
		_ = c.DatabaseKind()
		_ = c.SQLitePath()
		for _, s := range p.List {
			if s == "" {
				t.Error("empty problem")
			}
		}
	})
}

// testMasterKey is 32 bytes, base64-encoded.
const testMasterKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestModeAndMasterKey(t *testing.T) {
	const key = testMasterKey
	tests := []struct {
		name    string
		env     []string
		wantDev bool
		want    []string // problems
	}{
		{"localhost is development", nil, true, nil},
		{"remote issuer needs a master key", []string{"USHER_ISSUER=https://id.example.com"}, false, []string{"master_key (USHER_MASTER_KEY): required outside development mode"}},
		{"remote issuer with a master key", []string{"USHER_ISSUER=https://id.example.com", "USHER_MASTER_KEY=" + key}, false, nil},
		{"production on localhost needs a master key", []string{"USHER_MODE=production"}, false, []string{"required outside development mode"}},
		{"development mode anywhere", []string{"USHER_MODE=development", "USHER_ISSUER=https://id.example.com"}, true, nil},
		{"bad mode", []string{"USHER_MODE=staging"}, false, []string{`mode (USHER_MODE): "staging" is not one of`}},
		{"short master key", []string{"USHER_MASTER_KEY=c2hvcnQ="}, false, []string{"master_key (USHER_MASTER_KEY): a master key is 32 random bytes"}},
		{"previous without current", []string{"USHER_MASTER_KEY_PREVIOUS=" + key}, false, []string{"is only used together with master_key"}},
		{"hex master key", []string{"USHER_MASTER_KEY=" + strings.Repeat("ab", 32)}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("", tt.env)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.DevMode() != tt.wantDev {
					t.Fatalf("DevMode() = %v, want %v", c.DevMode(), tt.wantDev)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "c2hvcnQ") {
				t.Error("the error echoes the master key")
			}
		})
	}
}

func TestKeysSettings(t *testing.T) {
	c, err := Load("", []string{"USHER_KEYS_ALGORITHMS=ES256,RS256", "USHER_KEYS_ROTATION_PERIOD=30d"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Keys.Algorithms, []string{"ES256", "RS256"}) || c.Keys.RotationPeriod.Std() != 30*24*time.Hour {
		t.Fatalf("keys = %+v", c.Keys)
	}
	_, err = Load("", []string{"USHER_KEYS_ALGORITHMS=RS256,HS256,RS256", "USHER_KEYS_ROTATION_PERIOD=10m", "USHER_KEYS_MAX_TOKEN_LIFETIME=1s"})
	wantProblems(t, err, `unknown algorithm "HS256"`, "RS256 is listed twice", "keys.rotation_period (USHER_KEYS_ROTATION_PERIOD): 10m is too short", "keys.max_token_lifetime")
}

func TestRedactedHidesMasterKeys(t *testing.T) {
	c := Default()
	c.MasterKey, c.MasterKeyPrevious, c.SMTP.Password = "secret-one", "secret-two", "secret-three"
	r := c.Redacted()
	if r.MasterKey != "xxxxx" || r.MasterKeyPrevious != "xxxxx" || r.SMTP.Password != "xxxxx" || c.MasterKey != "secret-one" {
		t.Fatalf("Redacted = %q %q %q, original %q", r.MasterKey, r.MasterKeyPrevious, r.SMTP.Password, c.MasterKey)
	}
}

func TestDurationStringReadsBack(t *testing.T) {
	tests := map[time.Duration]string{
		15 * time.Second:        "15s",
		15 * time.Minute:        "15m",
		time.Hour:               "1h",
		90 * time.Minute:        "1h30m",
		24 * time.Hour:          "1d",
		90 * 24 * time.Hour:     "90d",
		36 * time.Hour:          "36h",
		1500 * time.Millisecond: "1.5s",
	}
	for d, want := range tests {
		got := Duration(d).String()
		if got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
		back, err := parseDuration(got)
		if err != nil || back.Std() != d {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", got, back, err, d)
		}
	}
}

func TestDeclaredClients(t *testing.T) {
	secret := writeFile(t, "billing-secret", strings.Repeat("s", 40)+"\n")
	path := writeFile(t, "usher.yaml", `
clients:
  - id: billing
    name: Billing
    secret_file: `+secret+`
    redirect_uris: [https://billing.example/cb]
    access_token_ttl: 10m
    first_party: false
  - id: spa
    name: SPA
    public: true
    redirect_uris: [https://spa.example/cb]
`)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Clients) != 2 || c.Clients[0].Secret != strings.Repeat("s", 40) || c.Clients[0].AccessTokenTTL.Std() != 10*time.Minute ||
		c.Clients[0].FirstParty == nil || *c.Clients[0].FirstParty || !c.Clients[1].Public || c.Clients[1].FirstParty != nil {
		t.Fatalf("clients = %+v", c.Clients)
	}
	if r := c.Redacted(); r.Clients[0].Secret != "xxxxx" || c.Clients[0].Secret == "xxxxx" {
		t.Fatal("Redacted does not hide client secrets, or changed the original")
	}
	for _, s := range Settings() {
		if strings.HasPrefix(s.Key, "clients") {
			t.Errorf("declared clients appear as a setting with an environment variable: %+v", s)
		}
	}
	bad := writeFile(t, "bad.yaml", `
clients:
  - name: No id
  - id: a
    name: A
    secret: x
    secret_file: /nonexistent
  - id: a
    name: again
  - id: b
    secret_file: /nonexistent/secret
    colour: blue
`)
	_, err = Load(bad, nil)
	wantProblems(t, err, "clients[0]: id is required", "clients[1] (a): set secret or secret_file, not both",
		`clients[2]: id "a" is used twice`, "clients[3] (b): name is required", "clients[3] (b): secret_file:", `unknown setting "colour"`)
}

func TestSessionAndTokenSettings(t *testing.T) {
	c, err := Load("", []string{"USHER_SESSIONS_IDLE_TIMEOUT=12h", "USHER_SESSIONS_MAX_LIFETIME=2d", "USHER_TOKENS_REFRESH_REUSE_GRACE=0s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sessions.IdleTimeout.Std() != 12*time.Hour || c.Sessions.MaxLifetime.Std() != 48*time.Hour || c.Tokens.RefreshReuseGrace != 0 {
		t.Fatalf("sessions %+v tokens %+v", c.Sessions, c.Tokens)
	}
	_, err = Load("", []string{"USHER_SESSIONS_IDLE_TIMEOUT=2d", "USHER_SESSIONS_MAX_LIFETIME=1d", "USHER_TOKENS_REFRESH_REUSE_GRACE=2m"})
	wantProblems(t, err, "sessions.max_lifetime (USHER_SESSIONS_MAX_LIFETIME): 1d must be at least sessions.idle_timeout",
		"tokens.refresh_reuse_grace (USHER_TOKENS_REFRESH_REUSE_GRACE): 2m is not from 0s to 1m")
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load("", []string{"USHER_TRUSTED_PROXIES=10.0.0.0/8,192.168.1.7,fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.TrustedProxyPrefixes()
	if err != nil || len(p) != 3 || p[1].String() != "192.168.1.7/32" {
		t.Fatalf("prefixes = %v, %v", p, err)
	}
	_, err = Load("", []string{"USHER_TRUSTED_PROXIES=10.0.0.0/8,lb.internal"})
	wantProblems(t, err, `trusted_proxies (USHER_TRUSTED_PROXIES): "lb.internal" is not an address or CIDR range`)
}

func TestDeclaredTemplates(t *testing.T) {
	path := writeFile(t, "usher.yaml", `
templates:
  - name: hasura
    preset: hasura
    lifetime: 2m
  - name: db
    claims:
      role: authenticated
      tags: ["{{user.public_metadata.tags}}"]
    allowed_clock_skew: 10s
    signing_algorithm: ES256
`)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Templates) != 2 || c.Templates[0].Preset != "hasura" || c.Templates[0].Lifetime.Std() != 2*time.Minute ||
		c.Templates[1].Claims["role"] != "authenticated" || c.Templates[1].AllowedClockSkew.Std() != 10*time.Second {
		t.Fatalf("templates %+v", c.Templates)
	}
	bad := writeFile(t, "bad.yaml", `
templates:
  - name: a
    preset: hasura
    claims: {x: 1}
  - name: a
  - preset: fauna
  - name: b
    preset: supabase
    hs256_secret_file: /s
    rs256_key_file: /k
`)
	_, err = Load(bad, nil)
	wantProblems(t, err,
		"templates[0] (a): give claims or a preset, not both or neither",
		`templates[1]: name "a" is used twice`,
		"templates[1] (a): give claims or a preset, not both or neither",
		"templates[2]: name is required",
		"templates[3] (b): give one of hs256_secret_file and rs256_key_file")
}

func TestDeclaredConnections(t *testing.T) {
	secret := writeFile(t, "okta-secret", "an okta client secret\n")
	path := writeFile(t, "usher.yaml", `
connections:
  - slug: okta
    type: oidc
    display_name: Acme SSO
    client_id: usher
    client_secret_file: `+secret+`
    issuer: https://acme.okta.com
    scopes: [openid, email]
    email_domains: [acme.com, acme.co.uk]
    allow_sign_up: false
    trust_email_verified: true
  - slug: github
    type: github
    client_id: gh
    client_secret: a github secret
    enabled: false
  - slug: adfs
    type: saml
    saml_metadata_url: https://adfs.acme.com/FederationMetadata/2007-06/FederationMetadata.xml
    store_tokens: true
`)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Connections) != 3 {
		t.Fatalf("connections %+v", c.Connections)
	}
	okta, gh, adfs := c.Connections[0], c.Connections[1], c.Connections[2]
	if okta.ClientSecret != "an okta client secret" || okta.Issuer != "https://acme.okta.com" || len(okta.EmailDomains) != 2 ||
		okta.AllowSignUp == nil || *okta.AllowSignUp || !okta.TrustEmailVerified || okta.Enabled != nil || len(okta.Scopes) != 2 {
		t.Fatalf("okta %+v", okta)
	}
	if gh.ClientSecret != "a github secret" || gh.Enabled == nil || *gh.Enabled || gh.AllowSignUp != nil {
		t.Fatalf("github %+v", gh)
	}
	if adfs.Type != "saml" || adfs.SAMLMetadataURL == "" || !adfs.StoreTokens {
		t.Fatalf("adfs %+v", adfs)
	}
	r := c.Redacted()
	if r.Connections[0].ClientSecret != "xxxxx" || r.Connections[1].ClientSecret != "xxxxx" || r.Connections[2].ClientSecret != "" ||
		c.Connections[0].ClientSecret == "xxxxx" {
		t.Fatal("Redacted does not hide connection secrets, or changed the original")
	}
	for _, s := range Settings() {
		if strings.HasPrefix(s.Key, "connections") {
			t.Errorf("declared connections appear as a setting with an environment variable: %+v", s)
		}
	}
	bad := writeFile(t, "bad.yaml", `
connections:
  - type: github
  - slug: a
    type: oidc
    client_secret: x
    client_secret_file: /nonexistent
  - slug: a
    type: github
  - slug: b
    type: oidc
    client_secret_file: /nonexistent/secret
  - slug: c
    type: saml
    saml_metadata_url: https://idp.example/metadata
    saml_metadata_file: /metadata.xml
    colour: blue
`)
	_, err = Load(bad, nil)
	wantProblems(t, err,
		"connections[0]: slug is required",
		"connections[1] (a): set client_secret or client_secret_file, not both",
		`connections[2]: slug "a" is used twice`,
		"connections[3] (b): client_secret_file:",
		"connections[4] (c): set saml_metadata_url or saml_metadata_file, not both",
		`unknown setting "colour"`)
}
