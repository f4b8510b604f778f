package claims_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/usher-id/usher/claims"
	"github.com/usher-id/usher/storage"
)

// allShortcodes is every name of the language, aliases last.
var allShortcodes = []string{
	"user.id", "user.external_id", "user.first_name", "user.last_name", "user.full_name",
	"user.username", "user.primary_email_address", "user.primary_phone_number",
	"user.email_verified", "user.phone_number_verified", "user.image_url",
	"user.created_at", "user.updated_at", "user.two_factor_enabled",
	"user.public_metadata", "user.unsafe_metadata",
	"org.id", "org.name", "org.slug", "org.role", "org.public_metadata",
	"org_membership.public_metadata", "org_membership.permissions",
	"user.has_verified_email", "user.has_verified_phone", "user.primary_phone_address",
}

// TestShortcodesGolden renders every shortcode as a whole value for a
// full user in an organization, a user with nothing but an ID, and no
// user at all.
func TestShortcodesGolden(t *testing.T) {
	tmpl := map[string]string{}
	for _, s := range allShortcodes {
		tmpl[s] = "{{" + s + "}}"
	}
	raw, _ := json.Marshal(tmpl)
	parsed, warnings := mustParse(t, string(raw))
	if len(warnings) != 0 {
		t.Errorf("warnings for known shortcodes: %v", warnings)
	}
	got := map[string]any{
		"full":    mustRender(t, parsed, fixture()),
		"sparse":  mustRender(t, parsed, sparse()),
		"nothing": mustRender(t, parsed, claims.Context{}),
	}
	golden(t, filepath.Join("testdata", "shortcodes.json"), marshal(t, got))
}

// languageCases are templates that show the language, one claim "v" each
// unless the case is about more.
var languageCases = []struct{ name, template string }{
	// Interpolation.
	{"interpolate names", `{"v": "{{user.last_name}} {{user.first_name}}"}`},
	{"interpolate null", `{"v": "{{user.external_id}} {{user.first_name}}"}`},
	{"interpolate types", `{"v": "id={{user.id}} verified={{user.email_verified}} created={{user.created_at}} score={{user.public_metadata.score}} big={{user.public_metadata.big}}"}`},
	{"interpolate object", `{"v": "home={{user.public_metadata.addresses.Home}}"}`},
	{"interpolate array", `{"v": "tags={{user.public_metadata.tags}}"}`},
	{"interpolate no html escaping", `{"v": "bio: {{user.public_metadata.bio}} / {{user.public_metadata}}"}`},
	{"interpolate adjacent", `{"v": "{{user.id}}{{user.username}}"}`},
	{"outside whitespace makes a string", `{"v": " {{user.created_at}}"}`},
	{"inside whitespace keeps the type", `{"v": "{{   user.created_at  }}"}`},
	{"braces without shortcode", `{"v": "a } b }} c { d"}`},
	{"literal holding braces", `{"v": "{{ 'x}}y{{z' }}"}`},

	// Fallbacks.
	{"fallback to second path", `{"v": "{{user.primary_phone_number || user.primary_email_address}}"}`},
	{"fallback string literal", `{"v": "{{user.external_id || 'anonymous'}}"}`},
	{"fallback escaped quote", `{"v": "{{user.external_id || 'it\\'s \\\\ fine'}}"}`},
	{"fallback number literal", `{"v": "{{user.public_metadata.missing || 30}}"}`},
	{"fallback negative exponent literal", `{"v": "{{user.public_metadata.missing || -1.5e3}}"}`},
	{"fallback true literal", `{"v": "{{user.public_metadata.missing || true}}"}`},
	{"fallback skips false", `{"v": "{{user.public_metadata.beta || 'off'}}"}`},
	{"fallback false literal last", `{"v": "{{user.public_metadata.missing || false}}"}`},
	{"fallback all null falls to last", `{"v": "{{user.external_id || user.primary_phone_number || user.public_metadata.nothing}}"}`},
	{"fallback all falsy keeps last false", `{"v": "{{user.external_id || user.public_metadata.beta || user.two_factor_enabled}}"}`},
	{"fallback zero and empty string are values", `{"zero": "{{0 || 1}}", "empty": "{{'' || 'x'}}"}`},
	{"fallback first wins", `{"v": "{{user.username || 'never'}}"}`},
	{"fallback keeps object type", `{"v": "{{user.public_metadata.missing || org.public_metadata}}"}`},
	{"fallback in text", `{"v": "Hi {{user.external_id || user.first_name}}!"}`},

	// Deep paths.
	{"deep object path", `{"v": "{{user.public_metadata.addresses.Home.city}}"}`},
	{"array index", `{"second": "{{user.public_metadata.tags.1}}", "padded": "{{user.public_metadata.tags.01}}", "out of range": "{{user.public_metadata.tags.2}}"}`},
	{"org metadata", `{"v": "{{org.public_metadata.limits.seats}}"}`},
	{"membership metadata", `{"v": "{{org_membership.public_metadata.department}}"}`},
	{"permission by index", `{"v": "{{org_membership.permissions.0}}"}`},
	{"unsafe metadata", `{"v": "{{user.unsafe_metadata.onboarded}}"}`},

	// Unknown paths.
	{"unknown shortcode", `{"v": "{{user.i_dont_exist}}"}`},
	{"unknown metadata key", `{"v": "{{user.public_metadata.nope.deeper}}"}`},
	{"path into a string", `{"v": "{{user.id.length}}"}`},
	{"unknown root", `{"v": "{{session.actor}}"}`},
	{"camel case gets a hint", `{"v": "{{user.publicMetadata.role}}"}`},

	// Types.
	{"whole object", `{"v": "{{user.public_metadata}}"}`},
	{"whole array", `{"v": "{{user.public_metadata.groups}}"}`},
	{"whole number", `{"v": "{{user.public_metadata.score}}", "big": "{{user.public_metadata.big}}"}`},
	{"whole bool", `{"v": "{{user.public_metadata.beta}}"}`},
	{"whole null", `{"v": "{{user.public_metadata.nothing}}"}`},
	{"metadata used twice", `{"a": "{{user.public_metadata.addresses}}", "b": "{{user.public_metadata}}"}`},
	{"non-string values pass through", `{"n": 1.50, "b": true, "z": null, "e": [], "o": {}, "arr": [1, "{{user.id}}", {"x": "{{user.username}}"}], "nested": {"sub": "{{user.id}}", "iss": "fine"}}`},
	{"keys are never interpolated", `{"{not a shortcode": "{{user.username}}", "}}": 1}`},
}

// TestLanguageGolden renders the language cases for the fixture user.
func TestLanguageGolden(t *testing.T) {
	type result struct {
		Name     string           `json:"name"`
		Template json.RawMessage  `json:"template"`
		Claims   map[string]any   `json:"claims"`
		Warnings []claims.Problem `json:"warnings,omitempty"`
	}
	var results []result
	for _, c := range languageCases {
		tmpl, warnings := mustParse(t, c.template)
		results = append(results, result{
			Name:     c.name,
			Template: json.RawMessage(c.template),
			Claims:   mustRender(t, tmpl, fixture()),
			Warnings: warnings,
		})
	}
	golden(t, filepath.Join("testdata", "language.json"), marshal(t, results))
}

// TestTypes checks the Go types Render returns, which the golden files
// cannot tell apart.
func TestTypes(t *testing.T) {
	tmpl, _ := mustParse(t, `{
		"s": "{{user.id}}", "n": "{{user.public_metadata.score}}", "lit": "{{ user.external_id || 7 }}",
		"t": "{{user.created_at}}", "b": "{{user.email_verified}}", "z": "{{user.external_id}}",
		"o": "{{user.public_metadata}}", "a": "{{org_membership.permissions}}", "c": 3
	}`)
	out := mustRender(t, tmpl, fixture())
	want := map[string]any{
		"s":   "user_2Nf3kZ8qLx9bWmT4rYc7vHd1sPa",
		"n":   json.Number("42.5"),
		"lit": json.Number("7"),
		"t":   int64(1710408413),
		"b":   true,
		"z":   nil,
		"a":   []any{"org:article:publish", "org:article:read"},
		"c":   json.Number("3"),
	}
	for k, w := range want {
		if !reflect.DeepEqual(out[k], w) {
			t.Errorf("%s = %#v, want %#v", k, out[k], w)
		}
	}
	if _, ok := out["o"].(map[string]any); !ok {
		t.Errorf("o = %T, want map[string]any", out["o"])
	}
}

// TestEmptyStringsAreNull is Clerk's string|null: an empty name, username
// or address renders null, and a full name of nothing too.
func TestEmptyStringsAreNull(t *testing.T) {
	tmpl, _ := mustParse(t, `{"f": "{{user.first_name}}", "l": "{{user.last_name}}", "full": "{{user.full_name}}",
		"u": "{{user.username}}", "e": "{{user.primary_email_address}}", "v": "{{user.email_verified}}", "i": "{{user.image_url}}"}`)
	out := mustRender(t, tmpl, sparse())
	for _, k := range []string{"f", "l", "full", "u", "e", "i"} {
		if out[k] != nil {
			t.Errorf("%s = %#v, want nil", k, out[k])
		}
	}
	if out["v"] != false {
		t.Errorf("v = %#v, want false", out["v"])
	}

	onlyLast := claims.Context{User: &storage.User{ID: "user_x", LastName: "Hopper"}}
	if got := mustRender(t, tmpl, onlyLast)["full"]; got != "Hopper" {
		t.Errorf("full name of a user with only a last name = %#v, want Hopper", got)
	}
}

// TestMetadataEdgeCases: nil, empty, broken and null metadata never fail.
func TestMetadataEdgeCases(t *testing.T) {
	tmpl, _ := mustParse(t, `{"all": "{{user.public_metadata}}", "deep": "{{user.public_metadata.a.b}}"}`)
	for name, raw := range map[string]json.RawMessage{
		"nil":    nil,
		"empty":  json.RawMessage(""),
		"broken": json.RawMessage(`{"a":`),
		"spaces": json.RawMessage("  "),
	} {
		out := mustRender(t, tmpl, claims.Context{User: &storage.User{ID: "u", PublicMetadata: raw}})
		if m, ok := out["all"].(map[string]any); !ok || len(m) != 0 {
			t.Errorf("%s: all = %#v, want {}", name, out["all"])
		}
		if out["deep"] != nil {
			t.Errorf("%s: deep = %#v, want nil", name, out["deep"])
		}
	}
	out := mustRender(t, tmpl, claims.Context{User: &storage.User{ID: "u", PublicMetadata: json.RawMessage("null")}})
	if out["all"] != nil {
		t.Errorf("metadata stored as null renders %#v, want nil", out["all"])
	}
}

// TestRenderReturnsFreshValues: changing what Render returned changes
// neither the template nor a later rendering, and two claims from the
// same metadata do not share maps.
func TestRenderReturnsFreshValues(t *testing.T) {
	tmpl, _ := mustParse(t, `{"const": {"k": ["x"]}, "a": "{{user.public_metadata.addresses}}", "b": "{{user.public_metadata}}"}`)
	out := mustRender(t, tmpl, fixture())
	out["const"].(map[string]any)["k"].([]any)[0] = "changed"
	out["a"].(map[string]any)["Home"] = "changed"
	if home := out["b"].(map[string]any)["addresses"].(map[string]any)["Home"]; home == "changed" {
		t.Error("two claims share the metadata map")
	}
	again := mustRender(t, tmpl, fixture())
	if got := again["const"].(map[string]any)["k"].([]any)[0]; got != "x" {
		t.Errorf("a later rendering sees the change: %v", got)
	}
}

// TestPrivateMetadataNeverRendered: nothing a valid template can say
// reaches private metadata.
func TestPrivateMetadataNeverRendered(t *testing.T) {
	var all []string
	for _, s := range allShortcodes {
		all = append(all, "{{"+s+"}}")
	}
	raw, _ := json.Marshal(map[string]any{"each": all, "text": strings.Join(all, " ")})
	tmpl, _ := mustParse(t, string(raw))
	out, _ := json.Marshal(mustRender(t, tmpl, fixture()))
	if strings.Contains(string(out), secret) {
		t.Fatalf("private metadata reached the claims: %s", out)
	}
}

func TestRenderUnparsed(t *testing.T) {
	var nilTmpl *claims.Template
	if _, err := nilTmpl.Render(fixture()); !errors.Is(err, claims.ErrNotParsed) {
		t.Errorf("nil template: err = %v, want ErrNotParsed", err)
	}
	if _, err := new(claims.Template).Render(fixture()); !errors.Is(err, claims.ErrNotParsed) {
		t.Errorf("zero template: err = %v, want ErrNotParsed", err)
	}
}

// TestRenderConcurrent shares one template between goroutines (run with
// -race to see it is safe).
func TestRenderConcurrent(t *testing.T) {
	p, _ := claims.PresetByName("supabase")
	tmpl, _ := mustParse(t, string(p.Claims))
	want := marshal(t, mustRender(t, tmpl, fixture()))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				out, err := tmpl.Render(fixture())
				if err != nil {
					t.Error(err)
					return
				}
				if got := marshal(t, out); string(got) != string(want) {
					t.Errorf("concurrent render differs:\n%s", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMergeInto(t *testing.T) {
	dst := map[string]any{"sub": "user_1", "iss": "https://id.example.com", "email": "real@example.com", "sid": "sess_1"}
	custom := map[string]any{"email": "spoofed@example.com", "role": "authenticated", "metadata": map[string]any{"a": 1}, "jti": "custom", "sid": "other"}
	skipped := claims.MergeInto(dst, custom)
	if want := []string{"email", "jti", "sid"}; !reflect.DeepEqual(skipped, want) {
		t.Errorf("skipped = %v, want %v", skipped, want)
	}
	want := map[string]any{
		"sub": "user_1", "iss": "https://id.example.com", "email": "real@example.com", "sid": "sess_1",
		"role": "authenticated", "metadata": map[string]any{"a": 1},
	}
	if !reflect.DeepEqual(dst, want) {
		t.Errorf("dst = %v, want %v", dst, want)
	}
	if skipped := claims.MergeInto(map[string]any{}, nil); skipped != nil {
		t.Errorf("nothing to merge: skipped = %v", skipped)
	}
	// A reserved claim is never added, even when dst lacks it.
	dst = map[string]any{}
	if skipped := claims.MergeInto(dst, map[string]any{"nbf": 1, "x": 2}); !reflect.DeepEqual(skipped, []string{"nbf"}) || dst["nbf"] != nil {
		t.Errorf("reserved claim added: skipped %v, dst %v", skipped, dst)
	}
}
