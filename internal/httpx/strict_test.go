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

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                 "203.0.113.7",
		"::ffff:203.0.113.7":          "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":        "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:ff:1": "2001:db8:1:2::/64",
		"fe80::1%eth0":                "fe80::/64",
		"not an address":              "not an address",
	} {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
	if AddressKey("2001:db8:1:2::1") == AddressKey("2001:db8:1:3::1") {
		t.Error("two /64s share a key")
	}
}
