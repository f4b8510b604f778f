package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/usher-id/usher/storage"
)

const userColumns = `id, username, first_name, last_name, image_url, password_hash,
	public_metadata, private_metadata, unsafe_metadata, banned, locked_until, failed_attempts,
	created_at, updated_at, last_sign_in_at, last_active_at`

func scanUser(r Row) (*storage.User, error) {
	u := new(storage.User)
	err := r.Scan(&u.ID, &u.Username, &u.FirstName, &u.LastName, &u.ImageURL, &u.PasswordHash,
		raw(&u.PublicMetadata), raw(&u.PrivateMetadata), raw(&u.UnsafeMetadata), &u.Banned, tm(&u.LockedUntil), &u.FailedAttempts,
		tm(&u.CreatedAt), tm(&u.UpdatedAt), tm(&u.LastSignInAt), tm(&u.LastActiveAt))
	return u, err
}

// userArgs returns the values of every column after id, in userColumns order.
func (s *Store) userArgs(u *storage.User) ([]any, error) {
	pub, err := objectArg("public_metadata", u.PublicMetadata)
	if err != nil {
		return nil, err
	}
	priv, err := objectArg("private_metadata", u.PrivateMetadata)
	if err != nil {
		return nil, err
	}
	unsafe, err := objectArg("unsafe_metadata", u.UnsafeMetadata)
	if err != nil {
		return nil, err
	}
	return []any{u.Username, u.FirstName, u.LastName, u.ImageURL, u.PasswordHash,
		pub, priv, unsafe, u.Banned, s.t(u.LockedUntil), u.FailedAttempts,
		s.t(u.CreatedAt), s.t(u.UpdatedAt), s.t(u.LastSignInAt), s.t(u.LastActiveAt)}, nil
}

// CreateUser implements storage.Users.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	if u.ID == "" {
		u.ID = storage.NewID(storage.PrefixUser)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	u.CreatedAt, u.UpdatedAt = now, now
	hasPrimary := false
	for i := range u.Emails {
		if u.Emails[i].Primary {
			if hasPrimary {
				return fmt.Errorf("%w: a user has one primary email", storage.ErrInvalid)
			}
			hasPrimary = true
		}
	}
	if !hasPrimary && len(u.Emails) > 0 {
		u.Emails[0].Primary = true
	}
	args, err := s.userArgs(u)
	if err != nil {
		return err
	}
	return s.atomic(ctx, func(tx *Store) error {
		if _, err := tx.exec(ctx, `INSERT INTO users (`+userColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			append([]any{u.ID}, args...)...); err != nil {
			return err
		}
		for i := range u.Emails {
			if err := tx.insertEmail(ctx, u.ID, &u.Emails[i], now); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) insertEmail(ctx context.Context, userID string, e *storage.EmailAddress, now time.Time) error {
	e.Email = strings.TrimSpace(e.Email)
	if e.Email == "" {
		return fmt.Errorf("%w: email address is empty", storage.ErrInvalid)
	}
	if e.ID == "" {
		e.ID = storage.NewID(storage.PrefixEmail)
	}
	e.CreatedAt = now
	_, err := s.exec(ctx, `INSERT INTO email_addresses (id, user_id, email, email_lower, verified, is_primary, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.ID, userID, e.Email, storage.NormalizeEmail(e.Email), e.Verified, e.Primary, s.t(now))
	return err
}

// loadEmails fills in the users' addresses, primary first, then by age.
func (s *Store) loadEmails(ctx context.Context, users ...*storage.User) error {
	if len(users) == 0 {
		return nil
	}
	byID := make(map[string]*storage.User, len(users))
	args := make([]any, len(users))
	marks := make([]string, len(users))
	for i, u := range users {
		byID[u.ID] = u
		u.Emails = nil
		args[i] = u.ID
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	return s.queryAll(ctx, `SELECT user_id, id, email, verified, is_primary, created_at FROM email_addresses
		WHERE user_id IN (`+strings.Join(marks, ", ")+`) ORDER BY is_primary DESC, created_at, id`, args,
		func(r Rows) error {
			var userID string
			var e storage.EmailAddress
			if err := r.Scan(&userID, &e.ID, &e.Email, &e.Verified, &e.Primary, tm(&e.CreatedAt)); err != nil {
				return err
			}
			byID[userID].Emails = append(byID[userID].Emails, e)
			return nil
		})
}

// getUserWhere loads one user and its addresses in a single query (a
// lookup by email is on the sign-in path), one row per address.
func (s *Store) getUserWhere(ctx context.Context, where string, arg any) (*storage.User, error) {
	var u *storage.User
	err := s.queryAll(ctx, `SELECT `+prefixed("u.", userColumns)+`, e.id, e.email, e.verified, e.is_primary, e.created_at
		FROM users u LEFT JOIN email_addresses e ON e.user_id = u.id
		WHERE `+where+` ORDER BY e.is_primary DESC, e.created_at, e.id`, []any{arg}, func(r Rows) error {
		row := new(storage.User)
		var id, email sql.NullString
		var verified, primary sql.NullBool
		var created time.Time
		if err := r.Scan(&row.ID, &row.Username, &row.FirstName, &row.LastName, &row.ImageURL, &row.PasswordHash,
			raw(&row.PublicMetadata), raw(&row.PrivateMetadata), raw(&row.UnsafeMetadata), &row.Banned, tm(&row.LockedUntil), &row.FailedAttempts,
			tm(&row.CreatedAt), tm(&row.UpdatedAt), tm(&row.LastSignInAt), tm(&row.LastActiveAt),
			&id, &email, &verified, &primary, tm(&created)); err != nil {
			return err
		}
		if u == nil {
			u = row
		}
		if id.Valid {
			u.Emails = append(u.Emails, storage.EmailAddress{ID: id.String, Email: email.String, Verified: verified.Bool, Primary: primary.Bool, CreatedAt: created})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, storage.ErrNotFound
	}
	return u, nil
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// GetUser implements storage.Users.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	return s.getUserWhere(ctx, `u.id = $1`, id)
}

// GetUserByEmail implements storage.Users.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*storage.User, error) {
	return s.getUserWhere(ctx, `u.id = (SELECT user_id FROM email_addresses WHERE email_lower = $1)`, storage.NormalizeEmail(email))
}

// GetUserByUsername implements storage.Users.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	username = strings.TrimSpace(username)
	if username == "" {
		return nil, storage.ErrNotFound
	}
	return s.getUserWhere(ctx, `lower(u.username) = lower($1) AND u.username <> ''`, username)
}

// UpdateUser implements storage.Users.
func (s *Store) UpdateUser(ctx context.Context, u *storage.User) error {
	prev := u.UpdatedAt
	u.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	args, err := s.userArgs(u)
	if err != nil {
		u.UpdatedAt = prev
		return err
	}
	args = append(args[:11:11], args[12:]...) // created_at is never rewritten
	err = s.execOne(ctx, `UPDATE users SET username = $2, first_name = $3, last_name = $4, image_url = $5,
		password_hash = $6, public_metadata = $7, private_metadata = $8, unsafe_metadata = $9, banned = $10,
		locked_until = $11, failed_attempts = $12, updated_at = $13, last_sign_in_at = $14, last_active_at = $15
		WHERE id = $1`, append([]any{u.ID}, args...)...)
	if err != nil {
		u.UpdatedAt = prev
	}
	return err
}

// ReserveAttempt implements storage.Users in one UPDATE, whose WHERE is
// evaluated again on the latest row when it had to wait for another
// writer's (PostgreSQL under READ COMMITTED) or runs alone (SQLite): two
// callers can never both take the last place.
func (s *Store) ReserveAttempt(ctx context.Context, userID string, limit int, now time.Time) (int, error) {
	if now.IsZero() {
		return 0, fmt.Errorf("%w: an attempt needs the time it is made", storage.ErrInvalid)
	}
	var n int
	err := s.queryRow(ctx, `UPDATE users SET failed_attempts = failed_attempts + 1
		WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2) AND ($3 < 1 OR failed_attempts < $3)
		RETURNING failed_attempts`, []any{userID, s.t(now), limit}, &n)
	if !errors.Is(err, storage.ErrNotFound) {
		return n, err
	}
	// Nothing counted: tell a refusal from a missing user.
	var exists int
	if err := s.queryRow(ctx, `SELECT count(*) FROM users WHERE id = $1`, []any{userID}, &exists); err != nil {
		return 0, err
	}
	if exists == 0 {
		return 0, storage.ErrNotFound
	}
	return 0, fmt.Errorf("%w: the user is locked or has no attempt left", storage.ErrConflict)
}

// DeleteUser implements storage.Users. Sessions, addresses and refresh
// tokens go with the user (ON DELETE CASCADE).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM users WHERE id = $1`, id)
}

// ListUsers implements storage.Users.
func (s *Store) ListUsers(ctx context.Context, page storage.Page) ([]*storage.User, error) {
	page = page.Normalize()
	out, err := queryList(ctx, s, `SELECT `+userColumns+` FROM users ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2`,
		[]any{page.Limit, page.Offset}, scanUser)
	if err != nil {
		return nil, err
	}
	return out, s.loadEmails(ctx, out...)
}

// CountUsers implements storage.Users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM users`, nil, &n)
	return n, err
}

// AddEmail implements storage.Users. A new address is never primary: use
// SetPrimaryEmail once it is verified.
func (s *Store) AddEmail(ctx context.Context, userID string, e *storage.EmailAddress) error {
	e.Primary = false
	err := s.insertEmail(ctx, userID, e, time.Now().UTC().Truncate(time.Microsecond))
	if errors.Is(err, storage.ErrInvalid) {
		// The address is fine, so the user must be missing (foreign key).
		if _, getErr := s.GetUser(ctx, userID); errors.Is(getErr, storage.ErrNotFound) {
			return storage.ErrNotFound
		}
	}
	return err
}

// SetEmailVerified implements storage.Users.
func (s *Store) SetEmailVerified(ctx context.Context, userID, emailID string, verified bool) error {
	return s.execOne(ctx, `UPDATE email_addresses SET verified = $3 WHERE id = $2 AND user_id = $1`, userID, emailID, verified)
}

// SetPrimaryEmail implements storage.Users.
func (s *Store) SetPrimaryEmail(ctx context.Context, userID, emailID string) error {
	return s.atomic(ctx, func(tx *Store) error {
		// Two statements, because the one-primary-per-user index is checked
		// row by row on PostgreSQL.
		if _, err := tx.exec(ctx, `UPDATE email_addresses SET is_primary = FALSE WHERE user_id = $1 AND is_primary AND id <> $2`, userID, emailID); err != nil {
			return err
		}
		return tx.execOne(ctx, `UPDATE email_addresses SET is_primary = TRUE WHERE id = $2 AND user_id = $1`, userID, emailID)
	})
}

// DeleteEmail implements storage.Users.
func (s *Store) DeleteEmail(ctx context.Context, userID, emailID string) error {
	var primary bool
	if err := s.queryRow(ctx, `SELECT is_primary FROM email_addresses WHERE id = $2 AND user_id = $1`, []any{userID, emailID}, &primary); err != nil {
		return err
	}
	if primary {
		return fmt.Errorf("%w: the primary email cannot be removed; make another one primary first", storage.ErrConflict)
	}
	return s.execOne(ctx, `DELETE FROM email_addresses WHERE id = $2 AND user_id = $1 AND NOT is_primary`, userID, emailID)
}
