package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
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
		{"common password", []string{"--email", "ada@example.com", "--password", "Password123"}, "usher: password: this password is one of the most common passwords found in data breaches"},
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

// Revoking a consent from the command line removes it and revokes the
// client's tokens for that user, and only those.
func TestUsersConsents(t *testing.T) {
	env := usersEnv(t)
	code, out, errOut := runCmd(t, env, "users", "create", "--email", "ada@example.com", "--password", "analytical engine")
	if code != 0 {
		t.Fatalf("users create: %s", errOut)
	}
	userID := createdUser(t, out)["id"].(string)
	clientIDs := make([]string, 2)
	for i, name := range []string{"Photo Printer", "Other App"} {
		code, out, errOut = runCmd(t, env, "clients", "create", "--name", name, "--redirect-uri", "https://app.example.com/cb", "--third-party")
		if code != 0 {
			t.Fatalf("clients create: %s", errOut)
		}
		var c struct {
			ClientID string `json:"client_id"`
		}
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatal(err)
		}
		clientIDs[i] = c.ClientID
	}

	// What a sign-in with consent leaves behind, for both clients.
	ctx := t.Context()
	dbPath := strings.TrimPrefix(env[len(env)-1], "USHER_DATABASE_URL=")
	db, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	refresh := map[string][]byte{}
	access := map[string]string{}
	for i, cid := range clientIDs {
		if err := db.SaveConsent(ctx, &storage.Consent{UserID: userID, ClientID: cid, Scopes: []string{"openid", "email"}}); err != nil {
			t.Fatal(err)
		}
		rt := &storage.RefreshToken{TokenHash: []byte{byte(i), 1, 2, 3}, ClientID: cid, UserID: userID, CreatedAt: now,
			ExpiresAt: now.Add(time.Hour), FamilyExpires: now.Add(time.Hour)}
		if err := db.CreateRefreshToken(ctx, rt); err != nil {
			t.Fatal(err)
		}
		at := &storage.AccessToken{ClientID: cid, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := db.CreateAccessToken(ctx, at); err != nil {
			t.Fatal(err)
		}
		refresh[cid], access[cid] = rt.TokenHash, at.ID
	}

	code, out, errOut = runCmd(t, env, "users", "consents", userID)
	if code != 0 {
		t.Fatalf("users consents: exit %d, %s", code, errOut)
	}
	var listed []struct {
		ClientID   string   `json:"client_id"`
		ClientName string   `json:"client_name"`
		Scopes     []string `json:"scopes"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("users consents printed %s (%v)", out, err)
	}
	names := map[string]string{}
	for _, c := range listed {
		names[c.ClientID] = c.ClientName
		if strings.Join(c.Scopes, " ") != "openid email" {
			t.Errorf("consent scopes %v", c.Scopes)
		}
	}
	if names[clientIDs[0]] != "Photo Printer" || names[clientIDs[1]] != "Other App" {
		t.Fatalf("consents listed %v", names)
	}

	code, out, errOut = runCmd(t, env, "users", "revoke-consent", userID, clientIDs[0])
	if code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke-consent: exit %d, %q %q", code, out, errOut)
	}
	for i, cid := range clientIDs {
		rt, err := db.GetRefreshTokenByHash(ctx, refresh[cid])
		if err != nil {
			t.Fatal(err)
		}
		at, err := db.GetAccessToken(ctx, access[cid])
		if err != nil {
			t.Fatal(err)
		}
		revoked := i == 0
		if rt.RevokedAt.IsZero() == revoked || at.RevokedAt.IsZero() == revoked {
			t.Errorf("client %d: refresh revoked %v, access revoked %v, want %v", i, rt.RevokedAt, at.RevokedAt, revoked)
		}
	}
	code, out, _ = runCmd(t, env, "users", "consents", userID)
	if code != 0 || strings.Contains(out, clientIDs[0]) || !strings.Contains(out, clientIDs[1]) {
		t.Fatalf("consents after revoking: %s", out)
	}

	bad := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"users", "revoke-consent", userID, clientIDs[0]}, 1, "usher: user " + userID + " has not consented to client " + clientIDs[0] + "\n"},
		{[]string{"users", "consents", "user_nobody"}, 1, "usher: no user user_nobody\n"},
		{[]string{"users", "revoke-consent", userID}, 2, "usage: usher users create"},
		{[]string{"users", "consents", userID, "--email", "x@example.com"}, 2, "--email only goes with users create"},
	}
	for _, b := range bad {
		code, out, errOut := runCmd(t, env, b.args...)
		if code != b.code || out != "" || !strings.Contains(errOut, b.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", b.args, code, out, errOut, b.code, b.err)
		}
	}
}

// An account locked by failed attempts is unlocked from the command line,
// and its count of failed attempts starts again.
func TestUsersUnlock(t *testing.T) {
	env := usersEnv(t)
	code, out, errOut := runCmd(t, env, "users", "create", "--email", "ada@example.com", "--password", "analytical engine")
	if code != 0 {
		t.Fatalf("users create: %s", errOut)
	}
	userID := createdUser(t, out)["id"].(string)

	ctx := t.Context()
	dbPath := strings.TrimPrefix(env[len(env)-1], "USHER_DATABASE_URL=")
	db, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := users.NewService(db, users.NewHasher(users.DefaultParams(), 1), time.Now)
	svc.Lockout = users.Lockout{MaxAttempts: 3} // until an operator unlocks
	for range 3 {
		if _, err := svc.RecordFailedAttempt(ctx, userID); err != nil {
			t.Fatal(err)
		}
	}
	if _, locked, err := svc.CheckLocked(ctx, userID); err != nil || !locked {
		t.Fatalf("before unlock: locked %v, %v", locked, err)
	}

	code, out, errOut = runCmd(t, env, "users", "unlock", userID)
	if want := "unlocked user " + userID + " (locked until an operator unlocked it)\n"; code != 0 || out != want {
		t.Fatalf("users unlock: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	if _, locked, err := svc.CheckLocked(ctx, userID); err != nil || locked {
		t.Fatalf("after unlock: locked %v, %v", locked, err)
	}
	if u, err := db.GetUser(ctx, userID); err != nil || u.FailedAttempts != 0 || !u.LockedUntil.IsZero() {
		t.Fatalf("after unlock: %+v, %v", u, err)
	}

	// A lock with an end says when it would have ended.
	svc.Lockout = users.Lockout{MaxAttempts: 1, Duration: time.Hour}
	until, err := svc.RecordFailedAttempt(ctx, userID)
	if err != nil || until.IsZero() {
		t.Fatalf("RecordFailedAttempt = %v, %v", until, err)
	}
	code, out, _ = runCmd(t, env, "users", "unlock", userID)
	if want := "unlocked user " + userID + " (locked until " + until.UTC().Format(time.RFC3339) + ")\n"; code != 0 || out != want {
		t.Fatalf("users unlock of a timed lock: exit %d, stdout %q; want %q", code, out, want)
	}
	code, out, _ = runCmd(t, env, "users", "unlock", userID)
	if code != 0 || !strings.Contains(out, "was not locked") {
		t.Fatalf("users unlock of an unlocked user: exit %d, stdout %q", code, out)
	}

	bad := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"users", "unlock", "user_nobody"}, 1, "usher: no user user_nobody\n"},
		{[]string{"users", "unlock"}, 2, "usher users unlock USER_ID"},
		{[]string{"users", "unlock", userID, "extra"}, 2, "usage: usher users create"},
		{[]string{"users", "unlock", userID, "--email", "x@example.com"}, 2, "--email only goes with users create"},
	}
	for _, b := range bad {
		code, out, errOut := runCmd(t, env, b.args...)
		if code != b.code || out != "" || !strings.Contains(errOut, b.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", b.args, code, out, errOut, b.code, b.err)
		}
	}
}

// Metadata is deep-merged or replaced from the command line, and the user
// printed as users create prints it.
func TestUsersUpdateMetadata(t *testing.T) {
	env := usersEnv(t)
	code, out, errOut := runCmd(t, env, "users", "create", "--email", "ada@example.com", "--password", "analytical engine")
	if code != 0 {
		t.Fatalf("users create: %s", errOut)
	}
	userID := createdUser(t, out)["id"].(string)
	dbPath := strings.TrimPrefix(env[len(env)-1], "USHER_DATABASE_URL=")
	db, err := sqlite.Open(t.Context(), dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := func() *storage.User {
		t.Helper()
		u, err := db.GetUser(t.Context(), userID)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	update := func(args ...string) map[string]any {
		t.Helper()
		code, out, errOut := runCmd(t, env, append([]string{"users", "update", userID}, args...)...)
		if code != 0 || errOut != "" {
			t.Fatalf("users update %q: exit %d, stderr %q", args, code, errOut)
		}
		if !strings.Contains(out, "\n  \"id\": ") {
			t.Errorf("output is not indented JSON: %s", out)
		}
		u := createdUser(t, out)
		if u["id"] != userID {
			t.Fatalf("users update printed %s", out)
		}
		return u
	}
	metadata := func(u map[string]any, field string) string {
		t.Helper()
		b, err := json.Marshal(u[field])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	u := update("--public-metadata", `{"plan":"pro","limits":{"seats":5,"projects":3}}`,
		"--private-metadata", `{"stripe":"cus_1"}`, "--unsafe-metadata", `{"theme":"dark"}`)
	if got := metadata(u, "public_metadata"); got != `{"limits":{"projects":3,"seats":5},"plan":"pro"}` {
		t.Fatalf("public_metadata printed %s", got)
	}
	if _, ok := u["private_metadata"]; ok {
		t.Fatalf("users update printed private metadata: %v", u)
	}

	// Merging: null deletes, at any depth; objects merge; the rest stays.
	u = update("--public-metadata", `{"limits":{"projects":null,"seats":7},"plan":null,"tags":["a"]}`)
	if got := metadata(u, "public_metadata"); got != `{"limits":{"seats":7},"tags":["a"]}` {
		t.Fatalf("public_metadata after merging printed %s", got)
	}
	if got := metadata(u, "unsafe_metadata"); got != `{"theme":"dark"}` {
		t.Fatalf("unsafe_metadata printed %s, want it unchanged", got)
	}
	if s := stored(); string(s.PublicMetadata) != `{"limits":{"seats":7},"tags":["a"]}` || string(s.PrivateMetadata) != `{"stripe":"cus_1"}` {
		t.Fatalf("stored public %s, private %s", s.PublicMetadata, s.PrivateMetadata)
	}

	// Replacing, with merging into another field in the same command.
	u = update("--replace-public-metadata", `{"tags":["b"]}`, "--replace-private-metadata", `{}`, "--unsafe-metadata", `{"lang":"en"}`)
	if got := metadata(u, "public_metadata"); got != `{"tags":["b"]}` {
		t.Fatalf("public_metadata after replacing printed %s", got)
	}
	if s := stored(); string(s.PrivateMetadata) != `{}` || string(s.UnsafeMetadata) != `{"lang":"en","theme":"dark"}` {
		t.Fatalf("stored private %s, unsafe %s", s.PrivateMetadata, s.UnsafeMetadata)
	}
	before := stored()

	big := `{"k":"` + strings.Repeat("x", users.MaxMetadataSize) + `"}`
	bad := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"users", "update", userID, "--public-metadata", `{plan:"pro"}`}, 1, "usher: --public-metadata: not valid JSON: invalid character 'p'"},
		{[]string{"users", "update", userID, "--replace-unsafe-metadata", `{"a":1} x`}, 1, "usher: --replace-unsafe-metadata: not valid JSON: "},
		{[]string{"users", "update", userID, "--private-metadata", ""}, 1, "usher: --private-metadata: not valid JSON: "},
		{[]string{"users", "update", userID, "--private-metadata", `["a"]`}, 1, `usher: --private-metadata: give a JSON object`},
		{[]string{"users", "update", userID, "--replace-public-metadata", "null"}, 1, `usher: --replace-public-metadata: give a JSON object`},
		{[]string{"users", "update", userID, "--replace-public-metadata", big}, 1, "usher: --replace-public-metadata: use at most 8192 bytes of JSON"},
		{[]string{"users", "update", "user_nobody", "--public-metadata", `{"a":1}`}, 1, "usher: no user user_nobody\n"},
		{[]string{"users", "update", userID}, 2, "users update: give at least one of --public-metadata"},
		{[]string{"users", "update", userID, "--public-metadata", `{}`, "--replace-public-metadata", `{}`}, 2,
			"users update: give --public-metadata or --replace-public-metadata, not both"},
		{[]string{"users", "update", "--public-metadata", `{}`}, 2, "usher users update USER_ID"},
		{[]string{"users", "update", userID, "--email", "x@example.com"}, 2, "users update: --email only goes with users create"},
		{[]string{"users", "create", "--email", "x@example.com", "--password", "12345678", "--public-metadata", "{}"}, 2,
			"users create: --public-metadata only goes with users update"},
		{[]string{"users", "unlock", userID, "--replace-unsafe-metadata", "{}"}, 2, "users unlock: --replace-unsafe-metadata only goes with users update"},
	}
	for _, b := range bad {
		code, out, errOut := runCmd(t, env, b.args...)
		if code != b.code || out != "" || !strings.HasPrefix(errOut, "usher: ") || !strings.Contains(errOut, b.err) {
			t.Errorf("%.120q: exit %d, stdout %q, stderr %q; want exit %d and %q", b.args, code, out, errOut, b.code, b.err)
		}
		if b.code == 1 && strings.Count(errOut, "\n") != 1 {
			t.Errorf("%.120q: stderr %q, want one line", b.args, errOut)
		}
	}
	if after := stored(); string(after.PublicMetadata) != string(before.PublicMetadata) ||
		string(after.PrivateMetadata) != string(before.PrivateMetadata) || string(after.UnsafeMetadata) != string(before.UnsafeMetadata) {
		t.Fatalf("refused updates changed the metadata: %+v", after)
	}
}
