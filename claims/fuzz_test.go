package claims_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/usher-id/usher/claims"
)

// FuzzParseRender: Parse never panics; it either refuses with a
// *ValidationError that has problems, or returns a template that renders
// for any context to JSON-marshalable claims without a reserved claim.
func FuzzParseRender(f *testing.F) {
	for _, p := range claims.Presets() {
		f.Add(string(p.Claims))
	}
	for _, c := range languageCases {
		f.Add(c.template)
	}
	for _, s := range []string{
		`{}`, `[]`, `{"a": "{{`, `{"a": "{{}}"}`, `{"a": "{{ 'x\' }}"}`, `{"sub": 1}`,
		`{"a": "{{user.private_metadata}}"}`, `{"{{a}}": 1}`, `{"a": "{{ 1e999 || -0 }}"}`,
		`{"a": "{{ user.public_metadata.a.0.b || org.id || 'z' }}", "b": [true, null, 1.5]}`,
	} {
		f.Add(s)
	}
	contexts := []claims.Context{fixture(), sparse(), {}}
	f.Fuzz(func(t *testing.T, raw string) {
		tmpl, _, err := claims.Parse([]byte(raw))
		if err != nil {
			verr, ok := errors.AsType[*claims.ValidationError](err)
			if !ok || len(verr.Problems) == 0 || tmpl != nil {
				t.Fatalf("Parse error %v (%T), template %v", err, err, tmpl)
			}
			return
		}
		for _, c := range contexts {
			out, err := tmpl.Render(c)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if _, err := json.Marshal(out); err != nil {
				t.Fatalf("rendered claims do not marshal: %v", err)
			}
			for _, r := range claims.Reserved {
				if _, ok := out[r]; ok {
					t.Fatalf("rendered a reserved claim %s", r)
				}
			}
		}
	})
}
