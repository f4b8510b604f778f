package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/usher-id/usher/storage"
)

const templateColumns = `id, name, claims, lifetime_seconds, clock_skew_seconds, algorithm, custom_key, created_at, updated_at`

func scanTemplate(r Row) (*storage.JWTTemplate, error) {
	t := new(storage.JWTTemplate)
	err := r.Scan(&t.ID, &t.Name, raw(&t.Claims), dur(&t.Lifetime), dur(&t.ClockSkew), &t.Algorithm, &t.CustomKey,
		tm(&t.CreatedAt), tm(&t.UpdatedAt))
	if len(t.CustomKey) == 0 {
		t.CustomKey = nil
	}
	return t, err
}

// templateArgs checks t and returns its columns in templateColumns order.
// Claims are kept as given, not trimmed or re-encoded, so they read back
// byte for byte.
func (s *Store) templateArgs(t *storage.JWTTemplate) ([]any, error) {
	if t.Name == "" {
		return nil, fmt.Errorf("%w: a JWT template needs a name", storage.ErrInvalid)
	}
	claims := "{}"
	if c := bytes.TrimSpace(t.Claims); len(c) > 0 {
		if c[0] != '{' || !json.Valid(c) {
			return nil, fmt.Errorf("%w: JWT template claims must be a JSON object", storage.ErrInvalid)
		}
		claims = string(t.Claims)
	}
	for field, d := range map[string]time.Duration{"lifetime": t.Lifetime, "clock skew": t.ClockSkew} {
		if d%time.Second != 0 {
			return nil, fmt.Errorf("%w: JWT template %s %v is not a whole number of seconds", storage.ErrInvalid, field, d)
		}
	}
	var key any // NULL: the instance keys
	if len(t.CustomKey) > 0 {
		key = t.CustomKey
	}
	return []any{t.ID, t.Name, claims, seconds(t.Lifetime), seconds(t.ClockSkew), t.Algorithm, key,
		s.t(t.CreatedAt), s.t(t.UpdatedAt)}, nil
}

// CreateJWTTemplate implements storage.JWTTemplates.
func (s *Store) CreateJWTTemplate(ctx context.Context, t *storage.JWTTemplate) error {
	if t.ID == "" {
		t.ID = storage.NewID(storage.PrefixTemplate)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	args, err := s.templateArgs(t)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO jwt_templates (`+templateColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, args...)
	return err
}

// GetJWTTemplate implements storage.JWTTemplates.
func (s *Store) GetJWTTemplate(ctx context.Context, id string) (*storage.JWTTemplate, error) {
	t, err := scanTemplate(s.q.QueryRow(ctx, `SELECT `+templateColumns+` FROM jwt_templates WHERE id = $1`, id))
	return t, s.d.MapError(err)
}

// GetJWTTemplateByName implements storage.JWTTemplates.
func (s *Store) GetJWTTemplateByName(ctx context.Context, name string) (*storage.JWTTemplate, error) {
	t, err := scanTemplate(s.q.QueryRow(ctx, `SELECT `+templateColumns+` FROM jwt_templates WHERE name = $1`, name))
	return t, s.d.MapError(err)
}

// UpdateJWTTemplate implements storage.JWTTemplates.
func (s *Store) UpdateJWTTemplate(ctx context.Context, t *storage.JWTTemplate) error {
	prev := t.UpdatedAt
	t.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	args, err := s.templateArgs(t)
	if err == nil {
		args = append(args[:7:7], args[8]) // created_at is never rewritten
		err = s.execOne(ctx, `UPDATE jwt_templates SET name = $2, claims = $3, lifetime_seconds = $4,
			clock_skew_seconds = $5, algorithm = $6, custom_key = $7, updated_at = $8 WHERE id = $1`, args...)
	}
	if err != nil {
		t.UpdatedAt = prev
	}
	return err
}

// DeleteJWTTemplate implements storage.JWTTemplates.
func (s *Store) DeleteJWTTemplate(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM jwt_templates WHERE id = $1`, id)
}

// ListJWTTemplates implements storage.JWTTemplates. The order is by name
// byte for byte, sorted here: ORDER BY would follow the database's
// collation, which on PostgreSQL is usually not bytewise.
func (s *Store) ListJWTTemplates(ctx context.Context) ([]*storage.JWTTemplate, error) {
	list, err := queryList(ctx, s, `SELECT `+templateColumns+` FROM jwt_templates`, nil, scanTemplate)
	slices.SortFunc(list, func(a, b *storage.JWTTemplate) int { return strings.Compare(a.Name, b.Name) })
	return list, err
}
