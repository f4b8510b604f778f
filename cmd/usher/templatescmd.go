package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/usher-id/usher/claims"
	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
)

const templatesUsage = `usage: usher templates create --name N (--claims-file F | --preset P) [settings]
       usher templates update NAME [--claims-file F | --preset P] [settings]
       usher templates list | get NAME | delete NAME
       usher templates preview NAME --user USER_ID
       usher templates presets [NAME]
settings: --lifetime SECONDS (30 to 315360000, default 60), --skew SECONDS (0 to 300,
  default 5), and one way to sign: --alg RS256|ES256|EdDSA (an instance key; the
  default algorithm when none is given), --hs256-secret-file F, --rs256-key-file F
  (the template's own key, kept encrypted); and --config FILE.
The template named _session holds the custom session claims, merged into every
access token and ID token.`

// templateView is a template as the CLI prints it; its own key never
// leaves the database.
type templateView struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	Claims           json.RawMessage  `json:"claims"`
	Lifetime         int64            `json:"lifetime"`
	AllowedClockSkew int64            `json:"allowed_clock_skew"`
	SigningAlgorithm string           `json:"signing_algorithm"`
	CustomSigningKey bool             `json:"custom_signing_key"`
	CreatedAt        time.Time        `json:"created_at"`
	UpdatedAt        time.Time        `json:"updated_at"`
	Warnings         []claims.Problem `json:"warnings,omitempty"`
}

func viewTemplate(t *storage.JWTTemplate, warnings []claims.Problem) templateView {
	return templateView{ID: t.ID, Name: t.Name, Claims: t.Claims, Lifetime: int64(t.Lifetime / time.Second),
		AllowedClockSkew: int64(t.ClockSkew / time.Second), SigningAlgorithm: t.Algorithm, CustomSigningKey: len(t.CustomKey) > 0,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), Warnings: warnings}
}

func templatesCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("usher templates", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	name := fs.String("name", "", "the template's `name` (create)")
	claimsFile := fs.String("claims-file", "", "read the claims (a JSON object) from this `file`")
	preset := fs.String("preset", "", "start from this `preset` (see usher templates presets)")
	lifetime := fs.Int("lifetime", 0, "token lifetime in `seconds`")
	skew := fs.Int("skew", -1, "allowed clock skew in `seconds`")
	alg := fs.String("alg", "", "sign with the instance key of this `algorithm`")
	hsFile := fs.String("hs256-secret-file", "", "sign HS256 with the shared secret in this `file`")
	rsFile := fs.String("rs256-key-file", "", "sign RS256 with the PEM private key in this `file`")
	user := fs.String("user", "", "the `user ID` to preview for")
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &usageError{templatesUsage}
	}
	action, rest := pos[0], pos[1:]
	wantArgs := map[string]int{"create": 0, "update": 1, "list": 0, "get": 1, "delete": 1, "preview": 1}
	if action == "presets" {
		cfg, err := config.Load(*cfgPath, environ)
		if err != nil {
			return err
		}
		return printPresets(stdout, cfg.Issuer, rest)
	}
	if n, ok := wantArgs[action]; !ok || len(rest) != n {
		return &usageError{templatesUsage}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	settings := []string{"name", "claims-file", "preset", "lifetime", "skew", "alg", "hs256-secret-file", "rs256-key-file"}
	for _, s := range settings {
		if set[s] && action != "create" && action != "update" {
			return &usageError{"--" + s + " goes with templates create and update"}
		}
	}
	switch {
	case set["user"] != (action == "preview"):
		return &usageError{"templates preview needs --user, and only preview takes it"}
	case action == "create" && !set["name"]:
		return &usageError{"templates create needs --name"}
	case action == "update" && set["name"]:
		return &usageError{"a template keeps its name; create a new one to rename"}
	case action == "create" && set["claims-file"] == set["preset"]:
		return &usageError{"templates create needs exactly one of --claims-file and --preset"}
	case set["claims-file"] && set["preset"]:
		return &usageError{"give --claims-file or --preset, not both"}
	}

	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		return err
	}
	db, err := openStorage(ctx, cfg, cfg.Database.MigrateOnStart)
	if err != nil {
		return err
	}
	defer db.Close()

	switch action {
	case "list":
		all, err := db.ListJWTTemplates(ctx)
		if err != nil {
			return err
		}
		out := make([]templateView, 0, len(all))
		for _, t := range all {
			out = append(out, viewTemplate(t, nil))
		}
		return writeJSONTo(stdout, out)
	case "get":
		t, err := db.GetJWTTemplateByName(ctx, rest[0])
		if err != nil {
			return templateNotFound(err, rest[0])
		}
		return writeJSONTo(stdout, viewTemplate(t, nil))
	}

	// The rest may seal a key or render: they need the instance keys.
	svc, err := templateService(ctx, cfg, db, stderr)
	if err != nil {
		return err
	}
	switch action {
	case "delete":
		if err := svc.Delete(ctx, rest[0]); err != nil {
			return templateNotFound(err, rest[0])
		}
		_, err := fmt.Fprintf(stdout, "deleted template %s\n", rest[0])
		return err
	case "preview":
		out, err := svc.Preview(ctx, rest[0], *user)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no template %s, or no user %s", rest[0], *user)
		}
		if err != nil {
			return err
		}
		return writeJSONTo(stdout, out)
	}

	var spec provider.TemplateSpec
	if action == "update" {
		cur, err := db.GetJWTTemplateByName(ctx, rest[0])
		if err != nil {
			return templateNotFound(err, rest[0])
		}
		if len(cur.CustomKey) > 0 && !set["alg"] && !set["hs256-secret-file"] && !set["rs256-key-file"] {
			return &usageError{"this template signs with its own key: give it again (--hs256-secret-file or --rs256-key-file), or --alg for an instance key"}
		}
		skewNow := cur.ClockSkew
		spec = provider.TemplateSpec{Name: cur.Name, Claims: cur.Claims, Lifetime: cur.Lifetime, ClockSkew: &skewNow, Algorithm: cur.Algorithm}
		if len(cur.CustomKey) > 0 {
			spec.Algorithm = ""
		}
	} else {
		spec.Name = *name
	}
	if set["claims-file"] {
		if spec.Claims, err = os.ReadFile(*claimsFile); err != nil {
			return fmt.Errorf("--claims-file: %w", err)
		}
	}
	if set["preset"] {
		p, ok := claims.PresetByName(*preset)
		if !ok {
			return fmt.Errorf("--preset: no preset %q; see usher templates presets", *preset)
		}
		spec.Claims = p.Claims
		if !set["lifetime"] && action == "create" {
			spec.Lifetime = p.Lifetime
		}
		if p.Algorithm == "HS256" && action == "create" && !set["hs256-secret-file"] && !set["rs256-key-file"] && !set["alg"] {
			return &usageError{"the " + p.Name + " preset signs HS256 with your database's shared secret: give --hs256-secret-file (or --alg to sign with an instance key)"}
		}
	}
	if set["lifetime"] {
		spec.Lifetime = time.Duration(*lifetime) * time.Second
		if *lifetime <= 0 {
			spec.Lifetime = -1 // refused by validation with the range
		}
	}
	if set["skew"] {
		d := time.Duration(*skew) * time.Second
		spec.ClockSkew = &d
	}
	if set["hs256-secret-file"] || set["rs256-key-file"] {
		spec.Algorithm = "" // the key says how it signs
	}
	if set["alg"] {
		spec.Algorithm = *alg
	}
	if set["hs256-secret-file"] {
		b, err := os.ReadFile(*hsFile)
		if err != nil {
			return fmt.Errorf("--hs256-secret-file: %w", err)
		}
		spec.HS256Secret = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	if set["rs256-key-file"] {
		if spec.RS256PrivateKeyPEM, err = os.ReadFile(*rsFile); err != nil {
			return fmt.Errorf("--rs256-key-file: %w", err)
		}
	}
	var rec *storage.JWTTemplate
	var warnings []claims.Problem
	if action == "create" {
		rec, warnings, err = svc.Create(ctx, spec)
	} else {
		rec, warnings, err = svc.Update(ctx, rest[0], spec)
	}
	if errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("a template named %s already exists", spec.Name)
	}
	if err != nil {
		return err
	}
	return writeJSONTo(stdout, viewTemplate(rec, warnings))
}

// templateService opens the instance keys (to seal custom keys and know
// the signing algorithms) and returns the template service.
func templateService(ctx context.Context, cfg config.Config, db storage.Storage, stderr io.Writer) (*provider.Templates, error) {
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return nil, err
	}
	km, err := keys.New(ctx, db, mk.sealer, keysOptions(cfg, newLogger(cfg, stderr)))
	if err != nil {
		return nil, err
	}
	return &provider.Templates{Store: db, Keys: km}, nil
}

func templateNotFound(err error, name string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no template %s", name)
	}
	return err
}

// printPresets lists the presets, or prints one with its set-up notes.
func printPresets(stdout io.Writer, issuer string, rest []string) error {
	if len(rest) == 0 {
		for _, p := range claims.Presets() {
			if _, err := fmt.Fprintf(stdout, "%-10s %s\n", p.Name, p.Title); err != nil {
				return err
			}
		}
		return nil
	}
	if len(rest) > 1 {
		return &usageError{templatesUsage}
	}
	p, ok := claims.PresetByName(rest[0])
	if !ok {
		return fmt.Errorf("no preset %q; see usher templates presets", rest[0])
	}
	var claimsOut strings.Builder
	enc := json.NewEncoder(&claimsOut)
	enc.SetIndent("", "  ")
	var v any
	if err := json.Unmarshal(p.Claims, &v); err != nil {
		return err
	}
	if err := enc.Encode(v); err != nil {
		return err
	}
	setup := p.SetupFor(issuer, issuer+"/keys", p.Name)
	_, err := fmt.Fprintf(stdout, "%s (%s): lifetime %s, %s\n\nClaims:\n%s\n%s\n", p.Title, p.Name, p.Lifetime, p.Algorithm, claimsOut.String(), setup)
	return err
}

func writeJSONTo(w io.Writer, v any) error {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}

// syncTemplates creates or updates each template the configuration
// declares, and says how many of each.
func syncTemplates(ctx context.Context, declared []config.Template, svc *provider.Templates) (created, updated int, err error) {
	for _, d := range declared {
		spec := provider.TemplateSpec{Name: d.Name, Lifetime: d.Lifetime.Std(), Algorithm: d.SigningAlgorithm}
		if d.AllowedClockSkew != nil {
			skew := d.AllowedClockSkew.Std()
			spec.ClockSkew = &skew
		}
		if d.Preset != "" {
			p, ok := claims.PresetByName(d.Preset)
			if !ok {
				return created, updated, fmt.Errorf("template %s: no preset %q", d.Name, d.Preset)
			}
			spec.Claims = p.Claims
			if spec.Lifetime == 0 {
				spec.Lifetime = p.Lifetime
			}
		} else if spec.Claims, err = json.Marshal(d.Claims); err != nil {
			return created, updated, fmt.Errorf("template %s: claims: %w", d.Name, err)
		}
		if d.HS256SecretFile != "" {
			b, err := os.ReadFile(d.HS256SecretFile)
			if err != nil {
				return created, updated, fmt.Errorf("template %s: hs256_secret_file: %w", d.Name, err)
			}
			spec.HS256Secret = []byte(strings.TrimRight(string(b), "\r\n"))
		}
		if d.RS256KeyFile != "" {
			if spec.RS256PrivateKeyPEM, err = os.ReadFile(d.RS256KeyFile); err != nil {
				return created, updated, fmt.Errorf("template %s: rs256_key_file: %w", d.Name, err)
			}
		}
		_, _, err := svc.Update(ctx, d.Name, spec)
		if errors.Is(err, storage.ErrNotFound) {
			_, _, err = svc.Create(ctx, spec)
			created++
		} else {
			updated++
		}
		if err != nil {
			return created, updated, fmt.Errorf("template %s in the configuration file: %w", d.Name, err)
		}
	}
	return created, updated, nil
}
