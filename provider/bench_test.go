package provider_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/claims"
	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

// benchUsher is startUsher for benchmarks, with the signing algorithms
// given (the first signs tokens), and one keep-alive client that every
// request of the benchmark goes through.
type benchUsher struct {
	*testUsher
	hc *http.Client
}

func startBenchUsher(b *testing.B, algs ...string) *benchUsher {
	b.Helper()
	u := ushertest.Start(b, ushertest.Options{Keys: keys.Options{Algorithms: algs}})
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	b.Cleanup(tr.CloseIdleConnections)
	return &benchUsher{
		testUsher: &testUsher{u},
		hc:        &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// serviceClient registers a client_credentials client.
func (u *benchUsher) serviceClient(b *testing.B) (string, string) {
	b.Helper()
	c := &storage.Client{Name: "bench service", GrantTypes: []string{clients.GrantClientCredentials}}
	secret, err := u.Clients.Create(context.Background(), c, false)
	if err != nil {
		b.Fatal(err)
	}
	return c.ID, secret
}

// appFlow registers a web app, creates its user, signs in once and
// returns the app's config and a browser holding the session.
func (u *benchUsher) appFlow(b *testing.B, scopes ...string) (oauth2.Config, *oidctest.Browser) {
	b.Helper()
	ctx := context.Background()
	if _, err := u.Users.Create(ctx, users.NewUser{Email: "jane@example.com", Password: testPassword, EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	c := &storage.Client{Name: "bench app", RedirectURIs: []string{appRedirect}}
	secret, err := u.Clients.Create(ctx, c, false)
	if err != nil {
		b.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: appRedirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: u.URL + "/authorize", TokenURL: u.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	return cfg, oidctest.NewBrowser(b, u.URL)
}

// code runs authorize → sign-in (or the session) → callback and returns a
// fresh code and its PKCE verifier.
func (u *benchUsher) code(b *testing.B, cfg oauth2.Config, br *oidctest.Browser) (string, string) {
	verifier := oauth2.GenerateVerifier()
	loc := br.Authorize(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "jane@example.com", testPassword)
	code := loc.Query().Get("code")
	if code == "" {
		b.Fatalf("no code in %s", loc)
	}
	return code, verifier
}

type benchToken struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

// post sends a form with client_secret_basic and decodes the JSON answer
// into out; anything but 200 fails the benchmark.
func (u *benchUsher) post(b *testing.B, path, form, id, secret string, out any) {
	req, err := http.NewRequest(http.MethodPost, u.URL+path, strings.NewReader(form))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := u.hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		b.Fatalf("POST %s: %v in %s", path, err, body)
	}
}

func (u *benchUsher) token(b *testing.B, form, id, secret string) benchToken {
	var t benchToken
	u.post(b, "/oauth/token", form, id, secret, &t)
	if t.AccessToken == "" {
		b.Fatalf("no access token: %+v", t)
	}
	return t
}

func (u *benchUsher) get(b *testing.B, path string) {
	resp, err := u.hc.Get(u.URL + path)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
}

// BenchmarkTokenEndpoint is one token request per op, per grant, through
// real HTTP on a kept-alive connection.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run("client_credentials_"+alg, func(b *testing.B) {
			u := startBenchUsher(b, alg)
			id, secret := u.serviceClient(b)
			u.token(b, "grant_type=client_credentials", id, secret) // warm the connection and caches
			b.ReportAllocs()
			for b.Loop() {
				u.token(b, "grant_type=client_credentials", id, secret)
			}
		})
	}

	b.Run("refresh", func(b *testing.B) {
		u := startBenchUsher(b)
		cfg, br := u.appFlow(b, oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess)
		code, verifier := u.code(b, cfg, br)
		first := u.token(b, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {appRedirect}, "code_verifier": {verifier}}.Encode(), cfg.ClientID, cfg.ClientSecret)
		rt := first.RefreshToken
		b.ReportAllocs()
		for b.Loop() {
			t := u.token(b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode(), cfg.ClientID, cfg.ClientSecret)
			if t.RefreshToken == "" {
				b.Fatal("no refresh token")
			}
			rt = t.RefreshToken
		}
	})

	// The code exchange alone: codes come from the session (SSO) in
	// batches, with the timer stopped.
	b.Run("authorization_code", func(b *testing.B) {
		u := startBenchUsher(b)
		cfg, br := u.appFlow(b, oidc.ScopeOpenID, "profile", "email")
		u.code(b, cfg, br) // signs in
		type pending struct{ code, verifier string }
		var batch []pending
		b.ReportAllocs()
		for b.Loop() {
			if len(batch) == 0 {
				b.StopTimer()
				for range 100 {
					c, v := u.code(b, cfg, br)
					batch = append(batch, pending{c, v})
				}
				b.StartTimer()
			}
			p := batch[len(batch)-1]
			batch = batch[:len(batch)-1]
			t := u.token(b, url.Values{"grant_type": {"authorization_code"}, "code": {p.code},
				"redirect_uri": {appRedirect}, "code_verifier": {p.verifier}}.Encode(), cfg.ClientID, cfg.ClientSecret)
			if t.IDToken == "" {
				b.Fatal("no ID token")
			}
		}
	})
}

func BenchmarkDiscovery(b *testing.B) {
	u := startBenchUsher(b)
	u.get(b, "/.well-known/openid-configuration")
	b.ReportAllocs()
	for b.Loop() {
		u.get(b, "/.well-known/openid-configuration")
	}
}

func BenchmarkJWKS(b *testing.B) {
	u := startBenchUsher(b)
	u.get(b, "/keys")
	b.ReportAllocs()
	for b.Loop() {
		u.get(b, "/keys")
	}
}

// BenchmarkIntrospection is one introspection of a client_credentials JWT
// access token per op, by the client it was issued to (client_secret_basic):
// through real HTTP on a kept-alive connection ("http"), and straight into
// the handler with no network ("handler"). "raw_verify" is the baseline of
// the same run: parsing and verifying the same token with go-jose and the
// published key, nothing else.
func BenchmarkIntrospection(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			u := startBenchUsher(b, alg)
			id, secret := u.serviceClient(b)
			tok := u.token(b, "grant_type=client_credentials", id, secret)
			form := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}.Encode()
			b.Run("http", func(b *testing.B) {
				var resp struct {
					Active bool `json:"active"`
				}
				b.ReportAllocs()
				for b.Loop() {
					resp.Active = false
					u.post(b, "/oauth/introspect", form, id, secret, &resp)
					if !resp.Active {
						b.Fatal("the token introspects inactive")
					}
				}
			})
			b.Run("handler", func(b *testing.B) {
				auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
				w := &benchWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					r := httptest.NewRequest(http.MethodPost, u.URL+"/oauth/introspect", strings.NewReader(form))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r.Header.Set("Authorization", auth)
					w.reset()
					u.Provider.ServeHTTP(w, r)
					if w.code != http.StatusOK || !bytes.HasPrefix(w.body, []byte(`{"active":true`)) {
						b.Fatalf("%d %s", w.code, w.body)
					}
				}
			})
			b.Run("raw_verify", func(b *testing.B) {
				var set jose.JSONWebKeySet
				u.getJSON(b, "/keys", &set)
				algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
				b.ReportAllocs()
				for b.Loop() {
					jws, err := jose.ParseSigned(tok.AccessToken, algs)
					if err != nil {
						b.Fatal(err)
					}
					keys := set.Key(jws.Signatures[0].Header.KeyID)
					if len(keys) == 0 {
						b.Fatal("no key")
					}
					if _, err := jws.Verify(keys[0].Key); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// benchWriter is a reusable http.ResponseWriter.
type benchWriter struct {
	h    http.Header
	code int
	body []byte
}

func (w *benchWriter) reset() {
	clear(w.h)
	w.code, w.body = 0, w.body[:0]
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

func (u *benchUsher) getJSON(b *testing.B, path string, out any) {
	resp, err := u.hc.Get(u.URL + path)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMint is one template token per op, per preset: the template
// read, rendering for a user with metadata, and signing (ES256 with the
// instance key, or HS256 with the template's own secret where the preset
// says so). BenchmarkRender in package claims is the rendering alone.
func BenchmarkMint(b *testing.B) {
	u := startBenchUsher(b, "ES256")
	ctx := context.Background()
	user, err := u.Users.Create(ctx, users.NewUser{Email: "jane@example.com", Password: testPassword, FirstName: "Jane", LastName: "Doe", EmailVerified: true})
	if err != nil {
		b.Fatal(err)
	}
	if user, err = u.Users.UpdateMetadata(ctx, user.ID, users.MetadataUpdate{Public: json.RawMessage(`{"plan":"pro","groups":["admins","staff"],"org":{"tier":3}}`)}); err != nil {
		b.Fatal(err)
	}
	svc := &provider.Templates{Store: u.Store, Keys: u.Keys, Provider: u.Provider}
	for _, p := range claims.Presets() {
		spec := provider.TemplateSpec{Name: p.Name, Claims: p.Claims}
		if p.Algorithm == "HS256" {
			spec.HS256Secret = []byte(strings.Repeat("s", 32))
		}
		if _, _, err := svc.Create(ctx, spec); err != nil {
			b.Fatal(err)
		}
		b.Run(p.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := u.Provider.Mint(ctx, p.Name, user, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
