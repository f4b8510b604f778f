package federation_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-id/usher/federation"
	"github.com/usher-id/usher/storage"
)

// The connectors talk to the real upstream URLs (github.com,
// api.github.com, accounts.google.com, oauth2.googleapis.com,
// www.googleapis.com); the tests' HTTP client routes those hosts to a
// local server that speaks each upstream's protocol, so the code under
// test keeps its production endpoints.

// kind is one upstream's protocol as the fake speaks it.
type kind struct {
	name     string
	connType string
	// authorize is the browser's endpoint, token the code exchange.
	authorize, token string
	// github: the token endpoint answers errors with status 200, and in
	// form encoding unless asked for JSON; otherwise it is Google's (JSON,
	// status 400).
	github bool
	// user and emails are the API paths that may be made to hang.
	user, emails string
}

var (
	githubKind = kind{name: "github", connType: storage.ConnectionGitHub, authorize: "github.com/login/oauth/authorize",
		token: "github.com/login/oauth/access_token", github: true, user: "/user", emails: "/user/emails"}
	googleKind = kind{name: "google", connType: storage.ConnectionGoogle, authorize: "accounts.google.com/o/oauth2/auth",
		token: "oauth2.googleapis.com/token", user: "/oauth2/v2/userinfo"}
	hosts = []string{"github.com", "api.github.com", "accounts.google.com", "oauth2.googleapis.com", "www.googleapis.com"}
)

type grant struct {
	clientID, redirectURI, challenge, method string
}

// fakeUpstream is GitHub's or Google's OAuth endpoints and user API.
type fakeUpstream struct {
	t        *testing.T
	kind     kind
	clientID string
	secret   string
	srv      *httptest.Server
	release  chan struct{}

	mu sync.Mutex
	// jsonAnswers makes GitHub's token endpoint answer JSON even when not
	// asked to.
	jsonAnswers bool
	// hang is a path whose requests get no answer until they end.
	hang string
	// user is the profile; emails GitHub's /user/emails (emailsStatus
	// replaces it when set); userStatus replaces the profile when set.
	user         map[string]any
	emails       []map[string]any
	emailsStatus int
	userStatus   int
	codes        map[string]grant
	tokens       map[string]bool
	refreshed    bool
	tokenCalls   int
	refusals     []string
}

func newFakeUpstream(t *testing.T, k kind) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{t: t, kind: k, clientID: "client-" + k.name, secret: "secret-" + k.name, release: make(chan struct{}),
		codes: map[string]grant{}, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+k.authorize, f.authorize)
	mux.HandleFunc("POST "+k.token, f.exchange)
	if k.github {
		f.user = map[string]any{"login": "octocat", "id": 583231, "avatar_url": "https://avatars.example/u/583231",
			"name": "Mona Lisa Octocat", "email": "mona.public@example.com", "bio": nil}
		f.emails = []map[string]any{
			{"email": "mona.public@example.com", "primary": false, "verified": true, "visibility": nil},
			{"email": "mona@example.com", "primary": true, "verified": true, "visibility": "private"},
		}
		mux.HandleFunc("GET api.github.com/user", f.api(func() any { return f.user }, func() int { return f.userStatus }))
		mux.HandleFunc("GET api.github.com/user/emails", f.api(func() any { return f.emails }, func() int { return f.emailsStatus }))
	} else {
		f.user = map[string]any{"id": "108234567890123456789", "email": "ada@example.com", "verified_email": true,
			"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace", "picture": "https://lh3.example/a.png", "hd": "example.com"}
		mux.HandleFunc("GET www.googleapis.com/oauth2/v2/userinfo", f.api(func() any { return f.user }, func() int { return f.userStatus }))
	}
	f.srv = httptest.NewServer(f.hangs(mux))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.release) }) // runs first: nothing waits on Close
	return f
}

// hangs answers nothing on the hanging path until the request ends (or,
// so that a connector that would wait for ever fails instead of blocking
// the test binary, for ten seconds).
func (f *fakeUpstream) hangs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		hang := f.hang != "" && r.URL.Path == f.hang
		f.mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-f.release:
			case <-time.After(10 * time.Second):
			}
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (f *fakeUpstream) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeUpstream) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != f.clientID || q.Get("redirect_uri") != callback {
		http.Error(w, "unknown application", http.StatusBadRequest)
		return
	}
	code := randomString()
	f.set(func() {
		f.codes[code] = grant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
			challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")}
	})
	back, _ := url.Parse(q.Get("redirect_uri"))
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// exchange is the token endpoint. A code is used once; the client's
// credentials, the redirect URI and the PKCE verifier must match.
func (f *fakeUpstream) exchange(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenCalls++
	refuse := func(code, why string) {
		f.refusals = append(f.refusals, why)
		f.answerToken(w, r, map[string]any{"error": code, "error_description": why})
	}
	form := r.PostForm
	g, ok := f.codes[form.Get("code")]
	delete(f.codes, form.Get("code"))
	switch {
	case form.Get("client_id") != f.clientID || form.Get("client_secret") != f.secret:
		refuse("incorrect_client_credentials", "client")
	case !ok:
		refuse(f.badCode(), "code")
	case form.Get("redirect_uri") != g.redirectURI:
		refuse("redirect_uri_mismatch", "redirect_uri")
	case g.method != "S256" || s256(form.Get("code_verifier")) != g.challenge:
		refuse(f.badCode(), "code_verifier")
	default:
		token := "at-" + randomString()
		f.tokens[token] = true
		answer := map[string]any{"access_token": token, "token_type": "bearer"}
		if f.kind.github {
			answer["scope"] = "read:user,user:email"
		} else {
			answer["expires_in"] = 3599
			answer["scope"] = "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile"
			answer["id_token"] = "unverified.id.token"
			if f.refreshed {
				answer["refresh_token"] = "rt-" + randomString()
			}
		}
		f.answerToken(w, r, answer)
	}
}

func (f *fakeUpstream) badCode() string {
	if f.kind.github {
		return "bad_verification_code"
	}
	return "invalid_grant"
}

// answerToken answers as the upstream does: GitHub with status 200, in
// form encoding unless JSON is asked for; Google in JSON, errors 400.
func (f *fakeUpstream) answerToken(w http.ResponseWriter, r *http.Request, answer map[string]any) {
	_, failed := answer["error"]
	if f.kind.github && !f.jsonAnswers && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		v := url.Values{}
		for k, x := range answer {
			v.Set(k, fmt.Sprint(x))
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(v.Encode()))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if failed && !f.kind.github {
		w.WriteHeader(http.StatusBadRequest)
	}
	_ = json.NewEncoder(w).Encode(answer)
}

// api answers an API call made with a token the fake issued (GitHub's in
// the Authorization header, goth's Google call in the query).
func (f *fakeUpstream) api(body func() any, status func() int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" {
			token = r.URL.Query().Get("access_token")
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if !f.tokens[token] {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"Bad credentials"}`))
			return
		}
		if s := status(); s != 0 {
			w.WriteHeader(s)
			_, _ = w.Write([]byte(`{"message":"no"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(body())
	}
}

// reroute sends requests for the upstreams' hosts to a local server.
type reroute struct {
	addr string
	base http.RoundTripper
}

func (rt reroute) RoundTrip(r *http.Request) (*http.Response, error) {
	if !slices.Contains(hosts, r.URL.Host) || r.URL.Scheme != "https" {
		return nil, fmt.Errorf("test: no route to %s", r.URL.Redacted())
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host, r2.Host = "http", rt.addr, r.URL.Host
	return rt.base.RoundTrip(r2)
}

// client is an HTTP client reaching the fake as the upstream.
func (f *fakeUpstream) client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: reroute{addr: f.srv.Listener.Addr().String(), base: f.srv.Client().Transport}}
}

func (f *fakeUpstream) connectors(timeout time.Duration) *federation.Connectors {
	cs := connectors()
	cs.HTTPClient = f.client(timeout)
	return cs
}

func (f *fakeUpstream) connection() *storage.Connection {
	return &storage.Connection{ID: "conn_" + f.kind.name, Slug: f.kind.name, Type: f.kind.connType, ClientID: f.clientID,
		ClientSecret: []byte(f.secret), UpdatedAt: time.Now()}
}

func (f *fakeUpstream) connector(t *testing.T, timeout time.Duration) federation.Connector {
	t.Helper()
	conn, err := f.connectors(timeout).For(t.Context(), f.connection())
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// signIn sends a browser to the connector's authorization URL and returns
// the callback's query.
func (f *fakeUpstream) signIn(t *testing.T, conn federation.Connector, r federation.Round) map[string][]string {
	t.Helper()
	authURL, err := conn.AuthURL(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	browser := f.client(5 * time.Second)
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), callback+"?") {
		t.Fatalf("authorize answered %d, location %q (%v)", resp.StatusCode, resp.Header.Get("Location"), err)
	}
	return loc.Query()
}

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestGothAuthURL(t *testing.T) {
	for _, tc := range []struct {
		kind         kind
		storeTokens  bool
		scope, want  string
		accessType   string
		customScopes []string
	}{
		{kind: githubKind, scope: "read:user user:email", want: "https://github.com/login/oauth/authorize"},
		{kind: googleKind, scope: "openid email profile", want: "https://accounts.google.com/o/oauth2/auth"},
		{kind: googleKind, scope: "openid email profile", want: "https://accounts.google.com/o/oauth2/auth", storeTokens: true, accessType: "offline"},
		{kind: githubKind, scope: "read:user", want: "https://github.com/login/oauth/authorize", customScopes: []string{"read:user"}},
	} {
		t.Run(tc.kind.name, func(t *testing.T) {
			f := newFakeUpstream(t, tc.kind)
			c := f.connection()
			c.StoreTokens, c.Scopes = tc.storeTokens, tc.customScopes
			conn, err := f.connectors(time.Second).For(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			r := federation.NewRound()
			s, err := conn.AuthURL(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if got := u.Scheme + "://" + u.Host + u.Path; got != tc.want {
				t.Errorf("authorization endpoint %s, want %s", got, tc.want)
			}
			want := map[string]string{"client_id": f.clientID, "redirect_uri": callback, "response_type": "code", "scope": tc.scope,
				"state": r.State, "code_challenge": s256(r.Verifier), "code_challenge_method": "S256", "access_type": tc.accessType}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			if q.Has("code_verifier") || strings.Contains(s, f.secret) {
				t.Errorf("the authorization URL carries a secret: %s", s)
			}
		})
	}
}

func TestGitHubSignIn(t *testing.T) {
	for _, jsonAnswers := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", jsonAnswers), func(t *testing.T) {
			f := newFakeUpstream(t, githubKind)
			f.set(func() { f.jsonAnswers = jsonAnswers })
			conn := f.connector(t, 5*time.Second)
			r := federation.NewRound()
			q := f.signIn(t, conn, r)
			id, err := conn.Finish(t.Context(), r, q)
			if err != nil {
				t.Fatal(err)
			}
			// The verified primary address, not the public profile's.
			want := federation.Identity{Subject: "583231", Email: "mona@example.com", EmailVerified: true, FirstName: "Mona",
				LastName: "Lisa Octocat", Username: "octocat", ImageURL: "https://avatars.example/u/583231", AccessToken: id.AccessToken}
			if !strings.HasPrefix(id.AccessToken, "at-") || !identityEqual(*id, want) {
				t.Fatalf("identity\n%+v\nwant\n%+v", *id, want)
			}
			// The code is single-use upstream: a replayed callback is refused.
			if _, err := conn.Finish(t.Context(), r, q); !errors.Is(err, federation.ErrRefused) {
				t.Fatalf("replayed callback: %v", err)
			}
		})
	}
}

func TestGitHubEmails(t *testing.T) {
	for _, tc := range []struct {
		name         string
		public       any
		emails       []map[string]any
		emailsStatus int
		email        string
		verified     bool
	}{
		{name: "verified primary", public: nil, email: "mona@example.com", verified: true,
			emails: []map[string]any{{"email": "mona@example.com", "primary": true, "verified": true}}},
		{name: "unverified primary", public: "mona.public@example.com", email: "mona@example.com", verified: false,
			emails: []map[string]any{
				{"email": "mona.public@example.com", "primary": false, "verified": true},
				{"email": "mona@example.com", "primary": true, "verified": false},
			}},
		// Without the user:email scope GitHub answers 404: the public
		// address, which nothing says is verified.
		{name: "no user:email scope", public: "mona.public@example.com", emailsStatus: http.StatusNotFound,
			email: "mona.public@example.com", verified: false},
		{name: "no address", public: nil, emails: []map[string]any{}, email: "", verified: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeUpstream(t, githubKind)
			f.set(func() { f.user["email"], f.emails, f.emailsStatus = tc.public, tc.emails, tc.emailsStatus })
			conn := f.connector(t, 5*time.Second)
			r := federation.NewRound()
			id, err := conn.Finish(t.Context(), r, f.signIn(t, conn, r))
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "583231" || id.Email != tc.email || id.EmailVerified != tc.verified {
				t.Fatalf("subject %q, email %q verified %v; want %q %v", id.Subject, id.Email, id.EmailVerified, tc.email, tc.verified)
			}
		})
	}
}

func TestGoogleSignIn(t *testing.T) {
	for _, verified := range []any{true, false, "true"} {
		t.Run(fmt.Sprint(verified), func(t *testing.T) {
			f := newFakeUpstream(t, googleKind)
			f.set(func() { f.user["verified_email"], f.refreshed = verified, true })
			c := f.connection()
			c.StoreTokens = true
			conn, err := f.connectors(5*time.Second).For(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			r := federation.NewRound()
			q := f.signIn(t, conn, r)
			id, err := conn.Finish(t.Context(), r, q)
			if err != nil {
				t.Fatal(err)
			}
			want := federation.Identity{Subject: "108234567890123456789", Email: "ada@example.com", EmailVerified: verified == true || verified == "true",
				FirstName: "Ada", LastName: "Lovelace", ImageURL: "https://lh3.example/a.png", AccessToken: id.AccessToken, RefreshToken: id.RefreshToken}
			if !strings.HasPrefix(id.AccessToken, "at-") || !strings.HasPrefix(id.RefreshToken, "rt-") || !identityEqual(*id, want) {
				t.Fatalf("identity\n%+v\nwant\n%+v", *id, want)
			}
			if _, err := conn.Finish(t.Context(), r, q); !errors.Is(err, federation.ErrRefused) {
				t.Fatalf("replayed callback: %v", err)
			}
		})
	}
}

func identityEqual(a, b federation.Identity) bool {
	return a.Subject == b.Subject && a.Email == b.Email && a.EmailVerified == b.EmailVerified && a.FirstName == b.FirstName &&
		a.LastName == b.LastName && a.Username == b.Username && a.ImageURL == b.ImageURL && slices.Equal(a.AMR, b.AMR) &&
		a.AccessToken == b.AccessToken && a.RefreshToken == b.RefreshToken
}

func TestGothRefusals(t *testing.T) {
	for _, k := range []kind{githubKind, googleKind} {
		t.Run(k.name, func(t *testing.T) {
			f := newFakeUpstream(t, k)
			conn := f.connector(t, 5*time.Second)
			ctx := t.Context()
			refused := func(what string, r federation.Round, q map[string][]string) {
				t.Helper()
				if _, err := conn.Finish(ctx, r, q); !errors.Is(err, federation.ErrRefused) {
					t.Fatalf("%s: %v, want ErrRefused", what, err)
				}
			}
			lastRefusal := func() string {
				f.mu.Lock()
				defer f.mu.Unlock()
				if len(f.refusals) == 0 {
					return ""
				}
				return f.refusals[len(f.refusals)-1]
			}

			// Another round's state: refused before the code is spent,
			// which its own round then uses.
			r := federation.NewRound()
			q := f.signIn(t, conn, r)
			other := r
			other.State = federation.NewRound().State
			refused("wrong state", other, q)
			refused("no state", r, map[string][]string{"code": q["code"]})
			f.set(func() {
				if f.tokenCalls != 0 {
					t.Errorf("a wrong state reached the token endpoint")
				}
			})
			if _, err := conn.Finish(ctx, r, q); err != nil {
				t.Fatalf("the right round after a wrong state: %v", err)
			}

			// A code the upstream did not issue.
			r = federation.NewRound()
			_ = f.signIn(t, conn, r)
			refused("wrong code", r, map[string][]string{"code": {"not-a-code"}, "state": {r.State}})
			if why := lastRefusal(); why != "code" {
				t.Fatalf("the upstream refused the code for %q", why)
			}

			// Another PKCE verifier: the upstream refuses the code.
			r = federation.NewRound()
			q = f.signIn(t, conn, r)
			other = r
			other.Verifier = federation.NewRound().Verifier
			refused("wrong verifier", other, q)
			if why := lastRefusal(); why != "code_verifier" {
				t.Fatalf("the upstream refused the code for %q", why)
			}

			// The upstream's own error, and an answer without a code.
			refused("upstream error", r, map[string][]string{"error": {"access_denied"}, "error_description": {"The user has denied your application access."}, "state": {r.State}})
			refused("no code", r, map[string][]string{"state": {r.State}})

			// A wrong client secret.
			c := f.connection()
			c.ID, c.ClientSecret = "conn_wrong_secret", []byte("not the secret")
			wrong, err := f.connectors(5*time.Second).For(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			r = federation.NewRound()
			if _, err := wrong.Finish(ctx, r, f.signIn(t, wrong, r)); !errors.Is(err, federation.ErrRefused) || lastRefusal() != "client" {
				t.Fatalf("wrong secret: %v (%q)", err, lastRefusal())
			}

			// The user API fails.
			f.set(func() { f.userStatus = http.StatusInternalServerError })
			r = federation.NewRound()
			refused("user API error", r, f.signIn(t, conn, r))
			if k.github {
				f.set(func() { f.userStatus, f.emailsStatus = 0, http.StatusInternalServerError })
				r = federation.NewRound()
				refused("emails API error", r, f.signIn(t, conn, r))
			}
		})
	}
}

func TestGothUnreachable(t *testing.T) {
	for _, tc := range []struct {
		kind kind
		hang string
	}{
		{githubKind, "/login/oauth/access_token"},
		{githubKind, githubKind.user},
		{githubKind, githubKind.emails},
		{googleKind, "/token"},
		{googleKind, googleKind.user},
	} {
		t.Run(tc.kind.name+tc.hang, func(t *testing.T) {
			f := newFakeUpstream(t, tc.kind)
			f.set(func() { f.hang = tc.hang })

			// The client's timeout ends the wait.
			conn := f.connector(t, 100*time.Millisecond)
			r := federation.NewRound()
			if _, err := conn.Finish(t.Context(), r, f.signIn(t, conn, r)); !errors.Is(err, federation.ErrUnreachable) {
				t.Fatalf("client timeout: %v, want ErrUnreachable", err)
			}

			// So does the sign-in's context, with a client that would wait
			// for ever (goth's user fetch takes no context).
			conn = f.connector(t, 0)
			r = federation.NewRound()
			q := f.signIn(t, conn, r)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			_, err := conn.Finish(ctx, r, q)
			if !errors.Is(err, federation.ErrUnreachable) {
				t.Fatalf("context deadline: %v, want ErrUnreachable", err)
			}
			// The error is logged: it carries no token (goth sends Google's
			// in the query).
			if strings.Contains(err.Error(), "access_token=") {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}

	// Nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := newFakeUpstream(t, githubKind)
	conn := f.connector(t, 5*time.Second)
	r := federation.NewRound()
	q := f.signIn(t, conn, r)
	cs := connectors()
	cs.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: reroute{addr: addr, base: http.DefaultTransport}}
	down, err := cs.For(t.Context(), f.connection())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Finish(t.Context(), r, q); !errors.Is(err, federation.ErrUnreachable) {
		t.Fatalf("an upstream that is down: %v", err)
	}
}
