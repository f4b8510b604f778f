package usher_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/usher-id/usher/"

// allowed is the map of the house (DESIGN.md): which of Usher's own
// packages each package may import. A package not listed may import any.
var allowed = map[string][]string{
	"config":                    nil,
	"migrations":                nil,
	"storage":                   nil,
	"storage/sqlite":            {"storage", "storage/internal/sqlstore", "migrations"},
	"storage/postgres":          {"storage", "storage/internal/sqlstore", "migrations"},
	"storage/internal/sqlstore": {"storage", "migrations"},
	"keys":                      {"storage"},
	"users":                     {"storage"},
	"clients":                   {"storage"},
	"claims":                    {"storage"},
	"federation":                {"storage", "users"},
	"provider":                  {"storage", "keys", "claims", "internal/httpx"},
	"mail":                      nil,
	"web":                       {"storage", "users", "provider", "mail", "federation"},
	"internal/httpx":            nil,
	"internal/geoip":            nil,
	"internal/health":           {"storage", "internal/httpx"},
}

// TestImportRules keeps the dependency map of DESIGN.md true: domain
// packages never reach for the wiring or for each other sideways.
func TestImportRules(t *testing.T) {
	for pkg, ok := range allowed {
		files, err := filepath.Glob(filepath.Join(pkg, "*.go"))
		if err != nil || len(files) == 0 {
			t.Errorf("%s: no Go files (%v)", pkg, err)
			continue
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				own, isOwn := strings.CutPrefix(path, module)
				if !isOwn {
					continue
				}
				permitted := false
				for _, a := range ok {
					permitted = permitted || own == a
				}
				if !permitted {
					t.Errorf("%s imports %s, which DESIGN.md does not allow", f, own)
				}
			}
		}
	}
}
