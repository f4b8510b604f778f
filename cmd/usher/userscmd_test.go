package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usher-id/usher/storage/sqlite"
	"github.com/usher-id/usher/users"
)

func usersEnv(t *testing.T) []string {
	return testEnv("USHER_DATABASE_URL=" + filepath.Join(t.TempDir(), "usher.db"))
}

// createdUser decodes what users create printed.
func createdUser(t *testing.T, out string) map[string]any {
	t.Helper()
	var u map[string]any
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatalf("users create printed %q: %v", out, err)
	}
	return u
}

func TestUsersCreate(t *testing.T) {
	env := usersEnv(t)
	code, out, errOut := runCmd(t, env, "users", "create", "--email", "ada@example.com", "--password", "analytical engine",
		"--name", "Ada King Lovelace", "--username", "ada_l", "--email-verified")
	if code != 0 {
		t.Fatalf("users create: exit %d, %q", code, errOut)
	}
	if !strings.Contains(out, "\n  \"id\": ") {
		t.Errorf("output is not indented JSON: %s", out)
	}
	u := createdUser(t, out)
	id, _ := u["id"].(string)
	emails, _ := u["email_addresses"].([]any)
	if !strings.HasPrefix(id, "user_") || len(emails) != 1 || u["first_name"] != "Ada" || u["last_name"] != "King Lovelace" || u["username"] != "ada_l" {
		t.Fatalf("created %s", out)
	}
	e := emails[0].(map[string]any)
	if e["email_address"] != "ada@example.com" || e["verification"].(map[string]any)["status"] != "verified" {
		t.Fatalf("email %v", e)
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "analytical engine") {
		t.Fatalf("output leaks the password or its hash: %s", out)
	}

	code, out, errOut = runCmd(t, env, "users", "create", "--email", "ADA@Example.COM", "--password", "another password")
	if code != 1 || out != "" || errOut != "usher: a user with that email already exists\n" {
		t.Fatalf("second create with the same email: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runCmd(t, env, "users", "create", "--email", "bob@example.com", "--password", "another password", "--username", "ADA_L")
	if code != 1 || errOut != "usher: a user with that username already exists\n" {
		t.Fatalf("create with a taken username: exit %d, stderr %q", code, errOut)
	}
}

func TestUsersCreateRejectsBadInput(t *testing.T) {
	env := usersEnv(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"short password", []string{"--email", "ada@example.com", "--password", "1234567"}, "usher: password: use at least 8 characters\n"},
		{"bad email", []string{"--email", "Ada <ada@example.com>", "--password", "analytical engine"}, "usher: email: enter an address like name@example.com\n"},
		{"bad username", []string{"--email", "ada@example.com", "--password", "analytical engine", "--username", "a b"}, "usher: username: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, env, append([]string{"users", "create"}, tt.args...)...)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, tt.wantErr) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and one line %q", code, out, errOut, tt.wantErr)
			}
		})
	}
}

func TestUsersUsage(t *testing.T) {
	env := usersEnv(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no action", []string{"users"}, "usher users create"},
		{"unknown action", []string{"users", "delete"}, "usher users create"},
		{"extra argument", []string{"users", "create", "extra", "--email", "a@example.com", "--password", "12345678"}, "usher users create"},
		{"no email", []string{"users", "create", "--password", "12345678"}, "--email is required"},
		{"no password", []string{"users", "create", "--email", "a@example.com"}, "exactly one of --password and --password-stdin"},
		{"both passwords", []string{"users", "create", "--email", "a@example.com", "--password", "12345678", "--password-stdin"}, "exactly one of --password and --password-stdin"},
		{"name twice", []string{"users", "create", "--email", "a@example.com", "--password", "12345678", "--name", "A B", "--first-name", "A"}, "not both"},
		{"unknown flag", []string{"users", "create", "--emial", "a@example.com"}, "flag provided but not defined: -emial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, env, tt.args...)
			if code != 2 || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, errOut, tt.wantErr)
			}
		})
	}
}

func TestUsersCreatePasswordStdin(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "usher.db")
	env := testEnv("USHER_DATABASE_URL=" + dbPath)
	prev := stdin
	t.Cleanup(func() { stdin = prev })

	stdin = strings.NewReader("short\n")
	code, _, errOut := runCmd(t, env, "users", "create", "--email", "ada@example.com", "--password-stdin")
	if code != 1 || errOut != "usher: password: use at least 8 characters\n" {
		t.Fatalf("short password on stdin: exit %d, %q", code, errOut)
	}

	stdin = strings.NewReader("analytical engine\r\n")
	code, out, errOut := runCmd(t, env, "users", "create", "--password-stdin", "--email", "ada@example.com", "--first-name", "Ada")
	if code != 0 {
		t.Fatalf("users create --password-stdin: exit %d, %q", code, errOut)
	}
	if u := createdUser(t, out); !strings.HasPrefix(u["id"].(string), "user_") || u["first_name"] != "Ada" || u["last_name"] != nil {
		t.Fatalf("created %s", out)
	}

	// The line break ending the input is not part of the password.
	db, err := sqlite.Open(t.Context(), dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := users.NewService(db, users.NewHasher(users.DefaultParams(), 1), time.Now)
	if _, err := svc.Authenticate(t.Context(), "ada@example.com", "analytical engine"); err != nil {
		t.Fatalf("signing in with the password given on stdin: %v", err)
	}
}
