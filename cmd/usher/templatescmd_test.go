package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTemplatesCommand(t *testing.T) {
	dir := t.TempDir()
	env := testEnv("USHER_DATABASE_URL=" + filepath.Join(dir, "usher.db"))
	claimsFile := filepath.Join(dir, "claims.json")
	if err := os.WriteFile(claimsFile, []byte(`{"role":"authenticated","plan":"{{user.public_metadata.plan}}","x":"{{user.nope}}"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("a shared secret of at least thirty-two bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCmd(t, env, "templates", "create", "--name", "db", "--claims-file", claimsFile, "--lifetime", "300", "--skew", "10")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	var v struct {
		Name             string `json:"name"`
		Lifetime         int    `json:"lifetime"`
		AllowedClockSkew int    `json:"allowed_clock_skew"`
		SigningAlgorithm string `json:"signing_algorithm"`
		CustomSigningKey bool   `json:"custom_signing_key"`
		Warnings         []struct{ Path string }
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Lifetime != 300 || v.AllowedClockSkew != 10 || v.SigningAlgorithm != "RS256" ||
		len(v.Warnings) != 1 || v.Warnings[0].Path != "$.claims.x" {
		t.Fatalf("create printed %s (%v)", out, err)
	}

	code, out, _ = runCmd(t, env, "templates", "create", "--name", "supabase", "--preset", "supabase", "--hs256-secret-file", secretFile)
	if code != 0 || !strings.Contains(out, `"signing_algorithm": "HS256"`) || !strings.Contains(out, `"custom_signing_key": true`) || strings.Contains(out, "thirty-two") {
		t.Fatalf("create from a preset with a secret: %d %s", code, out)
	}

	code, out, _ = runCmd(t, env, "users", "create", "--email", "pat@example.com", "--password", "a long enough password", "--email-verified")
	if code != 0 {
		t.Fatal(out)
	}
	userID := createdUser(t, out)["id"].(string)
	if code, _, errOut := runCmd(t, env, "users", "update", userID, "--public-metadata", `{"plan":"pro"}`); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut = runCmd(t, env, "templates", "preview", "db", "--user", userID)
	var preview map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &preview) != nil || preview["plan"] != "pro" || preview["sub"] != userID || preview["x"] != nil {
		t.Fatalf("preview: %d %s %s", code, out, errOut)
	}

	code, out, _ = runCmd(t, env, "templates", "list")
	if code != 0 || !strings.Contains(out, `"name": "db"`) || !strings.Contains(out, `"name": "supabase"`) {
		t.Fatalf("list: %s", out)
	}
	code, out, _ = runCmd(t, env, "templates", "update", "db", "--lifetime", "60")
	if code != 0 || !strings.Contains(out, `"lifetime": 60`) {
		t.Fatalf("update: %d %s", code, out)
	}
	code, out, _ = runCmd(t, env, "templates", "presets", "hasura")
	if code != 0 || !strings.Contains(out, "x-hasura-user-id") || strings.Contains(out, "{{issuer}}") {
		t.Fatalf("presets hasura: %s", out)
	}

	bad := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"templates", "create", "--name", "x", "--claims-file", claimsFile, "--lifetime", "5"}, 1, "$.lifetime: 5s is not from 30s"},
		{[]string{"templates", "create", "--name", "db", "--claims-file", claimsFile}, 1, "a template named db already exists"},
		{[]string{"templates", "create", "--name", "sb", "--preset", "supabase"}, 2, "--hs256-secret-file"},
		{[]string{"templates", "create", "--name", "x", "--preset", "nope"}, 1, `no preset "nope"`},
		{[]string{"templates", "create", "--name", "x"}, 2, "exactly one of --claims-file and --preset"},
		{[]string{"templates", "get", "missing"}, 1, "usher: no template missing"},
		{[]string{"templates", "update", "supabase", "--lifetime", "90"}, 2, "signs with its own key"},
		{[]string{"templates", "preview", "db"}, 2, "needs --user"},
		{[]string{"templates", "delete", "missing"}, 1, "no template missing"},
	}
	for _, b := range bad {
		code, out, errOut := runCmd(t, env, b.args...)
		if code != b.code || out != "" || !strings.Contains(errOut, b.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", b.args, code, out, errOut, b.code, b.err)
		}
	}
	if code, out, _ := runCmd(t, env, "templates", "delete", "db"); code != 0 || !strings.Contains(out, "deleted template db") {
		t.Fatalf("delete: %d %s", code, out)
	}
}
