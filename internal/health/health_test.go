package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-id/usher/storage"
)

// fixedDB answers the probes from fixed values; readiness logic is what is
// under test here, the real backends are exercised by the serve tests.
type fixedDB struct {
	pingErr   error
	status    storage.SchemaStatus
	statusErr error
}

func (f fixedDB) Ping(context.Context) error { return f.pingErr }
func (f fixedDB) SchemaStatus(context.Context) (storage.SchemaStatus, error) {
	return f.status, f.statusErr
}

func TestProbes(t *testing.T) {
	current := storage.SchemaStatus{Current: 3, Latest: 3}
	tests := []struct {
		name       string
		path       string
		db         fixedDB
		wantStatus int
		wantChecks map[string]string
	}{
		{"alive", "/healthz", fixedDB{pingErr: errors.New("down")}, 200, nil},
		{"ready", "/readyz", fixedDB{status: current}, 200, map[string]string{"database": "ok", "schema": "ok"}},
		{"database down", "/readyz", fixedDB{pingErr: errors.New("down")}, 503, map[string]string{"database": "unreachable", "schema": "unknown"}},
		{"pending", "/readyz", fixedDB{status: storage.SchemaStatus{Current: 2, Latest: 3}}, 503, map[string]string{"database": "ok", "schema": "migrations pending: run usher migrate up"}},
		{"too new", "/readyz", fixedDB{statusErr: storage.ErrSchemaTooNew}, 503, map[string]string{"database": "ok", "schema": "unreadable or newer than this binary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			Routes(mux, tt.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			var body struct {
				Status string
				Checks map[string]string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.wantChecks {
				if body.Checks[k] != v {
					t.Errorf("checks[%s] = %q, want %q", k, body.Checks[k], v)
				}
			}
		})
	}
}

func TestProbesRefuseOtherMethods(t *testing.T) {
	mux := http.NewServeMux()
	Routes(mux, fixedDB{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/healthz", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz = %d, want 405", rec.Code)
	}
}
