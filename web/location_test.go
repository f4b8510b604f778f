package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/usher-id/usher/internal/geoip"
	"github.com/usher-id/usher/internal/geoip/geoiptest"
	"github.com/usher-id/usher/internal/smtptest"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/web"
)

// startLocatedSite is startSite with a location database, and with the
// test's own address (127.0.0.1) trusted as a proxy, so a browser can
// name a public-looking address in X-Forwarded-For.
func startLocatedSite(t *testing.T) *site {
	t.Helper()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	geoiptest.Write(t, path, map[string]geoiptest.Location{
		"203.0.113.0/24": {City: "Berlin", Region: "Berlin", Country: "Germany"},
		"127.0.0.0/8":    {City: "Loopback", Country: "Nowhere"}, // never shown: loopback is not a place
	})
	geo, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { geo.Close() })
	srv := smtptest.Start(t, smtptest.Options{})
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "Usher <no-reply@usher.test>", TLS: "none"},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	u := ushertest.Start(t, ushertest.Options{Mail: sender, Pages: func(o *web.Options) { o.Locate = geo.Locate },
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	return &site{Usher: u, smtp: srv}
}

// forwardedFor sends every request as if through a proxy for addr.
type forwardedFor struct {
	addr string
	next http.RoundTripper
}

func (f forwardedFor) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Forwarded-For", f.addr)
	return f.next.RoundTrip(req)
}

func (s *site) browserAt(t *testing.T, addr string) *browser {
	b := s.browser(t)
	b.c.Transport = forwardedFor{addr: addr, next: http.DefaultTransport}
	return b
}

func TestLocationsOfSessionsAndSignIns(t *testing.T) {
	s := startLocatedSite(t)
	if _, err := s.Users.Create(context.Background(), usersNew("ada@example.com")); err != nil {
		t.Fatal(err)
	}

	// A password sign-in from Berlin, in a browser new to the account: the
	// owner's email says where it came from.
	berlin := s.browserAt(t, "203.0.113.7")
	berlin.get("/sign-in")
	st, body := berlin.post("/sign-in/password", url.Values{"email": {"ada@example.com"}, "password": {password}})
	berlin.want(200, st, body, "Your account")
	notice := s.smtp.WaitFor(t, 1)[0]
	if !strings.Contains(notice.Text, "203.0.113.7 (Berlin, Germany)") {
		t.Errorf("new sign-in email lacks the place: %s", notice.Text)
	}

	// A second session from the test's own (loopback) address has no place.
	local := s.browser(t)
	local.get("/sign-in")
	st, body = local.post("/sign-in/password", url.Values{"email": {"ada@example.com"}, "password": {password}})
	local.want(200, st, body, "Your account")
	if m := s.smtp.WaitFor(t, 2)[1]; !strings.Contains(m.Text, "127.0.0.1") || strings.Contains(m.Text, "127.0.0.1 (") {
		t.Errorf("new sign-in email from loopback: %s", m.Text)
	}

	st, body = local.get("/account")
	local.want(200, st, body, "203.0.113.7 · Berlin, Germany · last active")
	if !regexp.MustCompile(`127\.0\.0\.1 · last active`).MatchString(body) || strings.Contains(body, "Loopback") {
		t.Errorf("the loopback session shows a place: %s", body)
	}
}

func TestLocationOfALinkRequestedElsewhere(t *testing.T) {
	s := startLocatedSite(t)
	if _, err := s.Users.Create(context.Background(), usersNew("grace@example.com")); err != nil {
		t.Fatal(err)
	}
	phone := s.browserAt(t, "203.0.113.7")
	phone.get("/sign-in")
	st, body := phone.post("/sign-in/email", url.Values{"email": {"grace@example.com"}})
	phone.want(200, st, body, "gr…@example.com")
	_, _, link := s.mail(t, 1, "/sign-in/link")

	laptop := s.browser(t)
	st, body = laptop.get(link)
	laptop.want(200, st, body, "requested from another browser (A browser, 203.0.113.7) near Berlin, Germany.")
}
