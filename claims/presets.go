package claims

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Preset is a ready-made template for a database or service that accepts
// Usher tokens.
type Preset struct {
	Name     string          // supabase, hasura, fauna, convex, postgrest, neon, grafbase, firebase, instantdb, nhost
	Title    string          // "Supabase"
	Claims   json.RawMessage // the template
	Lifetime time.Duration
	// Algorithm is the suggested signing algorithm: "RS256" (the instance
	// key, published in the JWKS) or "HS256" (a shared secret the
	// database gives).
	Algorithm string
	// Setup says, in markdown, what to configure in the downstream: the
	// issuer, the JWKS URL or shared secret, the audience, and a working
	// example of its own config. It holds the placeholders {{issuer}},
	// {{jwks_uri}} and {{template}} (the template's name); SetupFor fills
	// them in.
	Setup string
}

// SetupFor is p.Setup with its placeholders filled in. issuer is Usher's
// issuer, with no trailing slash.
func (p Preset) SetupFor(issuer, jwksURI, template string) string {
	return strings.NewReplacer(
		"{{issuer}}", strings.TrimSuffix(issuer, "/"),
		"{{jwks_uri}}", jwksURI,
		"{{template}}", template,
	).Replace(p.Setup)
}

//go:embed presets/*.json presets/*.md
var presetFiles embed.FS

// presetList is the order Presets returns them in.
var presetList = []struct {
	name, title, alg string
}{
	{"supabase", "Supabase", "HS256"},
	{"hasura", "Hasura", "RS256"},
	{"fauna", "Fauna", "RS256"},
	{"convex", "Convex", "RS256"},
	{"postgrest", "PostgREST", "HS256"},
	{"neon", "Neon", "RS256"},
	{"grafbase", "Grafbase", "RS256"},
	{"firebase", "Firebase", "RS256"},
	{"instantdb", "InstantDB", "RS256"},
	{"nhost", "Nhost", "RS256"},
}

// presetLifetime is Clerk's default template lifetime, which its presets
// keep too.
const presetLifetime = 60 * time.Second

var presets = loadPresets()

func loadPresets() []Preset {
	out := make([]Preset, 0, len(presetList))
	for _, p := range presetList {
		claims, err := presetFiles.ReadFile("presets/" + p.name + ".json")
		if err != nil {
			panic(fmt.Sprintf("claims: preset %s: %v", p.name, err))
		}
		setup, err := presetFiles.ReadFile("presets/" + p.name + ".md")
		if err != nil {
			panic(fmt.Sprintf("claims: preset %s: %v", p.name, err))
		}
		out = append(out, Preset{
			Name:      p.name,
			Title:     p.title,
			Claims:    json.RawMessage(bytes.TrimSpace(claims)),
			Lifetime:  presetLifetime,
			Algorithm: p.alg,
			Setup:     strings.TrimSpace(string(setup)),
		})
	}
	return out
}

// Presets returns every preset, in a stable order. The caller may change
// what it gets.
func Presets() []Preset {
	out := make([]Preset, len(presets))
	for i, p := range presets {
		out[i] = p.copy()
	}
	return out
}

// PresetByName returns the preset called name.
func PresetByName(name string) (Preset, bool) {
	for _, p := range presets {
		if p.Name == name {
			return p.copy(), true
		}
	}
	return Preset{}, false
}

func (p Preset) copy() Preset {
	p.Claims = bytes.Clone(p.Claims)
	return p
}
