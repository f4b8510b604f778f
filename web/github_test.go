package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
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

// The GitHub connector keeps GitHub's real URLs (github.com,
// api.github.com); the site's federation HTTP client routes those hosts to
// a local server that speaks GitHub's OAuth token endpoint and REST API.
// The test plays GitHub's authorization page itself: it reads the
// authorization URL the site sends the browser to, mints a code in the
// fake, and sends the browser back to the site's callback.

var ghHosts = []string{"github.com", "api.github.com"}

type ghGrant struct {
	clientID, redirectURI, challenge, method string
}

// fakeGitHub is GitHub's token endpoint, /user and /user/emails.
type fakeGitHub struct {
	t        *testing.T
	clientID string
	secret   string
	srv      *httptest.Server

	mu     sync.Mutex
	user   map[string]any
	emails []map[string]any
	codes  map[string]ghGrant
	tokens map[string]bool
	// exchanged counts the codes exchanged for a token.
	exchanged int
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{t: t, clientID: "client-github", secret: "secret-github", codes: map[string]ghGrant{}, tokens: map[string]bool{},
		user: map[string]any{"login": "octocat", "id": 583231, "avatar_url": "https://avatars.example/u/583231",
			"name": "Mona Lisa Octocat", "email": "mona.public@example.com", "bio": nil},
		emails: []map[string]any{
			{"email": "mona.public@example.com", "primary": false, "verified": true, "visibility": nil},
			{"email": "mona@example.com", "primary": true, "verified": true, "visibility": "private"},
		}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST github.com/login/oauth/access_token", f.exchange)
	mux.HandleFunc("GET api.github.com/user", f.api(func() any { return f.user }))
	mux.HandleFunc("GET api.github.com/user/emails", f.api(func() any { return f.emails }))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// authorize is GitHub's authorization page approving the request in
// authURL: it checks the request is for this app, and returns a code
// bound to the request's redirect URI and PKCE challenge.
func (f *fakeGitHub) authorize(authURL string) (code, state string) {
	f.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil || u.Scheme != "https" || u.Host != "github.com" || u.Path != "/login/oauth/authorize" {
		f.t.Fatalf("not GitHub's authorization page: %s (%v)", authURL, err)
	}
	q := u.Query()
	if q.Get("client_id") != f.clientID {
		f.t.Fatalf("client_id %q, want %q", q.Get("client_id"), f.clientID)
	}
	if q.Get("response_type") != "code" || q.Get("state") == "" || q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		f.t.Fatalf("authorization request lacks code flow, state or PKCE S256: %s", authURL)
	}
	if q.Has("code_verifier") || q.Has("client_secret") || strings.Contains(authURL, f.secret) {
		f.t.Fatalf("the authorization URL carries a secret: %s", authURL)
	}
	code = ghRandom()
	f.mu.Lock()
	f.codes[code] = ghGrant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")}
	f.mu.Unlock()
	return code, q.Get("state")
}

// exchange is the token endpoint: a code is used once; the client's
// credentials, redirect URI and PKCE verifier must match. GitHub answers
// errors with status 200, form-encoded unless JSON is asked for.
func (f *fakeGitHub) exchange(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	form := r.PostForm
	g, ok := f.codes[form.Get("code")]
	delete(f.codes, form.Get("code"))
	answer := map[string]any{}
	switch {
	case form.Get("client_id") != f.clientID || form.Get("client_secret") != f.secret:
		answer["error"] = "incorrect_client_credentials"
	case !ok:
		answer["error"] = "bad_verification_code"
	case form.Get("redirect_uri") != g.redirectURI:
		answer["error"] = "redirect_uri_mismatch"
	case g.method != "S256" || ghS256(form.Get("code_verifier")) != g.challenge:
		answer["error"] = "bad_verification_code"
	default:
		token := "at-" + ghRandom()
		f.tokens[token] = true
		f.exchanged++
		answer = map[string]any{"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}
	}
	if !strings.Contains(r.Header.Get("Accept"), "application/json") {
		v := url.Values{}
		for k, x := range answer {
			v.Set(k, fmt.Sprint(x))
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(v.Encode()))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(answer)
}

// api answers a REST call made with a token the fake issued.
func (f *fakeGitHub) api(body func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if !f.tokens[token] {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"Bad credentials"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(body())
	}
}

// ghReroute sends requests for GitHub's hosts to the fake, and refuses
// any other.
type ghReroute struct {
	addr string
	base http.RoundTripper
}

func (rt ghReroute) RoundTrip(r *http.Request) (*http.Response, error) {
	if !slices.Contains(ghHosts, r.URL.Host) || r.URL.Scheme != "https" {
		return nil, fmt.Errorf("test: no route to %s", r.URL.Redacted())
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host, r2.Host = "http", rt.addr, r.URL.Host
	return rt.base.RoundTrip(r2)
}

func (f *fakeGitHub) client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: ghReroute{addr: f.srv.Listener.Addr().String(), base: f.srv.Client().Transport}}
}

func ghRandom() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func ghS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ghSite is Usher with a "Continue with GitHub" connection reaching the
// fake, and an app.
type ghSite struct {
	*site
	gh   *fakeGitHub
	conn *storage.Connection
	app  *oauth2.Config
}

const ghAppRedirect = "https://app.example.com/callback"

func startGitHubSite(t *testing.T) *ghSite {
	t.Helper()
	gh := newFakeGitHub(t)
	s := startFederatedSite(t, gh.client())
	ctx := context.Background()
	conn := &storage.Connection{Slug: "github", Type: storage.ConnectionGitHub, DisplayName: "GitHub", Enabled: true,
		ClientID: gh.clientID, ClientSecret: []byte(gh.secret), AllowSignUp: true}
	if err := s.Store.CreateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	app := registerApp(t, s, "Octo App", ghAppRedirect)
	return &ghSite{site: s, gh: gh, conn: conn, app: app}
}

var arField = regexp.MustCompile(`name="flow" value="([^"]+)"`)

// continueWithGitHub opens the app's authorization URL, presses
// "Continue with GitHub", approves at GitHub and returns to the site's
// callback; it returns the callback's status and page.
func (g *ghSite) continueWithGitHub(t *testing.T, b *browser, appState, verifier string) (int, string) {
	t.Helper()
	st, body := b.get(g.app.AuthCodeURL(appState, oauth2.S256ChallengeOption(verifier)))
	b.want(200, st, body, "Continue with GitHub", `action="/sso/github/start"`)
	m := arField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the sign-in page names no authorization request: %s", body)
	}
	st, body = b.post("/sso/github/start", url.Values{"flow": {m[1]}})
	if st != http.StatusSeeOther || !strings.HasPrefix(b.url, "https://github.com/login/oauth/authorize?") {
		t.Fatalf("start: %d at %s: %s", st, b.url, body)
	}
	authURL := b.url
	q, _ := url.ParseQuery(strings.SplitN(authURL, "?", 2)[1])
	if q.Get("redirect_uri") != g.URL+web.PathUpstreamCallback {
		t.Fatalf("redirect_uri %q, want the site's callback", q.Get("redirect_uri"))
	}
	if q.Get("state") == appState {
		t.Fatal("the app's state was passed upstream")
	}
	code, state := g.gh.authorize(authURL)
	return b.get(web.PathUpstreamCallback + "?" + url.Values{"code": {code}, "state": {state}}.Encode())
}

func TestGitHubSignInIntoAnApp(t *testing.T) {
	g := startGitHubSite(t)
	ctx := context.Background()
	b := g.browser(t)
	verifier := oauth2.GenerateVerifier()
	st, body := g.continueWithGitHub(t, b, "app-state-1", verifier)
	if st != http.StatusFound || !strings.HasPrefix(b.url, ghAppRedirect+"?") {
		t.Fatalf("the sign-in ended with %d at %s, not at the app: %s", st, b.url, body)
	}
	back, err := url.Parse(b.url)
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("state") != "app-state-1" || back.Query().Get("code") == "" {
		t.Fatalf("the app got %s", b.url)
	}
	if n := func() int { g.gh.mu.Lock(); defer g.gh.mu.Unlock(); return g.gh.exchanged }(); n != 1 {
		t.Fatalf("%d GitHub codes exchanged", n)
	}

	// The user: GitHub's verified primary address, not the public one,
	// and an identity (connection, GitHub's numeric id).
	u, err := g.Store.GetUserByEmail(ctx, "mona@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !u.PrimaryEmail().Verified || u.PasswordHash != "" || u.FirstName != "Mona" || u.LastName != "Lisa Octocat" {
		t.Fatalf("created user %+v", u)
	}
	if _, err := g.Store.GetUserByEmail(ctx, "mona.public@example.com"); err == nil {
		t.Fatal("a user was made from the public profile address")
	}
	if n, _ := g.Store.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users", n)
	}
	ext, err := g.Store.GetExternalIdentity(ctx, g.conn.ID, "583231")
	if err != nil || ext.UserID != u.ID || ext.Email != "mona@example.com" || !ext.EmailVerified {
		t.Fatalf("identity %+v %v", ext, err)
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
	if err := idt.Claims(&claims); err != nil || idt.Subject != u.ID || claims.Email != "mona@example.com" || !claims.EmailVerified {
		t.Fatalf("ID token sub %q claims %+v (%v), want user %s", idt.Subject, claims, err, u.ID)
	}
}

func TestGitHubUnverifiedAddressOfAnExistingAccount(t *testing.T) {
	g := startGitHubSite(t)
	ctx := context.Background()
	local, err := g.Users.Create(ctx, usersNew("mona@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	g.gh.mu.Lock()
	g.gh.emails = []map[string]any{
		{"email": "mona.public@example.com", "primary": false, "verified": true, "visibility": nil},
		{"email": "mona@example.com", "primary": true, "verified": false, "visibility": "private"},
	}
	g.gh.mu.Unlock()

	b := g.browser(t)
	st, body := g.continueWithGitHub(t, b, "app-state-2", oauth2.GenerateVerifier())
	b.want(409, st, body, "An account with this email address already exists. Sign in to it, then connect GitHub from your profile.")
	if strings.HasPrefix(b.url, ghAppRedirect) {
		t.Fatal("the app was reached")
	}
	if links, _ := g.Store.ListUserExternalIdentities(ctx, local.ID); len(links) != 0 {
		t.Fatalf("an unverified GitHub address was linked: %d links", len(links))
	}
	if _, err := g.Store.GetExternalIdentity(ctx, g.conn.ID, "583231"); err == nil {
		t.Fatal("the GitHub identity was stored")
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
