package postgres

import (
	"context"
	"errors"
	neturl "net/url"
	"strings"
	"sync"
	"testing"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres/pgtest"
	"github.com/usher-id/usher/storage/storagetest"
)

func openTemp(t testing.TB) storage.Storage {
	t.Helper()
	db, err := Open(context.Background(), pgtest.URL(t), Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresConformance(t *testing.T) { storagetest.Run(t, openTemp) }

func BenchmarkPostgresStorage(b *testing.B) { storagetest.RunBenchmarks(b, openTemp) }

// Replicas starting together must apply each migration exactly once.
func TestPostgresConcurrentMigration(t *testing.T) {
	url := pgtest.URL(t)
	const replicas = 6
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	dbs := make([]*DB, replicas)
	for i := range replicas {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), url, Options{Migrate: true}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	var rows, distinct int
	if err := dbs[0].pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	st, err := dbs[0].SchemaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rows != st.Latest || distinct != st.Latest || !st.UpToDate() {
		t.Fatalf("schema_migrations has %d rows (%d distinct) for %d migrations; status %+v", rows, distinct, st.Latest, st)
	}
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	url := pgtest.URL(t)
	db, err := Open(t.Context(), url, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(t.Context(), `INSERT INTO schema_migrations VALUES (999, 'from_the_future', now())`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(t.Context(), url, Options{Migrate: true})
	if !errors.Is(err, storage.ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 999") {
		t.Fatalf("Open on a newer schema = %v, want ErrSchemaTooNew naming version 999", err)
	}
}

// A failing migration leaves nothing behind.
func TestPostgresMigrationIsAtomic(t *testing.T) {
	url := pgtest.URL(t)
	db, err := Open(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	good := db.migrator.Migrations
	broken := append(good[:len(good):len(good)], good[0]) // re-creating the first tables fails
	broken[len(broken)-1].Version, broken[len(broken)-1].Name = len(good)+1, "broken"
	db.migrator.Migrations = broken
	if _, err := db.Migrate(t.Context()); err == nil {
		t.Fatal("a failing migration returned no error")
	}
	db.migrator.Migrations = good
	st, err := db.SchemaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != 0 {
		t.Fatalf("after a failed migration the schema is at version %d, want 0", st.Current)
	}
	var tables int
	if err := db.pool.QueryRow(t.Context(), `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'users'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatal("the users table exists after a failed migration")
	}
}

func TestPostgresOpenErrors(t *testing.T) {
	u, err := neturl.Parse(pgtest.URL(t)) // also skips without a server
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = ""
	missingDB, wrongUser := *u, *u
	missingDB.Path = "/usher_no_such_database"
	wrongUser.User = neturl.UserPassword("usher_no_such_role", "secret-password")
	tests := []struct{ name, url, want string }{
		{"unreachable", "postgres://postgres@127.0.0.1:1/usher?connect_timeout=2", "cannot connect to PostgreSQL at 127.0.0.1:1/usher"},
		{"missing database", missingDB.String(), `database "usher_no_such_database" does not exist`},
		{"unknown role", wrongUser.String(), `role "usher_no_such_role" does not exist`},
		{"malformed", "postgres://postgres@127.0.0.1:5432/usher?sslmode=sometimes", "the database URL is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(t.Context(), tt.url, Options{Migrate: true})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") || strings.Contains(msg, "secret-password") {
				t.Fatalf("Open = %q, want one line containing %q and no password", msg, tt.want)
			}
		})
	}
}
