package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/usher-id/usher/storage"
)

// blobArg stores an empty byte string as NULL; blob reads NULL back as nil,
// so "none" is always nil whichever way it was given.
func blobArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// blob scans a nullable BLOB or BYTEA column; NULL and empty are nil.
type blobCol struct{ dst *[]byte }

func (c blobCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = nil
	case []byte:
		if len(v) == 0 {
			*c.dst = nil
		} else {
			*c.dst = slices.Clone(v)
		}
	default:
		return fmt.Errorf("sqlstore: cannot scan %T as bytes", src)
	}
	return nil
}

func blob(dst *[]byte) blobCol { return blobCol{dst} }

// ---- connections ----

const connectionColumns = `id, slug, type, display_name, icon_url, enabled, client_id, client_secret, issuer, scopes,
	saml_metadata_url, saml_metadata, email_domains, allow_sign_up, trust_email_verified, store_tokens,
	created_at, updated_at`

func scanConnection(r Row) (*storage.Connection, error) {
	c := new(storage.Connection)
	err := r.Scan(&c.ID, &c.Slug, &c.Type, &c.DisplayName, &c.IconURL, &c.Enabled, &c.ClientID, blob(&c.ClientSecret), &c.Issuer,
		list(&c.Scopes), &c.SAMLMetadataURL, &c.SAMLMetadata, list(&c.EmailDomains), &c.AllowSignUp, &c.TrustEmailVerified,
		&c.StoreTokens, tm(&c.CreatedAt), tm(&c.UpdatedAt))
	return c, err
}

// connectionArgs checks c and returns its columns in connectionColumns order.
func (s *Store) connectionArgs(c *storage.Connection) ([]any, error) {
	if c.Slug == "" {
		return nil, fmt.Errorf("%w: a connection needs a slug", storage.ErrInvalid)
	}
	switch c.Type {
	case storage.ConnectionGitHub, storage.ConnectionGoogle, storage.ConnectionOIDC, storage.ConnectionSAML:
	default:
		return nil, fmt.Errorf("%w: unknown connection type %q", storage.ErrInvalid, c.Type)
	}
	return []any{c.ID, c.Slug, c.Type, c.DisplayName, c.IconURL, c.Enabled, c.ClientID, blobArg(c.ClientSecret), c.Issuer,
		listArg(c.Scopes), c.SAMLMetadataURL, c.SAMLMetadata, listArg(c.EmailDomains), c.AllowSignUp, c.TrustEmailVerified,
		c.StoreTokens, s.t(c.CreatedAt), s.t(c.UpdatedAt)}, nil
}

// CreateConnection implements storage.Connections. An ID given by the
// caller is kept; the times are set to now.
func (s *Store) CreateConnection(ctx context.Context, c *storage.Connection) error {
	id, created, updated := c.ID, c.CreatedAt, c.UpdatedAt
	if c.ID == "" {
		c.ID = storage.NewID(storage.PrefixConnection)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	c.CreatedAt, c.UpdatedAt = now, now
	args, err := s.connectionArgs(c)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO connections (`+connectionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
			$11, $12, $13, $14, $15, $16, $17, $18)`, args...)
	}
	if err != nil {
		c.ID, c.CreatedAt, c.UpdatedAt = id, created, updated
	}
	return err
}

// GetConnection implements storage.Connections.
func (s *Store) GetConnection(ctx context.Context, id string) (*storage.Connection, error) {
	c, err := scanConnection(s.q.QueryRow(ctx, `SELECT `+connectionColumns+` FROM connections WHERE id = $1`, id))
	return c, s.d.MapError(err)
}

// GetConnectionBySlug implements storage.Connections.
func (s *Store) GetConnectionBySlug(ctx context.Context, slug string) (*storage.Connection, error) {
	c, err := scanConnection(s.q.QueryRow(ctx, `SELECT `+connectionColumns+` FROM connections WHERE slug = $1`, slug))
	return c, s.d.MapError(err)
}

// UpdateConnection implements storage.Connections.
func (s *Store) UpdateConnection(ctx context.Context, c *storage.Connection) error {
	prev := c.UpdatedAt
	c.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	args, err := s.connectionArgs(c)
	if err == nil {
		args = append(args[:16:16], args[17]) // created_at is never rewritten
		err = s.execOne(ctx, `UPDATE connections SET slug = $2, type = $3, display_name = $4, icon_url = $5, enabled = $6,
			client_id = $7, client_secret = $8, issuer = $9, scopes = $10, saml_metadata_url = $11, saml_metadata = $12,
			email_domains = $13, allow_sign_up = $14, trust_email_verified = $15, store_tokens = $16, updated_at = $17
			WHERE id = $1`, args...)
	}
	if err != nil {
		c.UpdatedAt = prev
	}
	return err
}

// DeleteConnection implements storage.Connections; the schema deletes its
// external identities and upstream logins with it.
func (s *Store) DeleteConnection(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM connections WHERE id = $1`, id)
}

// ListConnections implements storage.Connections. The order is by slug
// byte for byte, sorted here: ORDER BY would follow the database's
// collation, which on PostgreSQL is usually not bytewise.
func (s *Store) ListConnections(ctx context.Context) ([]*storage.Connection, error) {
	list, err := queryList(ctx, s, `SELECT `+connectionColumns+` FROM connections`, nil, scanConnection)
	slices.SortFunc(list, func(a, b *storage.Connection) int { return strings.Compare(a.Slug, b.Slug) })
	return list, err
}

// ---- external identities ----

const externalIdentityColumns = `id, connection_id, subject, user_id, email, email_verified, access_token, refresh_token,
	created_at, last_sign_in_at`

func scanExternalIdentity(r Row) (*storage.ExternalIdentity, error) {
	e := new(storage.ExternalIdentity)
	err := r.Scan(&e.ID, &e.ConnectionID, &e.Subject, &e.UserID, &e.Email, &e.EmailVerified, blob(&e.AccessToken),
		blob(&e.RefreshToken), tm(&e.CreatedAt), tm(&e.LastSignInAt))
	return e, err
}

// CreateExternalIdentity implements storage.ExternalIdentities. It assigns
// the ID and CreatedAt when they are empty; an unknown user or connection
// is ErrInvalid.
func (s *Store) CreateExternalIdentity(ctx context.Context, e *storage.ExternalIdentity) error {
	if e.ConnectionID == "" || e.Subject == "" || e.UserID == "" {
		return fmt.Errorf("%w: an external identity needs a connection, a subject and a user", storage.ErrInvalid)
	}
	if e.ID == "" {
		e.ID = storage.NewID(storage.PrefixExternalIdentity)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	_, err := s.exec(ctx, `INSERT INTO external_identities (`+externalIdentityColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ID, e.ConnectionID, e.Subject, e.UserID, e.Email, e.EmailVerified, blobArg(e.AccessToken), blobArg(e.RefreshToken),
		s.t(e.CreatedAt), s.t(e.LastSignInAt))
	return err
}

// GetExternalIdentity implements storage.ExternalIdentities. Subjects are
// compared exactly: upstreams define them as case-sensitive.
func (s *Store) GetExternalIdentity(ctx context.Context, connectionID, subject string) (*storage.ExternalIdentity, error) {
	e, err := scanExternalIdentity(s.q.QueryRow(ctx, `SELECT `+externalIdentityColumns+` FROM external_identities
		WHERE connection_id = $1 AND subject = $2`, connectionID, subject))
	return e, s.d.MapError(err)
}

// ListUserExternalIdentities implements storage.ExternalIdentities.
func (s *Store) ListUserExternalIdentities(ctx context.Context, userID string) ([]*storage.ExternalIdentity, error) {
	return queryList(ctx, s, `SELECT `+externalIdentityColumns+` FROM external_identities
		WHERE user_id = $1 ORDER BY created_at, id`, []any{userID}, scanExternalIdentity)
}

// UpdateExternalIdentity implements storage.ExternalIdentities: it writes
// the email, whether it is verified, the tokens and the last sign-in.
func (s *Store) UpdateExternalIdentity(ctx context.Context, e *storage.ExternalIdentity) error {
	return s.execOne(ctx, `UPDATE external_identities SET email = $2, email_verified = $3, access_token = $4,
		refresh_token = $5, last_sign_in_at = $6 WHERE id = $1`,
		e.ID, e.Email, e.EmailVerified, blobArg(e.AccessToken), blobArg(e.RefreshToken), s.t(e.LastSignInAt))
}

// DeleteExternalIdentity implements storage.ExternalIdentities.
func (s *Store) DeleteExternalIdentity(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM external_identities WHERE id = $1`, id)
}

// ---- upstream logins ----

const upstreamLoginColumns = `id, state_hash, connection_id, browser_hash, pkce_verifier, nonce, flow_id,
	link_user_id, created_at, expires_at, used_at`

func scanUpstreamLogin(r Row) (*storage.UpstreamLogin, error) {
	l := new(storage.UpstreamLogin)
	err := r.Scan(&l.ID, &l.StateHash, &l.ConnectionID, blob(&l.BrowserHash), &l.PKCEVerifier, &l.Nonce, &l.FlowID,
		&l.LinkUserID, tm(&l.CreatedAt), tm(&l.ExpiresAt), tm(&l.UsedAt))
	return l, err
}

// CreateUpstreamLogin implements storage.UpstreamLogins. It assigns the ID
// and CreatedAt when they are empty; a taken state hash is ErrConflict and
// an unknown connection ErrInvalid.
func (s *Store) CreateUpstreamLogin(ctx context.Context, l *storage.UpstreamLogin) error {
	if len(l.StateHash) == 0 || l.ConnectionID == "" || l.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: an upstream login needs a state hash, a connection and an expiry", storage.ErrInvalid)
	}
	if l.ID == "" {
		l.ID = storage.NewID(storage.PrefixUpstreamLogin)
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	_, err := s.exec(ctx, `INSERT INTO upstream_logins (`+upstreamLoginColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		l.ID, l.StateHash, l.ConnectionID, blobArg(l.BrowserHash), l.PKCEVerifier, l.Nonce, l.FlowID,
		l.LinkUserID, s.t(l.CreatedAt), s.t(l.ExpiresAt), s.t(l.UsedAt))
	return err
}

// UseUpstreamLogin implements storage.UpstreamLogins in one conditional
// UPDATE ... RETURNING, so of two concurrent uses exactly one gets the
// login. Like a session, a login is over at ExpiresAt itself.
func (s *Store) UseUpstreamLogin(ctx context.Context, stateHash []byte, at time.Time) (*storage.UpstreamLogin, error) {
	l, err := scanUpstreamLogin(s.q.QueryRow(ctx, `UPDATE upstream_logins SET used_at = $2
		WHERE state_hash = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING `+upstreamLoginColumns, stateHash, s.t(at)))
	if err = s.d.MapError(err); err != nil {
		return nil, err
	}
	return l, nil
}
