package provider_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/client/rs"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/storage"
)

const appRedirect = "http://127.0.0.1:9999/callback"

// codeFlow runs a full code + PKCE flow for a new client and returns its
// config and first token.
type flow struct {
	u      *testUsher
	op     *oidc.Provider
	cfg    oauth2.Config
	b      *oidctest.Browser
	secret string
}

func newFlow(t *testing.T, u *testUsher, public bool, mods ...func(*storage.Client)) *flow {
	t.Helper()
	clientID, secret := u.newClient(t, appRedirect, public, mods...)
	op, err := oidc.NewProvider(context.Background(), u.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &flow{u: u, op: op, b: oidctest.NewBrowser(t, u.URL), secret: secret, cfg: oauth2.Config{ClientID: clientID, ClientSecret: secret,
		Endpoint: op.Endpoint(), RedirectURL: appRedirect, Scopes: []string{oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess}}}
}

// code signs Jane in with PKCE and returns the code Usher sent to the app
// and its verifier.
func (f *flow) code(t *testing.T, opts ...oauth2.AuthCodeOption) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	loc := f.b.Authorize(f.cfg.AuthCodeURL("s", append(opts, oauth2.S256ChallengeOption(verifier))...), "jane@example.com", testPassword)
	if code = loc.Query().Get("code"); code == "" {
		t.Fatalf("no code in %s", loc)
	}
	return code, verifier
}

func (f *flow) login(t *testing.T, opts ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	code, verifier := f.code(t, opts...)
	tok, err := f.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *flow) refresh(rt string) (*oauth2.Token, error) {
	return f.cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
}

func TestRefreshRotationAndReuse(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	first := f.login(t)
	second, err := f.refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh did not rotate: %q", second.RefreshToken)
	}
	third, err := f.refresh(second.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	u.Clock.Advance(time.Minute) // past the grace window for concurrent refreshes
	// Reusing the rotated first token revokes the family: the newest
	// token stops working too.
	if _, err := f.refresh(first.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("reuse of a rotated token = %v, want invalid_grant", err)
	}
	if _, err := f.refresh(third.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("the newest token after reuse = %v, want invalid_grant (family revoked)", err)
	}
	// And the access tokens of the family are dead at userinfo.
	if _, err := f.op.UserInfo(context.Background(), oauth2.StaticTokenSource(third)); err == nil {
		t.Fatal("userinfo accepted an access token of a revoked family")
	}
}

// Two concurrent refreshes of one token: both inside the grace window
// succeed, with the same successor, and nothing is revoked.
func TestConcurrentRefreshInsideGrace(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	tok := f.login(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	got := make([]*oauth2.Token, 2)
	for i := range 2 {
		wg.Go(func() { got[i], errs[i] = f.refresh(tok.RefreshToken) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	if got[0].RefreshToken != got[1].RefreshToken {
		t.Fatal("two concurrent refreshes got two successors: two chains")
	}
	if _, err := f.refresh(got[0].RefreshToken); err != nil {
		t.Fatalf("the successor of concurrent refreshes does not work: %v", err)
	}
}

func TestRefreshScopesMayOnlyNarrow(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	tok := f.login(t)
	post := func(rt, scope string) (int, string) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope}}
		req, _ := http.NewRequest("POST", u.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(f.cfg.ClientID, f.secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error        string `json:"error"`
			RefreshToken string `json:"refresh_token"`
			Scope        string `json:"scope"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if body.Error != "" {
			return resp.StatusCode, body.Error
		}
		return resp.StatusCode, body.RefreshToken + " " + body.Scope
	}
	if code, got := post(tok.RefreshToken, "openid email offline_access profile"); code != 400 || got != "invalid_scope" {
		t.Fatalf("widening refresh: %d %q, want 400 invalid_scope", code, got)
	}
	code, got := post(tok.RefreshToken, "openid offline_access")
	if code != 200 || !strings.HasSuffix(got, " openid offline_access") {
		t.Fatalf("narrowing refresh: %d %q", code, got)
	}
}

func TestSSOAcrossClientsAndPromptNone(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	a := newFlow(t, u, false)
	a.login(t)
	// A second app in the same browser: no sign-in form.
	b := newFlow(t, u, false)
	b.b = a.b
	verifier := oauth2.GenerateVerifier()
	resp, err := b.b.Client.Get(b.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("second app with a session: %d %s, want a code without signing in", resp.StatusCode, loc)
	}
	// prompt=none in a fresh browser: login_required goes back to the app.
	fresh := oidctest.NewBrowser(t, u.URL)
	resp, err = fresh.Client.Get(b.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != "s" || !strings.HasPrefix(loc.String(), appRedirect) {
		t.Fatalf("prompt=none without a session sent the browser to %s", loc)
	}
	// prompt=login with a session shows the form again.
	resp, err = a.b.Client.Get(b.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "login")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("prompt=login with a session: %d, want the sign-in form", resp.StatusCode)
	}
}

func TestClientCredentialsIntrospectionAndRevocation(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	id, secret := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.GrantTypes = []string{"client_credentials"}
		c.RedirectURIs = nil
		c.Scopes = []string{"reports:read"}
	})
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: u.URL + "/oauth/token", Scopes: []string{"reports:read"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A resource server (zitadel's rs) introspects it.
	api, err := rs.NewResourceServerClientCredentials(ctx, u.URL, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Introspect[*zoidc.IntrospectionResponse](ctx, api, tok.AccessToken)
	if err != nil || !resp.Active || resp.ClientID != id || resp.Subject != id || strings.Join(resp.Scope, " ") != "reports:read" {
		t.Fatalf("introspection = %+v, %v", resp, err)
	}
	// client_secret_post works at introspection too; a wrong secret there
	// is invalid_client.
	for _, c := range []struct {
		secret string
		status int
		want   string
	}{{secret, http.StatusOK, `"active":true`}, {"usec_wrong", http.StatusUnauthorized, "invalid_client"}} {
		r, err := http.PostForm(u.URL+"/oauth/introspect", url.Values{"token": {tok.AccessToken}, "client_id": {id}, "client_secret": {c.secret}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != c.status || !strings.Contains(string(body), c.want) {
			t.Fatalf("introspection with client_secret_post (%s): %d %s", c.secret, r.StatusCode, body)
		}
	}
	// Revoked with zitadel's rp, it introspects inactive.
	party, err := rp.NewRelyingPartyOIDC(ctx, u.URL, id, secret, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.RevokeToken(ctx, party, tok.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	resp, err = rs.Introspect[*zoidc.IntrospectionResponse](ctx, api, tok.AccessToken)
	if err != nil || resp.Active {
		t.Fatalf("introspection after revocation = %+v, %v; want active false", resp, err)
	}
	// Wrong secret.
	bad := cc
	bad.ClientSecret = "usec_wrong"
	if _, err := bad.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret = %v, want invalid_client", err)
	}
}

func TestAuthorizeBadInput(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	pub := newFlow(t, u, true)
	conf := newFlow(t, u, false)
	get := func(b *oidctest.Browser, rawURL string) (*http.Response, *url.URL) {
		t.Helper()
		resp, err := b.Client.Get(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return resp, loc
	}
	// A public client without PKCE is sent back with invalid_request.
	_, loc := get(pub.b, pub.cfg.AuthCodeURL("s"))
	if loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("public client without PKCE: %v", loc)
	}
	// plain PKCE is refused.
	_, loc = get(conf.b, conf.cfg.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "plain")))
	if loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("plain PKCE: %v", loc)
	}
	// An unregistered redirect URI is never redirected to.
	evil := conf.cfg
	evil.RedirectURL = "https://evil.example/cb"
	resp, _ := get(conf.b, evil.AuthCodeURL("s"))
	if resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), "https://evil.example") {
		t.Fatal("redirected to an unregistered redirect_uri")
	}
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("unregistered redirect_uri: status %d, want a 4xx error page", resp.StatusCode)
	}
	// PKCE mismatch at the token endpoint.
	code, verifier := conf.code(t)
	if _, err := conf.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("PKCE mismatch = %v, want invalid_grant", err)
	}
	// A wrong password and an unknown email show the form again with the
	// same message, so the form does not reveal which accounts exist.
	var pages []string
	for _, email := range []string{"jane@example.com", "nobody@example.com"} {
		fresh := oidctest.NewBrowser(t, u.URL)
		resp, err := fresh.Client.Get(conf.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp, page = fresh.SignIn(page, email, "not the password")
		msg := regexp.MustCompile(`role="alert">([^<]*)<`).FindSubmatch(page)
		if resp.StatusCode != http.StatusUnauthorized || msg == nil {
			t.Fatalf("failed sign-in as %s: %d, want 401 and the form with a message", email, resp.StatusCode)
		}
		pages = append(pages, string(msg[1]))
	}
	if pages[0] != pages[1] {
		t.Fatalf("a wrong password says %q, an unknown email %q", pages[0], pages[1])
	}
}

// A rotated-in secret works at once; the rotated-out one stops working
// once the provider's client cache has expired.
func TestSecretRotationAndClientCache(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	id, oldSecret := u.newClient(t, appRedirect, false, func(c *storage.Client) { c.GrantTypes = []string{"client_credentials"}; c.RedirectURIs = nil })
	token := func(secret string) error {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: u.URL + "/oauth/token"}
		_, err := cc.Token(ctx)
		return err
	}
	if err := token(oldSecret); err != nil {
		t.Fatal(err)
	}
	newSecret, err := u.Clients.RotateSecret(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := token(newSecret); err != nil {
		t.Fatalf("the new secret right after rotation: %v", err)
	}
	u.Clock.Advance(time.Minute)
	if err := token(oldSecret); err == nil {
		t.Fatal("the old secret still works after the cache expired")
	}
}
