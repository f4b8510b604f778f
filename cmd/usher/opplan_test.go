package main

// The OpenID Foundation's conformance suite, Basic OP and Config OP plans,
// module by module: each TestOIDCC_* test does what the module of that
// name does (client_secret_basic, response_type=code, the default
// response mode, a statically registered client) and holds Usher to what
// the module expects. They share one real `usher serve` (SQLite in a
// temporary folder; the user and the clients made with the CLI), started
// by the first of them and stopped when the package's tests end. The two
// modules that wait (max-age-1 waits over a second, codereuse-30seconds
// 30 seconds) run on an in-process Usher (internal/ushertest) whose clock
// the test moves instead. Where Usher differs from a module, the README's
// "OpenID conformance" section says how and why.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

const (
	planEmail    = "ada@example.com"
	planPassword = "analytical engine"
	// planRedirect is the clients' registered redirect URI, https as the
	// suite's is. Nothing listens there: the browser stops at the first
	// redirect away from Usher and the test reads it.
	planRedirect = "https://rp.example.test/callback"
)

// planClient is a registered client and how it authenticates at the
// token endpoint.
type planClient struct {
	id, secret string
	style      oauth2.AuthStyle
}

// opPlan is an Usher the modules run against, as the suite sees it: the
// discovery document, the JWKS, one user and the registered clients.
type opPlan struct {
	issuer string
	op     *oidc.Provider
	disc   map[string]any
	kids   []string // the JWKS's key IDs
	sub    string   // the user's subject
	// basic and second authenticate with client_secret_basic (the suite's
	// client and client2), post with client_secret_post.
	basic, second, post planClient
	// clock is the in-process Usher's clock; nil against usher serve.
	clock *ushertest.Clock
}

// The shared usher serve: started by the first module test that needs
// it, stopped by TestMain (stopOPPlan) after every test has run.
var shared struct {
	once sync.Once
	plan *opPlan
	err  error
	stop func()
}

// stopOPPlan stops the shared usher serve, if a test started it, and
// removes its folder.
func stopOPPlan() {
	if shared.stop != nil {
		shared.stop()
	}
}

// servePlan returns the shared usher serve, starting it on first use.
func servePlan(t *testing.T) *opPlan {
	t.Helper()
	shared.once.Do(func() { shared.plan, shared.err = startServePlan() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.plan
}

// startServePlan runs `usher serve` in this process on a free loopback
// port with SQLite in a new folder, then makes the user and the clients
// with `usher users create` and `usher clients create`, as an operator
// would.
func startServePlan() (plan *opPlan, err error) {
	dir, err := os.MkdirTemp("", "usher-opplan-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	issuer := "http://" + addr
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(dir, "usher.db"), "USHER_LISTEN="+addr, "USHER_ISSUER="+issuer,
		"USHER_MASTER_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, env, out, errOut) }()
	shared.stop = func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(30 * time.Second); !listening.MatchString(out.String()); time.Sleep(10 * time.Millisecond) {
		select {
		case code := <-done:
			done <- code
			return nil, fmt.Errorf("usher serve exited with %d before listening: %s", code, errOut)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("usher serve did not start within 30s: %s", errOut)
		}
	}
	cli := func(args ...string) (map[string]any, error) {
		var o, e strings.Builder
		if code := run(ctx, args, env, &o, &e); code != 0 {
			return nil, fmt.Errorf("usher %s: exit %d: %s", strings.Join(args[:2], " "), code, e.String())
		}
		var v map[string]any
		return v, json.Unmarshal([]byte(o.String()), &v)
	}
	user, err := cli("users", "create", "--email", planEmail, "--password", planPassword,
		"--name", "Ada Lovelace", "--username", "ada.lovelace", "--email-verified")
	if err != nil {
		return nil, err
	}
	p := &opPlan{issuer: issuer, sub: fmt.Sprint(user["id"])}
	for _, c := range []struct {
		to    *planClient
		style oauth2.AuthStyle
		args  []string
	}{
		{&p.basic, oauth2.AuthStyleInHeader, []string{"--name", "Conformance client"}},
		{&p.second, oauth2.AuthStyleInHeader, []string{"--name", "Conformance client 2"}},
		{&p.post, oauth2.AuthStyleInParams, []string{"--name", "Conformance post client", "--auth-method", "client_secret_post"}},
	} {
		v, err := cli(append([]string{"clients", "create", "--redirect-uri", planRedirect}, c.args...)...)
		if err != nil {
			return nil, err
		}
		*c.to = planClient{id: fmt.Sprint(v["client_id"]), secret: fmt.Sprint(v["client_secret"]), style: c.style}
	}
	return p, p.discover(ctx)
}

// inProcessPlan is an Usher in this process (internal/ushertest) with a
// clock the test moves, the same user and a client_secret_basic client.
func inProcessPlan(t *testing.T) *opPlan {
	t.Helper()
	ctx := t.Context()
	u := ushertest.Start(t, ushertest.Options{})
	user, err := u.Users.Create(ctx, users.NewUser{Email: planEmail, Password: planPassword, FirstName: "Ada", LastName: "Lovelace", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &storage.Client{Name: "Conformance client", RedirectURIs: []string{planRedirect}}
	secret, err := u.Clients.Create(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	p := &opPlan{issuer: u.URL, sub: user.ID, clock: u.Clock,
		basic: planClient{id: c.ID, secret: secret, style: oauth2.AuthStyleInHeader}}
	if err := p.discover(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

// discover reads the discovery document and the JWKS, as every module
// does before it starts.
func (p *opPlan) discover(ctx context.Context) error {
	var err error
	if p.op, err = oidc.NewProvider(ctx, p.issuer); err != nil {
		return err
	}
	if err := p.op.Claims(&p.disc); err != nil {
		return err
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := getInto(p.disc["jwks_uri"].(string), &jwks); err != nil {
		return err
	}
	for _, k := range jwks.Keys {
		p.kids = append(p.kids, k.Kid)
	}
	return nil
}

func getInto(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (p *opPlan) oauth(c planClient) *oauth2.Config {
	ep := p.op.Endpoint()
	ep.AuthStyle = c.style
	return &oauth2.Config{ClientID: c.id, ClientSecret: c.secret, Endpoint: ep, RedirectURL: planRedirect}
}

// authz is one authorization request as the suite builds it.
type authz struct {
	client planClient // the zero value means p.basic
	scope  string     // "" means "openid"
	// extra parameters; an empty list removes a parameter the suite
	// would otherwise send (response_type, nonce, redirect_uri, ...).
	extra url.Values
}

// build returns the request's parameters, with a fresh state and nonce
// (unless extra removes them).
func (p *opPlan) build(a authz) (params url.Values, state, nonce string) {
	if a.client.id == "" {
		a.client = p.basic
	}
	if a.scope == "" {
		a.scope = "openid"
	}
	state, nonce = oauth2.GenerateVerifier()[:16], oauth2.GenerateVerifier()[:16]
	params = url.Values{"response_type": {"code"}, "client_id": {a.client.id}, "redirect_uri": {planRedirect},
		"scope": {a.scope}, "state": {state}, "nonce": {nonce}}
	for k, v := range a.extra {
		if len(v) == 0 {
			params.Del(k)
		} else {
			params[k] = v
		}
	}
	return params, params.Get("state"), params.Get("nonce")
}

func (p *opPlan) authorizationEndpoint() string { return p.op.Endpoint().AuthURL }

var (
	signInForm  = regexp.MustCompile(`action="/sign-in"`)
	consentForm = regexp.MustCompile(`action="/consent"`)
)

// drive takes b through Usher's pages from resp on, signing in as the
// user when the sign-in form shows and allowing consent when asked, up to
// the redirect back to the application. It reports whether Usher asked
// for the password.
func drive(t *testing.T, b *oidctest.Browser, resp *http.Response) (back *url.URL, askedPassword bool) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for range 5 {
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			return loc, askedPassword
		case resp.StatusCode == http.StatusOK && signInForm.Match(body):
			askedPassword = true
			resp, body = b.SignIn(body, planEmail, planPassword)
		case resp.StatusCode == http.StatusOK && consentForm.Match(body):
			resp = b.Decide(body, "allow")
			body = nil
		default:
			t.Fatalf("the authorization ended with %d, not a redirect to the application: %s", resp.StatusCode, body)
		}
	}
	t.Fatal("the authorization did not end")
	return nil, false
}

// open sends b to the authorization endpoint with params, as a GET.
func (p *opPlan) open(t *testing.T, b *oidctest.Browser, params url.Values) (back *url.URL, askedPassword bool) {
	t.Helper()
	resp, err := b.Client.Get(p.authorizationEndpoint() + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return drive(t, b, resp)
}

// grant is a completed code flow: what the token endpoint gave and the
// verified ID token.
type grant struct {
	tok           *oauth2.Token
	id            *oidc.IDToken
	claims        map[string]any
	askedPassword bool
}

func (g *grant) authTime(t *testing.T) int64 {
	t.Helper()
	at, ok := g.claims["auth_time"].(float64)
	if !ok {
		t.Fatalf("the ID token has no auth_time: %v", g.claims)
	}
	return int64(at)
}

// codeFlow runs the suite's happy path: the authorization request, the
// callback's checks, the code exchanged at the token endpoint with the
// client's authentication, and the ID token validated.
func (p *opPlan) codeFlow(t *testing.T, b *oidctest.Browser, a authz) *grant {
	t.Helper()
	params, state, nonce := p.build(a)
	back, asked := p.open(t, b, params)
	return p.finish(t, a, back, state, nonce, asked)
}

// finish checks the callback (CheckMatchingCallbackParameters,
// CheckIfAuthorizationEndpointError, CheckMatchingStateParameter),
// exchanges the code and validates the token response and ID token.
func (p *opPlan) finish(t *testing.T, a authz, back *url.URL, state, nonce string, asked bool) *grant {
	t.Helper()
	if a.client.id == "" {
		a.client = p.basic
	}
	q := back.Query()
	if !strings.HasPrefix(back.String(), planRedirect+"?") || back.Fragment != "" {
		t.Fatalf("the callback is %s, not the registered redirect URI with a query", back)
	}
	if q.Has("error") || q.Get("code") == "" {
		t.Fatalf("the authorization failed: %s", back)
	}
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	tok, err := p.oauth(a.client).Exchange(t.Context(), q.Get("code"))
	if err != nil {
		t.Fatalf("token endpoint: %v", err)
	}
	g := &grant{tok: tok, askedPassword: asked}
	g.id, g.claims = p.checkTokenResponse(t, a.client, tok, nonce)
	return g
}

// checkTokenResponse does the suite's token response checks
// (CheckForAccessTokenValue, ValidateExpiresIn, token type) and ID token
// checks (ValidateIdToken, ValidateIdTokenNonce, ValidateIdTokenSignature,
// ValidateIdTokenSignatureUsingKid, CheckForSubjectInIdToken, at_hash).
func (p *opPlan) checkTokenResponse(t *testing.T, c planClient, tok *oauth2.Token, nonce string) (*oidc.IDToken, map[string]any) {
	t.Helper()
	if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") || tok.Expiry.IsZero() {
		t.Fatalf("token response: access token %t, token_type %q, expires_in set %t", tok.AccessToken != "", tok.TokenType, !tok.Expiry.IsZero())
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the token response has no id_token")
	}
	return p.checkIDToken(t, c, raw, tok.AccessToken, nonce)
}

// anyNonce tells checkIDToken not to check the nonce: a refreshed ID
// token may or may not repeat it (OpenID Connect Core 12.2).
const anyNonce = "\x00any"

func (p *opPlan) checkIDToken(t *testing.T, c planClient, raw, accessToken, nonce string) (*oidc.IDToken, map[string]any) {
	t.Helper()
	// Signature against the JWKS, iss, aud and exp.
	id, err := p.op.Verifier(&oidc.Config{ClientID: c.id}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	header := jwtPart(t, raw, 0)
	if kid, _ := header["kid"].(string); kid == "" || !slices.Contains(p.kids, kid) {
		t.Errorf("the ID token's kid %q is not in the JWKS %v", kid, p.kids)
	}
	if id.Subject == "" || id.Subject != p.sub {
		t.Errorf("ID token sub = %q, want the user %q", id.Subject, p.sub)
	}
	if _, ok := claims["iat"].(float64); !ok {
		t.Errorf("the ID token has no iat: %v", claims)
	}
	if azp, ok := claims["azp"]; ok && azp != c.id {
		t.Errorf("ID token azp = %v, want %s", azp, c.id)
	}
	if id.Nonce != nonce && nonce != anyNonce {
		t.Errorf("ID token nonce = %q, want %q", id.Nonce, nonce)
	}
	if _, ok := claims["nonce"]; nonce == "" && ok {
		t.Errorf("the request had no nonce, the ID token has one: %v", claims["nonce"])
	}
	if id.AccessTokenHash != "" {
		if err := id.VerifyAccessToken(accessToken); err != nil {
			t.Errorf("at_hash: %v", err)
		}
	}
	return id, claims
}

// jwtPart decodes part i (0 header, 1 payload) of a compact JWT.
func jwtPart(t *testing.T, raw string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts in a JWT", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// userinfo calls the userinfo endpoint with the access token: "get" and
// "post-header" send it as Authorization: Bearer, "post-body" as the
// access_token form parameter.
func (p *opPlan) userinfo(t *testing.T, how, token string) (int, map[string]any) {
	t.Helper()
	endpoint := p.op.UserInfoEndpoint()
	var req *http.Request
	var err error
	switch how {
	case "get":
		req, err = http.NewRequest(http.MethodGet, endpoint, nil)
	case "post-header":
		req, err = http.NewRequest(http.MethodPost, endpoint, nil)
	case "post-body":
		req, err = http.NewRequest(http.MethodPost, endpoint, strings.NewReader(url.Values{"access_token": {token}}.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if how != "post-body" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if resp.StatusCode == http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("userinfo Content-Type = %q", ct)
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, body
}

// checkUserinfo is the suite's userinfo validation: 200, sub is the ID
// token's (EnsureUserInfoContainsSub, VerifyUserInfoAndIdTokenInTokenEndpointSameSub),
// the standard claims have their types (ValidateUserInfoStandardClaims,
// EnsureUserInfoUpdatedAtValid), and want are present.
func (p *opPlan) checkUserinfo(t *testing.T, how string, g *grant, want ...string) map[string]any {
	t.Helper()
	status, ui := p.userinfo(t, how, g.tok.AccessToken)
	if status != http.StatusOK {
		t.Fatalf("userinfo (%s) = %d", how, status)
	}
	if ui["sub"] != g.id.Subject {
		t.Fatalf("userinfo sub = %v, the ID token's is %s", ui["sub"], g.id.Subject)
	}
	for k, v := range ui {
		var ok bool
		switch k {
		case "email_verified", "phone_number_verified":
			_, ok = v.(bool)
		case "updated_at":
			_, ok = v.(float64)
		case "address":
			_, ok = v.(map[string]any)
		default:
			if slices.Contains(standardStringClaims, k) {
				_, ok = v.(string)
			} else {
				ok = true
			}
		}
		if !ok {
			t.Errorf("userinfo %s = %#v: wrong type", k, v)
		}
	}
	for _, k := range want {
		if _, ok := ui[k]; !ok {
			t.Errorf("userinfo lacks %s: %v", k, ui)
		}
	}
	return ui
}

var standardStringClaims = []string{"sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
	"profile", "picture", "website", "email", "gender", "birthdate", "zoneinfo", "locale", "phone_number"}

// errorDescription is the character set RFC 6749 allows in
// error_description (section 4.1.2.1): no CR, LF, TAB, '"' or '\'.
var errorDescription = regexp.MustCompile(`^[\x20\x21\x23-\x5B\x5D-\x7E]*$`)

// checkAuthorizationError is the suite's generic check of an error sent
// back to the client: at the redirect URI, in the query, no code, the
// state echoed (when one was sent), a valid error_description, and an
// error among want.
func checkAuthorizationError(t *testing.T, back *url.URL, state string, want ...string) string {
	t.Helper()
	q := back.Query()
	if !strings.HasPrefix(back.String(), planRedirect+"?") {
		t.Fatalf("the error went to %s, not the registered redirect URI's query", back)
	}
	if q.Has("code") {
		t.Fatalf("an error response carries a code: %s", back)
	}
	if q.Get("state") != state {
		t.Errorf("state = %q, want %q", q.Get("state"), state)
	}
	if !errorDescription.MatchString(q.Get("error_description")) {
		t.Errorf("error_description has characters RFC 6749 forbids: %q", q.Get("error_description"))
	}
	if !slices.Contains(want, q.Get("error")) {
		t.Fatalf("error = %q (%s), want one of %v", q.Get("error"), q.Get("error_description"), want)
	}
	return q.Get("error")
}

// tokenRequest posts form to the token endpoint as c and returns the
// answer undecoded where the suite looks at it raw.
func (p *opPlan) tokenRequest(t *testing.T, c planClient, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	if c.style == oauth2.AuthStyleInParams {
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	}
	req, err := http.NewRequest(http.MethodPost, p.op.Endpoint().TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.style != oauth2.AuthStyleInParams {
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token endpoint answer is not JSON: %v", err)
	}
	return resp.StatusCode, resp.Header, body
}

// checkTokenError is the suite's check of a token endpoint error
// (CheckTokenEndpointHttpStatus400, CheckTokenEndpointReturnedJsonContentType,
// CheckErrorFromTokenEndpointResponseErrorInvalidGrant,
// ValidateErrorDescriptionFromTokenEndpointResponseError).
func checkTokenError(t *testing.T, status int, h http.Header, body map[string]any, want string) {
	t.Helper()
	if status != http.StatusBadRequest || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("token endpoint error: %d %q, want 400 application/json", status, h.Get("Content-Type"))
	}
	if body["error"] != want {
		t.Errorf("error = %v (%v), want %s", body["error"], body["error_description"], want)
	}
	if d, _ := body["error_description"].(string); !errorDescription.MatchString(d) {
		t.Errorf("error_description has characters RFC 6749 forbids: %q", d)
	}
	if _, ok := body["error_uri"]; ok {
		t.Errorf("unexpected error_uri: %v", body["error_uri"])
	}
}

// ---- Basic OP plan ----

// oidcc-server: the code flow end to end. The callback carries the code
// and the state, the token endpoint answers 200 with a bearer access
// token, expires_in and an ID token (iss, aud, exp, iat, sub, nonce,
// signed by a key of the JWKS named by its kid), served with
// Cache-Control: no-store, and the access token works at userinfo.
func TestOIDCC_Server(t *testing.T) {
	p := servePlan(t)
	params, state, nonce := p.build(authz{})
	back, _ := p.open(t, oidctest.NewBrowser(t, p.issuer), params)
	if back.Query().Get("state") != state || back.Query().Get("code") == "" {
		t.Fatalf("callback %s", back)
	}
	// The token response's headers, which the oauth2 package hides.
	status, h, body := p.tokenRequest(t, p.basic, url.Values{"grant_type": {"authorization_code"},
		"code": {back.Query().Get("code")}, "redirect_uri": {planRedirect}})
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("token endpoint: %d, Content-Type %q, Cache-Control %q: %v", status, h.Get("Content-Type"), h.Get("Cache-Control"), body)
	}
	at, _ := body["access_token"].(string)
	idt, _ := body["id_token"].(string)
	if exp, ok := body["expires_in"].(float64); at == "" || !strings.EqualFold(fmt.Sprint(body["token_type"]), "bearer") || !ok || exp <= 0 {
		t.Fatalf("token response %v", body)
	}
	id, _ := p.checkIDToken(t, p.basic, idt, at, nonce)
	p.checkUserinfo(t, "get", &grant{tok: &oauth2.Token{AccessToken: at}, id: id})
}

// oidcc-response-type-missing: an authorization request without
// response_type. The server must show an error page, or send
// invalid_request or unsupported_response_type to the redirect URI's query.
func TestOIDCC_ResponseTypeMissing(t *testing.T) {
	p := servePlan(t)
	b := oidctest.NewBrowser(t, p.issuer)
	params, state, _ := p.build(authz{extra: url.Values{"response_type": nil}})
	resp, err := b.Client.Get(p.authorizationEndpoint() + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization without response_type answered %d, want the error at the redirect URI", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	checkAuthorizationError(t, back, state, "invalid_request", "unsupported_response_type")
}

// oidcc-userinfo-get, oidcc-userinfo-post-header, oidcc-userinfo-post-body:
// after the code flow, userinfo answers the access token sent as a
// bearer header on a GET, on a POST, and in a POST's form body, with the
// ID token's sub.
func testUserinfo(t *testing.T, how string) {
	p := servePlan(t)
	g := p.codeFlow(t, oidctest.NewBrowser(t, p.issuer), authz{})
	p.checkUserinfo(t, how, g)
}

func TestOIDCC_UserinfoGet(t *testing.T)        { testUserinfo(t, "get") }
func TestOIDCC_UserinfoPostHeader(t *testing.T) { testUserinfo(t, "post-header") }
func TestOIDCC_UserinfoPostBody(t *testing.T)   { testUserinfo(t, "post-body") }

// oidcc-ensure-request-without-nonce-succeeds-for-code-flow: the nonce is
// optional in the code flow; the request succeeds and the ID token has
// no nonce.
func TestOIDCC_EnsureRequestWithoutNonceSucceedsForCodeFlow(t *testing.T) {
	p := servePlan(t)
	g := p.codeFlow(t, oidctest.NewBrowser(t, p.issuer), authz{extra: url.Values{"nonce": nil}})
	p.checkUserinfo(t, "get", g)
}

// oidcc-scope-profile, -email, -address, -phone, -all: the request asks
// for the scope; the suite skips the module when discovery's
// scopes_supported lacks it (OIDCCCheckScopesSupportedContainScopeTest),
// else it checks userinfo: sub, the claims' types, and (a warning) that
// the scope's claims are there. Usher has no address or phone claims: it
// does not list those scopes, and ignores them in a request.
func testScope(t *testing.T, scope string, supported bool, want, absent []string) {
	p := servePlan(t)
	ss, _ := p.disc["scopes_supported"].([]any)
	for _, s := range strings.Fields(scope) {
		listed := slices.Contains(ss, any(s))
		if s == "address" || s == "phone" {
			if listed {
				t.Errorf("scopes_supported lists %s, which Usher has no claims for", s)
			}
		} else if !listed {
			t.Errorf("scopes_supported %v lacks %s", ss, s)
		}
	}
	if !supported {
		t.Logf("the suite skips this module: scopes_supported %v lacks some of %q", ss, scope)
	}
	// Usher ignores what it does not support: the request still succeeds.
	g := p.codeFlow(t, oidctest.NewBrowser(t, p.issuer), authz{scope: scope})
	ui := p.checkUserinfo(t, "get", g, want...)
	for _, k := range absent {
		if _, ok := ui[k]; ok {
			t.Errorf("userinfo has %s", k)
		}
	}
}

var (
	profileClaims = []string{"name", "given_name", "family_name", "preferred_username", "updated_at"}
	emailClaims   = []string{"email", "email_verified"}
	addressPhone  = []string{"address", "phone_number", "phone_number_verified"}
)

func TestOIDCC_ScopeProfile(t *testing.T) {
	testScope(t, "openid profile", true, profileClaims, append(emailClaims, addressPhone...))
}

func TestOIDCC_ScopeEmail(t *testing.T) {
	testScope(t, "openid email", true, emailClaims, append(profileClaims, addressPhone...))
}

func TestOIDCC_ScopeAddress(t *testing.T) {
	testScope(t, "openid address", false, nil, append(append(profileClaims, emailClaims...), addressPhone...))
}

func TestOIDCC_ScopePhone(t *testing.T) {
	testScope(t, "openid phone", false, nil, append(append(profileClaims, emailClaims...), addressPhone...))
}

func TestOIDCC_ScopeAll(t *testing.T) {
	testScope(t, "openid address email phone profile", false, append(profileClaims, emailClaims...), addressPhone)
}

// oidcc-ensure-other-scope-order-succeeds: the scopes in another order
// (openid not first) give the same result.
func TestOIDCC_EnsureOtherScopeOrderSucceeds(t *testing.T) {
	p := servePlan(t)
	for _, scope := range []string{"email openid", "openid email"} {
		t.Run(scope, func(t *testing.T) {
			g := p.codeFlow(t, oidctest.NewBrowser(t, p.issuer), authz{scope: scope})
			p.checkUserinfo(t, "get", g, emailClaims...)
		})
	}
}

// Modules that add one parameter Usher accepts (and may ignore) to an
// otherwise ordinary request, which must succeed as oidcc-server does:
//   - oidcc-display-page, oidcc-display-popup: display=page, display=popup
//     (Usher's pages are the same either way);
//   - oidcc-ensure-request-with-unknown-parameter-succeeds: an extension
//     parameter the server must ignore;
//   - oidcc-login-hint: login_hint (Usher prefills the sign-in form);
//   - oidcc-ui-locales, oidcc-claims-locales: "se" (Usher speaks English);
//   - oidcc-ensure-request-with-acr-values-succeeds: acr_values="1 2"
//     (voluntary; Usher has one level and sends no acr, which
//     ValidateIdTokenACRClaimAgainstRequest allows for a voluntary request).
func testAcceptedParameter(t *testing.T, name, value string) {
	p := servePlan(t)
	g := p.codeFlow(t, oidctest.NewBrowser(t, p.issuer), authz{extra: url.Values{name: {value}}})
	if !g.askedPassword {
		t.Error("a new browser was not asked to sign in")
	}
	if acr, ok := g.claims["acr"]; ok && name == "acr_values" && !slices.Contains(strings.Fields(value), fmt.Sprint(acr)) {
		t.Errorf("acr = %v, not one of the requested %q", acr, value)
	}
	p.checkUserinfo(t, "get", g)
}

func TestOIDCC_DisplayPage(t *testing.T)  { testAcceptedParameter(t, "display", "page") }
func TestOIDCC_DisplayPopup(t *testing.T) { testAcceptedParameter(t, "display", "popup") }
func TestOIDCC_EnsureRequestWithUnknownParameterSucceeds(t *testing.T) {
	testAcceptedParameter(t, "extra", "foobar")
}
func TestOIDCC_LoginHint(t *testing.T)     { testAcceptedParameter(t, "login_hint", planEmail) }
func TestOIDCC_UILocales(t *testing.T)     { testAcceptedParameter(t, "ui_locales", "se") }
func TestOIDCC_ClaimsLocales(t *testing.T) { testAcceptedParameter(t, "claims_locales", "se") }
func TestOIDCC_EnsureRequestWithACRValuesSucceeds(t *testing.T) {
	testAcceptedParameter(t, "acr_values", "1 2")
}

// oidcc-prompt-login: a second authorization in the same browser with
// prompt=login must ask the user to sign in again (the suite asks for a
// screenshot of the second sign-in page), and auth_time, when present,
// must differ between the two ID tokens (CheckIdTokenAuthTimeClaimsDifferIfPresent).
// Against usher serve both sign-ins may fall in the same second, so here
// the second auth_time is only checked not to be earlier; the subtest
// runs the module on an in-process Usher (internal/ushertest) whose clock
// moves two seconds between the sign-ins, and checks it is later.
func TestOIDCC_PromptLogin(t *testing.T) {
	module := func(t *testing.T, p *opPlan, strictlyLater bool) {
		b := oidctest.NewBrowser(t, p.issuer)
		first := p.codeFlow(t, b, authz{})
		if p.clock != nil {
			p.clock.Advance(2 * time.Second)
		}
		second := p.codeFlow(t, b, authz{extra: url.Values{"prompt": {"login"}}})
		if !second.askedPassword {
			t.Fatal("prompt=login did not ask the user to sign in again")
		}
		if second.id.Subject != first.id.Subject {
			t.Errorf("sub changed: %s, then %s", first.id.Subject, second.id.Subject)
		}
		t1, t2 := first.authTime(t), second.authTime(t)
		if t2 < t1 || (strictlyLater && t2 == t1) {
			t.Errorf("auth_time %d after a new sign-in; the first was %d", t2, t1)
		}
	}
	t.Run("usher serve", func(t *testing.T) { module(t, servePlan(t), false) })
	t.Run("auth_time differs", func(t *testing.T) { module(t, inProcessPlan(t), true) })
}

// oidcc-prompt-none-not-logged-in: prompt=none in a browser with no
// session at Usher must come back to the client with login_required (or
// interaction_required, session_selection_required, consent_required),
// never with a page.
func TestOIDCC_PromptNoneNotLoggedIn(t *testing.T) {
	p := servePlan(t)
	b := oidctest.NewBrowser(t, p.issuer)
	params, state, _ := p.build(authz{extra: url.Values{"prompt": {"none"}}})
	resp, err := b.Client.Get(p.authorizationEndpoint() + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("prompt=none without a session answered %d, want a redirect to the client", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	checkAuthorizationError(t, back, state, "login_required", "interaction_required", "session_selection_required", "consent_required")
}

// oidcc-prompt-none-logged-in, oidcc-max-age-10000, oidcc-id-token-hint:
// after a first sign-in, a second authorization in the same browser
// (with prompt=none; with max_age=10000; with prompt=none and the first
// ID token as id_token_hint) succeeds without asking the user anything,
// and the second ID token has the first's sub and auth_time
// (AbstractOIDCCSameAuthTwiceServerTest; max-age-10000 also requires
// auth_time, CheckIdTokenAuthTimeClaimPresentDueToMaxAge).
func testSameAuthTwice(t *testing.T, second func(first *grant) url.Values) {
	p := servePlan(t)
	b := oidctest.NewBrowser(t, p.issuer)
	first := p.codeFlow(t, b, authz{})
	g := p.codeFlow(t, b, authz{extra: second(first)})
	if g.askedPassword {
		t.Fatal("the second authorization asked the user to sign in again")
	}
	if g.id.Subject != first.id.Subject {
		t.Errorf("sub changed: %s, then %s", first.id.Subject, g.id.Subject)
	}
	if g.authTime(t) != first.authTime(t) {
		t.Errorf("auth_time changed without a new sign-in: %d, then %d", first.authTime(t), g.authTime(t))
	}
	p.checkUserinfo(t, "get", g)
}

func TestOIDCC_PromptNoneLoggedIn(t *testing.T) {
	testSameAuthTwice(t, func(*grant) url.Values { return url.Values{"prompt": {"none"}} })
}

func TestOIDCC_MaxAge10000(t *testing.T) {
	testSameAuthTwice(t, func(*grant) url.Values { return url.Values{"max_age": {"10000"}} })
}

func TestOIDCC_IDTokenHint(t *testing.T) {
	testSameAuthTwice(t, func(first *grant) url.Values {
		return url.Values{"prompt": {"none"}, "id_token_hint": {first.tok.Extra("id_token").(string)}}
	})
}

// oidcc-max-age-1: after a first sign-in the suite waits (two seconds)
// and asks again with max_age=1; the server must ask the user to sign in
// again, and the second ID token must carry auth_time
// (CheckIdTokenAuthTimeClaimPresentDueToMaxAge), later than the first's
// (CheckSecondIdTokenAuthTimeIsLaterIfPresent). Usher serve's clock cannot
// be moved, so this runs on an in-process Usher (internal/ushertest)
// whose clock the test advances by two seconds instead of waiting.
func TestOIDCC_MaxAge1(t *testing.T) {
	p := inProcessPlan(t)
	b := oidctest.NewBrowser(t, p.issuer)
	first := p.codeFlow(t, b, authz{})
	p.clock.Advance(2 * time.Second)
	second := p.codeFlow(t, b, authz{extra: url.Values{"max_age": {"1"}}})
	if !second.askedPassword {
		t.Fatal("max_age=1 two seconds after signing in did not ask the user to sign in again")
	}
	if t1, t2 := first.authTime(t), second.authTime(t); t2 < t1+2 {
		t.Errorf("auth_time %d after signing in again two seconds later; the first was %d", t2, t1)
	}
	if second.id.Subject != first.id.Subject {
		t.Errorf("sub changed: %s, then %s", first.id.Subject, second.id.Subject)
	}
}

// oidcc-codereuse: the code is exchanged, then exchanged again at once.
// The second exchange must fail with 400 invalid_grant as JSON (the suite
// warns if it succeeds); the access token of the first exchange should
// be revoked (RFC 6749, section 4.1.2), which Usher does.
func TestOIDCC_CodeReuse(t *testing.T) {
	testCodeReuse(t, servePlan(t), 0)
}

// oidcc-codereuse-30seconds: as oidcc-codereuse, but the code is reused
// 30 seconds after its first use; the server must refuse it with
// invalid_grant, and the first access token should then be refused at the
// resource (a warning in the suite; Usher revokes it). Usher serve's clock
// cannot be moved, so this runs on an in-process Usher
// (internal/ushertest) whose clock the test advances by 30 seconds.
func TestOIDCC_CodeReuse30Seconds(t *testing.T) {
	testCodeReuse(t, inProcessPlan(t), 30*time.Second)
}

func testCodeReuse(t *testing.T, p *opPlan, wait time.Duration) {
	b := oidctest.NewBrowser(t, p.issuer)
	params, state, nonce := p.build(authz{})
	back, _ := p.open(t, b, params)
	g := p.finish(t, authz{}, back, state, nonce, true)
	p.checkUserinfo(t, "get", g)
	if wait > 0 {
		p.clock.Advance(wait)
		// Still live after the wait: a refusal below is the reuse's doing.
		p.checkUserinfo(t, "get", g)
	}
	status, h, body := p.tokenRequest(t, p.basic, url.Values{"grant_type": {"authorization_code"},
		"code": {back.Query().Get("code")}, "redirect_uri": {planRedirect}})
	checkTokenError(t, status, h, body, "invalid_grant")
	if status, _ := p.userinfo(t, "get", g.tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("the first exchange's access token after the code was reused: userinfo %d, want 401", status)
	}
}

// oidcc-ensure-registered-redirect-uri: an authorization request with a
// redirect URI the client did not register. The server must not redirect
// there; it shows an error page (the suite asks for a screenshot).
func TestOIDCC_EnsureRegisteredRedirectUri(t *testing.T) {
	p := servePlan(t)
	b := oidctest.NewBrowser(t, p.issuer)
	const bad = "https://attacker.example/callback"
	params, _, _ := p.build(authz{extra: url.Values{"redirect_uri": {bad}}})
	resp, err := b.Client.Get(p.authorizationEndpoint() + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, bad) || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an unregistered redirect URI: %d to %q: %s; want an error page", resp.StatusCode, loc, body)
	}
}

// oidcc-server-client-secret-post: oidcc-server with the client
// authenticating at the token endpoint by client_secret_post.
func TestOIDCC_ServerClientSecretPost(t *testing.T) {
	p := servePlan(t)
	methods, _ := p.disc["token_endpoint_auth_methods_supported"].([]any)
	if !slices.Contains(methods, any("client_secret_post")) {
		t.Errorf("token_endpoint_auth_methods_supported %v lacks client_secret_post", methods)
	}
	g := p.codeFlow(t, oidctest.NewBrowser(t, p.issuer), authz{client: p.post})
	p.checkUserinfo(t, "get", g)
}

// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported:
// the request's parameters in an unsigned request object (alg none, iss
// the client, aud the issuer) passed by value as request, with only
// response_type, client_id, scope and redirect_uri also in the URL. The
// server must either process the object (state and nonce are only in it)
// or answer request_not_supported; ignoring it fails. The suite skips the
// module when discovery does not offer "none" for request objects, as
// Usher's does not. Usher answers request_not_supported at the redirect URI.
func TestOIDCC_UnsignedRequestObjectSupportedCorrectlyOrRejectedAsUnsupported(t *testing.T) {
	p := servePlan(t)
	if p.disc["request_parameter_supported"] == true {
		t.Error("discovery says request objects are supported")
	}
	if algs, _ := p.disc["request_object_signing_alg_values_supported"].([]any); slices.Contains(algs, any("none")) {
		t.Error("discovery offers unsigned request objects")
	}
	params, state, nonce := p.build(authz{})
	claims := map[string]any{"iss": p.basic.id, "aud": p.issuer}
	for k := range params {
		claims[k] = params.Get(k)
	}
	payload, _ := json.Marshal(claims)
	object := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	outer := url.Values{"request": {object}}
	for _, k := range []string{"response_type", "client_id", "scope", "redirect_uri"} {
		outer.Set(k, params.Get(k))
	}
	b := oidctest.NewBrowser(t, p.issuer)
	back, asked := p.open(t, b, outer)
	if back.Query().Has("error") {
		checkAuthorizationError(t, back, "", "request_not_supported")
		return
	}
	// Processed: the state and nonce from the object must come back.
	p.finish(t, authz{}, back, state, nonce, asked)
}

// oidcc-claims-essential: the claims parameter asks for name as an
// essential userinfo claim; the request must succeed. The suite warns when
// userinfo lacks name (EnsureUserInfoContainsName) and when the ID token
// has it (EnsureIdTokenDoesNotContainName). Usher does not support the
// claims parameter (claims_parameter_supported is false) and ignores it:
// claims follow the scopes, so with scope openid alone name is in
// neither.
func TestOIDCC_ClaimsEssential(t *testing.T) {
	p := servePlan(t)
	if p.disc["claims_parameter_supported"] == true {
		t.Error("discovery says the claims parameter is supported")
	}
	g := p.codeFlow(t, oidctest.NewBrowser(t, p.issuer), authz{extra: url.Values{
		"claims": {`{"userinfo":{"name":{"essential":true}}}`}}})
	if _, ok := g.claims["name"]; ok {
		t.Error("the ID token has name, requested only for userinfo")
	}
	if ui := p.checkUserinfo(t, "get", g); ui["name"] != nil {
		t.Errorf("userinfo has name %v: Usher now honours the claims parameter; update the README", ui["name"])
	}
}

// oidcc-refresh-token: with offline_access and prompt=consent the token
// response carries a refresh token (only VSCHAR characters); refreshing
// it (with the scope, after the suite waits a second) answers 200, JSON,
// Cache-Control no-store, a bearer access token, expires_in, and an ID
// token whose iss, sub, aud, azp and auth_time match the first and whose
// iat is its own (CompareIdTokenClaims). A refresh token issued to
// client 2 and presented by client 1 must be refused with 400
// invalid_grant. The test does not wait the suite's second, so the new
// iat is only checked not to be earlier: the library stamps iat from the
// real clock, which no test clock moves.
func TestOIDCC_RefreshToken(t *testing.T) {
	const scope = "openid offline_access"
	p := servePlan(t)
	gt, _ := p.disc["grant_types_supported"].([]any)
	if !slices.Contains(gt, any("refresh_token")) {
		t.Errorf("grant_types_supported %v lacks refresh_token", gt)
	}
	b := oidctest.NewBrowser(t, p.issuer)
	first := p.codeFlow(t, b, authz{scope: scope, extra: url.Values{"prompt": {"consent"}}})
	rt := first.tok.RefreshToken
	if rt == "" || !regexp.MustCompile(`^[\x20-\x7E]+$`).MatchString(rt) {
		t.Fatalf("refresh token %q", rt)
	}
	status, h, body := p.tokenRequest(t, p.basic, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope}})
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh: %d, Content-Type %q, Cache-Control %q: %v", status, h.Get("Content-Type"), h.Get("Cache-Control"), body)
	}
	at, _ := body["access_token"].(string)
	if exp, ok := body["expires_in"].(float64); at == "" || at == first.tok.AccessToken || !strings.EqualFold(fmt.Sprint(body["token_type"]), "bearer") || !ok || exp <= 0 {
		t.Fatalf("refresh response %v", body)
	}
	raw, _ := body["id_token"].(string)
	if raw == "" {
		t.Fatalf("the refresh response has no ID token: %v", body)
	}
	_, claims := p.checkIDToken(t, p.basic, raw, at, anyNonce)
	for _, k := range []string{"iss", "sub", "aud", "azp", "auth_time"} {
		if fmt.Sprint(claims[k]) != fmt.Sprint(first.claims[k]) {
			t.Errorf("refreshed ID token %s = %v, the first had %v", k, claims[k], first.claims[k])
		}
	}
	if iat1, iat2 := first.claims["iat"].(float64), claims["iat"].(float64); iat2 < iat1 {
		t.Errorf("refreshed ID token iat %v is earlier than the first's %v", iat2, iat1)
	}
	p.checkUserinfo(t, "get", &grant{tok: &oauth2.Token{AccessToken: at}, id: first.id})

	// Client 2's refresh token, presented by client 1.
	other := p.codeFlow(t, b, authz{client: p.second, scope: scope, extra: url.Values{"prompt": {"consent"}}})
	if other.tok.RefreshToken == "" {
		t.Fatal("no refresh token for client 2")
	}
	status, h, body = p.tokenRequest(t, p.basic, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {other.tok.RefreshToken}, "scope": {scope}})
	checkTokenError(t, status, h, body, "invalid_grant")
}

// oidcc-ensure-post-request-succeeds: the authorization request sent as
// a form POST to the authorization endpoint (OpenID Connect Core 3.1.2.1)
// succeeds as the GET does.
func TestOIDCC_EnsurePostRequestSucceeds(t *testing.T) {
	p := servePlan(t)
	b := oidctest.NewBrowser(t, p.issuer)
	params, state, nonce := p.build(authz{})
	resp, err := b.Client.PostForm(p.authorizationEndpoint(), params)
	if err != nil {
		t.Fatal(err)
	}
	back, asked := drive(t, b, resp)
	g := p.finish(t, authz{}, back, state, nonce, asked)
	p.checkUserinfo(t, "get", g)
}

// ---- Config OP plan ----

// oidcc-discovery-endpoint-verification (and the server configuration
// checks every module makes, CheckServerConfiguration): the document is
// JSON with status 200 at issuer + /.well-known/openid-configuration; its
// issuer is the issuer byte for byte and a valid URL; the authorization,
// token, userinfo and JWKS endpoints are there; response_types_supported
// has code; subject_types_supported is public and/or pairwise;
// id_token_signing_alg_values_supported has RS256; scopes_supported has
// openid and no scope with a space; claims_supported is there;
// code_challenge_methods_supported is an array; locales are valid tags;
// grant_types_supported has authorization_code; and what Usher does not
// support (request, request_uri, claims parameters) is not claimed.
//
// The module also fails an OP that does not list the implicit grant (the
// discovery default) and one whose endpoints are not https: Usher serves
// the code flow only, and the test issuer is http on loopback (a non-
// localhost issuer must be https); the README says so.
func TestConfigOP_DiscoveryEndpointVerification(t *testing.T) {
	p := servePlan(t)
	resp, err := http.Get(p.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	err = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("discovery: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	if d["issuer"] != p.issuer {
		t.Errorf("issuer = %v, want %s", d["issuer"], p.issuer)
	}
	if u, err := url.Parse(fmt.Sprint(d["issuer"])); err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		t.Errorf("issuer %v is not a valid issuer URL", d["issuer"])
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"} {
		s, _ := d[k].(string)
		if u, err := url.Parse(s); err != nil || !strings.HasPrefix(s, p.issuer+"/") || u.Fragment != "" {
			t.Errorf("%s = %q", k, s)
		}
	}
	list := func(k string) []string {
		v, ok := d[k].([]any)
		if !ok {
			t.Errorf("%s is not an array: %v", k, d[k])
		}
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				t.Errorf("%s has a non-string %v", k, e)
			}
			out = append(out, s)
		}
		return out
	}
	has := func(k string, want ...string) {
		got := list(k)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s %v lacks %s", k, got, w)
			}
		}
	}
	has("response_types_supported", "code")
	has("id_token_signing_alg_values_supported", "RS256")
	has("scopes_supported", "openid")
	has("grant_types_supported", "authorization_code", "refresh_token")
	has("token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post")
	has("claims_supported", "sub", "iss", "aud", "exp", "iat", "auth_time", "name", "email", "email_verified")
	has("code_challenge_methods_supported", "S256")
	for _, s := range list("subject_types_supported") {
		if s != "public" && s != "pairwise" {
			t.Errorf("subject_types_supported has %q", s)
		}
	}
	if len(list("subject_types_supported")) == 0 {
		t.Error("subject_types_supported is empty")
	}
	for _, s := range list("scopes_supported") {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			t.Errorf("scopes_supported has %q", s)
		}
	}
	if algs, ok := d["userinfo_signing_alg_values_supported"]; ok {
		t.Errorf("userinfo_signing_alg_values_supported = %v, but userinfo is plain JSON", algs)
	}
	for _, k := range []string{"ui_locales_supported", "claims_locales_supported"} {
		if _, ok := d[k]; ok {
			for _, l := range list(k) {
				if !regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$`).MatchString(l) {
					t.Errorf("%s has %q", k, l)
				}
			}
		}
	}
	// Only what works is claimed. request_uri_parameter_supported defaults
	// to true, so it must be there, false.
	if v, ok := d["request_uri_parameter_supported"]; !ok || v != false {
		t.Errorf("request_uri_parameter_supported = %v (present %t), want false: Usher refuses request_uri", v, ok)
	}
	for _, k := range []string{"request_parameter_supported", "claims_parameter_supported"} {
		if d[k] == true {
			t.Errorf("%s is true", k)
		}
	}
	if _, ok := d["registration_endpoint"]; ok {
		t.Error("registration_endpoint is listed; Usher has no dynamic registration")
	}
	if slices.Contains(list("response_types_supported"), "id_token") || slices.Contains(list("grant_types_supported"), "implicit") {
		t.Error("discovery lists the implicit flow, which Usher does not serve")
	}
}

// The JWKS checks of the Config OP plan (CheckJwksUri, FetchServerKeys,
// ValidateServerJWKs, CheckForKeyIdInServerJWKs,
// EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys): the jwks_uri
// answers a JSON object with a keys array; every key has kty, a unique
// kid, use "sig" and alg, its public parts in unpadded base64url, and no
// private or symmetric material.
func TestConfigOP_JWKS(t *testing.T) {
	p := servePlan(t)
	resp, err := http.Get(p.disc["jwks_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	err = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("JWKS: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	if len(jwks.Keys) == 0 {
		t.Fatal("the JWKS has no keys")
	}
	b64url := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	algs, _ := p.disc["id_token_signing_alg_values_supported"].([]any)
	seen := map[string]bool{}
	for _, k := range jwks.Keys {
		kid, _ := k["kid"].(string)
		if kid == "" || seen[kid] {
			t.Errorf("kid %q missing or repeated", kid)
		}
		seen[kid] = true
		if k["use"] != "sig" {
			t.Errorf("key %s: use = %v, want sig", kid, k["use"])
		}
		alg, _ := k["alg"].(string)
		if alg == "" {
			t.Errorf("key %s has no alg", kid)
		}
		var public []string
		switch k["kty"] {
		case "RSA":
			public = []string{"n", "e"}
			if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
				t.Errorf("RSA key %s with alg %s", kid, alg)
			}
		case "EC":
			public = []string{"crv", "x", "y"}
		case "OKP":
			public = []string{"crv", "x"}
		default:
			t.Errorf("key %s: kty %v (a symmetric or unknown key)", kid, k["kty"])
		}
		for _, f := range public {
			if s, _ := k[f].(string); f != "crv" && !b64url.MatchString(s) {
				t.Errorf("key %s: %s = %q is not unpadded base64url", kid, f, s)
			}
		}
		for _, f := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[f]; ok {
				t.Errorf("key %s publishes private or symmetric material %q", kid, f)
			}
		}
	}
	// The key that signs ID tokens is published with the algorithm
	// discovery names.
	var signer bool
	for _, k := range jwks.Keys {
		signer = signer || slices.Contains(algs, k["alg"])
	}
	if !signer {
		t.Errorf("no key has an algorithm of id_token_signing_alg_values_supported %v", algs)
	}
}
