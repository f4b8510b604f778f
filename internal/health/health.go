// Package health answers the liveness and readiness probes: /healthz says
// the process is serving, /readyz that its database answers and its schema
// is the one this binary expects.
package health

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/usher-id/usher/internal/httpx"
	"github.com/usher-id/usher/storage"
)

// Database is what readiness checks.
type Database interface {
	Ping(ctx context.Context) error
	SchemaStatus(ctx context.Context) (storage.SchemaStatus, error)
}

// Routes mounts the probes on mux.
func Routes(mux *http.ServeMux, db Database, log *slog.Logger) {
	mux.Handle("GET /healthz", httpx.Handle(log, func(w http.ResponseWriter, r *http.Request) error {
		return httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	mux.Handle("GET /readyz", httpx.Handle(log, func(w http.ResponseWriter, r *http.Request) error {
		return ready(w, r, db, log)
	}))
}

type readiness struct {
	Status        string            `json:"status"`
	Checks        map[string]string `json:"checks"`
	SchemaVersion int               `json:"schema_version"`
	SchemaLatest  int               `json:"schema_latest"`
}

func ready(w http.ResponseWriter, r *http.Request, db Database, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	out := readiness{Status: "ready", Checks: map[string]string{"database": "ok", "schema": "ok"}}
	if err := db.Ping(ctx); err != nil {
		log.WarnContext(ctx, "readiness: database unreachable", "err", err)
		out.Status, out.Checks["database"], out.Checks["schema"] = "not_ready", "unreachable", "unknown"
		return httpx.WriteJSON(w, http.StatusServiceUnavailable, out)
	}
	st, err := db.SchemaStatus(ctx)
	out.SchemaVersion, out.SchemaLatest = st.Current, st.Latest
	switch {
	case err != nil:
		log.WarnContext(ctx, "readiness: schema check failed", "err", err)
		out.Status, out.Checks["schema"] = "not_ready", "unreadable or newer than this binary"
	case !st.UpToDate():
		out.Status, out.Checks["schema"] = "not_ready", "migrations pending: run usher migrate up"
	}
	if out.Status != "ready" {
		return httpx.WriteJSON(w, http.StatusServiceUnavailable, out)
	}
	return httpx.WriteJSON(w, http.StatusOK, out)
}
