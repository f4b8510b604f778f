package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/storagetest"
)

func openTemp(t testing.TB) storage.Storage {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "usher.db"), Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) { storagetest.Run(t, openTemp) }

func BenchmarkStorage(b *testing.B) { storagetest.RunBenchmarks(b, openTemp) }

func TestOpenCreatesPrivateFileAndMigrates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usher.db")
	db, err := Open(t.Context(), path, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %o, want 600", mode)
	}
	status, err := db.SchemaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !status.UpToDate() || status.Current == 0 || len(status.Pending) != 0 {
		t.Errorf("status after migrating = %+v, want up to date", status)
	}
	if !strings.Contains(db.Describe(), path) {
		t.Errorf("Describe() = %q, want it to name %s", db.Describe(), path)
	}
}

func TestOpenWithoutMigrateReportsPending(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "usher.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.SchemaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.UpToDate() || st.Current != 0 || len(st.Pending) != st.Latest {
		t.Fatalf("status of a new database = %+v, want every migration pending", st)
	}
	st, err = db.Migrate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !st.UpToDate() {
		t.Fatalf("after Migrate: %+v", st)
	}
	// A second run applies nothing and changes nothing.
	again, err := db.Migrate(t.Context())
	if err != nil || again.Current != st.Current {
		t.Fatalf("second Migrate = %+v, %v", again, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usher.db")
	db, err := Open(t.Context(), path, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(t.Context(), path, Options{Migrate: true})
	if !errors.Is(err, storage.ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 999") {
		t.Fatalf("Open on a newer schema = %v, want ErrSchemaTooNew naming version 999", err)
	}
}

func TestOpenBadFiles(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("this is not a database ", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnlyDir := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnlyDir, 0o500); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
		skipRoot         bool
	}{
		{"corrupt", corrupt, "is not a SQLite database or is corrupt", false},
		{"folder", dir, "is a folder, not a database file", false},
		{"missing folder", filepath.Join(dir, "nope", "usher.db"), "does not exist", false},
		{"unwritable folder", filepath.Join(readOnlyDir, "usher.db"), "permission denied", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skipRoot && os.Geteuid() == 0 {
				t.Skip("root ignores file permissions")
			}
			db, err := Open(t.Context(), tt.path, Options{Migrate: true})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Open = %q, want one line containing %q", err, tt.want)
			}
		})
	}
}
