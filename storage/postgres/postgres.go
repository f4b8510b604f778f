// Package postgres is Usher's production storage backend: PostgreSQL through
// a pgx/v5 connection pool, shared by any number of replicas.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/usher-id/usher/migrations"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/internal/sqlstore"
)

// Options tune Open.
type Options struct {
	// MaxConns bounds the pool; 0 means 10.
	MaxConns int
	// Migrate applies pending migrations while opening.
	Migrate bool
}

// DB is a PostgreSQL-backed storage.Storage.
type DB struct {
	*sqlstore.Store
	pool     *pgxpool.Pool
	where    string
	migrator *sqlstore.Migrator
}

var _ storage.Storage = (*DB)(nil)

var dialect = &sqlstore.Dialect{
	Time: func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC()
	},
	MapError: mapError,
}

// PostgreSQL error codes Usher tells apart.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeCheckViolation       = "23514"
	codeNotNullViolation     = "23502"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		case codeForeignKeyViolation:
			return fmt.Errorf("%w: it refers to a record that does not exist: %w", storage.ErrInvalid, err)
		case codeCheckViolation, codeNotNullViolation:
			return fmt.Errorf("%w: %w", storage.ErrInvalid, err)
		}
	}
	return err
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == codeSerializationFailure || pe.Code == codeDeadlockDetected)
}

// Open connects to the database named by url (postgres://...), checks that
// it answers, and migrates it when asked. Replicas may open concurrently:
// migrations run under an advisory lock. A schema newer than this binary is
// refused.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL; keep only its reason.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			return nil, fmt.Errorf("postgres: the database URL is invalid: %v", pe.Unwrap())
		}
		return nil, errors.New("postgres: the database URL is invalid")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	} else {
		cfg.MaxConns = 10
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	where := fmt.Sprintf("PostgreSQL at %s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s: %s", where, connectReason(err))
	}
	migs, err := migrations.For(migrations.Postgres)
	if err != nil {
		pool.Close()
		return nil, err
	}
	d := &DB{pool: pool, where: where, migrator: &sqlstore.Migrator{
		Dialect:    dialect,
		Migrations: migs,
		// Keyed by schema, so databases holding several Usher schemas
		// (as the tests do) do not wait on each other.
		Lock:        `SELECT pg_advisory_xact_lock(hashtext('usher.migrations.' || current_schema()))`,
		TableExists: `SELECT to_regclass('schema_migrations') IS NOT NULL`,
		Table: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`,
	}}
	d.Store = sqlstore.New(querier{pool}, dialect, func(ctx context.Context, fn func(sqlstore.Querier) error) error {
		return d.tx(ctx, pgx.TxOptions{}, fn)
	})
	check := d.SchemaStatus
	if opts.Migrate {
		check = d.Migrate
	}
	if _, err := check(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return d, nil
}

// connectReason keeps the part of a connection error a person can act on.
func connectReason(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	// pgx tries each address (and TLS, then plain) and reports every
	// attempt on its own line; one line per distinct reason is enough.
	var reasons []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(reasons, line) {
			reasons = append(reasons, line)
		}
	}
	return strings.Join(reasons, "; ")
}

// Migrate applies pending migrations and returns the resulting status.
func (d *DB) Migrate(ctx context.Context) (storage.SchemaStatus, error) {
	var st storage.SchemaStatus
	err := d.tx(ctx, pgx.TxOptions{}, func(q sqlstore.Querier) error {
		var err error
		st, err = d.migrator.Apply(ctx, q)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("postgres: %s: %w", d.where, err)
	}
	return st, nil
}

// SchemaStatus implements storage.Storage.
func (d *DB) SchemaStatus(ctx context.Context) (storage.SchemaStatus, error) {
	st, err := d.migrator.Status(ctx, querier{d.pool})
	if err != nil {
		return st, fmt.Errorf("postgres: %s: %w", d.where, err)
	}
	return st, nil
}

func (d *DB) tx(ctx context.Context, opts pgx.TxOptions, fn func(sqlstore.Querier) error) error {
	return pgx.BeginTxFunc(ctx, d.pool, opts, func(tx pgx.Tx) error { return fn(querier{tx}) })
}

// InTx implements storage.Storage. Transactions are SERIALIZABLE, so a
// read-modify-write cannot lose an update; the price is that PostgreSQL may
// abort one of two conflicting transactions, which is retried.
func (d *DB) InTx(ctx context.Context, fn func(tx storage.Tx) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.Serializable}
	for attempt := 1; ; attempt++ {
		err := d.tx(ctx, opts, func(q sqlstore.Querier) error { return fn(d.Bind(q)) })
		if !retryable(err) || attempt == 50 {
			return mapError(err)
		}
		backoff := time.Duration(min(attempt, 10)) * time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)))):
		}
	}
}

// Ping implements storage.Storage.
func (d *DB) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

// Describe implements storage.Storage.
func (d *DB) Describe() string { return d.where }

// Close implements storage.Storage.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// querier adapts a pool or a transaction to sqlstore.Querier.
type querier struct {
	q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		Query(context.Context, string, ...any) (pgx.Rows, error)
		QueryRow(context.Context, string, ...any) pgx.Row
	}
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return q.q.Query(ctx, query, args...)
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.q.QueryRow(ctx, query, args...)
}
