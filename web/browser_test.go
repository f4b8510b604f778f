package web_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/storage"
)

// The browser tests drive the pages in a real Chromium, as a person would:
// they type into the fields and press the buttons, and read what the page
// shows. After each page they save a full-page screenshot at a desktop
// width, and for the main pages at a phone width too, into the test's
// artifact directory (kept with go test -artifacts -outputdir DIR).

// browserTimeout bounds each browser test, browser start included.
const browserTimeout = 90 * time.Second

// Viewports of the screenshots.
const (
	desktopWidth, desktopHeight = 1280, 800
	phoneWidth, phoneHeight     = 390, 844
)

// chromiumPath finds Chromium. Without it the test is skipped, except
// under CI=true, where a browser test that cannot run is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: browser tests must run in CI")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping browser test")
	return ""
}

// tab is one Chromium with one tab, for one test.
type tab struct {
	t     *testing.T
	ctx   context.Context
	shots int
}

// openBrowser starts a fresh Chromium that is stopped when the test ends,
// and at the latest after browserTimeout.
func openBrowser(t *testing.T) *tab {
	t.Helper()
	exe := chromiumPath(t)
	profile := filepath.Join(t.TempDir(), "chromium-profile")
	t.Cleanup(func() { removeProfile(t, profile) }) // after the browser exits
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		// Nothing but the test servers is reachable: no update checks,
		// sync, safe browsing or metrics.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel) // stops Chromium and waits for it
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &tab{t: t, ctx: bctx}
	if err := chromedp.Do(bctx, desktop()); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	return b
}

// removeProfile removes Chromium's profile, waiting for helper processes
// that may still write to it for a moment after the browser exits.
func removeProfile(t *testing.T, dir string) {
	var err error
	for range 50 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("remove chromium profile: %v", err)
}

func desktop() chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(desktopWidth, desktopHeight)
}

func phone() chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile,
		chromedp.EmulateTouch, chromedp.EmulatePortrait)
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s, at %s: %v", what, b.url(), err)
	}
}

// open loads url (following redirects); the page must answer status.
func (b *tab) open(url string, status int64) {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
	if resp.Status != status {
		b.t.Fatalf("open %s: status %d, want %d: %s", url, resp.Status, status, b.text())
	}
}

// fill types value into the field, replacing what it held.
func (b *tab) fill(sel, value string) {
	b.t.Helper()
	b.do("fill "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// press clicks the button or link and waits for the page it leads to,
// which must answer status.
func (b *tab) press(sel string, status int64) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("press %s, at %s: %v", sel, b.url(), err)
	}
	if resp.Status != status {
		b.t.Fatalf("press %s: status %d, want %d, at %s: %s", sel, resp.Status, status, b.url(), b.text())
	}
}

func (b *tab) url() string {
	u, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	return u
}

// text is what the page shows.
func (b *tab) text() string {
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		return "(cannot read the page: " + err.Error() + ")"
	}
	return s
}

func (b *tab) value(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("value of %s: %v", sel, err)
	}
	return v
}

// at checks that the browser is at a URL that starts with prefix.
func (b *tab) at(prefix string) {
	b.t.Helper()
	if u := b.url(); !strings.HasPrefix(u, prefix) {
		b.t.Fatalf("at %s, want %s…: %s", u, prefix, b.text())
	}
}

// shows checks that the page shows each of texts.
func (b *tab) shows(texts ...string) {
	b.t.Helper()
	page := b.text()
	for _, s := range texts {
		if !strings.Contains(page, s) {
			b.t.Fatalf("page at %s does not show %q: %s", b.url(), s, page)
		}
	}
}

func (b *tab) lacks(texts ...string) {
	b.t.Helper()
	page := b.text()
	for _, s := range texts {
		if strings.Contains(page, s) {
			b.t.Fatalf("page at %s shows %q: %s", b.url(), s, page)
		}
	}
}

// hidden checks that no element sel takes room on the page, as the
// username fields kept for password managers must not.
func (b *tab) hidden(sel string) {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf(
		`[...document.querySelectorAll(%q)].filter(e => e.getClientRects().length > 0).length`, sel)))
	if err != nil {
		b.t.Fatalf("look for %s: %v", sel, err)
	}
	if n > 0 {
		b.t.Fatalf("%d %s shown at %s", n, sel, b.url())
	}
}

// shot saves a full-page screenshot of the page, named after the step, at
// the desktop width; with alsoPhone, at the phone width too, where the page
// must not scroll sideways.
func (b *tab) shot(name string, alsoPhone bool) {
	b.t.Helper()
	b.shots++
	base := fmt.Sprintf("%02d-%s", b.shots, name)
	b.save(base+".png", chromedp.FullScreenshot(100))
	if !alsoPhone {
		return
	}
	b.do("phone viewport", phone())
	b.save(base+"-phone.png", chromedp.FullScreenshot(100))
	wide, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](
		`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
	if err != nil {
		b.t.Fatal(err)
	}
	if wide {
		b.t.Errorf("%s is wider than a phone (%dpx)", b.url(), phoneWidth)
	}
	b.do("desktop viewport", desktop())
}

func (b *tab) save(name string, shot chromedp.Action[[]byte]) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, shot)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.t.ArtifactDir(), name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signInWithPassword goes from the sign-in page to the page after it.
func (b *tab) signInWithPassword(email, pw string, shots bool) {
	b.t.Helper()
	b.fill("#email", email)
	b.press(`form[action="/sign-in"] button[type=submit]`, 200)
	b.shows(email)
	b.hidden(`input[name=username]`)
	if shots {
		b.shot("password", false)
	}
	b.fill("#password", pw)
	b.press(`form[action="/sign-in/password"] button[type=submit]`, 200)
}

func TestBrowserSignUpVerifyProfileSignOutSignIn(t *testing.T) {
	s := startSite(t)
	b := openBrowser(t)

	b.open(s.URL+"/sign-in", 200)
	b.shows("Sign in", "Email address", "No account yet?")
	b.shot("sign-in", true)
	b.press(`a[href="/sign-up"]`, 200)
	b.shows("Create your account")
	b.shot("sign-up", true)

	b.fill("#first_name", "Ada")
	b.fill("#last_name", "Lovelace")
	b.fill("#email", "ada@example.com")
	b.fill("#password", password)
	b.press(`form[action="/sign-up"] button[type=submit]`, 200)
	b.at(s.URL + "/verify?")
	b.shows("Verify your email", "ad…@example.com", "6-digit code")
	b.shot("verify-code", true)

	_, code, _ := s.mail(t, 1, "/verify/link")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	b.fill("#code", wrong)
	b.press(`button[type=submit]`, http.StatusUnauthorized)
	b.shows("wrong or has expired")
	b.shot("verify-wrong-code", false)
	b.fill("#code", code)
	b.press(`button[type=submit]`, 200)
	b.at(s.URL + "/account")
	b.shows("Your account", "ada@example.com", "Verified", "Signed-in devices", "This device")
	b.lacks("Sign out all other devices") // there are none
	b.hidden(`input[name=username][hidden]`)
	if got := b.value("#first_name"); got != "Ada" {
		t.Fatalf("first name %q", got)
	}
	b.shot("account", true)

	b.fill("#first_name", "Augusta Ada")
	b.press(`form[action="/account/profile"] button[type=submit]`, 200)
	b.shows("Saved.")
	if got := b.value("#first_name"); got != "Augusta Ada" {
		t.Fatalf("first name after saving %q", got)
	}
	b.shot("account-saved", false)

	b.press(`form[action="/sign-out"][method=get] button`, 200)
	b.at(s.URL + "/sign-out")
	b.shows("Sign out of this browser?")
	b.shot("sign-out", false)
	b.press(`form[action="/sign-out"][method=post] button[type=submit]`, 200)
	b.at(s.URL + "/signed-out")
	b.shows("You are signed out.")
	b.shot("signed-out", false)

	b.press(`a[href="/sign-in"]`, 200)
	b.at(s.URL + "/sign-in")
	b.signInWithPassword("ada@example.com", password, true)
	b.at(s.URL + "/account")
	if got := b.value("#first_name"); got != "Augusta Ada" {
		t.Fatalf("first name after signing in again %q", got)
	}
	b.shows("ada@example.com")
	b.shot("account-again", false)
}

func TestBrowserMagicLinkSignIn(t *testing.T) {
	s := startSite(t)
	if _, err := s.Users.Create(context.Background(), usersNew("grace@example.com")); err != nil {
		t.Fatal(err)
	}
	b := openBrowser(t)

	b.open(s.URL+"/sign-in", 200)
	b.fill("#email", "grace@example.com")
	b.press(`form[action="/sign-in"] button[type=submit]`, 200)
	b.shows("grace@example.com", "Email me a sign-in code and link")
	b.shot("sign-in-ways", true)
	b.press(`form[action="/sign-in/email"] button[type=submit]`, 200)
	b.at(s.URL + "/sign-in/code?")
	b.shows("Check your email", "gr…@example.com")
	b.shot("check-email", true)

	// The link opens in the browser that asked for it.
	_, _, link := s.mail(t, 1, "/sign-in/link")
	b.open(link, 200)
	b.lacks("another browser")
	b.shows("Confirm sign-in")
	b.shot("link-confirm", true)
	b.press(`form[action="/sign-in/link"] button[type=submit]`, 200)
	b.at(s.URL + "/account")
	b.shows("Your account", "grace@example.com", "This device")
	b.shot("account", false)
}

// relyingParty is an application that signs its users in with Usher, with
// x/oauth2 (authorization code + PKCE) and go-oidc.
type relyingParty struct {
	t        *testing.T
	provider *oidc.Provider
	clientID string
	cfg      oauth2.Config

	mu      sync.Mutex
	pending map[string][2]string // state → PKCE verifier, nonce
}

func (a *relyingParty) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	a.mu.Lock()
	a.pending[state] = [2]string{verifier, nonce}
	a.mu.Unlock()
	http.Redirect(w, r, a.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), http.StatusFound)
}

func (a *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	email, err := a.finish(r)
	if err != nil {
		a.t.Errorf("callback: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>Photo App</title><h1>Hello %s</h1>", email)
}

func (a *relyingParty) finish(r *http.Request) (string, error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("%s: %s", e, q.Get("error_description"))
	}
	a.mu.Lock()
	p, ok := a.pending[q.Get("state")]
	delete(a.pending, q.Get("state"))
	a.mu.Unlock()
	if !ok {
		return "", errors.New("unknown state")
	}
	tok, err := a.cfg.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p[0]))
	if err != nil {
		return "", fmt.Errorf("exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.provider.Verifier(&oidc.Config{ClientID: a.clientID}).Verify(r.Context(), raw)
	if err != nil {
		return "", fmt.Errorf("verify ID token: %w", err)
	}
	if idt.Nonce != p[1] {
		return "", fmt.Errorf("nonce %q, want %q", idt.Nonce, p[1])
	}
	var claims struct {
		Email    string `json:"email"`
		Verified bool   `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return "", err
	}
	if claims.Email == "" || !claims.Verified {
		return "", fmt.Errorf("claims %+v", claims)
	}
	return claims.Email, nil
}

func randomToken() string { return rand.Text() }

// startApp registers an application with Usher and serves it: /login
// sends the browser to Usher, /callback greets the user it signed in.
// A third-party application's users are asked for their consent.
func startApp(t *testing.T, s *site, name string, thirdParty bool) (appURL string) {
	t.Helper()
	ctx := context.Background()
	rp := &relyingParty{t: t, pending: map[string][2]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", rp.login)
	mux.HandleFunc("GET /callback", rp.callback)
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)

	c := &storage.Client{Name: name, RedirectURIs: []string{app.URL + "/callback"}}
	if thirdParty {
		clients.ApplyDefaults(c)
		c.FirstParty = false
	}
	secret, err := s.Clients.Create(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	rp.provider, err = oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp.clientID = c.ID
	rp.cfg = oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: app.URL + "/callback",
		Endpoint: rp.provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	return app.URL
}

func TestBrowserOIDCCodeFlow(t *testing.T) {
	s := startSite(t)
	if _, err := s.Users.Create(context.Background(), usersNew("app-user@example.com")); err != nil {
		t.Fatal(err)
	}
	app := startApp(t, s, "Photo App", false)

	b := openBrowser(t)
	b.open(app+"/login", 200)
	b.at(s.URL + "/sign-in?")
	b.shows("Sign in", "to continue to Photo App")
	b.shot("sign-in-for-app", true)
	b.signInWithPassword("app-user@example.com", password, true)
	b.at(app + "/callback?")
	b.shows("Hello app-user@example.com")
	b.shot("back-in-app", false)
}

// A third-party application asks for consent once; the account page then
// lists it.
func TestBrowserOIDCConsent(t *testing.T) {
	s := startSite(t)
	if _, err := s.Users.Create(context.Background(), usersNew("app-user@example.com")); err != nil {
		t.Fatal(err)
	}
	app := startApp(t, s, "Partner Photos", true)

	b := openBrowser(t)
	b.open(app+"/login", 200)
	b.signInWithPassword("app-user@example.com", password, false)
	b.shows("Allow access", "Partner Photos")
	b.shot("consent", true)
	b.press(`button[name=decision][value=allow]`, 200)
	b.at(app + "/callback?")
	b.shows("Hello app-user@example.com")

	b.open(s.URL+"/account", 200)
	b.shows("Connected applications", "Partner Photos")
	b.shot("account-with-app", false)
}

// The pages the flows above do not reach, for their screenshots: reset,
// an invalid link, an account with several addresses, devices and
// applications, and delete.
func TestBrowserResetAndAccountPages(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	u, err := s.Users.Create(ctx, usersNew("lin@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	extra := &storage.EmailAddress{Email: "lin.work@a-rather-long-company-domain.example.com"}
	if err := s.Store.AddEmail(ctx, u.ID, extra); err != nil {
		t.Fatal(err)
	}
	app := &storage.Client{Name: "Photo App", RedirectURIs: []string{"https://photos.example.com/callback"}}
	if _, err := s.Clients.Create(ctx, app, false); err != nil {
		t.Fatal(err)
	}
	consent := &storage.Consent{UserID: u.ID, ClientID: app.ID, Scopes: []string{"openid", "email", "profile"}}
	if err := s.Store.SaveConsent(ctx, consent); err != nil {
		t.Fatal(err)
	}
	other := s.browser(t) // another device, signed in
	other.get("/sign-in")
	st, body := other.post("/sign-in/password", url.Values{"email": {"lin@example.com"}, "password": {password}})
	other.want(200, st, body, "Your account")

	b := openBrowser(t)
	b.open(s.URL+"/reset?email=lin@example.com", 200)
	b.shows("Reset your password")
	b.shot("reset", true)
	b.press(`form[action="/reset"] button[type=submit]`, 200)
	b.at(s.URL + "/reset/code?")
	b.shows("New password")
	b.shot("reset-code", true)

	b.open(s.URL+"/sign-in/link?t=nonsense", http.StatusBadRequest)
	b.shows("invalid, has expired or was already used")
	b.shot("link-invalid", false)

	b.open(s.URL+"/sign-in", 200)
	b.signInWithPassword("lin@example.com", password, false)
	b.at(s.URL + "/account")
	b.shows(extra.Email, "Unverified", "Sign out all other devices", "Connected applications", "Photo App")
	b.shot("account-full", true)

	// Managing devices and apps: sign the other device out, remove the
	// app's access.
	b.press(`form[action="/account/sessions/revoke"] button`, 200)
	b.shows("That device is signed out.")
	b.lacks("Sign out all other devices")
	if st, body := other.get("/account"); st != 200 || !strings.Contains(body, `action="/sign-in"`) {
		t.Fatalf("the other device is still signed in: %d", st)
	}
	b.press(`form[action="/account/consents/revoke"] button`, 200)
	b.shows("Access removed.")
	b.lacks("Photo App")
	b.shot("account-managed", false)

	b.press(`a[href="/account/delete"]`, 200)
	b.shows("Delete your account", "Type DELETE to confirm")
	b.shot("delete", true)
	b.fill("#confirm", "delete")
	b.press(`form[action="/account/delete"] button[type=submit]`, http.StatusBadRequest)
	b.shows("Type DELETE in capitals")
	b.shot("delete-mistyped", false)
}

// The first run on a laptop: no mail server, so the code is read on the
// development mailbox page, in the same browser.
func TestBrowserSignUpThroughTheDevMailbox(t *testing.T) {
	s := ushertest.Start(t, ushertest.Options{Mail: mail.NewMailbox(slog.New(slog.DiscardHandler))})
	b := openBrowser(t)

	b.open(s.URL+"/sign-up", 200)
	b.fill("#email", "laptop@example.com")
	b.fill("#password", "a long laptop passphrase")
	b.press(`form[action="/sign-up"] button[type=submit]`, 200)
	b.shows("Verify your email")
	verify := b.url()

	b.open(s.URL+"/dev/mail", 200)
	b.shows("laptop@example.com")
	b.shot("dev-mailbox", true)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(b.text())
	if code == "" {
		t.Fatalf("no code on the mailbox page: %s", b.text())
	}

	b.open(verify, 200)
	b.fill("#code", code)
	b.press(`form[action^="/verify"] button[type=submit]`, 200)
	b.at(s.URL + "/account")
	b.shows("Your account", "laptop@example.com", "Verified")
}
