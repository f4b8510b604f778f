package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

func TestCheckLoopbackURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.0.0.1", true},
		{"https://127.0.0.1:8443/", true},
		{"http://127.1.2.3:8080", true},
		{"http://127.255.255.254:80", true},
		{"http://localhost:8080", true},
		{"http://LOCALHOST:8080", true},
		{"http://[::1]:8080", true},
		{"http://[::ffff:127.0.0.1]:8080", true},
		{"http://10.0.0.1:8080", false},
		{"http://192.168.1.10:8080", false},
		{"http://172.16.0.1", false},
		{"http://8.8.8.8", false},
		{"http://0.0.0.0:8080", false},
		{"http://[::]:8080", false},
		{"http://[fe80::1%25lo]:8080", false},
		{"http://128.0.0.1", false},
		{"http://127.1", false}, // not an address Go parses; a resolver might send it anywhere
		{"http://example.com", false},
		{"http://localhost.example.com", false},
		{"http://127.0.0.1.nip.io", false},
		{"http://app.localhost", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
		{"", false},
		{"http://", false},
	} {
		err := checkLoopbackURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopbackURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
	}
}

func TestCommandLineErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"private address", []string{"--url", "http://10.1.2.3:8080"}, "only targets this machine"},
		{"public name", []string{"--url", "https://auth.example.com"}, "only targets this machine"},
		{"duration too long", []string{"--duration", "6m"}, "--duration"},
		{"duration zero", []string{"--duration", "0s"}, "--duration"},
		{"too many requests", []string{"--requests", "1000001"}, "--requests"},
		{"no workers", []string{"--concurrency", "0"}, "--concurrency"},
		{"too many workers", []string{"--concurrency", "1000"}, "--concurrency"},
		{"unknown scenario", []string{"--scenarios", "discovery,nope"}, "unknown scenario"},
		{"missing credentials", []string{"--scenarios", "client_credentials"}, "--client-id, --client-secret"},
		{"missing user", []string{"--scenarios", "sso", "--app-client-id", "a", "--app-client-secret", "b", "--app-redirect-uri", "http://127.0.0.1:9/cb"}, "--user-email, --user-password"},
		{"argument", []string{"extra"}, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stdout, &stderr)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitUsage, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "usher-bench: ") || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr = %q, want one usher-bench line about %q", stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p50, p99, p100 := percentile(d, 0.5), percentile(d, 0.99), percentile(d, 1); p50 != 50 || p99 != 99 || p100 != 100 {
		t.Fatalf("p50 %d p99 %d p100 %d", p50, p99, p100)
	}
	if got := percentile(d[:1], 0.99); got != 1 {
		t.Fatalf("p99 of one = %d", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Fatalf("p50 of none = %d", got)
	}
}

func TestReservoirKeepsMemoryBounded(t *testing.T) {
	r := recorder{limit: 10}
	for i := range 1000 {
		r.add(time.Duration(i))
	}
	if len(r.samples) != 10 || r.ops != 1000 || r.max != 999 {
		t.Fatalf("samples %d ops %d max %d", len(r.samples), r.ops, r.max)
	}
}

// benchUsher is an Usher in this process on 127.0.0.1, with what every
// scenario needs.
type benchUsher struct {
	url                  string
	ccID, ccSecret       string
	appID, appSecret     string
	userEmail, userPassw string
}

const benchRedirect = "http://127.0.0.1:9/callback"

func startUsher(t *testing.T) *benchUsher {
	t.Helper()
	ctx := context.Background()
	// With the hosted pages, as "usher serve" runs.
	usher := ushertest.Start(t, ushertest.Options{Keys: keys.Options{Algorithms: []string{"ES256"}},
		Mail: mail.NewMailbox(slog.New(slog.DiscardHandler))})
	us, cs := usher.Users, usher.Clients
	var err error

	u := &benchUsher{url: usher.URL, userEmail: "bench@example.com", userPassw: "bench password 1"}
	if _, err := us.Create(ctx, users.NewUser{Email: u.userEmail, Password: u.userPassw, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	cc := &storage.Client{Name: "bench service", GrantTypes: []string{clients.GrantClientCredentials}}
	if u.ccSecret, err = cs.Create(ctx, cc, false); err != nil {
		t.Fatal(err)
	}
	app := &storage.Client{Name: "bench app", RedirectURIs: []string{benchRedirect}}
	if u.appSecret, err = cs.Create(ctx, app, false); err != nil {
		t.Fatal(err)
	}
	u.ccID, u.appID = cc.ID, app.ID
	return u
}

func (u *benchUsher) args(extra ...string) []string {
	return append([]string{"--url", u.url, "--client-id", u.ccID, "--client-secret", u.ccSecret,
		"--app-client-id", u.appID, "--app-client-secret", u.appSecret, "--app-redirect-uri", benchRedirect,
		"--user-email", u.userEmail, "--user-password", u.userPassw}, extra...)
}

// Every scenario runs against a real Usher, stops by itself, and counts
// operations and no errors.
func TestScenariosAgainstUsher(t *testing.T) {
	u := startUsher(t)
	var stdout, stderr bytes.Buffer
	// The server runs in this process, so --server-pid is this process.
	code := run(t.Context(), u.args("--duration", "300ms", "--concurrency", "2", "--server-pid", strconv.Itoa(os.Getpid())), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	rows := parseTable(t, stdout.String())
	for _, name := range scenarioNames {
		row, ok := rows[name]
		if !ok {
			t.Errorf("no line for %s in\n%s", name, stdout.String())
			continue
		}
		if row.ops == 0 || row.errors != 0 {
			t.Errorf("%s: ops %d errors %d, want some ops and no errors\n%s", name, row.ops, row.errors, stderr.String())
		}
		if !strings.HasSuffix(row.serverCPU, "%") {
			t.Errorf("%s: server_cpu %q, want a percentage", name, row.serverCPU)
		}
	}
}

// --requests stops a scenario after that many operations.
func TestRequestsLimit(t *testing.T) {
	u := startUsher(t)
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), u.args("--scenarios", "discovery,refresh", "--requests", "7", "--concurrency", "3"), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for name, row := range parseTable(t, stdout.String()) {
		if row.ops != 7 {
			t.Errorf("%s: %d ops, want 7", name, row.ops)
		}
	}
}

// A wrong password fails the setup with a clear reason and exit 1.
func TestWrongPassword(t *testing.T) {
	u := startUsher(t)
	u.userPassw = "not the password"
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), u.args("--scenarios", "sso", "--duration", "100ms"), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "refused the sign-in") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

type row struct {
	ops, errors int64
	serverCPU   string // "" without --server-pid
}

func parseTable(t *testing.T, out string) map[string]row {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	head := strings.Join(strings.Fields(lines[0]), " ")
	if len(lines) < 2 || !strings.HasPrefix(head, "scenario ops req/s p50 p99 max errors") {
		t.Fatalf("no table in %q", out)
	}
	cols := len(strings.Fields(head))
	rows := map[string]row{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != cols {
			t.Fatalf("line %q has %d fields, the header %d", l, len(f), cols)
		}
		ops, err1 := strconv.ParseInt(f[1], 10, 64)
		errs, err2 := strconv.ParseInt(f[6], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("line %q: %v %v", l, err1, err2)
		}
		r := row{ops: ops, errors: errs}
		if cols > 7 {
			r.serverCPU = f[7]
		}
		rows[f[0]] = r
	}
	return rows
}
