package storage

import (
	"context"
	"encoding/json"
	"time"
)

// JWTTemplate is a named template that shapes tokens for a database or API
// (package claims parses and renders Claims).
//
// Backends refuse with ErrInvalid a template without a name, Claims that are
// not a JSON object, and a Lifetime or ClockSkew that is not a whole number
// of seconds (JWT times are whole seconds, and backends keep seconds).
type JWTTemplate struct {
	ID string // PrefixTemplate_...
	// Name is unique and case-sensitive; names starting with "_" are Usher's
	// own (e.g. "_session", the custom session claims).
	Name string
	// Claims is a JSON object, read back byte for byte as written; nil is
	// stored as {}.
	Claims    json.RawMessage
	Lifetime  time.Duration // of minted tokens
	ClockSkew time.Duration // nbf = now - skew
	// Algorithm signs minted tokens: RS256, ES256 or EdDSA with the instance
	// keys, or HS256 / RS256 with CustomKey.
	Algorithm string
	// CustomKey is the template's own signing key (an HS256 secret or an
	// RS256 private key, PKCS#8 DER), sealed under the master key by the
	// caller; nil (or empty, which reads back as nil) means the instance keys.
	CustomKey []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// JWTTemplates stores templates.
type JWTTemplates interface {
	// CreateJWTTemplate assigns the ID and times when they are empty or
	// zero; a taken name is ErrConflict.
	CreateJWTTemplate(ctx context.Context, t *JWTTemplate) error
	GetJWTTemplate(ctx context.Context, id string) (*JWTTemplate, error)
	GetJWTTemplateByName(ctx context.Context, name string) (*JWTTemplate, error)
	// UpdateJWTTemplate writes every field but ID and CreatedAt and sets
	// UpdatedAt; an unknown ID is ErrNotFound, a taken name ErrConflict.
	UpdateJWTTemplate(ctx context.Context, t *JWTTemplate) error
	DeleteJWTTemplate(ctx context.Context, id string) error
	// ListJWTTemplates returns every template ordered by name, byte by byte
	// (so "Z" < "_session" < "a" on every backend).
	ListJWTTemplates(ctx context.Context) ([]*JWTTemplate, error)
}
