package claims_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/usher-id/usher/claims"
)

// problemsOf parses raw, expects it refused, and returns the paths of its
// problems.
func problemsOf(t *testing.T, raw string) ([]string, []claims.Problem) {
	t.Helper()
	tmpl, _, err := claims.Parse([]byte(raw))
	if err == nil {
		t.Fatalf("Parse(%.80s) accepted the template", raw)
	}
	if tmpl != nil {
		t.Error("a refused template came back non-nil")
	}
	verr, ok := errors.AsType[*claims.ValidationError](err)
	if !ok {
		t.Fatalf("err = %T %v, want *ValidationError", err, err)
	}
	var paths []string
	for _, p := range verr.Problems {
		if p.Message == "" {
			t.Errorf("problem at %s has no message", p.Path)
		}
		paths = append(paths, p.Path)
	}
	return paths, verr.Problems
}

func TestParseProblems(t *testing.T) {
	deep := func(levels int) string {
		return strings.Repeat(`{"a":`, levels) + "1" + strings.Repeat("}", levels)
	}
	deepPath := "$.claims" + strings.Repeat(".a", 32)

	tests := []struct {
		name      string
		raw       string
		paths     []string
		inMessage string // a piece of the first problem's message
	}{
		{"array", `["a"]`, []string{"$.claims"}, "must be a JSON object"},
		{"string", `"{{user.id}}"`, []string{"$.claims"}, "must be a JSON object"},
		{"null", `null`, []string{"$.claims"}, "must be a JSON object"},
		{"number", `42`, []string{"$.claims"}, "must be a JSON object"},
		{"empty", ``, []string{"$.claims"}, "empty"},
		{"truncated", `{"a": "b"`, []string{"$.claims"}, "not valid JSON"},
		{"trailing comma", `{"a": 1,}`, []string{"$.claims"}, "at byte"},
		{"two objects", `{} {}`, []string{"$.claims"}, "not valid JSON"},
		{
			"reserved claims at the top level only",
			`{"sub": "x", "aud": "fine", "iss": "y", "nested": {"sub": "fine", "exp": 1}, "list": [{"jti": "fine"}], "azp": "a", "exp": 1, "iat": 1, "jti": "j", "nbf": 1}`,
			[]string{"$.claims.sub", "$.claims.iss", "$.claims.azp", "$.claims.exp", "$.claims.iat", "$.claims.jti", "$.claims.nbf"},
			"Usher always sets",
		},
		{
			"malformed shortcodes",
			`{"a": "{{user.id", "b": "{{ }}", "c": "{{user.id | x}}", "d": "{{ 'abc }}", "e": "{{user..id}}", "f": ["ok", "{{1.2.3}}"], "g": "{{ user.id || }}", "h": "{{ || user.id }}", "i": "{{ user.id user.username }}", "j": "x {{ 30abc }} y", "k": "{{ {x} }}"}`,
			[]string{"$.claims.a", "$.claims.b", "$.claims.c", "$.claims.d", "$.claims.e", "$.claims.f[1]", "$.claims.g", "$.claims.h", "$.claims.i", "$.claims.j", "$.claims.k"},
			"no closing }}",
		},
		{
			"private metadata",
			`{"m": "{{user.private_metadata.stripe}}", "n": {"deep": "{{ user.id || user.private_metadata }}"}, "o": "x {{user.privateMetadata}}"}`,
			[]string{"$.claims.m", "$.claims.n.deep", "$.claims.o"},
			"private metadata",
		},
		{
			"shortcodes in keys",
			`{"{{user.id}}": "x", "o": {"k{{user.username}}": 1}}`,
			[]string{`$.claims["{{user.id}}"]`, `$.claims.o["k{{user.username}}"]`},
			"not allowed in keys",
		},
		{
			"hasura namespace path",
			`{"https://hasura.io/jwt/claims": {"x-hasura-default-role": "user", "x-hasura-user-id": "{{user.private_metadata.id}}"}}`,
			[]string{`$.claims["https://hasura.io/jwt/claims"].x-hasura-user-id`},
			"private metadata",
		},
		{"keys that need brackets", `{"a b": {"1x": {"é": {"-y": "{{user.private_metadata}}"}}}}`,
			[]string{`$.claims["a b"]["1x"]["é"]["-y"]`}, "private metadata"},
		{"array paths", `{"l": [[0, ["{{user.private_metadata}}"]]]}`, []string{"$.claims.l[0][1][0]"}, "private metadata"},
		{"too deep", deep(33), []string{deepPath}, "deeper than 32"},
		{"too deep array", `{"a": ` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`, []string{"$.claims.a" + strings.Repeat("[0]", 31)}, "deeper than 32"},
		{"too large", `{"v": "` + strings.Repeat("x", claims.MaxSize) + `"}`, []string{"$.claims"}, "limit is 65536"},
		{"far too large", `{"v": "` + strings.Repeat("x", 2<<20) + `"}`, []string{"$.claims"}, "limit is 65536"},
		{
			"every problem at once",
			`{"sub": "{{user.private_metadata}}", "{{k}}": "{{user.id", "ok": "{{user.id}}", "v": "` + strings.Repeat("x", claims.MaxSize) + `"}`,
			[]string{"$.claims", "$.claims.sub", "$.claims.sub", `$.claims["{{k}}"]`, `$.claims["{{k}}"]`},
			"limit is 65536",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths, problems := problemsOf(t, tt.raw)
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Errorf("paths = %q, want %q\nproblems: %v", paths, tt.paths, problems)
			}
			if len(problems) > 0 && !strings.Contains(problems[0].Message, tt.inMessage) {
				t.Errorf("first message %q does not say %q", problems[0].Message, tt.inMessage)
			}
		})
	}
}

// TestParseAccepts are templates near the limits, and Clerk's own examples.
func TestParseAccepts(t *testing.T) {
	deep32 := strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32)
	for name, raw := range map[string]string{
		"empty object":      `{}`,
		"depth 32":          deep32,
		"nested reserved":   `{"act": {"sub": "user_1", "iss": "x"}}`,
		"reserved in value": `{"note": "{{user.id}} sub iss exp"}`,
		"clerk docs":        `{"aud": "https://example.com", "interests": "{{user.public_metadata.interests}}", "name": "{{user.last_name}} {{user.first_name}}", "email": "{{user.primary_email_address}}", "fallback": "{{user.last_name || 'Awesome user'}}", "address": "{{user.public_metadata.addresses.Home}}"}`,
		"near max size":     `{"v": "` + strings.Repeat("x", claims.MaxSize-20) + `"}`,
		"braces in keys":    `{"{": 1, "}}": 2, "{{": 3, "}} {{": 4}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := claims.Parse([]byte(raw)); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		paths    []string
		messages []string // a piece of each
	}{
		{"none", `{"id": "{{user.id}}", "r": "{{ user.public_metadata.anything.at.all }}"}`, nil, nil},
		{"unknown shortcode", `{"x": "{{user.i_dont_exist}}", "y": {"z": ["{{ org.nope || 'a' }}"]}}`,
			[]string{"$.claims.x", "$.claims.y.z[0]"}, []string{"{{user.i_dont_exist}} names nothing", "{{org.nope}} names nothing"}},
		{"path into a scalar", `{"x": "{{user.id.length}}"}`, []string{"$.claims.x"}, []string{"renders as null"}},
		{"hint", `{"e": "{{user.email}}"}`, []string{"$.claims.e"}, []string{"did you mean user.primary_email_address?"}},
		{"bare root", `{"u": "{{user}}"}`, []string{"$.claims.u"}, []string{"names nothing"}},
		{"duplicate key", `{"a": 1, "a": 2}`, []string{"$.claims.a"}, []string{"last value wins"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warnings := mustParse(t, tt.raw)
			var paths []string
			for i, w := range warnings {
				paths = append(paths, w.Path)
				if i < len(tt.messages) && !strings.Contains(w.Message, tt.messages[i]) {
					t.Errorf("warning %d = %q, want it to say %q", i, w.Message, tt.messages[i])
				}
			}
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Errorf("paths = %q, want %q", paths, tt.paths)
			}
		})
	}

	t.Run("duplicate key last wins", func(t *testing.T) {
		tmpl, _ := mustParse(t, `{"a": 1, "b": 2, "a": "{{user.username}}"}`)
		if got := mustRender(t, tmpl, fixture())["a"]; got != "ada" {
			t.Errorf("a = %v, want ada", got)
		}
	})

	t.Run("unknown renders null", func(t *testing.T) {
		tmpl, _ := mustParse(t, `{"x": "{{user.i_dont_exist}}"}`)
		if out := mustRender(t, tmpl, fixture()); out["x"] != nil {
			t.Errorf("x = %#v, want nil", out["x"])
		}
	})
}

// TestSizeWarning: custom claims that render above 1.2 KB for a typical
// user are accepted with a warning; below it, no warning.
func TestSizeWarning(t *testing.T) {
	build := func(n int) string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("claim_%02d", i)] = "{{user.image_url}}"
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	_, warnings := mustParse(t, build(3))
	if len(warnings) != 0 {
		t.Errorf("small template warned: %v", warnings)
	}
	// The template is small; what it renders is not.
	raw := build(20)
	if len(raw) > claims.SizeWarning {
		t.Fatalf("test template is %d bytes; it should be small and render large", len(raw))
	}
	_, warnings = mustParse(t, raw)
	if len(warnings) != 1 || warnings[0].Path != "$.claims" || !strings.Contains(warnings[0].Message, "1.2 KB") {
		t.Errorf("warnings = %v, want one about the size at $.claims", warnings)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	_, _, err := claims.Parse([]byte(`{"sub": "x", "a": "{{user.private_metadata}}"}`))
	want := `claims: template refused: $.claims.sub: sub is a claim Usher always sets; a template cannot set it; $.claims.a: `
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Error() = %v, want it to start with %q", err, want)
	}
}

// TestProblemsCapped: a template with thousands of problems lists the
// first hundred and says how many more there were.
func TestProblemsCapped(t *testing.T) {
	raw := `{` + strings.Repeat(`"{{k}}": 1, `, 500) + `"z": "{{user.nope}} {{user.nope}}"}`
	tmpl, warnings, err := claims.Parse([]byte(raw))
	verr, ok := errors.AsType[*claims.ValidationError](err)
	if !ok || tmpl != nil {
		t.Fatalf("err = %v", err)
	}
	if n := len(verr.Problems); n != 101 || verr.Problems[100].Message != "400 more problems not listed" {
		t.Errorf("%d problems, last %v", n, verr.Problems[n-1])
	}
	if n := len(warnings); n != 101 || warnings[100].Message != "401 more warnings not listed" {
		t.Errorf("%d warnings, last %v", n, warnings[n-1])
	}
}
