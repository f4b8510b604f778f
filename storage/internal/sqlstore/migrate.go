package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-id/usher/migrations"
	"github.com/usher-id/usher/storage"
)

// Migrator applies the embedded migrations of one dialect.
type Migrator struct {
	Dialect *Dialect
	// Migrations are the ones this binary knows, in version order.
	Migrations []migrations.Migration
	// Lock runs first in the migrating transaction and holds other
	// replicas off until it commits; empty when beginning the transaction
	// already does.
	Lock string
	// Table creates schema_migrations if it does not exist.
	Table string
	// TableExists is a query answering one boolean: whether
	// schema_migrations exists.
	TableExists string
}

// Status reads the applied versions on q without locking or writing, so it
// is cheap enough for a readiness probe. It fails on a schema newer than
// the binary, or one whose applied migrations differ from the embedded ones.
func (m *Migrator) Status(ctx context.Context, q Querier) (storage.SchemaStatus, error) {
	st := storage.SchemaStatus{Latest: len(m.Migrations)}
	var exists bool
	if err := q.QueryRow(ctx, m.TableExists).Scan(&exists); err != nil {
		return st, fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := make(map[int]string)
	if exists {
		rows, err := q.Query(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
		if err != nil {
			return st, fmt.Errorf("read schema_migrations: %w", err)
		}
		for rows.Next() {
			var v int
			var name string
			if err := rows.Scan(&v, &name); err != nil {
				rows.Close()
				return st, fmt.Errorf("read schema_migrations: %w", err)
			}
			applied[v] = name
			st.Current = max(st.Current, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, fmt.Errorf("read schema_migrations: %w", err)
		}
	}
	if st.Current > st.Latest {
		return st, fmt.Errorf("%w: the database is at version %d, this usher knows versions up to %d; run a newer usher",
			storage.ErrSchemaTooNew, st.Current, st.Latest)
	}
	for _, mig := range m.Migrations {
		name, ok := applied[mig.Version]
		if ok && name != mig.Name {
			return st, fmt.Errorf("migration %04d is %q in the database but %q in this usher: the schema came from another build",
				mig.Version, name, mig.Name)
		}
		if !ok {
			st.Pending = append(st.Pending, storage.Migration{Version: mig.Version, Name: mig.Name})
		}
	}
	return st, nil
}

// Apply runs in one transaction q: it takes the lock, then applies every
// pending migration, so a failure leaves nothing half-done and concurrent
// replicas apply each migration once.
func (m *Migrator) Apply(ctx context.Context, q Querier) (storage.SchemaStatus, error) {
	if m.Lock != "" {
		if _, err := q.Exec(ctx, m.Lock); err != nil {
			return storage.SchemaStatus{}, fmt.Errorf("lock migrations: %w", err)
		}
	}
	if _, err := q.Exec(ctx, m.Table); err != nil {
		return storage.SchemaStatus{}, fmt.Errorf("create schema_migrations: %w", err)
	}
	st, err := m.Status(ctx, q)
	if err != nil {
		return st, err
	}
	for _, p := range st.Pending {
		mig := m.Migrations[p.Version-1]
		if _, err := q.Exec(ctx, mig.SQL); err != nil {
			return st, fmt.Errorf("apply migration %04d_%s: %w", mig.Version, mig.Name, err)
		}
		if _, err := q.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			mig.Version, mig.Name, m.Dialect.Time(time.Now().UTC())); err != nil {
			return st, fmt.Errorf("record migration %04d_%s: %w", mig.Version, mig.Name, err)
		}
		st.Current = mig.Version
	}
	st.Pending = nil
	return st, nil
}
