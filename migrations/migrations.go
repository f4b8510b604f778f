// Package migrations embeds Usher's forward-only schema changes, one folder
// per SQL dialect. Both folders hold the same versions under the same names,
// so a database on either backend at version N has the same shape.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Dialects with migrations.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Migration is one schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var fileName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// For returns the dialect's migrations in version order.
func For(dialect string) ([]Migration, error) {
	return load(files, dialect)
}

func load(fsys fs.FS, dialect string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations: unknown dialect %q: %w", dialect, err)
	}
	var out []Migration
	seen := make(map[int]string)
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrations: %s/%s: name must look like 0001_name.sql", dialect, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if v == 0 {
			return nil, fmt.Errorf("migrations: %s/%s: versions start at 0001", dialect, e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations: %s: version %d used by %s and %s", dialect, v, prev, e.Name())
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join(dialect, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: %s: version %d is missing", dialect, i+1)
		}
	}
	return out, nil
}
