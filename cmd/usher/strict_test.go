package main

import (
	"net/http"
	"path/filepath"
	"testing"
)

// An https issuer gets Strict-Transport-Security on every response, a
// year by default; hsts_max_age 0 turns it off, and an http issuer never
// sends it (browsers ignore it over http anyway).
func TestServeSendsHSTS(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{"https default", []string{"USHER_ISSUER=https://id.example.com", "USHER_MASTER_KEY=" + masterKeyA, "USHER_SMTP_HOST=127.0.0.1", "USHER_SMTP_FROM=no-reply@example.com"}, "max-age=31536000"},
		{"https off", []string{"USHER_ISSUER=https://id.example.com", "USHER_MASTER_KEY=" + masterKeyA, "USHER_SMTP_HOST=127.0.0.1", "USHER_SMTP_FROM=no-reply@example.com", "USHER_HSTS_MAX_AGE=0"}, ""},
		{"http", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := testEnv(append(c.env, "USHER_DATABASE_URL="+filepath.Join(t.TempDir(), "usher.db"), "USHER_LISTEN=127.0.0.1:0")...)
			base, stop := startServe(t, env)
			defer stop()
			for _, path := range []string{"/healthz", "/.well-known/openid-configuration", "/authorize", "/no-such-page"} {
				resp, err := http.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Strict-Transport-Security"); got != c.want {
					t.Errorf("%s: Strict-Transport-Security = %q, want %q", path, got, c.want)
				}
			}
		})
	}
}
