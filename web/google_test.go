package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/web"
)

// The Google connector keeps Google's real URLs (goth's provider and
// x/oauth2's google.Endpoint): the authorization page on
// accounts.google.com, the token endpoint on oauth2.googleapis.com and
// userinfo v2 on www.googleapis.com. The site's federation HTTP client
// routes those hosts to a local server playing Google; the test plays the
// authorization page, as the GitHub tests do.

var ggHosts = []string{"accounts.google.com", "oauth2.googleapis.com", "www.googleapis.com"}

const (
	ggAuthorizeURL = "https://accounts.google.com/o/oauth2/auth"
	ggSubject      = "108672345678901234567"
	ggEmail        = "ada@example.com"
	ggAppRedirect  = "https://app.example.com/google-callback"
)

// fakeGoogle is Google's token endpoint and userinfo v2.
type fakeGoogle struct {
	t        *testing.T
	clientID string
	secret   string
	srv      *httptest.Server

	mu     sync.Mutex
	user   map[string]any
	codes  map[string]ghGrant
	tokens map[string]bool
	// exchanged counts the codes exchanged for a token; userinfo counts
	// the profile reads.
	exchanged, userinfo int
}

func newFakeGoogle(t *testing.T) *fakeGoogle {
	t.Helper()
	f := &fakeGoogle{t: t, clientID: "client-google.apps.googleusercontent.com", secret: "secret-google",
		codes: map[string]ghGrant{}, tokens: map[string]bool{},
		user: map[string]any{"id": ggSubject, "email": ggEmail, "verified_email": true, "name": "Ada Lovelace",
			"given_name": "Ada", "family_name": "Lovelace", "picture": "https://lh3.googleusercontent.example/a/ada",
			"locale": "en"}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST oauth2.googleapis.com/token", f.exchange)
	mux.HandleFunc("GET www.googleapis.com/oauth2/v2/userinfo", f.userinfoHandler)
	// Anything else Google-bound is a wrong URL: fail loudly.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake Google: unexpected %s %s%s", r.Method, r.Host, r.URL.Path)
		http.NotFound(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// authorize is Google's consent page approving the request in authURL.
func (f *fakeGoogle) authorize(authURL string) (code, state string) {
	f.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil || u.Scheme != "https" || u.Host != "accounts.google.com" || u.Path != "/o/oauth2/auth" {
		f.t.Fatalf("not Google's authorization page: %s (%v)", authURL, err)
	}
	q := u.Query()
	if q.Get("client_id") != f.clientID {
		f.t.Fatalf("client_id %q, want %q", q.Get("client_id"), f.clientID)
	}
	if q.Get("response_type") != "code" || q.Get("state") == "" || q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		f.t.Fatalf("authorization request lacks code flow, state or PKCE S256: %s", authURL)
	}
	if scopes := strings.Fields(q.Get("scope")); !slices.Contains(scopes, "openid") || !slices.Contains(scopes, "email") || !slices.Contains(scopes, "profile") {
		f.t.Fatalf("scope %q, want openid email profile", q.Get("scope"))
	}
	if q.Has("access_type") {
		f.t.Fatalf("access_type asked though the connection keeps no tokens: %s", authURL)
	}
	if q.Has("code_verifier") || q.Has("client_secret") || strings.Contains(authURL, f.secret) {
		f.t.Fatalf("the authorization URL carries a secret: %s", authURL)
	}
	code = "4/0A" + ghRandom()
	f.mu.Lock()
	f.codes[code] = ghGrant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")}
	f.mu.Unlock()
	return code, q.Get("state")
}

// exchange is Google's token endpoint: JSON answers, errors with 400 (401
// for the client's credentials). A code is used once; the client, redirect
// URI and PKCE verifier must match.
func (f *fakeGoogle) exchange(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	form := r.PostForm
	// Client credentials in the body (AuthStyleInParams) or in Basic auth.
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	g, ok := f.codes[form.Get("code")]
	delete(f.codes, form.Get("code"))
	status, answer := http.StatusOK, map[string]any{}
	switch {
	case form.Get("grant_type") != "authorization_code":
		status, answer["error"] = http.StatusBadRequest, "unsupported_grant_type"
	case id != f.clientID || secret != f.secret:
		status, answer["error"] = http.StatusUnauthorized, "invalid_client"
	case !ok || g.clientID != id:
		status, answer["error"], answer["error_description"] = http.StatusBadRequest, "invalid_grant", "Malformed auth code."
	case form.Get("redirect_uri") != g.redirectURI:
		status, answer["error"] = http.StatusBadRequest, "redirect_uri_mismatch"
	case g.method != "S256" || ghS256(form.Get("code_verifier")) != g.challenge:
		status, answer["error"], answer["error_description"] = http.StatusBadRequest, "invalid_grant", "Invalid code verifier."
	default:
		token := "ya29." + ghRandom()
		f.tokens[token] = true
		f.exchanged++
		answer = map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3599,
			"scope":    "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
			"id_token": "eyJhbGciOiJSUzI1NiJ9.e30.unverified"}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

// userinfoHandler is GET /oauth2/v2/userinfo, with the token in the query
// (as goth sends it) or in the Authorization header.
func (f *fakeGoogle) userinfoHandler(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = r.URL.Query().Get("access_token")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if !f.tokens[token] {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`))
		return
	}
	f.userinfo++
	_ = json.NewEncoder(w).Encode(f.user)
}

func (f *fakeGoogle) counts() (exchanged, userinfo int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exchanged, f.userinfo
}

// ggReroute sends requests for Google's hosts to the fake, and refuses any
// other.
type ggReroute struct {
	addr string
	base http.RoundTripper
}

func (rt ggReroute) RoundTrip(r *http.Request) (*http.Response, error) {
	if !slices.Contains(ggHosts, r.URL.Host) || r.URL.Scheme != "https" {
		return nil, fmt.Errorf("test: no route to %s", r.URL.Redacted())
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host, r2.Host = "http", rt.addr, r.URL.Host
	return rt.base.RoundTrip(r2)
}

func (f *fakeGoogle) client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: ggReroute{addr: f.srv.Listener.Addr().String(), base: f.srv.Client().Transport}}
}

// ggSite is Usher with a "Continue with Google" connection reaching the
// fake, and an app.
type ggSite struct {
	*site
	gg   *fakeGoogle
	conn *storage.Connection
	app  *oauth2.Config
}

func startGoogleSite(t *testing.T) *ggSite {
	t.Helper()
	gg := newFakeGoogle(t)
	s := startFederatedSite(t, gg.client())
	ctx := context.Background()
	conn := &storage.Connection{Slug: "google", Type: storage.ConnectionGoogle, DisplayName: "Google", Enabled: true,
		ClientID: gg.clientID, ClientSecret: []byte(gg.secret), AllowSignUp: true}
	if err := s.Store.CreateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	app := registerApp(t, s, "Analytical App", ggAppRedirect)
	return &ggSite{site: s, gg: gg, conn: conn, app: app}
}

// continueWithGoogle opens the app's authorization URL, presses "Continue
// with Google", approves at Google and returns to the site's callback; it
// returns the callback's status and page.
func (g *ggSite) continueWithGoogle(t *testing.T, b *browser, appState, verifier string) (int, string) {
	t.Helper()
	st, body := b.get(g.app.AuthCodeURL(appState, oauth2.S256ChallengeOption(verifier)))
	b.want(200, st, body, "Continue with Google", `action="/sso/google/start"`)
	m := arField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the sign-in page names no authorization request: %s", body)
	}
	st, body = b.post("/sso/google/start", url.Values{"flow": {m[1]}})
	if st != http.StatusSeeOther || !strings.HasPrefix(b.url, ggAuthorizeURL+"?") {
		t.Fatalf("start: %d at %s: %s", st, b.url, body)
	}
	authURL := b.url
	q, _ := url.ParseQuery(strings.SplitN(authURL, "?", 2)[1])
	if q.Get("redirect_uri") != g.URL+web.PathUpstreamCallback {
		t.Fatalf("redirect_uri %q, want the site's callback %q", q.Get("redirect_uri"), g.URL+web.PathUpstreamCallback)
	}
	if q.Get("state") == appState {
		t.Fatal("the app's state was passed upstream")
	}
	if q.Get("code_challenge") == oauth2.S256ChallengeFromVerifier(verifier) {
		t.Fatal("the app's PKCE challenge was passed upstream")
	}
	code, state := g.gg.authorize(authURL)
	return b.get(web.PathUpstreamCallback + "?" + url.Values{"code": {code}, "state": {state},
		"scope":    {"email profile openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile"},
		"authuser": {"0"}, "prompt": {"consent"}}.Encode())
}

func TestGoogleSignInIntoAnApp(t *testing.T) {
	g := startGoogleSite(t)
	ctx := context.Background()
	b := g.browser(t)
	verifier := oauth2.GenerateVerifier()
	st, body := g.continueWithGoogle(t, b, "app-state-g1", verifier)
	if st != http.StatusFound || !strings.HasPrefix(b.url, ggAppRedirect+"?") {
		t.Fatalf("the sign-in ended with %d at %s, not at the app: %s", st, b.url, body)
	}
	back, err := url.Parse(b.url)
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("state") != "app-state-g1" || back.Query().Get("code") == "" {
		t.Fatalf("the app got %s", b.url)
	}
	if ex, ui := g.gg.counts(); ex != 1 || ui != 1 {
		t.Fatalf("%d Google codes exchanged, %d userinfo reads; want 1 and 1", ex, ui)
	}

	// The user: Google's verified address and names, no password; an
	// identity (connection, Google's id).
	u, err := g.Store.GetUserByEmail(ctx, ggEmail)
	if err != nil {
		t.Fatal(err)
	}
	if !u.PrimaryEmail().Verified || u.PasswordHash != "" || u.FirstName != "Ada" || u.LastName != "Lovelace" || u.ImageURL != "https://lh3.googleusercontent.example/a/ada" {
		t.Fatalf("created user %+v", u)
	}
	if n, _ := g.Store.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users", n)
	}
	ext, err := g.Store.GetExternalIdentity(ctx, g.conn.ID, ggSubject)
	if err != nil || ext.UserID != u.ID || ext.Email != ggEmail || !ext.EmailVerified {
		t.Fatalf("identity %+v %v", ext, err)
	}
	if len(ext.AccessToken) != 0 || len(ext.RefreshToken) != 0 {
		t.Fatal("tokens kept though the connection does not store them")
	}
	if links, _ := g.Store.ListUserExternalIdentities(ctx, u.ID); len(links) != 1 {
		t.Fatalf("%d links", len(links))
	}

	// The app redeems its code, with its PKCE verifier, for the user.
	tok, err := g.app.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	p, err := oidc.NewProvider(ctx, g.URL)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: g.app.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil || idt.Subject != u.ID || claims.Email != ggEmail || !claims.EmailVerified {
		t.Fatalf("ID token sub %q claims %+v (%v), want user %s", idt.Subject, claims, err, u.ID)
	}

	// The browser is signed in to Usher too.
	st, body = b.get("/account")
	b.want(200, st, body, "Your account", ggEmail)
}

func TestGoogleUnverifiedAddressOfAnExistingAccount(t *testing.T) {
	g := startGoogleSite(t)
	ctx := context.Background()
	local, err := g.Users.Create(ctx, usersNew(ggEmail))
	if err != nil {
		t.Fatal(err)
	}
	g.gg.mu.Lock()
	g.gg.user["verified_email"] = false
	g.gg.mu.Unlock()

	b := g.browser(t)
	st, body := g.continueWithGoogle(t, b, "app-state-g2", oauth2.GenerateVerifier())
	b.want(409, st, body, "An account with this email address already exists. Sign in to it, then connect Google from your profile.")
	if strings.HasPrefix(b.url, ggAppRedirect) {
		t.Fatal("the app was reached")
	}
	if ex, ui := g.gg.counts(); ex != 1 || ui != 1 {
		t.Fatalf("%d exchanges, %d userinfo reads", ex, ui)
	}
	if links, _ := g.Store.ListUserExternalIdentities(ctx, local.ID); len(links) != 0 {
		t.Fatalf("an unverified Google address was linked: %d links", len(links))
	}
	if _, err := g.Store.GetExternalIdentity(ctx, g.conn.ID, ggSubject); err == nil {
		t.Fatal("the Google identity was stored")
	}
	if n, _ := g.Store.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users: nothing may be created", n)
	}
	// Not signed in.
	st, body = b.get("/account")
	b.want(200, st, body, `name="email"`)
	if strings.Contains(body, "Your account") {
		t.Fatal("the browser was signed in")
	}
}
