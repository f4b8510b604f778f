package provider

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// A real fault keeps its ERROR: only the level of what a client caused
// is lowered. Usher's own records pass through as they are.
func TestLibraryLogKeepsRealFaults(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	slog.SetDefault(slog.New(LibraryLogHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))

	answer := func(err error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { op.RequestError(w, r, err, nil) })
	}
	for _, c := range []struct {
		name  string
		h     http.Handler
		level string
	}{
		{"server_error in a request answered 500", settleLibraryLogs(answer(oidc.ErrServerError().WithDescription("db down"))), "level=ERROR"},
		{"client error in a request", settleLibraryLogs(answer(oidc.ErrInvalidClient())), "level=INFO"},
		{"server_error outside a provider request", answer(oidc.ErrServerError()), "level=ERROR"},
		{"client error outside a provider request", answer(oidc.ErrInvalidGrant()), "level=INFO"},
	} {
		buf.Reset()
		c.h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/oauth/token", nil))
		if !strings.Contains(buf.String(), c.level) || strings.Count(buf.String(), "\n") != 1 {
			t.Errorf("%s: logged %q, want one record at %s", c.name, buf.String(), c.level)
		}
	}
	buf.Reset()
	slog.Warn("usher's own warning")
	if !strings.Contains(buf.String(), "level=WARN") {
		t.Errorf("a record not from the library changed: %q", buf.String())
	}
}
