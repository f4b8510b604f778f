package claims_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/usher-id/usher/claims"
	"github.com/usher-id/usher/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// secret is in the fixture's private metadata; no rendering may show it.
const secret = "cus_PRIVATE_do_not_leak"

// fixture is a user with every field set, in an organization.
func fixture() claims.Context {
	return claims.Context{
		User: &storage.User{
			ID:        "user_2Nf3kZ8qLx9bWmT4rYc7vHd1sPa",
			Username:  "ada",
			FirstName: "Ada",
			LastName:  "Lovelace",
			ImageURL:  "https://img.example.com/ada.png",
			Emails: []storage.EmailAddress{
				{ID: "idn_old", Email: "ada.old@example.com", Verified: false, Primary: false},
				{ID: "idn_main", Email: "ada@example.com", Verified: true, Primary: true},
			},
			PublicMetadata: json.RawMessage(`{
				"role": "admin",
				"groups": ["editors", "admins"],
				"addresses": {"Home": {"city": "London", "zip": "NW1"}, "Work": {"city": "Cambridge"}},
				"score": 42.5,
				"big": 12345678901234567890,
				"beta": false,
				"nothing": null,
				"tags": ["a", "b"],
				"bio": "<b>R&D</b> \"quoted\""
			}`),
			PrivateMetadata: json.RawMessage(`{"stripe_customer": "` + secret + `"}`),
			UnsafeMetadata:  json.RawMessage(`{"theme": "dark", "onboarded": true}`),
			CreatedAt:       time.Date(2024, 3, 14, 9, 26, 53, 0, time.UTC),
			UpdatedAt:       time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC),
		},
		Org: &claims.Org{
			ID:             "org_29w9UtPeX8k6hKfKbR8W4mbUjKz",
			Name:           "Acme Inc",
			Slug:           "acme",
			Role:           "org:admin",
			PublicMetadata: json.RawMessage(`{"plan": "pro", "limits": {"seats": 25}}`),
		},
		OrgMembership: &claims.OrgMembership{
			PublicMetadata: json.RawMessage(`{"department": "R&D"}`),
			Permissions:    []string{"org:article:publish", "org:article:read"},
		},
	}
}

// sparse is a user with only an ID: no names, no email, no metadata.
func sparse() claims.Context {
	return claims.Context{User: &storage.User{ID: "user_sparse"}}
}

// mustParse parses raw and fails on any problem; it returns the warnings.
func mustParse(t testing.TB, raw string) (*claims.Template, []claims.Problem) {
	t.Helper()
	tmpl, warnings, err := claims.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("Parse(%s): %v", raw, err)
	}
	return tmpl, warnings
}

func mustRender(t testing.TB, tmpl *claims.Template, c claims.Context) map[string]any {
	t.Helper()
	out, err := tmpl.Render(c)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return out
}

// marshal is v as indented JSON, as the golden files hold it.
func marshal(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b.Bytes()
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what was rendered (run go test -update after a deliberate change)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
