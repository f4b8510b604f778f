package claims_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/usher-id/usher/claims"
)

var presetNames = []string{"supabase", "hasura", "fauna", "convex", "postgrest", "neon", "grafbase", "firebase", "instantdb", "nhost"}

// TestPresetsGolden renders every preset for the fixture user; each
// parses without a problem or a warning.
func TestPresetsGolden(t *testing.T) {
	var names []string
	for _, p := range claims.Presets() {
		names = append(names, p.Name)
		t.Run(p.Name, func(t *testing.T) {
			tmpl, warnings := mustParse(t, string(p.Claims))
			if len(warnings) != 0 {
				t.Errorf("warnings: %v", warnings)
			}
			got := map[string]any{
				"claims": mustRender(t, tmpl, fixture()),
				"sparse": mustRender(t, tmpl, sparse()),
			}
			golden(t, filepath.Join("testdata", "presets", p.Name+".json"), marshal(t, got))
		})
	}
	if !slices.Equal(names, presetNames) {
		t.Errorf("presets = %v, want %v", names, presetNames)
	}
}

func TestPresetFields(t *testing.T) {
	for _, p := range claims.Presets() {
		t.Run(p.Name, func(t *testing.T) {
			if p.Title == "" || p.Lifetime <= 0 || (p.Algorithm != "RS256" && p.Algorithm != "HS256") {
				t.Errorf("incomplete preset: title %q, lifetime %v, algorithm %q", p.Title, p.Lifetime, p.Algorithm)
			}
			var obj map[string]any
			if err := json.Unmarshal(p.Claims, &obj); err != nil {
				t.Errorf("claims are not a JSON object: %v", err)
			}
			// Setup tells where the keys are: the JWKS for RS256, the
			// secret for HS256; and it always names the issuer.
			if !strings.Contains(p.Setup, "{{issuer}}") {
				t.Error("Setup does not name the issuer")
			}
			if p.Algorithm == "RS256" && !strings.Contains(p.Setup, "{{jwks_uri}}") && !strings.Contains(p.Setup, "openid-configuration") {
				t.Error("an RS256 preset's Setup names neither the JWKS URL nor the discovery document")
			}
			if p.Algorithm == "HS256" && !strings.Contains(strings.ToLower(p.Setup), "secret") {
				t.Error("an HS256 preset's Setup does not mention the secret")
			}
			filled := p.SetupFor("https://id.example.com/", "https://id.example.com/.well-known/jwks.json", "db")
			for _, ph := range []string{"{{issuer}}", "{{jwks_uri}}", "{{template}}"} {
				if strings.Contains(filled, ph) {
					t.Errorf("SetupFor left %s", ph)
				}
			}
			if strings.Contains(filled, "https://id.example.com/\"") || strings.Contains(filled, "https://id.example.com/ ") {
				t.Error("SetupFor kept the issuer's trailing slash")
			}
		})
	}
}

func TestPresetByName(t *testing.T) {
	p, ok := claims.PresetByName("hasura")
	if !ok || p.Title != "Hasura" {
		t.Fatalf("PresetByName(hasura) = %v, %v", p.Title, ok)
	}
	if _, ok := claims.PresetByName("nope"); ok {
		t.Error("PresetByName(nope) found something")
	}
	// What a caller gets is its own.
	p.Claims[0] = 'X'
	again, _ := claims.PresetByName("hasura")
	if again.Claims[0] != '{' {
		t.Error("changing a returned preset changed the preset")
	}
}

// TestPresetClaims pins what each database needs from its preset.
func TestPresetClaims(t *testing.T) {
	render := func(name string) map[string]any {
		p, _ := claims.PresetByName(name)
		tmpl, _ := mustParse(t, string(p.Claims))
		return mustRender(t, tmpl, fixture())
	}
	if c := render("supabase"); c["role"] != "authenticated" || c["aud"] != "authenticated" || c["email"] != "ada@example.com" {
		t.Errorf("supabase: %v", c)
	}
	for _, name := range []string{"hasura", "nhost"} {
		h, _ := render(name)["https://hasura.io/jwt/claims"].(map[string]any)
		if h["x-hasura-user-id"] != fixture().User.ID || h["x-hasura-default-role"] != "user" {
			t.Errorf("%s: %v", name, h)
		}
	}
	if c := render("convex"); c["aud"] != "convex" || c["email_verified"] != true || c["updated_at"] != int64(1751371200) {
		t.Errorf("convex: %v", c)
	}
	if c := render("grafbase"); !slices.Equal(c["groups"].([]any), []any{"editors", "admins"}) {
		t.Errorf("grafbase: %v", c)
	}
	if c := render("instantdb"); c["email"] != "ada@example.com" || c["email_verified"] != true {
		t.Errorf("instantdb: %v", c)
	}
}
