package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/internal/smtptest"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

func usersNew(email string) users.NewUser {
	return users.NewUser{Email: email, Password: password, EmailVerified: true}
}

// site is Usher with its pages, sending email to an in-process SMTP server.
type site struct {
	*ushertest.Usher
	smtp *smtptest.Server
}

func startSite(t *testing.T) *site {
	t.Helper()
	srv := smtptest.Start(t, smtptest.Options{})
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "Usher <no-reply@usher.test>", TLS: "none"},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &site{Usher: ushertest.Start(t, ushertest.Options{Mail: sender}), smtp: srv}
}

// browser keeps cookies and follows redirects inside Usher.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	last string // the last page's body
	url  string // and its URL
}

func (s *site) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, base: s.URL}
	b.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), s.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	flowField = regexp.MustCompile(`name="flow" value="([^"]+)"`)
)

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last, b.url = string(body), resp.Request.URL.String()
	if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
		b.url = resp.Header.Get("Location")
	}
	return resp.StatusCode, b.last
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = b.base + path
	}
	req, _ := http.NewRequest(http.MethodGet, path, nil)
	return b.do(req)
}

// fill gives form the CSRF token and the sign-in flow of the last page. A
// person reaches the password and emailed-code forms through the address
// step: when a test posts straight to them with an address, fill takes
// that step first, as the person would have, and the last page is then
// the one it led to. It returns false, with the answer, when that step
// failed.
func (b *browser) fill(path string, form url.Values) (int, string, bool) {
	b.t.Helper()
	if b.skipsAddressStep(path, form) {
		identify := url.Values{"email": {form.Get("email")}}
		for _, k := range []string{"next", "flow"} {
			if form.Has(k) {
				identify.Set(k, form.Get(k))
			}
		}
		if st, body := b.post("/sign-in", identify); st != http.StatusOK {
			return st, body, false
		}
		form.Del("flow")
	}
	if m := csrfField.FindStringSubmatch(b.last); m != nil && !form.Has("csrf") {
		form.Set("csrf", m[1])
	}
	if m := flowField.FindStringSubmatch(b.last); m != nil && !form.Has("flow") {
		form.Set("flow", m[1])
	}
	return 0, "", true
}

// skipsAddressStep reports whether form posts a password or asks for a
// code with an address, from a page that is not the one after the
// address step.
func (b *browser) skipsAddressStep(path string, form url.Values) bool {
	return (path == "/sign-in/password" || path == "/sign-in/email") && form.Get("email") != "" &&
		!strings.Contains(b.last, `action="/sign-in/password"`)
}

// post submits a form, filled in by fill.
func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if st, body, ok := b.fill(path, form); !ok {
		return st, body
	}
	if !strings.HasPrefix(path, "http") {
		path = b.base + path
	}
	req, _ := http.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) want(status int, gotStatus int, body string, contains ...string) {
	b.t.Helper()
	if gotStatus != status {
		b.t.Fatalf("status %d, want %d, at %s: %s", gotStatus, status, b.url, body)
	}
	for _, c := range contains {
		if !strings.Contains(body, c) {
			b.t.Fatalf("page at %s lacks %q: %s", b.url, c, body)
		}
	}
}

var (
	codeInMail = regexp.MustCompile(`\b(\d{6})\b`)
	chParam    = regexp.MustCompile(`name="ch" value="([^"]+)"`)
)

// lastMail waits for the nth message and returns its code and link.
func (s *site) mail(t *testing.T, n int, linkPath string) (to, code, link string) {
	t.Helper()
	m := s.smtp.WaitFor(t, n)[n-1]
	c := codeInMail.FindStringSubmatch(m.Text)
	l := regexp.MustCompile(regexp.QuoteMeta(s.URL+linkPath) + `\?t=[A-Za-z0-9_-]+`).FindString(m.Text)
	if c == nil || l == "" {
		t.Fatalf("message %d has no code or no %s link: %s", n, linkPath, m.Text)
	}
	return m.To[0], c[1], l
}

const password = "correct horse battery staple"

func TestSignUpVerifyProfileSignOutSignIn(t *testing.T) {
	s := startSite(t)
	b := s.browser(t)
	st, body := b.get("/sign-up?email=ada@example.com&first_name=Ada")
	b.want(200, st, body, `value="ada@example.com"`, `value="Ada"`)

	// A breached password is refused with a reason, and nothing is lost.
	st, body = b.post("/sign-up", url.Values{"email": {"ada@example.com"}, "first_name": {"Ada"}, "password": {"password123"}})
	b.want(400, st, body, "common", `value="ada@example.com"`)

	st, body = b.post("/sign-up", url.Values{"email": {"ada@example.com"}, "first_name": {"Ada"}, "last_name": {"Lovelace"}, "password": {password}})
	b.want(200, st, body, "ad…@example.com", "6-digit code")
	_, code, _ := s.mail(t, 1, "/verify/link")
	ch := chParam.FindStringSubmatch(body)[1]

	// A wrong code first, then the right one.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	st, body = b.post(b.url, url.Values{"ch": {ch}, "code": {wrong}})
	b.want(401, st, body, "wrong or has expired")
	st, body = b.post(b.url, url.Values{"ch": {ch}, "code": {code}})
	b.want(200, st, body, "ada@example.com", "Verified", "Signed-in devices")

	// Profile change.
	st, body = b.post("/account/profile", url.Values{"first_name": {"Augusta Ada"}, "last_name": {"King"}, "username": {"ada_l"}})
	b.want(200, st, body, "Saved.", `value="Augusta Ada"`, `value="ada_l"`)

	// Sign out, and the profile asks to sign in.
	b.get("/sign-out")
	st, body = b.post("/sign-out", url.Values{})
	b.want(200, st, body, "You are signed out.")
	st, body = b.get("/account")
	b.want(200, st, body, `name="email"`, "Continue")

	// Sign in again with the password.
	st, body = b.post("/sign-in", url.Values{"email": {"ada@Example.COM"}})
	b.want(200, st, body, "ada@example.com", `name="password"`)
	st, body = b.post("/sign-in/password", url.Values{"email": {"ada@example.com"}, "password": {"not the password"}})
	b.want(401, st, body, "do not match")
	st, body = b.post("/sign-in/password", url.Values{"email": {"ada@example.com"}, "password": {password}})
	b.want(200, st, body, "Your account", "Augusta Ada")
}

func TestMagicLinkInAnotherBrowser(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	if _, err := s.Users.Create(ctx, usersNew("grace@example.com")); err != nil {
		t.Fatal(err)
	}
	phone := s.browser(t)
	phone.get("/sign-in")
	st, body := phone.post("/sign-in/email", url.Values{"email": {"grace@example.com"}})
	phone.want(200, st, body, "gr…@example.com")

	// An older link stops working once a newer one is sent.
	_, _, first := s.mail(t, 1, "/sign-in/link")
	phone.post("/sign-in/email", url.Values{"email": {"grace@example.com"}})
	_, _, link := s.mail(t, 2, "/sign-in/link")

	laptop := s.browser(t)
	st, body = laptop.get(first)
	laptop.want(400, st, body, "invalid, has expired or was already used")
	st, body = laptop.get(link)
	laptop.want(200, st, body, "requested from another browser")
	// Opening the link changed nothing: the confirmation signs in.
	tok := regexp.MustCompile(`name="t" value="([^"]+)"`).FindStringSubmatch(body)[1]
	st, body = laptop.post("/sign-in/link", url.Values{"t": {tok}})
	laptop.want(200, st, body, "Your account", "grace@example.com")
	// The link is single-use.
	st, body = laptop.post("/sign-in/link", url.Values{"t": {tok}})
	laptop.want(400, st, body, "already used")
}

func TestNoEnumerationAtResetAndCodes(t *testing.T) {
	s := startSite(t)
	if _, err := s.Users.Create(context.Background(), usersNew("known@example.com")); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.get("/reset")
	stKnown, known := b.post("/reset", url.Values{"email": {"known@example.com"}})
	knownURL := b.url
	b.get("/reset")
	stUnknown, unknown := b.post("/reset", url.Values{"email": {"nobody@example.com"}})
	unknownURL := b.url
	if stKnown != stUnknown || strings.Count(known, "<input") != strings.Count(unknown, "<input") {
		t.Fatalf("reset answers differ: %d %s\nvs %d %s", stKnown, known, stUnknown, unknown)
	}
	for _, u := range []string{knownURL, unknownURL} {
		if !strings.Contains(u, "/reset/code?ch=ech_") {
			t.Fatalf("reset went to %s", u)
		}
	}
	if got := len(s.smtp.WaitFor(t, 1)); got != 1 {
		t.Fatalf("%d emails, want 1 (to the known address only)", got)
	}

	// The reset code sets a new password and signs out other sessions.
	other := s.browser(t)
	other.get("/sign-in")
	st, body := other.post("/sign-in/password", url.Values{"email": {"known@example.com"}, "password": {password}})
	other.want(200, st, body, "Your account")
	_, code, _ := s.mail(t, 1, "/reset/link")
	b.get(knownURL)
	ch := chParam.FindStringSubmatch(b.last)[1]
	st, body = b.post(knownURL, url.Values{"ch": {ch}, "code": {code}, "password": {"iloveyou1"}})
	b.want(400, st, body, "common")
	st, body = b.post(knownURL, url.Values{"ch": {ch}, "code": {code}, "password": {"a brand new passphrase"}})
	b.want(200, st, body, "Your account")
	st, body = other.get("/account")
	other.want(200, st, body, `name="email"`) // signed out: the sign-in page
}

func TestFormsRefuseBadInput(t *testing.T) {
	s := startSite(t)
	b := s.browser(t)
	b.get("/sign-in")
	st, body := b.post("/sign-in", url.Values{"email": {"a@example.com"}, "csrf": {"forged-forged-forged-forged-forged-forged"}})
	b.want(403, st, body, "This form has expired")
	st, body = b.post("/sign-in", url.Values{"email": {strings.Repeat("a", 40<<10)}})
	b.want(413, st, body, "too large")
	st, body = b.get("/sign-in/link?t=nonsense")
	b.want(400, st, body, "invalid")
	st, body = b.get("/account?notice=Call+us+now")
	if strings.Contains(body, "Call us now") {
		t.Fatal("a crafted notice reached the page")
	}
	resp, err := http.Get(s.URL + "/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	for _, c := range resp.Cookies() {
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Fatalf("cookie %s is not HttpOnly and SameSite=Lax", c.Name)
		}
	}
}

func TestLockoutAfterWrongPasswords(t *testing.T) {
	s := startSite(t)
	if _, err := s.Users.Create(context.Background(), usersNew("locked@example.com")); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.get("/sign-in")
	for i := range 10 {
		st, body := b.post("/sign-in/password", url.Values{"email": {"locked@example.com"}, "password": {"wrong password"}})
		if i < 9 {
			b.want(401, st, body, "do not match")
		} else {
			// The attempt that locks the account answers like every
			// attempt after it.
			b.want(403, st, body, "locked")
		}
	}
	b.get("/sign-in")
	st, body := b.post("/sign-in/password", url.Values{"email": {"locked@example.com"}, "password": {password}})
	b.want(403, st, body, "locked")
	// The owner was told once, when the tenth failure locked the account.
	msgs := s.smtp.Messages()
	if len(msgs) != 1 || !strings.Contains(strings.ToLower(msgs[0].Subject), "locked") || msgs[0].To[0] != "locked@example.com" {
		t.Fatalf("emails after the lock: %+v", msgs)
	}
}

// A password used from a browser Usher has not seen before is reported to
// the owner; the same browser signing in again is not.
func TestNewSignInEmail(t *testing.T) {
	s := startSite(t)
	if _, err := s.Users.Create(context.Background(), usersNew("mary@example.com")); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.get("/sign-in")
	st, body := b.post("/sign-in/password", url.Values{"email": {"mary@example.com"}, "password": {password}})
	b.want(200, st, body, "Your account")
	m := s.smtp.WaitFor(t, 1)[0]
	if m.To[0] != "mary@example.com" || !strings.Contains(m.Text, "127.0.0.1") {
		t.Fatalf("new sign-in email: %s %s", m.Subject, m.Text)
	}
	b.post("/sign-out", url.Values{})
	b.get("/sign-in")
	st, body = b.post("/sign-in/password", url.Values{"email": {"mary@example.com"}, "password": {password}})
	b.want(200, st, body, "Your account")
	if n := len(s.smtp.Messages()); n != 1 {
		t.Fatalf("%d emails, want 1: the second sign-in came from a known browser", n)
	}
}

// The provider's own pages (consent, sign-out confirmation) are drawn by
// the hosted pages, in the same look, and still work.
func TestProviderPagesInTheHostedLook(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	if _, err := s.Users.Create(ctx, usersNew("third@example.com")); err != nil {
		t.Fatal(err)
	}
	const redirect = "https://printer.example.com/callback"
	c := &storage.Client{Name: "Photo Printer", RedirectURIs: []string{redirect}}
	secret, err := s.Clients.Create(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	// Created first-party by default; made third-party as an operator would.
	c.FirstParty = false
	if err := s.Store.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/authorize", TokenURL: s.URL + "/oauth/token"}}
	b := s.browser(t)
	st, body := b.get(cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	b.want(200, st, body, "to continue to Photo Printer")
	ar := regexp.MustCompile(`name="flow" value="([^"]+)"`).FindStringSubmatch(body)[1]
	st, body = b.post("/sign-in/password", url.Values{"email": {"third@example.com"}, "password": {password}, "flow": {ar}})
	b.want(200, st, body, "/assets/usher.css", "Photo Printer", "asks to use your account", "See your email address", `action="/consent"`)
	id := regexp.MustCompile(`name="flow" value="([^"]+)"`).FindStringSubmatch(body)[1]
	st, _ = b.post("/consent", url.Values{"flow": {id}, "decision": {"allow"}})
	if st != http.StatusFound || !strings.HasPrefix(b.url, redirect) {
		t.Fatalf("consent ended with %d at %s", st, b.url)
	}

	// RP-initiated logout without an id_token_hint asks first.
	st, body = b.get("/end_session")
	b.want(200, st, body, "/assets/usher.css", "Sign out of this browser?", `action="/logout"`)
	st, body = b.post("/logout", url.Values{
		"redirect": {regexp.MustCompile(`name="redirect" value="([^"]+)"`).FindStringSubmatch(body)[1]},
		"sig":      {regexp.MustCompile(`name="sig" value="([^"]+)"`).FindStringSubmatch(body)[1]}})
	b.want(200, st, body, "You are signed out.")
	st, body = b.get("/account")
	b.want(200, st, body, `action="/sign-in"`)
}

// An application signs a user in through the pages, with go-oidc and
// x/oauth2 as the relying party.
func TestOIDCCodeFlowThroughThePages(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	if _, err := s.Users.Create(ctx, usersNew("app-user@example.com")); err != nil {
		t.Fatal(err)
	}
	const redirect = "https://app.example.com/callback"
	c := &storage.Client{Name: "Photo App", RedirectURIs: []string{redirect}}
	secret, err := s.Clients.Create(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: redirect, Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email"}}
	verifier := oauth2.GenerateVerifier()
	b := s.browser(t)
	st, body := b.get(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)))
	b.want(200, st, body, "to continue to Photo App", `name="flow"`)
	ar := regexp.MustCompile(`name="flow" value="([^"]+)"`).FindStringSubmatch(body)[1]
	b.post("/sign-in", url.Values{"email": {"app-user@example.com"}, "flow": {ar}})
	st, _ = b.post("/sign-in/password", url.Values{"email": {"app-user@example.com"}, "password": {password}, "flow": {ar}})
	if st != http.StatusFound || !strings.HasPrefix(b.url, redirect) {
		t.Fatalf("sign-in ended with %d at %s, not at the app", st, b.url)
	}
	back, _ := url.Parse(b.url)
	if back.Query().Get("state") != "st4te" {
		t.Fatalf("state %q", back.Query().Get("state"))
	}
	tok, err := cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != "app-user@example.com" {
		t.Fatalf("claims %+v %v", claims, err)
	}
}

// Changes that could hand the account over or end it need a recent
// sign-in: a session left open for a while must sign in again first.
func TestSensitiveChangesNeedARecentSignIn(t *testing.T) {
	s := startSite(t)
	if _, err := s.Users.Create(context.Background(), usersNew("kept@example.com")); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.get("/sign-in")
	st, body := b.post("/sign-in/password", url.Values{"email": {"kept@example.com"}, "password": {password}})
	b.want(200, st, body, "Your account")
	s.smtp.WaitFor(t, 1) // the new-browser notice
	s.Clock.Advance(20 * time.Minute)

	st, body = b.post("/account/emails", url.Values{"email": {"second@example.com"}})
	b.want(200, st, body, "sign in again", `value="kept@example.com"`)
	if !strings.Contains(b.url, "/sign-in?again=1") {
		t.Fatalf("asked to sign in again at %s", b.url)
	}
	st, body = b.get("/account/delete")
	b.want(200, st, body, "sign in again")
	if n := len(s.smtp.Messages()); n != 1 {
		t.Fatalf("%d emails, want only the new-browser notice: nothing is sent before signing in again", n)
	}
	u, err := s.Store.GetUserByEmail(context.Background(), "kept@example.com")
	if err != nil || len(u.Emails) != 1 {
		t.Fatalf("the address was added without a recent sign-in: %+v %v", u, err)
	}

	st, body = b.post("/sign-in/password", url.Values{"email": {"kept@example.com"}, "password": {password}})
	b.want(200, st, body, "Your account")
	st, body = b.post("/account/emails", url.Values{"email": {"second@example.com"}})
	b.want(200, st, body, "6-digit code")
}

// With the hosted pages mounted, the provider's plain sign-in form is not
// a way around them.
func TestPlainLoginFormIsClosed(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	if _, err := s.Users.Create(ctx, users.NewUser{Email: "plain@example.com", Password: password}); err != nil {
		t.Fatal(err)
	}
	const redirect = "https://app.example.com/callback"
	c := &storage.Client{Name: "Plain App", RedirectURIs: []string{redirect}}
	if _, err := s.Clients.Create(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: c.ID, RedirectURL: redirect, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/authorize", TokenURL: s.URL + "/oauth/token"}}
	b := s.browser(t)
	_, body := b.get(cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	ar := regexp.MustCompile(`name="flow" value="([^"]+)"`).FindStringSubmatch(body)[1]
	// The address is unverified: the hosted pages would ask for a code.
	// The provider has no form of its own any more: /login takes no posts.
	st, body := b.post("/login", url.Values{"authRequestID": {ar}, "email": {"plain@example.com"}, "password": {password}})
	if strings.HasPrefix(b.url, redirect) {
		t.Fatal("the plain form completed the sign-in of an unverified address")
	}
	if st != http.StatusNotFound && st != http.StatusMethodNotAllowed {
		t.Fatalf("a post to /login answered %d: %s", st, body)
	}
	// The hosted pages ask for the code, in the flow of the request.
	b.get("/sign-in?flow=" + ar)
	st, body = b.post("/sign-in/password", url.Values{"email": {"plain@example.com"}, "password": {password}, "flow": {ar}})
	b.want(200, st, body, "6-digit code")
	if strings.HasPrefix(b.url, redirect) {
		t.Fatal("an unverified address completed the sign-in")
	}
}

// The device flow signs in on the hosted pages: the code page sends a
// signed-out browser to sign in, and brings it back to answer the device.
func TestDeviceFlowThroughThePages(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	if _, err := s.Users.Create(ctx, usersNew("tv@example.com")); err != nil {
		t.Fatal(err)
	}
	c := &storage.Client{Name: "Living Room TV", GrantTypes: []string{"urn:ietf:params:oauth:grant-type:device_code"}}
	if _, err := s.Clients.Create(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	p, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: c.ID, Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID}}
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}

	b := s.browser(t)
	st, body := b.get("/device")
	b.want(200, st, body, "/assets/usher.css", "Enter the code shown")
	if strings.Contains(body, `name="password"`) {
		t.Fatal("the hosted device page asks for a password itself")
	}
	st, body = b.post("/device", url.Values{"user_code": {da.UserCode}})
	b.want(200, st, body, `name="next"`, `action="/sign-in"`)
	next := regexp.MustCompile(`name="next" value="([^"]+)"`).FindStringSubmatch(body)[1]
	b.post("/sign-in", url.Values{"email": {"tv@example.com"}, "next": {next}})
	st, body = b.post("/sign-in/password", url.Values{"email": {"tv@example.com"}, "password": {password}, "next": {next}})
	b.want(200, st, body, "Living Room TV", "wants to use your account on a device", `value="approve"`)
	st, body = b.post("/device", url.Values{"user_code": {da.UserCode}, "action": {"approve"}})
	if st != http.StatusOK {
		t.Fatalf("approving: %d %s", st, body)
	}
	// The device's next poll gets its tokens (one poll by hand: the
	// library would first wait out the 5 s interval).
	resp, err := http.PostForm(s.URL+"/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {da.DeviceCode}, "client_id": {c.ID}})
	if err != nil {
		t.Fatal(err)
	}
	tokBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(tokBody), `"access_token"`) {
		t.Fatalf("device token after approval: %d %s", resp.StatusCode, tokBody)
	}

	// A next parameter never leaves the site.
	for _, bad := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		_, body := s.browser(t).get("/sign-in?next=" + url.QueryEscape(bad))
		if strings.Contains(body, `name="next"`) {
			t.Errorf("next %q was kept", bad)
		}
	}
}
