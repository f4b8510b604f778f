package provider_test

import (
	"net/http"
	"testing"

	"github.com/usher-id/usher/storage"
)

// No origin is reflected unless a client was configured with it;
// discovery and the JWKS are readable from anywhere.
func TestCORS(t *testing.T) {
	u := startUsher(t, nil)
	u.newClient(t, appRedirect, true, func(c *storage.Client) { c.CORSOrigins = []string{"https://app.example"} })
	tests := []struct {
		path, origin, want string
	}{
		{"/oauth/token", "https://app.example", "https://app.example"},
		{"/oauth/token", "https://evil.example", ""},
		{"/userinfo", "https://evil.example", ""},
		{"/.well-known/openid-configuration", "https://anyone.example", "*"},
		{"/keys", "https://anyone.example", "*"},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("OPTIONS", u.URL+tc.path, nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		if tc.want == "*" {
			req, _ = http.NewRequest("GET", u.URL+tc.path, nil)
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if got != tc.want && !(tc.want == "*" && got == tc.origin) {
			t.Errorf("%s from %s: Access-Control-Allow-Origin %q, want %q", tc.path, tc.origin, got, tc.want)
		}
		if resp.Header.Get("Access-Control-Allow-Credentials") == "true" {
			t.Errorf("%s from %s allows credentials", tc.path, tc.origin)
		}
	}
}
