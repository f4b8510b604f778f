package provider_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres"
	"github.com/usher-id/usher/storage/postgres/pgtest"
)

// startStrict starts Usher with adjusted provider options, trusting
// 127.0.0.1 as a proxy so a test can name client addresses with
// X-Forwarded-For.
func startStrict(t *testing.T, mod func(*provider.Options)) *testUsher {
	t.Helper()
	var store storage.Storage
	if onPostgres {
		db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		store = db
	}
	return &testUsher{ushertest.Start(t, ushertest.Options{Store: store, Provider: mod,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})}
}

// call sends a request and returns its status, headers and body.
func call(t *testing.T, method, rawURL string, form url.Values, header http.Header) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func basic(id, secret string) http.Header {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return http.Header{"Authorization": r.Header["Authorization"]}
}

func from(addr string, h http.Header) http.Header {
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Forwarded-For", addr)
	return h
}

func serviceClient(t *testing.T, u *testUsher) (string, string) {
	t.Helper()
	return u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.GrantTypes = []string{"client_credentials", "urn:ietf:params:oauth:grant-type:device_code"}
		c.RedirectURIs = nil
		c.Scopes = []string{"reports:read"}
	})
}

// The token endpoint and every endpoint that takes a client's or a user's
// credentials take them in a POST body only: a GET with the secret in its
// query string used to be answered with a token.
func TestCredentialsOnlyInPostBody(t *testing.T) {
	u := startUsher(t, nil)
	id, secret := serviceClient(t, u)
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: u.URL + "/oauth/token", Scopes: []string{"reports:read"}}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}

	// GET with the secret in the query: 405, Allow: POST, an RFC 6749 body.
	for _, path := range []string{"/oauth/token", "/oauth/introspect", "/revoke", "/device_authorization"} {
		q := url.Values{"token": {tok.AccessToken}}
		for k, v := range creds {
			q[k] = v
		}
		status, h, body := call(t, http.MethodGet, u.URL+path+"?"+q.Encode(), nil, nil)
		if status != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" || !strings.Contains(body, `"error":"invalid_request"`) ||
			strings.Contains(body, "access_token") || strings.Contains(body, `"active"`) {
			t.Errorf("GET %s with credentials in the query: %d Allow=%q %s", path, status, h.Get("Allow"), body)
		}
	}
	// POST with the credentials in the query instead of the body: refused.
	for _, path := range []string{"/oauth/token", "/oauth/introspect", "/revoke", "/device_authorization"} {
		status, _, body := call(t, http.MethodPost, u.URL+path+"?"+url.Values{"client_secret": {secret}}.Encode(),
			url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "token": {tok.AccessToken}}, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, "client_secret must be sent in the form body") {
			t.Errorf("POST %s with client_secret in the query: %d %s", path, status, body)
		}
	}
	status, _, body := call(t, http.MethodPost, u.URL+"/oauth/token?"+url.Values{"code": {"c"}}.Encode(), creds, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
		t.Errorf("code in the token endpoint's query: %d %s", status, body)
	}
	// The same credentials in the body still work.
	if status, _, body := call(t, http.MethodPost, u.URL+"/oauth/token", creds, nil); status != http.StatusOK {
		t.Fatalf("POST with the credentials in the body: %d %s", status, body)
	}

	// userinfo: an access token in the URL is refused; in the header it works.
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	user := f.login(t)
	status, h, body := call(t, http.MethodGet, u.URL+"/userinfo?"+url.Values{"access_token": {user.AccessToken}}.Encode(), nil, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid_request") || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Errorf("GET /userinfo?access_token=: %d %q %s", status, h.Get("WWW-Authenticate"), body)
	}
	status, _, body = call(t, http.MethodPost, u.URL+"/userinfo?"+url.Values{"access_token": {user.AccessToken}}.Encode(), url.Values{}, nil)
	if status != http.StatusBadRequest {
		t.Errorf("POST /userinfo?access_token=: %d %s", status, body)
	}
	if status, _, body := call(t, http.MethodGet, u.URL+"/userinfo", nil, http.Header{"Authorization": {"Bearer " + user.AccessToken}}); status != http.StatusOK {
		t.Errorf("GET /userinfo with the header: %d %s", status, body)
	}
	if status, _, body := call(t, http.MethodPost, u.URL+"/userinfo", url.Values{"access_token": {user.AccessToken}}, nil); status != http.StatusOK {
		t.Errorf("POST /userinfo with the token in the form: %d %s", status, body)
	}
	// The template token endpoint reads the header only; a token in the
	// URL is refused outright rather than ignored.
	status, _, body = call(t, http.MethodPost, u.URL+"/v1/tokens/anything?"+url.Values{"access_token": {user.AccessToken}}.Encode(), nil, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
		t.Errorf("/v1/tokens with access_token in the query: %d %s", status, body)
	}
}

// A wrong secret sent by HTTP Basic is answered 401 invalid_client with
// the Basic challenge RFC 6749 (section 5.2) requires; one sent in the
// form gets no Basic challenge, since the client did not use Basic.
func TestWrongBasicSecretGetsChallenge(t *testing.T) {
	u := startUsher(t, nil)
	id, _ := serviceClient(t, u)
	for _, path := range []string{"/oauth/token", "/oauth/introspect", "/revoke", "/device_authorization"} {
		form := url.Values{"grant_type": {"client_credentials"}, "token": {"x"}}
		status, h, body := call(t, http.MethodPost, u.URL+path, form, basic(id, "usec_wrong"))
		if status != http.StatusUnauthorized || !strings.Contains(body, `"error":"invalid_client"`) ||
			!strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s, wrong Basic secret: %d WWW-Authenticate=%q %s", path, status, h.Get("WWW-Authenticate"), body)
		}
		form.Set("client_id", id)
		form.Set("client_secret", "usec_wrong")
		status, h, body = call(t, http.MethodPost, u.URL+path, form, nil)
		if status != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") || strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s, wrong form secret: %d WWW-Authenticate=%q %s", path, status, h.Get("WWW-Authenticate"), body)
		}
	}
}

// The client is authenticated before its code is claimed: a request with
// a wrong secret used to burn a valid code, and a made-up code with a
// wrong secret was answered invalid_grant, not invalid_client.
func TestClientAuthenticatedBeforeCode(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	code, verifier := f.code(t)
	exchange := func(code string, h http.Header, form url.Values) (int, http.Header, string) {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {verifier}}
		for k, vs := range form {
			v[k] = vs
		}
		return call(t, http.MethodPost, u.URL+"/oauth/token", v, h)
	}
	for _, c := range []struct {
		name string
		h    http.Header
		form url.Values
	}{
		{"wrong Basic secret", basic(f.cfg.ClientID, "usec_wrong"), nil},
		{"wrong form secret", nil, url.Values{"client_id": {f.cfg.ClientID}, "client_secret": {"usec_wrong"}}},
		{"no secret", nil, url.Values{"client_id": {f.cfg.ClientID}}},
	} {
		status, _, body := exchange(code, c.h, c.form)
		if status != http.StatusUnauthorized || !strings.Contains(body, `"error":"invalid_client"`) {
			t.Fatalf("%s with a valid code: %d %s", c.name, status, body)
		}
		status, _, body = exchange("made-up-code", c.h, c.form)
		if status != http.StatusUnauthorized || !strings.Contains(body, `"error":"invalid_client"`) {
			t.Fatalf("%s with a made-up code: %d %s, want invalid_client", c.name, status, body)
		}
	}
	// The code survived the failed attempts: the client exchanges it.
	tok, err := f.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("exchange after failed attempts: %v", err)
	}
	// A wrong secret with a real refresh token is invalid_client too, and
	// leaves the token usable.
	status, _, body := call(t, http.MethodPost, u.URL+"/oauth/token",
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, basic(f.cfg.ClientID, "usec_wrong"))
	if status != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Fatalf("refresh with a wrong secret: %d %s", status, body)
	}
	if _, err := f.refresh(tok.RefreshToken); err != nil {
		t.Fatalf("refresh after a failed attempt: %v", err)
	}
}

// Failed client authentication and unknown refresh tokens are limited per
// client address (an IPv6 address by its /64) and per client: 3,000 bad
// requests in a few seconds used to draw no 429.
func TestClientFailuresRateLimited(t *testing.T) {
	const perAddr, perClient = 5, 12
	u := startStrict(t, func(o *provider.Options) {
		o.TokenFailuresPerAddress, o.TokenFailuresPerClient, o.TokenFailureWindow = perAddr, perClient, time.Minute
	})
	id, secret := serviceClient(t, u)
	token := u.URL + "/oauth/token"
	cc := url.Values{"grant_type": {"client_credentials"}}
	wrong := func(addr string) (int, http.Header, string) {
		return call(t, http.MethodPost, token, cc, from(addr, basic(id, "usec_wrong")))
	}
	limited := func(what string, status int, h http.Header, body string) {
		t.Helper()
		if status != http.StatusTooManyRequests || h.Get("Retry-After") != "60" || !strings.Contains(body, `"error":"invalid_request"`) {
			t.Fatalf("%s: %d Retry-After=%q %s, want 429", what, status, h.Get("Retry-After"), body)
		}
	}

	// Per address: an IPv4 address, then an IPv6 /64 whose addresses
	// share one count.
	for i := range perAddr {
		if status, _, body := wrong("203.0.113.7"); status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i+1, status, body)
		}
	}
	status, h, body := wrong("203.0.113.7")
	limited("IPv4 address over its limit", status, h, body)
	// Even the right secret is refused from there until the window ends.
	status, h, body = call(t, http.MethodPost, token, cc, from("203.0.113.7", basic(id, secret)))
	limited("right secret from a blocked address", status, h, body)
	for i := range perAddr {
		if status, _, body := wrong(fmt.Sprintf("2001:db8:7:7::%x", i+1)); status != http.StatusUnauthorized {
			t.Fatalf("IPv6 failure %d: %d %s", i+1, status, body)
		}
	}
	status, h, body = wrong("2001:db8:7:7:ffff::99")
	limited("another address of the same /64", status, h, body)
	if status, _, body := call(t, http.MethodPost, token, cc, from("2001:db8:7:8::1", basic(id, secret))); status != http.StatusOK {
		t.Fatalf("the next /64: %d %s", status, body)
	}
	u.Clock.Advance(2 * time.Minute)
	if status, _, body := call(t, http.MethodPost, token, cc, from("203.0.113.7", basic(id, secret))); status != http.StatusOK {
		t.Fatalf("after the window: %d %s", status, body)
	}

	// Per client: failures from many addresses add up for the client.
	u.Clock.Advance(2 * time.Minute)
	for i := range perClient {
		if status, _, body := wrong(fmt.Sprintf("198.51.100.%d", i+1)); status != http.StatusUnauthorized {
			t.Fatalf("client failure %d: %d %s", i+1, status, body)
		}
	}
	status, h, body = wrong("192.0.2.200")
	limited("client over its limit, from a fresh address", status, h, body)

	// Unknown refresh tokens count too, for a client whose secret is right.
	u.Clock.Advance(2 * time.Minute)
	app, appSecret := u.newClient(t, appRedirect, false)
	for i := range perAddr {
		status, _, body := call(t, http.MethodPost, token, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fmt.Sprintf("urt_guess%d", i)}},
			from("192.0.2.10", basic(app, appSecret)))
		if status != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
			t.Fatalf("unknown refresh token %d: %d %s", i+1, status, body)
		}
	}
	status, h, body = call(t, http.MethodPost, token, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"urt_guess"}},
		from("192.0.2.10", basic(app, appSecret)))
	limited("refresh token guesses over the limit", status, h, body)

	// Other endpoints share the count.
	status, h, body = call(t, http.MethodPost, u.URL+"/oauth/introspect", url.Values{"token": {"x"}}, from("192.0.2.10", basic(id, secret)))
	limited("introspection from the blocked address", status, h, body)
}

// A bare GET /authorize used to log an ERROR server_error, so anyone could
// fill the error log; a client's mistake now logs at INFO.
func TestClientMistakesAreNotErrors(t *testing.T) {
	u := startUsher(t, nil)
	id, _ := u.newClient(t, appRedirect, false)
	requests := func() {
		for _, r := range []struct{ method, path string }{
			{"GET", "/authorize"},
			{"GET", "/authorize?client_id=nobody"},
			{"GET", "/authorize?client_id=" + id},
			{"GET", "/authorize?client_id=" + id + "&redirect_uri=http://evil.example/&response_type=code&scope=openid"},
			{"GET", "/authorize?max_age=soon"},
			{"POST", "/oauth/token"},
			{"GET", "/end_session?id_token_hint=garbage"},
		} {
			status, _, body := call(t, r.method, u.URL+r.path, nil, nil)
			if status >= 500 {
				t.Errorf("%s %s: %d %s", r.method, r.path, status, body)
			}
		}
		call(t, "POST", u.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(id, "usec_wrong"))
	}

	logs := &capture{}
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	// Without the wrapper: the attack reproduces.
	slog.SetDefault(slog.New(logs))
	requests()
	if logs.count(slog.LevelError) == 0 {
		t.Fatal("the library no longer logs a bare /authorize as an error; this test reproduces nothing")
	}
	// With it, as usher serve installs it.
	logs.reset()
	slog.SetDefault(slog.New(provider.LibraryLogHandler(logs)))
	requests()
	if n := logs.count(slog.LevelWarn); n > 0 {
		t.Fatalf("%d client mistakes logged at WARN or ERROR:\n%s", n, logs.text())
	}
	if !strings.Contains(logs.text(), "INFO auth request") {
		t.Fatalf("the client mistakes are not logged at INFO:\n%s", logs.text())
	}
}

// capture is a slog handler that keeps records in memory.
type capture struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *capture) WithGroup(string) slog.Handler            { return c }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.recs = append(c.recs, r.Clone())
	c.mu.Unlock()
	return nil
}

func (c *capture) reset() {
	c.mu.Lock()
	c.recs = nil
	c.mu.Unlock()
}

// count is how many records are at level or above.
func (c *capture) count(level slog.Level) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.recs {
		if r.Level >= level {
			n++
		}
	}
	return n
}

func (c *capture) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b bytes.Buffer
	for _, r := range c.recs {
		fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
		b.WriteByte('\n')
	}
	return b.String()
}

var onloadAttr = regexp.MustCompile(`onload="([^"]*)"`)

// The form_post page gets the protection every page has, and its
// auto-submit script, allowed by its hash, still delivers the code.
func TestFormPostPageProtected(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	verifier := oauth2.GenerateVerifier()
	resp, err := f.b.Client.Get(f.cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "form_post")))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, page = f.b.SignIn(page, "jane@example.com", testPassword)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `action="`+appRedirect+`"`) {
		t.Fatalf("form_post answer: %d %s", resp.StatusCode, page)
	}
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("form_post headers: %v", h)
	}
	// The one script on the page is the one the policy allows by hash.
	m := onloadAttr.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no onload script in %s", page)
	}
	sum := sha256.Sum256(m[1])
	if want := "'unsafe-hashes' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, "script-src "+want) {
		t.Fatalf("the policy %q does not allow the page's script %q", csp, m[1])
	}
	if strings.Count(string(page), "<script") > 0 {
		t.Fatalf("the page has a script element the policy does not allow: %s", page)
	}
	fields := map[string]string{}
	for _, m := range formPostField.FindAllStringSubmatch(string(page), -1) {
		fields[m[1]] = m[2]
	}
	if fields["state"] != "st" || fields["code"] == "" {
		t.Fatalf("form_post fields = %v", fields)
	}
	if _, err := f.cfg.Exchange(context.Background(), fields["code"], oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}

	// The library's own error answers at /authorize cannot be framed either.
	r, err := http.Get(u.URL + "/authorize")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusBadRequest || r.Header.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("bare /authorize: %d %v", r.StatusCode, r.Header)
	}
}

// request_uri is refused with request_uri_not_supported, as discovery
// says, instead of being ignored: sent back to the client when the
// redirect URI checks out, shown to the browser when it does not.
func TestRequestURIRefused(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	resp, err := http.Get(u.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["request_uri_parameter_supported"] != false {
		t.Fatalf("discovery: request_uri_parameter_supported = %v", d["request_uri_parameter_supported"])
	}

	authURL := f.cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("request_uri", "https://attacker.example/request.jwt"))
	resp, err = f.b.Client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), appRedirect+"?") ||
		loc.Query().Get("error") != "request_uri_not_supported" || loc.Query().Get("state") != "st4te" || loc.Query().Get("code") != "" {
		t.Fatalf("request_uri: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// An unregistered redirect URI never gets a redirect.
	bad := strings.Replace(authURL, url.QueryEscape(appRedirect), url.QueryEscape("http://evil.example/cb"), 1)
	resp, err = f.b.Client.Get(bad)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "request_uri is not supported") {
		t.Fatalf("request_uri with an unregistered redirect: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// Without request_uri the same request signs in as before.
	if code, _ := f.code(t); code == "" {
		t.Fatal("no code")
	}
}
