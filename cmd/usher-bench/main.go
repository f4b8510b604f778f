// Command usher-bench puts load on an Usher running on this machine and
// prints, per scenario, how many requests it answered per second and how
// long they took (p50, p99 and the slowest one).
//
// It only ever talks to loopback addresses, and every scenario stops by
// itself at --duration or --requests, whichever comes first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// exitUsage is the exit code for a command line that cannot be used.
const exitUsage = 2

// Bounds on one run, so that no command line makes an unbounded load.
const (
	defaultDuration = 10 * time.Second
	maxDuration     = 5 * time.Minute
	maxRequests     = 1_000_000
	maxConcurrency  = 256
)

const usageText = `usher-bench drives an Usher running on this machine and prints req/s, p50,
p99 and max latency per scenario.

Usage:
  usher-bench [--url http://127.0.0.1:8080] [--scenarios all|LIST] [--duration 10s]
              [--requests N] [--concurrency 8] [--server-pid PID]
              [--client-id ID --client-secret S]
              [--app-client-id ID --app-client-secret S --app-redirect-uri URI
               --user-email E --user-password P]

Scenarios:
  discovery           GET /.well-known/openid-configuration
  jwks                GET the jwks_uri
  client_credentials  POST the token endpoint, grant client_credentials
                      (needs --client-id, --client-secret)
  introspect          POST the introspection endpoint with one access token
                      (needs --client-id, --client-secret)
  refresh             each worker signs in once, then refreshes its own token
                      chain, always with the newest refresh token
                      (needs the --app-* and --user-* flags)
  sso                 each worker signs in once, then loops: authorize (PKCE
                      S256) with its session, follow Usher's redirects, take
                      the code from the redirect to the app, exchange it;
                      one loop is one op (needs the --app-* and --user-* flags)
"all" (the default) runs every scenario whose flags are given.

Each scenario runs until --duration (at most 5m) or --requests (at most
1000000) is reached, whichever comes first. The target must be a loopback
address (127.0.0.0/8, ::1 or localhost), and so must the issuer it reports.
The redirect URI is never contacted: the code is read from Usher's redirect.

With --server-pid (Linux), two more columns: server_cpu, the share of one
core the server used during the scenario, and req/s/core, the rate one
fully used core would serve at the CPU cost per operation measured. Pin the
server to one core and the load to another to measure per-core figures:

  taskset -c 0 usher serve &
  taskset -c 1 usher-bench --server-pid $! ...

Create what the scenarios need with the usher command, on the server's
database (same USHER_DATABASE_URL or --config as "usher serve"):

  usher users create --email bench@example.com --password 'bench password 1' --email-verified
  usher clients create --name "bench service" --grant client_credentials
      -> --client-id and --client-secret
  usher clients create --name "bench app" --redirect-uri http://127.0.0.1:9/callback
      -> --app-client-id and --app-client-secret (with --app-redirect-uri
         http://127.0.0.1:9/callback, --user-email bench@example.com and
         --user-password 'bench password 1')

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command line that cannot be used; it exits with 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// options is a parsed and checked command line.
type options struct {
	url          string
	scenarios    []string
	duration     time.Duration
	requests     int
	concurrency  int
	clientID     string
	clientSecret string
	appID        string
	appSecret    string
	appRedirect  string
	userEmail    string
	userPassword string
	serverPID    int
}

// run executes the command line and returns the exit code. Every failure
// is one "usher-bench: ..." line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = bench(ctx, opts, stdout, stderr)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "usher-bench: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return 1
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("usher-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the Usher to drive: its base `URL`, on a loopback address")
	list := fs.String("scenarios", "all", "comma-separated `scenarios` to run, or all")
	fs.DurationVar(&o.duration, "duration", defaultDuration, "how long each scenario runs at most (at most 5m)")
	fs.IntVar(&o.requests, "requests", 0, "how many operations each scenario runs at most (0: no limit but 1000000)")
	fs.IntVar(&o.concurrency, "concurrency", 8, "concurrent `workers` per scenario (at most 256)")
	fs.StringVar(&o.clientID, "client-id", "", "a confidential client allowed client_credentials (client_credentials, introspect)")
	fs.StringVar(&o.clientSecret, "client-secret", "", "its `secret`")
	fs.StringVar(&o.appID, "app-client-id", "", "a confidential client with authorization_code and refresh_token (refresh, sso)")
	fs.StringVar(&o.appSecret, "app-client-secret", "", "its `secret`")
	fs.StringVar(&o.appRedirect, "app-redirect-uri", "", "one of its redirect `URI`s (never contacted)")
	fs.StringVar(&o.userEmail, "user-email", "", "the `email` of a user who can sign in with a password (refresh, sso)")
	fs.StringVar(&o.userPassword, "user-password", "", "the user's `password`")
	fs.IntVar(&o.serverPID, "server-pid", 0, "the server's process `id`: adds its CPU use and the req/s one core of it serves (Linux)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return o, &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if err := checkLoopbackURL(o.url); err != nil {
		return o, &usageError{err.Error()}
	}
	o.url = strings.TrimRight(o.url, "/")
	switch {
	case o.duration <= 0 || o.duration > maxDuration:
		return o, &usageError{fmt.Sprintf("--duration must be more than 0 and at most %s", maxDuration)}
	case o.requests < 0 || o.requests > maxRequests:
		return o, &usageError{fmt.Sprintf("--requests must be 0 (no limit but %d) to %d", maxRequests, maxRequests)}
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return o, &usageError{fmt.Sprintf("--concurrency must be 1 to %d", maxConcurrency)}
	case o.serverPID < 0:
		return o, &usageError{"--server-pid must be a process id"}
	}
	if o.requests == 0 {
		o.requests = maxRequests
	}
	var err error
	o.scenarios, err = o.pickScenarios(*list, stderr)
	return o, err
}

// scenarioNames lists every scenario in the order "all" runs them.
var scenarioNames = []string{"discovery", "jwks", "client_credentials", "introspect", "refresh", "sso"}

// missing names the flags a scenario needs that were not given.
func (o *options) missing(name string) []string {
	var need []string
	check := func(v, flag string) {
		if v == "" {
			need = append(need, "--"+flag)
		}
	}
	switch name {
	case "client_credentials", "introspect":
		check(o.clientID, "client-id")
		check(o.clientSecret, "client-secret")
	case "refresh", "sso":
		check(o.appID, "app-client-id")
		check(o.appSecret, "app-client-secret")
		check(o.appRedirect, "app-redirect-uri")
		check(o.userEmail, "user-email")
		check(o.userPassword, "user-password")
	}
	return need
}

func (o *options) pickScenarios(list string, stderr io.Writer) ([]string, error) {
	if list == "all" {
		var out []string
		for _, name := range scenarioNames {
			if need := o.missing(name); len(need) > 0 {
				fmt.Fprintf(stderr, "usher-bench: skipping %s: it needs %s\n", name, strings.Join(need, ", "))
				continue
			}
			out = append(out, name)
		}
		return out, nil
	}
	var out []string
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case !slices.Contains(scenarioNames, name):
			return nil, &usageError{fmt.Sprintf("unknown scenario %q; choose from %s", name, strings.Join(scenarioNames, ", "))}
		case slices.Contains(out, name):
			continue
		}
		if need := o.missing(name); len(need) > 0 {
			return nil, &usageError{fmt.Sprintf("scenario %s needs %s", name, strings.Join(need, ", "))}
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, &usageError{"--scenarios names no scenario"}
	}
	return out, nil
}
