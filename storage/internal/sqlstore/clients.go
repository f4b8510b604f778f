package sqlstore

import (
	"context"
	"time"

	"github.com/usher-id/usher/storage"
)

const clientColumns = `id, name, secret_hash, auth_method, application_type, redirect_uris, post_logout_redirect_uris,
	grant_types, response_types, scopes, cors_origins, jwks_uri, jwks, access_token_format,
	access_token_ttl_seconds, id_token_ttl_seconds, refresh_idle_ttl_seconds, refresh_max_ttl_seconds,
	id_token_userinfo_claims, first_party, source, access_token_template, created_at, updated_at`

func scanClient(r Row) (*storage.Client, error) {
	c := new(storage.Client)
	err := r.Scan(&c.ID, &c.Name, &c.SecretHash, &c.AuthMethod, &c.ApplicationType, list(&c.RedirectURIs), list(&c.PostLogoutRedirectURIs),
		list(&c.GrantTypes), list(&c.ResponseTypes), list(&c.Scopes), list(&c.CORSOrigins), &c.JWKSURI, raw(&c.JWKS), &c.AccessTokenFormat,
		dur(&c.AccessTokenTTL), dur(&c.IDTokenTTL), dur(&c.RefreshTokenIdleTTL), dur(&c.RefreshTokenMaxTTL),
		&c.IDTokenUserinfoClaims, &c.FirstParty, &c.Source, &c.AccessTokenTemplate, tm(&c.CreatedAt), tm(&c.UpdatedAt))
	return c, err
}

func (s *Store) clientArgs(c *storage.Client) []any {
	return []any{c.ID, c.Name, c.SecretHash, c.AuthMethod, c.ApplicationType, listArg(c.RedirectURIs), listArg(c.PostLogoutRedirectURIs),
		listArg(c.GrantTypes), listArg(c.ResponseTypes), listArg(c.Scopes), listArg(c.CORSOrigins), c.JWKSURI, string(c.JWKS), c.AccessTokenFormat,
		seconds(c.AccessTokenTTL), seconds(c.IDTokenTTL), seconds(c.RefreshTokenIdleTTL), seconds(c.RefreshTokenMaxTTL),
		c.IDTokenUserinfoClaims, c.FirstParty, c.Source, c.AccessTokenTemplate, s.t(c.CreatedAt), s.t(c.UpdatedAt)}
}

// CreateClient implements storage.Clients.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	if c.ID == "" {
		c.ID = storage.NewID(storage.PrefixClient)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.exec(ctx, `INSERT INTO clients (`+clientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
		$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`, s.clientArgs(c)...)
	return err
}

// GetClient implements storage.Clients.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c, err := scanClient(s.q.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
	return c, s.d.MapError(err)
}

// UpdateClient implements storage.Clients.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	prev := c.UpdatedAt
	c.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	args := s.clientArgs(c)
	args = append(args[:22:22], args[23]) // created_at is never rewritten
	err := s.execOne(ctx, `UPDATE clients SET name = $2, secret_hash = $3, auth_method = $4, application_type = $5,
		redirect_uris = $6, post_logout_redirect_uris = $7, grant_types = $8, response_types = $9, scopes = $10,
		cors_origins = $11, jwks_uri = $12, jwks = $13, access_token_format = $14, access_token_ttl_seconds = $15,
		id_token_ttl_seconds = $16, refresh_idle_ttl_seconds = $17, refresh_max_ttl_seconds = $18,
		id_token_userinfo_claims = $19, first_party = $20, source = $21, access_token_template = $22,
		updated_at = $23 WHERE id = $1`, args...)
	if err != nil {
		c.UpdatedAt = prev
	}
	return err
}

// DeleteClient implements storage.Clients.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM clients WHERE id = $1`, id)
}

// ListClients implements storage.Clients.
func (s *Store) ListClients(ctx context.Context, page storage.Page) ([]*storage.Client, error) {
	page = page.Normalize()
	return queryList(ctx, s, `SELECT `+clientColumns+` FROM clients ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2`,
		[]any{page.Limit, page.Offset}, scanClient)
}
