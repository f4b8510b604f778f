// Package sqlite is Usher's embedded storage backend: one database file,
// written through modernc.org/sqlite (pure Go, no cgo), in WAL mode.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"

	"github.com/usher-id/usher/migrations"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/internal/sqlstore"
)

// Options tune Open.
type Options struct {
	// MaxConns bounds open connections; 0 means 10.
	MaxConns int
	// Migrate applies pending migrations while opening.
	Migrate bool
}

// DB is a SQLite-backed storage.Storage.
type DB struct {
	*sqlstore.Store
	db       *sql.DB
	path     string
	migrator *sqlstore.Migrator
	stmts    *stmtCache
	// writers queues this process's writes. SQLite admits one writer at a
	// time and makes the others sleep and retry, which under load starves
	// some of them for the whole busy timeout; a mutex serves them in turn.
	writers *sync.Mutex
}

var _ storage.Storage = (*DB)(nil)

// SQLite result codes (the primary code is the low byte of an extended one).
const (
	codeBusy             = 5
	codeLocked           = 6
	codeCorrupt          = 11
	codeCantOpen         = 14
	codeNotADB           = 26
	codeReadOnly         = 8
	codeConstraint       = 19
	codeConstraintFK     = 787
	codeConstraintUnique = 2067
	codeConstraintPK     = 1555
)

var dialect = &sqlstore.Dialect{
	Time: func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixMicro()
	},
	MapError: mapError,
}

func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case codeConstraintUnique, codeConstraintPK:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		case codeConstraintFK:
			return fmt.Errorf("%w: it refers to a record that does not exist: %w", storage.ErrInvalid, err)
		}
		if se.Code()&0xff == codeConstraint {
			return fmt.Errorf("%w: %w", storage.ErrInvalid, err)
		}
	}
	return err
}

func busy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == codeBusy || c == codeLocked
	}
	return false
}

// Open opens (creating if needed) the database file at path, checks that it
// is a SQLite database Usher can write, and migrates it when asked. A schema
// newer than this binary is refused.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: database path %q: %w", path, err)
	}
	if err := createPrivate(abs); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	// Write transactions take the lock when they begin, so a
	// read-modify-write in InTx waits for the previous one instead of
	// failing half-way with SQLITE_BUSY.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = 10
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	migs, err := migrations.For(migrations.SQLite)
	if err != nil {
		db.Close()
		return nil, err
	}
	d := &DB{db: db, path: abs, stmts: &stmtCache{db: db}, writers: new(sync.Mutex), migrator: &sqlstore.Migrator{
		Dialect:     dialect,
		Migrations:  migs,
		TableExists: `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`,
		Table: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
	}}
	d.Store = sqlstore.New(querier{q: db, stmts: d.stmts, writers: d.writers}, dialect, d.tx)
	if err := d.check(ctx); err != nil {
		db.Close()
		return nil, err
	}
	check := d.SchemaStatus
	if opts.Migrate {
		check = d.Migrate
	}
	if _, err := check(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// createPrivate creates a missing database file readable by its owner only:
// it holds password hashes and encrypted keys. SQLite gives its -wal and
// -shm files the same mode.
func createPrivate(path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("sqlite: the folder for the database %s does not exist", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, os.ErrExist):
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			return fmt.Errorf("sqlite: %s is a folder, not a database file", path)
		}
		return nil
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("sqlite: cannot create the database %s: permission denied", path)
	default:
		return fmt.Errorf("sqlite: cannot create the database %s: %w", path, err)
	}
}

// check turns the usual first-contact failures into one clear line.
func (d *DB) check(ctx context.Context) error {
	var mode string
	err := d.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	if err == nil {
		// A trivial write proves the file and its folder are writable
		// (WAL needs to create files beside the database).
		_, err = d.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS usher_write_check (x INTEGER); DROP TABLE usher_write_check`)
	}
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case codeNotADB, codeCorrupt:
			return fmt.Errorf("sqlite: %s is not a SQLite database or is corrupt", d.path)
		case codeReadOnly, codeCantOpen:
			return fmt.Errorf("sqlite: cannot write to %s or its folder: check permissions", d.path)
		}
	}
	return fmt.Errorf("sqlite: open %s: %w", d.path, err)
}

// Migrate applies pending migrations and returns the resulting status.
func (d *DB) Migrate(ctx context.Context) (storage.SchemaStatus, error) {
	var st storage.SchemaStatus
	err := d.tx(ctx, func(q sqlstore.Querier) error {
		var err error
		st, err = d.migrator.Apply(ctx, q)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("sqlite: %s: %w", d.path, err)
	}
	return st, nil
}

// SchemaStatus implements storage.Storage.
func (d *DB) SchemaStatus(ctx context.Context) (storage.SchemaStatus, error) {
	st, err := d.migrator.Status(ctx, querier{q: d.db, stmts: d.stmts, writers: d.writers})
	if err != nil {
		return st, fmt.Errorf("sqlite: %s: %w", d.path, err)
	}
	return st, nil
}

// tx runs fn in one transaction, committing when it returns nil.
func (d *DB) tx(ctx context.Context, fn func(q sqlstore.Querier) error) (err error) {
	ctx = context.WithoutCancel(ctx) // see querier
	d.writers.Lock()
	defer d.writers.Unlock()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return mapError(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(querier{q: tx, tx: true, stmts: d.stmts}); err != nil {
		return err
	}
	return mapError(tx.Commit())
}

// InTx implements storage.Storage. Transactions are serialized by SQLite's
// write lock; a lock wait longer than the busy timeout is retried.
func (d *DB) InTx(ctx context.Context, fn func(tx storage.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := d.tx(ctx, func(q sqlstore.Querier) error { return fn(d.Bind(q)) })
		if !busy(err) || attempt == 5 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt*10+rand.IntN(10)) * time.Millisecond):
		}
	}
}

// Ping implements storage.Storage.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Describe implements storage.Storage.
func (d *DB) Describe() string { return "SQLite at " + d.path }

// Path is the database file.
func (d *DB) Path() string { return d.path }

// Close implements storage.Storage.
func (d *DB) Close() error {
	d.stmts.close()
	return d.db.Close()
}

// stmtCache keeps one prepared statement per query text. SQLite spends
// most of a simple lookup parsing and planning the SQL, and database/sql
// prepares each statement once per connection that runs it.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stmts[query]; s != nil {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.stmts == nil {
		c.stmts = make(map[string]*sql.Stmt)
	}
	c.stmts[query] = s
	return s, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		_ = s.Close()
	}
	c.stmts = nil
}

// querier adapts database/sql to sqlstore.Querier. Statements with
// arguments go through the cache; ones without (migrations, which may hold
// several statements) run directly.
type querier struct {
	q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}
	tx      bool // inside a transaction
	stmts   *stmtCache
	writers *sync.Mutex
}

// prepare readies a call: statements run without cancellation, because
// database/sql and the driver start a goroutine per statement to watch a
// cancellable context, which on a busy server costs more than the
// statement (busy_timeout still bounds every wait); and a write outside a
// transaction takes its turn on the writer queue. It returns the release.
func (q querier) prepare(ctx context.Context, query string) (context.Context, func()) {
	ctx = context.WithoutCancel(ctx)
	if q.tx || !isWrite(query) {
		return ctx, func() {}
	}
	q.writers.Lock()
	return ctx, q.writers.Unlock
}

func isWrite(query string) bool {
	q := strings.TrimSpace(query)
	if len(q) < 6 {
		return false
	}
	switch strings.ToUpper(q[:6]) {
	case "INSERT", "UPDATE", "DELETE", "CREATE", "REPLAC":
		return true
	}
	return false
}

// cached returns the prepared statement for query when it should be used:
// outside transactions, for statements with arguments. Inside a
// transaction a statement is prepared on the transaction's connection,
// where tables the transaction created are visible.
func (q querier) cached(ctx context.Context, query string, args []any) (*sql.Stmt, error) {
	if q.tx || len(args) == 0 {
		return nil, nil
	}
	return q.stmts.get(ctx, query)
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	ctx, release := q.prepare(ctx, query)
	defer release()
	s, err := q.cached(ctx, query, args)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if s != nil {
		res, err = s.ExecContext(ctx, args...)
	} else {
		res, err = q.q.ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	ctx = context.WithoutCancel(ctx) // reads need no turn; see prepare
	s, err := q.cached(ctx, query, args)
	if err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if s != nil {
		rows, err = s.QueryContext(ctx, args...)
	} else {
		rows, err = q.q.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// QueryRow scans while holding the writer turn, since an UPDATE ...
// RETURNING is a write that finishes only when its row is read.
func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return lockedRow{q: q, ctx: ctx, query: query, args: args}
}

type lockedRow struct {
	q     querier
	ctx   context.Context
	query string
	args  []any
}

func (r lockedRow) Scan(dest ...any) error {
	ctx, release := r.q.prepare(r.ctx, r.query)
	defer release()
	s, err := r.q.cached(ctx, r.query, r.args)
	switch {
	case err != nil:
		return err
	case s != nil:
		return s.QueryRowContext(ctx, r.args...).Scan(dest...)
	}
	return r.q.q.QueryRowContext(ctx, r.query, r.args...).Scan(dest...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
