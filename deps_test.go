package usher_test

import (
	"go/ast"
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
	"provider":                  {"storage", "keys", "claims", "session"},
	"session":                   {"storage", "config"},
	"mail":                      nil,
	"web":                       {"storage", "users", "provider", "mail", "federation", "session"},
	"internal/httpx":            nil,
	"internal/geoip":            nil,
	"internal/health":           {"storage", "internal/httpx"},
}

// TestImportRules keeps the dependency map of DESIGN.md true: domain
// packages never reach for the wiring or for each other sideways.
func TestImportRules(t *testing.T) {
	for pkg, ok := range allowed {
		for _, f := range sourceFiles(t, pkg) {
			for _, imp := range f.imports {
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
					t.Errorf("%s imports %s, which DESIGN.md does not allow", f.name, own)
				}
			}
		}
	}
}

// TestProviderSpeaksOnlyProtocol keeps pages, forms and cookies out of the
// provider: a browser that must act is handed to the sign-in flow (package
// web), and cookies belong to package session. Protocol requests are still
// forms (RFC 6749), so what is checked is the provider never drawing HTML,
// never setting or reading a cookie itself, and never importing the pages.
func TestProviderSpeaksOnlyProtocol(t *testing.T) {
	forbiddenImports := []string{"html/template", "text/template", module + "web"}
	forbiddenCode := []string{"text/html", "http.SetCookie", "http.Cookie{", ".Cookie(", "<form", "<html", "CSRF"}
	for _, f := range sourceFiles(t, "provider") {
		for _, imp := range f.imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbiddenImports {
				if path == bad {
					t.Errorf("%s imports %s: the provider draws no pages", f.name, path)
				}
			}
		}
		for _, bad := range forbiddenCode {
			if strings.Contains(f.src, bad) {
				t.Errorf("%s contains %q: pages, forms and cookies belong to packages web and session", f.name, bad)
			}
		}
	}
}

type sourceFile struct {
	name, src string
	imports   []*ast.ImportSpec
}

// sourceFiles reads the non-test Go files of pkg with their imports.
func sourceFiles(t *testing.T, pkg string) []sourceFile {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(pkg, "*.go"))
	if err != nil || len(names) == 0 {
		t.Errorf("%s: no Go files (%v)", pkg, err)
		return nil
	}
	var out []sourceFile
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sourceFile{name: name, src: string(src), imports: parsed.Imports})
	}
	return out
}
