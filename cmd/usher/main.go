// Command usher runs the Usher identity server and its operator tasks:
// serve, migrate, version. It is the only package that knows every other
// one, and wires them together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// exitUsage is the exit code for a command line that could not be parsed.
const exitUsage = 2

const usageText = `Usher is a self-hosted OpenID Connect identity provider.

Usage:
  usher serve [--config FILE]            run the server
  usher migrate up|status [--config FILE] apply or show database migrations
  usher keys list                        list signing keys (never private parts)
  usher keys rotate [--alg ALG] [--immediately]
                                         start a key rotation
  usher keys retire KID                  stop signing with a key
  usher keys rewrap                      re-seal secrets under a new master key
  usher users create --email E --password P [--name N] [--email-verified]
                                         create a user (prints it as JSON)
  usher users update USER_ID [--public-metadata JSON] [--private-metadata JSON]
      [--unsafe-metadata JSON] [--replace-{public,private,unsafe}-metadata JSON]
                                         deep-merge (null deletes a key) into or
                                         replace a user's metadata (prints the user)
  usher users consents USER_ID           list the apps a user allowed
  usher users revoke-consent USER_ID CLIENT_ID
                                         withdraw a consent and its tokens
  usher users unlock USER_ID             lift a lockout
  usher clients create --name N --redirect-uri URI [...]
                                         register an app (prints client_id and,
                                         once, client_secret)
  usher clients list | get ID | update ID [...] | delete ID | rotate-secret ID
  usher templates create --name N (--claims-file F | --preset P) [...]
                                         add a JWT template (see usher templates)
  usher templates list | get NAME | update NAME [...] | delete NAME
  usher templates preview NAME --user ID render a template for a user
  usher templates presets [NAME]         the built-in templates and their set-up
  usher connections create --slug S --type github|google|oidc|saml [...]
                                         add an upstream identity provider
                                         (see usher connections)
  usher connections list | get SLUG | update SLUG [...] | delete SLUG
  usher config [--config FILE]           print the settings in effect (secrets hidden)
  usher version                          print the version
  usher help                             show this text

Settings come from defaults, then the YAML file named by --config, then
USHER_* environment variables (USHER_*_FILE reads a value from a file).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command line that does not parse; it exits with 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run executes one command and returns the process exit code. Every failure
// is printed as one "usher: ..." line on stderr.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, environ, stdout, stderr)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "usher: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'usher help' for usage.")
		return exitUsage
	}
	return 1
}

func dispatch(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return &usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCommand(ctx, rest, environ, stdout, stderr)
	case "migrate":
		return migrateCommand(ctx, rest, environ, stdout, stderr)
	case "keys":
		return keysCommand(ctx, rest, environ, stdout, stderr)
	case "config":
		return configCommand(ctx, rest, environ, stdout, stderr)
	case "users":
		return usersCommand(ctx, rest, environ, stdout, stderr)
	case "clients":
		return clientsCommand(ctx, rest, environ, stdout, stderr)
	case "templates":
		return templatesCommand(ctx, rest, environ, stdout, stderr)
	case "connections":
		return connectionsCommand(ctx, rest, environ, stdout, stderr)
	case "version", "--version":
		if len(rest) > 0 {
			return &usageError{"version takes no arguments"}
		}
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	default:
		return &usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// parseFlags parses a subcommand's flags, allowing them before or after its
// positional arguments, and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	fs.SetOutput(stderr)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
