package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHSTS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	for _, tt := range []struct {
		maxAge time.Duration
		want   string
	}{
		{365 * 24 * time.Hour, "max-age=31536000"},
		{90 * time.Second, "max-age=90"},
		{0, ""},
	} {
		rec := httptest.NewRecorder()
		HSTS(tt.maxAge, ok).ServeHTTP(rec, httptest.NewRequest("GET", "/anything", nil))
		if got := rec.Header().Get("Strict-Transport-Security"); got != tt.want {
			t.Errorf("HSTS(%v): header = %q, want %q", tt.maxAge, got, tt.want)
		}
		if rec.Code != http.StatusNotFound {
			t.Errorf("HSTS(%v) changed the answer to %d", tt.maxAge, rec.Code)
		}
	}
}
