package provider

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/usher-id/usher/claims"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
)

// Bounds of a template's settings, as the hosted service Usher replaces
// has them.
const (
	MinTemplateLifetime     = 30 * time.Second
	MaxTemplateLifetime     = 10 * 365 * 24 * time.Hour
	DefaultTemplateLifetime = 60 * time.Second
	MaxTemplateSkew         = 300 * time.Second
	DefaultTemplateSkew     = 5 * time.Second
	minHS256Secret          = 32 // bytes: HS256 needs a key as long as its hash
)

var templateName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// TemplateSpec is a template as an operator writes it. Exactly one way to
// sign: Algorithm alone (the instance key of that algorithm), or with
// HS256Secret or RS256PrivateKeyPEM (the template's own key).
type TemplateSpec struct {
	Name               string
	Claims             json.RawMessage
	Lifetime           time.Duration // 0: 60s
	ClockSkew          *time.Duration
	Algorithm          string // "" : the default instance algorithm
	HS256Secret        []byte
	RS256PrivateKeyPEM []byte
}

// TemplateError lists every problem of a template; Problems carry JSON
// paths for the claims.
type TemplateError struct {
	Problems []claims.Problem
}

func (e *TemplateError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Path + ": " + p.Message
	}
	return "invalid template: " + strings.Join(parts, "; ")
}

// Templates stores JWT templates: it validates them and seals their own
// keys under the master key. Minting reads a template on every use, so a
// change applies to the next token everywhere.
type Templates struct {
	Store interface {
		storage.JWTTemplates
		storage.Users
	}
	Keys     *keys.Manager
	Provider *Provider // optional: names the issuer in previews
	Now      func() time.Time
}

// build validates spec and returns the record it describes, with any
// warnings.
func (s *Templates) build(spec TemplateSpec) (*storage.JWTTemplate, []claims.Problem, error) {
	var problems []claims.Problem
	add := func(path, format string, args ...any) {
		problems = append(problems, claims.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if spec.Name != SessionClaimsTemplate && !templateName.MatchString(spec.Name) {
		add("$.name", "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	_, warnings, err := claims.Parse(spec.Claims)
	var verr *claims.ValidationError
	switch {
	case errors.As(err, &verr):
		problems = append(problems, verr.Problems...)
	case err != nil:
		add("$.claims", "%v", err)
	}
	rec := &storage.JWTTemplate{Name: spec.Name, Claims: spec.Claims, Lifetime: spec.Lifetime, ClockSkew: DefaultTemplateSkew, Algorithm: spec.Algorithm}
	if rec.Lifetime == 0 {
		rec.Lifetime = DefaultTemplateLifetime
	}
	if spec.ClockSkew != nil {
		rec.ClockSkew = *spec.ClockSkew
	}
	if rec.Lifetime < MinTemplateLifetime || rec.Lifetime > MaxTemplateLifetime {
		add("$.lifetime", "%s is not from 30s to 10 years", rec.Lifetime)
	}
	if rec.ClockSkew < 0 || rec.ClockSkew > MaxTemplateSkew {
		add("$.allowed_clock_skew", "%s is not from 0s to 300s", rec.ClockSkew)
	}
	switch {
	case len(spec.HS256Secret) > 0 && len(spec.RS256PrivateKeyPEM) > 0:
		add("$.signing_key", "give one custom key, HS256 or RS256")
	case len(spec.HS256Secret) > 0:
		if rec.Algorithm != "" && rec.Algorithm != "HS256" {
			add("$.signing_algorithm", "an HS256 secret signs HS256, not %s", rec.Algorithm)
		}
		if len(spec.HS256Secret) < minHS256Secret {
			add("$.signing_key", "an HS256 secret must be at least %d bytes", minHS256Secret)
		}
		rec.Algorithm, rec.CustomKey = "HS256", s.Keys.Seal(spec.HS256Secret, keys.TemplateKeyPurpose(spec.Name))
	case len(spec.RS256PrivateKeyPEM) > 0:
		der, err := rsaKeyDER(spec.RS256PrivateKeyPEM)
		if err != nil {
			add("$.signing_key", "%v", err)
		}
		if rec.Algorithm != "" && rec.Algorithm != "RS256" {
			add("$.signing_algorithm", "an RSA key signs RS256, not %s", rec.Algorithm)
		}
		rec.Algorithm, rec.CustomKey = "RS256", s.Keys.Seal(der, keys.TemplateKeyPurpose(spec.Name))
	default:
		if rec.Algorithm == "" {
			rec.Algorithm = s.Keys.DefaultAlgorithm()
		}
		if !slices.Contains(s.Keys.Algorithms(), rec.Algorithm) {
			add("$.signing_algorithm", "%q is not an instance key algorithm (keys.algorithms has %s); give a custom key for HS256",
				rec.Algorithm, strings.Join(s.Keys.Algorithms(), ", "))
		}
		if max := s.Keys.MaxTokenLifetime(); rec.Lifetime > max {
			add("$.lifetime", "%s is longer than keys.max_token_lifetime (%s), after which an instance key may leave the JWKS; raise that setting or use a custom key", rec.Lifetime, max)
		}
	}
	if len(problems) > 0 {
		return nil, warnings, &TemplateError{Problems: problems}
	}
	return rec, warnings, nil
}

// rsaKeyDER reads an RSA private key in PEM (PKCS#8 or PKCS#1) and returns
// it as PKCS#8 DER.
func rsaKeyDER(pemBytes []byte) ([]byte, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("the RS256 key is not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("the RS256 key is a %q PEM block, not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("the RS256 key cannot be read: %v", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the RS256 key is not an RSA key")
	}
	if rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("the RS256 key has %d bits; use at least 2048", rk.N.BitLen())
	}
	return x509.MarshalPKCS8PrivateKey(rk)
}

// Create validates and stores a new template; a taken name is
// storage.ErrConflict.
func (s *Templates) Create(ctx context.Context, spec TemplateSpec) (*storage.JWTTemplate, []claims.Problem, error) {
	rec, warnings, err := s.build(spec)
	if err != nil {
		return nil, warnings, err
	}
	if err := s.Store.CreateJWTTemplate(ctx, rec); err != nil {
		return nil, warnings, err
	}
	return rec, warnings, nil
}

// Update replaces the template called name with spec (same name).
func (s *Templates) Update(ctx context.Context, name string, spec TemplateSpec) (*storage.JWTTemplate, []claims.Problem, error) {
	cur, err := s.Store.GetJWTTemplateByName(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	spec.Name = name
	rec, warnings, err := s.build(spec)
	if err != nil {
		return nil, warnings, err
	}
	rec.ID, rec.CreatedAt = cur.ID, cur.CreatedAt
	if err := s.Store.UpdateJWTTemplate(ctx, rec); err != nil {
		return nil, warnings, err
	}
	return rec, warnings, nil
}

// Delete removes the template called name.
func (s *Templates) Delete(ctx context.Context, name string) error {
	cur, err := s.Store.GetJWTTemplateByName(ctx, name)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteJWTTemplate(ctx, cur.ID); err != nil {
		return err
	}
	return nil
}

// Preview renders the template for a user, without signing: the claims a
// minted token would carry, Usher's own included.
func (s *Templates) Preview(ctx context.Context, name, userID string) (map[string]any, error) {
	rec, err := s.Store.GetJWTTemplateByName(ctx, name)
	if err != nil {
		return nil, err
	}
	u, err := s.Store.GetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	tpl, _, err := claims.Parse(rec.Claims)
	if err != nil {
		return nil, err
	}
	out, err := tpl.Render(claims.Context{User: u})
	if err != nil {
		return nil, err
	}
	if name == SessionClaimsTemplate {
		return out, nil
	}
	now := s.now().UTC().Truncate(time.Second)
	out["sub"], out["iat"], out["exp"], out["nbf"] = u.ID, now.Unix(), now.Add(rec.Lifetime).Unix(), now.Add(-rec.ClockSkew).Unix()
	if s.Provider != nil {
		out["iss"] = s.Provider.opts.Issuer
	}
	return out, nil
}

func (s *Templates) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
