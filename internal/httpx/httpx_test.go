package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandleWritesErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantLogged bool
	}{
		{"client error", &Error{Status: 404, Code: "not_found", Message: "no such thing"}, 404, "not_found", false},
		{"wrapped client error", errors.Join(errors.New("ctx"), &Error{Status: 400, Code: "bad", Message: "bad"}), 400, "bad", false},
		{"internal error", errors.New("db password is hunter2"), 500, "internal_error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := Handle(slog.New(slog.NewTextHandler(&logs, nil)), func(http.ResponseWriter, *http.Request) error { return tt.err })
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			var body struct{ Code, Message string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Code != tt.wantCode || body.Message == "" {
				t.Fatalf("body = %+v, want code %q and a message", body, tt.wantCode)
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Fatal("the internal cause reached the client")
			}
			if got := logs.Len() > 0; got != tt.wantLogged {
				t.Fatalf("logged = %v, want %v (%s)", got, tt.wantLogged, logs.String())
			}
		})
	}
}
