package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

// stdin is where --password-stdin reads; tests replace it.
var stdin io.Reader = os.Stdin

const usersUsage = `usage: usher users create --email E (--password P | --password-stdin) [--name "First Last"] [--first-name F] [--last-name L] [--username U] [--email-verified]
       usher users update USER_ID [--public-metadata JSON] [--private-metadata JSON] [--unsafe-metadata JSON]
                  [--replace-public-metadata JSON] [--replace-private-metadata JSON] [--replace-unsafe-metadata JSON]
       usher users consents USER_ID
       usher users revoke-consent USER_ID CLIENT_ID
       usher users unlock USER_ID
each with [--config FILE]`

func usersCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("usher users", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	email := fs.String("email", "", "the user's email `address` (required)")
	password := fs.String("password", "", "the user's `password` (visible to other local users; prefer --password-stdin)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	name := fs.String("name", "", "the user's full `name`, split at the first space into first and last name")
	first := fs.String("first-name", "", "the user's first `name`")
	last := fs.String("last-name", "", "the user's last `name`")
	username := fs.String("username", "", "an optional `username`")
	verified := fs.Bool("email-verified", false, "mark the email address as verified")
	metadata := metadataFlags(fs)
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	var misplaced error
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		action := "create"
		if _, ok := metadata[f.Name]; ok {
			action = "update"
		}
		if len(pos) > 0 && pos[0] != action && f.Name != "config" && misplaced == nil {
			misplaced = &usageError{fmt.Sprintf("users %s: --%s only goes with users %s", pos[0], f.Name, action)}
		}
	})
	if misplaced != nil {
		return misplaced
	}
	switch {
	case len(pos) == 2 && pos[0] == "update":
		return updateUser(ctx, *cfgPath, environ, pos[1], metadata, set, stdout)
	case len(pos) == 2 && pos[0] == "consents":
		return listConsents(ctx, *cfgPath, environ, pos[1], stdout)
	case len(pos) == 3 && pos[0] == "revoke-consent":
		return revokeConsent(ctx, *cfgPath, environ, pos[1], pos[2], stdout)
	case len(pos) == 2 && pos[0] == "unlock":
		return unlockUser(ctx, *cfgPath, environ, pos[1], stdout)
	case len(pos) != 1 || pos[0] != "create":
		return &usageError{usersUsage}
	}
	switch {
	case !set["email"]:
		return &usageError{"users create: --email is required"}
	case set["password"] == *passwordStdin:
		return &usageError{"users create: give exactly one of --password and --password-stdin"}
	case set["name"] && (set["first-name"] || set["last-name"]):
		return &usageError{"users create: give --name or --first-name/--last-name, not both"}
	}
	nu := users.NewUser{Email: *email, Password: *password, FirstName: *first, LastName: *last, Username: *username, EmailVerified: *verified}
	if set["name"] {
		nu.FirstName, nu.LastName, _ = strings.Cut(strings.TrimSpace(*name), " ")
	}
	if *passwordStdin {
		if nu.Password, err = readPassword(stdin); err != nil {
			return err
		}
	}
	// Catch bad input before touching the database.
	if _, err := users.ValidateEmail(nu.Email); err != nil {
		return err
	}
	if err := users.ValidatePassword(nu.Password); err != nil {
		return err
	}

	db, svc, err := openUsers(ctx, *cfgPath, environ)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := svc.Create(ctx, nu)
	switch {
	case errors.Is(err, users.ErrEmailTaken):
		return errors.New("a user with that email already exists")
	case errors.Is(err, users.ErrUsernameTaken):
		return errors.New("a user with that username already exists")
	case err != nil:
		return err
	}
	out, err := json.MarshalIndent(users.NewPublic(u, time.Now()), "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// metadataFlags defines the flags of "usher users update", by flag name:
// --public-metadata and the like merge, --replace-public-metadata and the
// like replace.
func metadataFlags(fs *flag.FlagSet) map[string]*string {
	flags := map[string]*string{}
	for _, field := range []string{"public", "private", "unsafe"} {
		name := field + "-metadata"
		flags[name] = fs.String(name, "", "a JSON `object` to deep-merge into the user's "+field+" metadata (null deletes a key)")
		flags["replace-"+name] = fs.String("replace-"+name, "", "a JSON `object` to replace the user's "+field+" metadata with")
	}
	return flags
}

// updateUser merges into or replaces the user's metadata, as the flags
// given (set) say, in one transaction, and prints the user as JSON.
func updateUser(ctx context.Context, cfgPath string, environ []string, userID string, values map[string]*string, set map[string]bool, stdout io.Writer) error {
	var m users.MetadataUpdate
	flagOf := map[string]string{} // ValidationError.Field to the flag that gave it
	given := false
	for _, f := range []struct {
		name    string
		value   *json.RawMessage
		replace *bool
	}{
		{"public", &m.Public, &m.ReplacePublic},
		{"private", &m.Private, &m.ReplacePrivate},
		{"unsafe", &m.Unsafe, &m.ReplaceUnsafe},
	} {
		name := f.name + "-metadata"
		if set[name] && set["replace-"+name] {
			return &usageError{fmt.Sprintf("users update: give --%s or --replace-%s, not both", name, name)}
		}
		if set["replace-"+name] {
			name, *f.replace = "replace-"+name, true
		} else if !set[name] {
			continue
		}
		given = true
		v, err := metadataValue(name, *values[name])
		if err != nil {
			return err
		}
		*f.value = v
		flagOf[f.name+"_metadata"] = name
	}
	if !given {
		return &usageError{"users update: give at least one of --public-metadata, --private-metadata, --unsafe-metadata and their --replace- forms"}
	}

	db, svc, err := openUsers(ctx, cfgPath, environ)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := svc.UpdateMetadata(ctx, userID, m)
	var ve *users.ValidationError
	switch {
	case errors.Is(err, users.ErrNotFound):
		return fmt.Errorf("no user %s", userID)
	case errors.As(err, &ve) && flagOf[ve.Field] != "":
		return fmt.Errorf("--%s: %s", flagOf[ve.Field], ve.Message)
	case err != nil:
		return err
	}
	out, err := json.MarshalIndent(users.NewPublic(u, time.Now()), "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// metadataValue checks that the value of the named flag is a JSON object.
func metadataValue(flagName, value string) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		return nil, fmt.Errorf("--%s: not valid JSON: %v", flagName, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf(`--%s: give a JSON object, like '{"key": "value"}'`, flagName)
	}
	return json.RawMessage(value), nil
}

// consentView is a consent as "usher users consents" prints it.
type consentView struct {
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Scopes     []string  `json:"scopes"`
	GrantedAt  time.Time `json:"granted_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// listConsents prints the third-party clients the user allowed, newest
// first, as a JSON array.
func listConsents(ctx context.Context, cfgPath string, environ []string, userID string, stdout io.Writer) error {
	db, err := openForUser(ctx, cfgPath, environ, userID)
	if err != nil {
		return err
	}
	defer db.Close()
	consents, err := db.ListUserConsents(ctx, userID)
	if err != nil {
		return err
	}
	views := make([]consentView, 0, len(consents))
	for _, c := range consents {
		v := consentView{ClientID: c.ClientID, Scopes: c.Scopes, GrantedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
		if cl, err := db.GetClient(ctx, c.ClientID); err == nil {
			v.ClientName = cl.Name
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		views = append(views, v)
	}
	out, err := json.MarshalIndent(views, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// revokeConsent withdraws the user's consent to the client and revokes the
// client's tokens for that user.
func revokeConsent(ctx context.Context, cfgPath string, environ []string, userID, clientID string, stdout io.Writer) error {
	db, err := openForUser(ctx, cfgPath, environ, userID)
	if err != nil {
		return err
	}
	defer db.Close()
	err = provider.RevokeConsent(ctx, db, userID, clientID, time.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("user %s has not consented to client %s", userID, clientID)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "revoked the consent of user %s to client %s, and the client's tokens for that user\n", userID, clientID)
	return err
}

// unlockUser lifts the user's lockout, if any, and clears the count of
// failed attempts.
func unlockUser(ctx context.Context, cfgPath string, environ []string, userID string, stdout io.Writer) error {
	db, svc, err := openUsers(ctx, cfgPath, environ)
	if err != nil {
		return err
	}
	defer db.Close()
	until, locked, err := svc.CheckLocked(ctx, userID)
	if err == nil {
		err = svc.Unlock(ctx, userID)
	}
	if errors.Is(err, users.ErrNotFound) {
		return fmt.Errorf("no user %s", userID)
	}
	if err != nil {
		return err
	}
	switch {
	case !locked:
		_, err = fmt.Fprintf(stdout, "user %s was not locked; cleared its count of failed attempts\n", userID)
	case !until.Before(users.LockedIndefinitely):
		_, err = fmt.Fprintf(stdout, "unlocked user %s (locked until an operator unlocked it)\n", userID)
	default:
		_, err = fmt.Fprintf(stdout, "unlocked user %s (locked until %s)\n", userID, until.UTC().Format(time.RFC3339))
	}
	return err
}

// openForUser opens the database and checks that the user exists, so a
// mistyped ID is reported as such rather than as an empty list.
func openForUser(ctx context.Context, cfgPath string, environ []string, userID string) (storage.Storage, error) {
	db, _, err := openUsers(ctx, cfgPath, environ)
	if err != nil {
		return nil, err
	}
	if _, err := db.GetUser(ctx, userID); err != nil {
		db.Close()
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("no user %s", userID)
		}
		return nil, err
	}
	return db, nil
}

// openUsers loads the configuration and opens the database and the
// accounts service with the server's password cost and lockout.
func openUsers(ctx context.Context, cfgPath string, environ []string) (storage.Storage, *users.Service, error) {
	cfg, err := config.Load(cfgPath, environ)
	if err != nil {
		return nil, nil, err
	}
	db, err := openStorage(ctx, cfg, cfg.Database.MigrateOnStart)
	if err != nil {
		return nil, nil, err
	}
	return db, userService(cfg, db), nil
}

// readPassword reads a password from r: everything up to the end, less one
// trailing line break.
func readPassword(r io.Reader) (string, error) {
	const limit = 4096
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	if len(b) > limit {
		return "", fmt.Errorf("the password on standard input is longer than %d bytes", limit)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return string(b), nil
}
