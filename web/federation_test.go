package web_test

import (
	"context"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/usher-id/usher/federation"
	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/internal/smtptest"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
	"github.com/usher-id/usher/web"
)

// fedSite is Usher with a connection to a second Usher, the upstream.
type fedSite struct {
	*site
	up   *ushertest.Usher
	conn *storage.Connection
	// unverified are upstream users whose address the upstream reports
	// unverified.
	unverified []*storage.User
}

// startFederatedSite is startSite with upstream sign-in: connections keep
// their client secrets in the clear (tests store them so), and upstreams
// are reached through httpClient (nil: the default).
func startFederatedSite(t *testing.T, httpClient *http.Client) *site {
	t.Helper()
	srv := smtptest.Start(t, smtptest.Options{})
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "Usher <no-reply@usher.test>", TLS: "none"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := &site{smtp: srv}
	s.Usher = ushertest.Start(t, ushertest.Options{Mail: sender, Pages: func(o *web.Options) {
		o.Federation = &federation.Connectors{RedirectURI: o.Issuer + web.PathUpstreamCallback,
			OpenSecret: func(c *storage.Connection) (string, error) { return string(c.ClientSecret), nil },
			HTTPClient: httpClient}
	}})
	return s
}

// registerApp registers a first-party app with the site and returns its
// configuration, endpoints from discovery.
func registerApp(t *testing.T, s *site, name, redirect string) *oauth2.Config {
	t.Helper()
	ctx := context.Background()
	c := &storage.Client{Name: name, RedirectURIs: []string{redirect}, FirstParty: true}
	secret, err := s.Clients.Create(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: redirect, Endpoint: p.Endpoint(),
		Scopes: []string{oidc.ScopeOpenID, "email"}}
}

func startFedSite(t *testing.T, mods ...func(*storage.Connection)) *fedSite {
	t.Helper()
	s := startFederatedSite(t, nil)
	up := ushertest.Start(t, ushertest.Options{})
	c := &storage.Client{Name: "Usher downstream", RedirectURIs: []string{s.URL + web.PathUpstreamCallback}}
	secret, err := up.Clients.Create(context.Background(), c, false)
	if err != nil {
		t.Fatal(err)
	}
	conn := &storage.Connection{Slug: "acme", Type: storage.ConnectionOIDC, DisplayName: "Acme SSO", Enabled: true, Issuer: up.URL,
		ClientID: c.ID, ClientSecret: []byte(secret), AllowSignUp: true}
	for _, m := range mods {
		m(conn)
	}
	if err := s.Store.CreateConnection(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	return &fedSite{site: s, up: up, conn: conn}
}

// upstreamUser makes a user at the upstream whose address the upstream
// says is verified, or not. The upstream's own pages sign in only users
// with a verified address, so an unverified one is verified for signing in
// there and marked unverified again before the upstream issues its ID
// token (see upstreamSignIn).
func (f *fedSite) upstreamUser(t *testing.T, email string, verified bool) *storage.User {
	t.Helper()
	u, err := f.up.Users.Create(context.Background(), users.NewUser{Email: email, Password: "a long upstream password", FirstName: "Up", LastName: "Stream", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	if !verified {
		f.unverified = append(f.unverified, u)
	}
	return u
}

// start presses "Continue with Acme SSO" and returns where it sends the
// browser upstream.
func (f *fedSite) start(t *testing.T, b *browser, form url.Values) string {
	t.Helper()
	if b.last == "" || !strings.Contains(b.last, `name="csrf"`) {
		b.get("/sign-in")
	}
	st, body := b.post("/sso/acme/start", form)
	if st != http.StatusSeeOther || !strings.HasPrefix(b.url, f.up.URL) {
		t.Fatalf("start: %d at %s: %s", st, b.url, body)
	}
	return b.url
}

// upstreamSignIn signs in at the upstream and returns the callback URL it
// sends the browser to.
func (f *fedSite) upstreamSignIn(t *testing.T, authURL, email string) string {
	t.Helper()
	for _, u := range f.unverified {
		if err := f.up.Store.SetEmailVerified(context.Background(), u.ID, u.PrimaryEmail().ID, true); err != nil {
			t.Fatal(err)
		}
	}
	loc := oidctest.NewBrowser(t, f.up.URL).Authorize(authURL, email, "a long upstream password")
	if !strings.HasPrefix(loc.String(), f.URL+web.PathUpstreamCallback) {
		t.Fatalf("the upstream sent the browser to %s", loc)
	}
	for _, u := range f.unverified {
		if err := f.up.Store.SetEmailVerified(context.Background(), u.ID, u.PrimaryEmail().ID, false); err != nil {
			t.Fatal(err)
		}
	}
	return loc.String()
}

func TestUpstreamSignInCreatesThenFindsTheUser(t *testing.T) {
	f := startFedSite(t, func(c *storage.Connection) { c.StoreTokens = true })
	upUser := f.upstreamUser(t, "grace@acme.example", true)
	b := f.browser(t)
	st, body := b.get("/sign-in")
	b.want(200, st, body, "Continue with Acme SSO", `action="/sso/acme/start"`)

	callback := f.upstreamSignIn(t, f.start(t, b, url.Values{}), "grace@acme.example")
	st, body = b.get(callback)
	b.want(200, st, body, "Your account", "grace@acme.example", "Acme SSO")
	u, err := f.Store.GetUserByEmail(context.Background(), "grace@acme.example")
	if err != nil || !u.PrimaryEmail().Verified || u.PasswordHash != "" || u.FirstName != "Up" {
		t.Fatalf("created user %+v %v", u, err)
	}
	ext, err := f.Store.GetExternalIdentity(context.Background(), f.conn.ID, upUser.ID)
	if err != nil || ext.UserID != u.ID {
		t.Fatalf("identity %+v %v", ext, err)
	}
	// The connection keeps the upstream's tokens, sealed.
	at, err := f.Keys.Open(ext.AccessToken, "upstream-access:"+f.conn.ID+":"+upUser.ID)
	if err != nil || len(at) == 0 || strings.Contains(string(ext.AccessToken), string(at)) {
		t.Fatalf("the upstream access token is not kept sealed: %v", err)
	}

	// The callback is single-use.
	st, body = b.get(callback)
	b.want(400, st, body, "already finished")

	// A second sign-in finds the same user.
	b2 := f.browser(t)
	st, body = b2.get(f.upstreamSignIn(t, f.start(t, b2, url.Values{}), "grace@acme.example"))
	b2.want(200, st, body, "Your account")
	if n, _ := f.Store.CountUsers(context.Background()); n != 1 {
		t.Fatalf("%d users after two sign-ins", n)
	}
}

func TestUpstreamLinkingRules(t *testing.T) {
	f := startFedSite(t)
	ctx := context.Background()
	// A local account for each address.
	for _, e := range []string{"verified@acme.example", "unverified@acme.example"} {
		if _, err := f.Users.Create(ctx, usersNew(e)); err != nil {
			t.Fatal(err)
		}
	}
	f.upstreamUser(t, "verified@acme.example", true)
	f.upstreamUser(t, "unverified@acme.example", false)

	b := f.browser(t)
	st, body := b.get(f.upstreamSignIn(t, f.start(t, b, url.Values{}), "verified@acme.example"))
	b.want(200, st, body, "Your account", "verified@acme.example")
	local, _ := f.Store.GetUserByEmail(ctx, "verified@acme.example")
	if links, _ := f.Store.ListUserExternalIdentities(ctx, local.ID); len(links) != 1 {
		t.Fatalf("the verified address was not linked: %d links", len(links))
	}

	b = f.browser(t)
	st, body = b.get(f.upstreamSignIn(t, f.start(t, b, url.Values{}), "unverified@acme.example"))
	b.want(409, st, body, "already exists. Sign in to it, then connect Acme SSO")
	local, _ = f.Store.GetUserByEmail(ctx, "unverified@acme.example")
	if links, _ := f.Store.ListUserExternalIdentities(ctx, local.ID); len(links) != 0 {
		t.Fatal("an unverified upstream address was linked")
	}
	if n, _ := f.Store.CountUsers(ctx); n != 2 {
		t.Fatalf("%d users: nothing may be created", n)
	}

	// Signed in, the owner connects the upstream account from the profile.
	b.get("/sign-in")
	b.post("/sign-in/password", url.Values{"email": {"unverified@acme.example"}, "password": {password}})
	st, body = b.get("/account")
	b.want(200, st, body, "Connect Acme SSO")
	authURL := f.start(t, b, url.Values{"link": {"1"}})
	st, body = b.get(f.upstreamSignIn(t, authURL, "unverified@acme.example"))
	b.want(200, st, body, "Account connected.", "Disconnect")
	if links, _ := f.Store.ListUserExternalIdentities(ctx, local.ID); len(links) != 1 {
		t.Fatalf("linking from the profile: %d links", len(links))
	}
}

func TestUpstreamFailuresEndOnTheSignInPage(t *testing.T) {
	f := startFedSite(t, func(c *storage.Connection) { c.AllowSignUp = false })
	f.upstreamUser(t, "new@acme.example", true)
	b := f.browser(t)

	// A state no round has.
	st, body := b.get(web.PathUpstreamCallback + "?state=forged&code=x")
	b.want(400, st, body, "took too long", `action="/sign-in"`)

	// The upstream's error, for a real round.
	authURL := f.start(t, b, url.Values{})
	u, _ := url.Parse(authURL)
	st, body = b.get(web.PathUpstreamCallback + "?" + url.Values{"state": {u.Query().Get("state")}, "error": {"access_denied"}}.Encode())
	b.want(400, st, body, "did not confirm", `action="/sign-in"`)

	// A callback in another browser.
	callback := f.upstreamSignIn(t, f.start(t, b, url.Values{}), "new@acme.example")
	other := f.browser(t)
	st, body = other.get(callback)
	other.want(400, st, body, "another browser", `action="/sign-in"`)

	// No sign-up through this connection.
	callback = f.upstreamSignIn(t, f.start(t, b, url.Values{}), "new@acme.example")
	st, body = b.get(callback)
	b.want(403, st, body, "may not create new ones", `action="/sign-in"`)
	if n, _ := f.Store.CountUsers(context.Background()); n != 0 {
		t.Fatalf("%d users created", n)
	}

	// An upstream that is down.
	down := &storage.Connection{Slug: "down", Type: storage.ConnectionOIDC, DisplayName: "Down Inc", Enabled: true, Issuer: "http://127.0.0.1:1",
		ClientID: "x", ClientSecret: []byte("y")}
	if err := f.Store.CreateConnection(context.Background(), down); err != nil {
		t.Fatal(err)
	}
	b.get("/sign-in")
	st, body = b.post("/sso/down/start", url.Values{})
	b.want(502, st, body, "Down Inc could not be reached", `action="/sign-in"`)
}

// An enterprise's email domain goes straight to its identity provider,
// and an app's sign-in finishes through it.
func TestHomeRealmDiscoveryIntoAnApp(t *testing.T) {
	f := startFedSite(t, func(c *storage.Connection) { c.EmailDomains = []string{"acme.example"} })
	f.upstreamUser(t, "ada@acme.example", true)
	ctx := context.Background()
	const redirect = "https://app.example.com/callback"
	c := &storage.Client{Name: "Acme App", RedirectURIs: []string{redirect}}
	if _, err := f.Clients.Create(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	_, body := b.get(f.URL + "/authorize?" + url.Values{"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"s1"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode())
	if strings.Contains(body, "Continue with Acme SSO") {
		t.Fatal("an enterprise connection is offered as a button")
	}
	ar := regexp.MustCompile(`name="flow" value="([^"]+)"`).FindStringSubmatch(body)[1]
	st, _ := b.post("/sign-in", url.Values{"email": {"ada@acme.example"}, "flow": {ar}})
	if st != http.StatusSeeOther || !strings.HasPrefix(b.url, f.up.URL) || !strings.Contains(b.url, "login_hint=ada%40acme.example") {
		t.Fatalf("the identifier step went to %s (%d)", b.url, st)
	}
	st, _ = b.get(f.upstreamSignIn(t, b.url, "ada@acme.example"))
	if st != http.StatusFound || !strings.HasPrefix(b.url, redirect) || !strings.Contains(b.url, "state=s1") {
		t.Fatalf("the sign-in ended with %d at %s, not at the app", st, b.url)
	}
}
