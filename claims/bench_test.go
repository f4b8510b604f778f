package claims_test

import (
	"testing"

	"github.com/usher-id/usher/claims"
)

// BenchmarkRender parses each preset once and renders it per op.
func BenchmarkRender(b *testing.B) {
	c := fixture()
	for _, p := range claims.Presets() {
		b.Run(p.Name, func(b *testing.B) {
			tmpl, _ := mustParse(b, string(p.Claims))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tmpl.Render(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParse is the cost of accepting a template (done when it is
// saved, and when a replica loads it).
func BenchmarkParse(b *testing.B) {
	p, _ := claims.PresetByName("convex")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := claims.Parse(p.Claims); err != nil {
			b.Fatal(err)
		}
	}
}
