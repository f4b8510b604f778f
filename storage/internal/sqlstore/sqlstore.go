// Package sqlstore is the SQL both storage backends share. The schema is the
// same on SQLite and PostgreSQL apart from column types, and every statement
// here is plain SQL both accept ($N placeholders, RETURNING, partial indexes),
// so each backend only supplies a connection, a transaction runner and a
// Dialect that converts times and classifies driver errors.
package sqlstore

import (
	"context"
	"time"

	"github.com/usher-id/usher/storage"
)

// Row is one result row, as database/sql and pgx both provide it.
type Row interface {
	Scan(dest ...any) error
}

// Rows iterates a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements on a pool or inside a transaction.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Dialect is what differs between the backends.
type Dialect struct {
	// Time converts a time to a statement argument; the zero time must
	// become nil, which the schema stores as NULL ("never").
	Time func(time.Time) any
	// MapError turns a driver error into storage.ErrNotFound,
	// storage.ErrConflict or storage.ErrInvalid where it is one of those,
	// and returns other errors unchanged.
	MapError func(error) error
}

// Store implements storage.Tx on a Querier.
type Store struct {
	q Querier
	d *Dialect
	// atomic runs fn in a transaction. When the Store is already bound to
	// one, it runs fn on the same Store.
	atomic func(ctx context.Context, fn func(*Store) error) error
}

// New returns a Store that runs each statement on q (a pool) and uses begin
// for the methods that write several rows.
func New(q Querier, d *Dialect, inTx func(ctx context.Context, fn func(q Querier) error) error) *Store {
	s := &Store{q: q, d: d}
	s.atomic = func(ctx context.Context, fn func(*Store) error) error {
		return inTx(ctx, func(q Querier) error { return fn(s.Bind(q)) })
	}
	return s
}

// Bind returns a Store whose statements all run on q, a transaction.
func (s *Store) Bind(q Querier) *Store {
	tx := &Store{q: q, d: s.d}
	tx.atomic = func(ctx context.Context, fn func(*Store) error) error { return fn(tx) }
	return tx
}

var _ storage.Tx = (*Store)(nil)

func (s *Store) t(v time.Time) any { return s.d.Time(v) }

func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	n, err := s.q.Exec(ctx, query, args...)
	return n, s.d.MapError(err)
}

// execOne runs a statement that must touch exactly one row; none is
// ErrNotFound.
func (s *Store) execOne(ctx context.Context, query string, args ...any) error {
	n, err := s.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

func (s *Store) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	return s.d.MapError(s.q.QueryRow(ctx, query, args...).Scan(dest...))
}

// queryAll runs query and calls scan for each row.
func (s *Store) queryAll(ctx context.Context, query string, args []any, scan func(Rows) error) error {
	rows, err := s.q.Query(ctx, query, args...)
	if err != nil {
		return s.d.MapError(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.d.MapError(err)
		}
	}
	return s.d.MapError(rows.Err())
}

// queryList runs query and scans every row into a T.
func queryList[T any](ctx context.Context, s *Store, query string, args []any, scan func(Row) (T, error)) ([]T, error) {
	var out []T
	err := s.queryAll(ctx, query, args, func(r Rows) error {
		v, err := scan(r)
		out = append(out, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteExpired implements storage.Cleaner.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (storage.CleanupCounts, error) {
	var c storage.CleanupCounts
	var err error
	at := s.t(now)
	// Refresh tokens go first: they may name sessions and auth requests.
	if c.RefreshTokens, err = s.exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at <= $1 OR family_expires <= $1`, at); err != nil {
		return c, err
	}
	if c.AccessTokens, err = s.exec(ctx, `DELETE FROM access_tokens WHERE expires_at <= $1`, at); err != nil {
		return c, err
	}
	if c.AuthRequests, err = s.exec(ctx, `DELETE FROM auth_requests WHERE expires_at <= $1`, at); err != nil {
		return c, err
	}
	if c.DeviceAuthorizations, err = s.exec(ctx, `DELETE FROM device_authorizations WHERE expires_at <= $1`, at); err != nil {
		return c, err
	}
	if c.EmailChallenges, err = s.exec(ctx, `DELETE FROM email_challenges WHERE expires_at <= $1`, at); err != nil {
		return c, err
	}
	if c.UpstreamLogins, err = s.exec(ctx, `DELETE FROM upstream_logins WHERE expires_at <= $1`, at); err != nil {
		return c, err
	}
	if c.SignInFlows, err = s.exec(ctx, `DELETE FROM sign_in_flows WHERE expires_at <= $1`, at); err != nil {
		return c, err
	}
	if c.Sessions, err = s.exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, at); err != nil {
		return c, err
	}
	if c.RateLimits, err = s.exec(ctx, `DELETE FROM rate_limits WHERE window_start <= $1`, s.t(now.Add(-storage.MaxRateLimitWindow))); err != nil {
		return c, err
	}
	return c, nil
}
