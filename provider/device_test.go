package provider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/storage"
)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

var (
	csrfInput     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	userCodeInput = regexp.MustCompile(`name="user_code"[^>]*value="([^"]*)"`)
	nextInput     = regexp.MustCompile(`name="next" value="([^"]+)"`)
	flowInput     = regexp.MustCompile(`name="flow" value="([^"]+)"`)
)

// deviceClient registers a client for the device grant (and refresh) with
// no redirect URIs, and returns its configuration as a device would hold
// it, endpoints from discovery.
func (u *testUsher) deviceClient(t *testing.T, public bool, mods ...func(*storage.Client)) oauth2.Config {
	t.Helper()
	id, secret := u.newClient(t, "", public, append([]func(*storage.Client){func(c *storage.Client) {
		c.Name = "Living Room TV"
		c.RedirectURIs = nil
		c.GrantTypes = []string{deviceGrant, "refresh_token"}
	}}, mods...)...)
	op, err := oidc.NewProvider(context.Background(), u.URL)
	if err != nil {
		t.Fatal(err)
	}
	return oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: op.Endpoint(),
		Scopes: []string{oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess}}
}

// startDevice asks for a device authorization with golang.org/x/oauth2,
// sending the secret of a confidential client in the form (DeviceAuth
// sends no credentials of its own).
func startDevice(t *testing.T, cfg oauth2.Config) *oauth2.DeviceAuthResponse {
	t.Helper()
	var opts []oauth2.AuthCodeOption
	if cfg.ClientSecret != "" {
		opts = append(opts, oauth2.SetAuthURLParam("client_secret", cfg.ClientSecret))
	}
	da, err := cfg.DeviceAuth(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if da.Interval != 5 || da.Expiry.IsZero() || da.DeviceCode == "" || len(da.UserCode) != 9 {
		t.Fatalf("device authorization response: %+v", da)
	}
	// A test device polls every second; each test polls once per code
	// unless it steps the provider's clock past the interval.
	da.Interval = 1
	return da
}

// get and post drive the user's browser, returning status and body.
func get(t *testing.T, b *oidctest.Browser, rawURL string) (int, string) {
	t.Helper()
	resp, err := b.Client.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

func post(t *testing.T, b *oidctest.Browser, rawURL string, form url.Values) (int, string) {
	t.Helper()
	resp, err := b.Client.PostForm(rawURL, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

func field(t *testing.T, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s in %s", re, page)
	}
	return m[1]
}

// signInAtDevice opens the verification URI (complete, with the code) in
// b, is sent to sign in on the hosted pages, signs in and returns the
// confirmation page it is brought back to.
func signInAtDevice(t *testing.T, u *testUsher, b *oidctest.Browser, da *oauth2.DeviceAuthResponse) string {
	t.Helper()
	status, page := get(t, b, da.VerificationURIComplete)
	if status != 200 || strings.Contains(page, `name="password"`) || field(t, userCodeInput, page) != da.UserCode {
		t.Fatalf("verification page without a session: %d %s", status, page)
	}
	status, page = post(t, b, u.URL+"/device", url.Values{"csrf": {field(t, csrfInput, page)}, "user_code": {da.UserCode}})
	if status != 200 || !strings.Contains(page, `action="/sign-in"`) {
		t.Fatalf("the code page of a signed-out browser: %d %s", status, page)
	}
	status, page = signInWithNext(t, u, b, page, testPassword)
	if status != 200 || !strings.Contains(page, "Living Room TV") || !strings.Contains(page, da.UserCode) || !strings.Contains(page, `value="approve"`) {
		t.Fatalf("after signing in from /device: %d %s", status, page)
	}
	return page
}

// signInWithNext signs in as Jane on the sign-in page the device page sent
// the browser to, and returns where that ends.
func signInWithNext(t *testing.T, u *testUsher, b *oidctest.Browser, page, password string) (int, string) {
	t.Helper()
	csrf := field(t, csrfInput, page)
	status, page := post(t, b, u.URL+"/sign-in", url.Values{"csrf": {csrf}, "email": {"jane@example.com"}, "next": {field(t, nextInput, page)}})
	if status != 200 || !strings.Contains(page, `name="password"`) {
		t.Fatalf("identifying on the sign-in page: %d %s", status, page)
	}
	return post(t, b, u.URL+"/sign-in/password", url.Values{"csrf": {csrf}, "flow": {field(t, flowInput, page)}, "password": {password}})
}

// answer allows or denies on the confirmation page.
func answer(t *testing.T, u *testUsher, b *oidctest.Browser, page, action string) (int, string) {
	t.Helper()
	return post(t, b, u.URL+"/device", url.Values{"csrf": {field(t, csrfInput, page)},
		"user_code": {field(t, userCodeInput, page)}, "action": {action}})
}

// poll is one raw device access token request; it returns the status and
// the error code or the access token.
func poll(t *testing.T, u *testUsher, cfg oauth2.Config, deviceCode string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {deviceGrant}, "device_code": {deviceCode}, "client_id": {cfg.ClientID}}
	if cfg.ClientSecret != "" {
		form.Set("client_secret", cfg.ClientSecret)
	}
	resp, err := http.PostForm(u.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Error != "" {
		return resp.StatusCode, body.Error
	}
	return resp.StatusCode, body.AccessToken
}

func errorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return fmt.Sprint(err)
}

// A CLI (a public client) signs a user in with the device grant: x/oauth2
// on the device, a browser on the user's phone.
func TestDeviceFlow(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	user := u.newUser(t, "jane@example.com")
	cfg := u.deviceClient(t, true)

	if cfg.Endpoint.DeviceAuthURL != u.URL+"/device_authorization" {
		t.Fatalf("discovery: device_authorization_endpoint %q", cfg.Endpoint.DeviceAuthURL)
	}
	resp, err := http.Get(u.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		GrantTypes []string `json:"grant_types_supported"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if !strings.Contains(strings.Join(d.GrantTypes, " "), deviceGrant) {
		t.Fatalf("discovery grant_types_supported %v lacks the device grant", d.GrantTypes)
	}

	da := startDevice(t, cfg)
	if da.VerificationURI != u.URL+"/device" || da.VerificationURIComplete != u.URL+"/device?user_code="+da.UserCode {
		t.Fatalf("verification URIs %q %q", da.VerificationURI, da.VerificationURIComplete)
	}
	b := oidctest.NewBrowser(t, u.URL)
	page := signInAtDevice(t, u, b, da)
	if status, body := answer(t, u, b, page, "approve"); status != 200 || !strings.Contains(body, "Device connected") {
		t.Fatalf("approve: %d %s", status, body)
	}

	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatal(err)
	}
	op, err := oidc.NewProvider(ctx, u.URL)
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email    string   `json:"email"`
		AMR      []string `json:"amr"`
		AuthTime int64    `json:"auth_time"`
		SID      string   `json:"sid"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != user.ID || claims.Email != "jane@example.com" || fmt.Sprint(claims.AMR) != "[pwd]" || claims.AuthTime == 0 || claims.SID != "" {
		t.Fatalf("ID token: sub %q claims %+v", idt.Subject, claims)
	}
	if ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil || ui.Subject != user.ID {
		t.Fatalf("userinfo = %+v, %v", ui, err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ = refreshed.Extra("id_token").(string)
	if idt, err := op.Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(ctx, rawID); err != nil || idt.Subject != user.ID {
		t.Fatalf("ID token after refresh: %v %v", idt, err)
	}

	// The device code gives tokens once.
	u.Clock.Advance(5 * time.Second)
	if status, got := poll(t, u, cfg, da.DeviceCode); status != 400 || got != "invalid_grant" {
		t.Fatalf("second exchange of the device code: %d %s, want 400 invalid_grant", status, got)
	}
}

// A confidential client authenticates at both endpoints, with its secret
// in the form or by HTTP Basic.
func TestDeviceFlowConfidentialClient(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	for _, method := range []string{"client_secret_basic", "client_secret_post"} {
		t.Run(method, func(t *testing.T) {
			cfg := u.deviceClient(t, false, func(c *storage.Client) { c.AuthMethod = method })
			// Without the secret, or with a wrong one: invalid_client.
			if _, err := cfg.DeviceAuth(ctx); errorCode(err) != "invalid_client" {
				t.Fatalf("device authorization without the secret: %v", err)
			}
			if _, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("client_secret", "usec_wrong")); errorCode(err) != "invalid_client" {
				t.Fatalf("device authorization with a wrong secret: %v", err)
			}
			da := startDevice(t, cfg)
			if status, got := poll(t, u, oauth2.Config{ClientID: cfg.ClientID}, da.DeviceCode); status != 401 || got != "invalid_client" {
				t.Fatalf("poll without the secret: %d %s, want 401 invalid_client", status, got)
			}
			b := oidctest.NewBrowser(t, u.URL)
			answer(t, u, b, signInAtDevice(t, u, b, da), "approve")
			// x/oauth2 polls with HTTP Basic first, then falls back to the form.
			tok, err := cfg.DeviceAccessToken(ctx, da)
			if err != nil || tok.AccessToken == "" {
				t.Fatalf("DeviceAccessToken: %v, %v", tok, err)
			}
		})
	}
}

func TestDeviceDenied(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	cfg := u.deviceClient(t, true)
	da := startDevice(t, cfg)
	b := oidctest.NewBrowser(t, u.URL)
	page := signInAtDevice(t, u, b, da)
	if status, body := answer(t, u, b, page, "deny"); status != 200 || !strings.Contains(body, "not given access") {
		t.Fatalf("deny: %d %s", status, body)
	}
	if _, err := cfg.DeviceAccessToken(context.Background(), da); errorCode(err) != "access_denied" {
		t.Fatalf("DeviceAccessToken after denial: %v, want access_denied", err)
	}
	// A second answer is refused.
	if status, body := answer(t, u, b, page, "approve"); status != 400 || !strings.Contains(body, "already used") {
		t.Fatalf("approve after deny: %d %s", status, body)
	}
}

func TestDeviceExpired(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	cfg := u.deviceClient(t, true)
	da := startDevice(t, cfg)
	u.Clock.Advance(10*time.Minute + time.Second)
	if _, err := cfg.DeviceAccessToken(context.Background(), da); errorCode(err) != "expired_token" {
		t.Fatalf("DeviceAccessToken after expiry: %v, want expired_token", err)
	}
	b := oidctest.NewBrowser(t, u.URL)
	if status, page := get(t, b, da.VerificationURIComplete); status != 400 || !strings.Contains(page, "not valid or has expired") {
		t.Fatalf("verification page of an expired code: %d %s", status, page)
	}
}

// Polling before the user answers: authorization_pending; too fast:
// slow_down; after approval: tokens.
func TestDevicePendingAndSlowDown(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	cfg := u.deviceClient(t, true)
	da := startDevice(t, cfg)
	if status, got := poll(t, u, cfg, da.DeviceCode); status != 400 || got != "authorization_pending" {
		t.Fatalf("first poll: %d %s, want authorization_pending", status, got)
	}
	// A second poll right away is answered (x/oauth2 sends each poll twice
	// while it probes how to authenticate); a third is not.
	if status, got := poll(t, u, cfg, da.DeviceCode); status != 400 || got != "authorization_pending" {
		t.Fatalf("second poll right after: %d %s, want authorization_pending", status, got)
	}
	if status, got := poll(t, u, cfg, da.DeviceCode); status != 400 || got != "slow_down" {
		t.Fatalf("third poll right after: %d %s, want slow_down", status, got)
	}
	u.Clock.Advance(5 * time.Second)
	if status, got := poll(t, u, cfg, da.DeviceCode); status != 400 || got != "authorization_pending" {
		t.Fatalf("poll after the interval: %d %s, want authorization_pending", status, got)
	}
	b := oidctest.NewBrowser(t, u.URL)
	answer(t, u, b, signInAtDevice(t, u, b, da), "approve")
	u.Clock.Advance(5 * time.Second)
	if status, got := poll(t, u, cfg, da.DeviceCode); status != 200 || got == "" {
		t.Fatalf("poll after approval: %d %q, want tokens", status, got)
	}
}

// The device code belongs to its client, and only clients allowed the
// grant may use it.
func TestDeviceClientChecks(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	cfg := u.deviceClient(t, true)
	other := u.deviceClient(t, true)
	da := startDevice(t, cfg)
	b := oidctest.NewBrowser(t, u.URL)
	answer(t, u, b, signInAtDevice(t, u, b, da), "approve")
	if status, got := poll(t, u, other, da.DeviceCode); status != 400 || got != "invalid_grant" {
		t.Fatalf("another client polls the device code: %d %s, want invalid_grant", status, got)
	}
	// The rightful client still gets its tokens.
	if _, err := cfg.DeviceAccessToken(ctx, da); err != nil {
		t.Fatalf("the client after another tried its code: %v", err)
	}

	// A client without the grant: unauthorized_client, at both endpoints.
	web := u.deviceClient(t, true, func(c *storage.Client) {
		c.GrantTypes = []string{"authorization_code"}
		c.RedirectURIs = []string{appRedirect}
	})
	if _, err := web.DeviceAuth(ctx); errorCode(err) != "unauthorized_client" {
		t.Fatalf("device authorization by a client without the grant: %v, want unauthorized_client", err)
	}
	if status, got := poll(t, u, web, "udc_whatever"); status != 400 || got != "unauthorized_client" {
		t.Fatalf("device token request by a client without the grant: %d %s", status, got)
	}
	// Unknown clients and device codes.
	if _, err := (&oauth2.Config{ClientID: "nobody", Endpoint: cfg.Endpoint}).DeviceAuth(ctx); errorCode(err) != "invalid_client" {
		t.Fatalf("device authorization by an unknown client: %v", err)
	}
	if status, got := poll(t, u, cfg, "udc_unknown"); status != 400 || got != "invalid_grant" {
		t.Fatalf("unknown device code: %d %s", status, got)
	}
}

// The page: codes typed loosely, a signed-in user goes straight to the
// question, forms need their CSRF token, answers need a session, and
// guessing codes is cut short.
func TestDevicePage(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	cfg := u.deviceClient(t, true)
	b := oidctest.NewBrowser(t, u.URL)
	signInAtDevice(t, u, b, startDevice(t, cfg)) // b now has a session

	da := startDevice(t, cfg)
	loose := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", " "))
	status, page := get(t, b, u.URL+"/device")
	if status != 200 || strings.Contains(page, `name="password"`) || !strings.Contains(page, "jane@example.com") {
		t.Fatalf("code form with a session: %d %s", status, page)
	}
	status, page = post(t, b, u.URL+"/device", url.Values{"csrf": {field(t, csrfInput, page)}, "user_code": {loose}})
	if status != 200 || !strings.Contains(page, da.UserCode) || !strings.Contains(page, `value="approve"`) {
		t.Fatalf("code typed as %q: %d %s", loose, status, page)
	}
	// No CSRF token: refused, nothing answered.
	if status, _ := post(t, b, u.URL+"/device", url.Values{"user_code": {da.UserCode}, "action": {"approve"}}); status != http.StatusForbidden {
		t.Fatalf("approve without a CSRF token: %d", status)
	}
	// No session: refused.
	fresh := oidctest.NewBrowser(t, u.URL)
	_, blank := get(t, fresh, u.URL+"/device")
	if status, _ := post(t, fresh, u.URL+"/device", url.Values{"csrf": {field(t, csrfInput, blank)}, "user_code": {da.UserCode}, "action": {"approve"}}); status != http.StatusUnauthorized {
		t.Fatalf("approve without a session: %d", status)
	}
	if status, got := poll(t, u, cfg, da.DeviceCode); got != "authorization_pending" {
		t.Fatalf("after refused answers: %d %s, want authorization_pending", status, got)
	}
	// The code page never takes a password: a signed-out browser is sent
	// to the sign-in page, where a wrong password is refused without
	// telling why, and the code is kept for after signing in.
	status, page = post(t, fresh, u.URL+"/device", url.Values{"csrf": {field(t, csrfInput, blank)}, "user_code": {da.UserCode},
		"email": {"jane@example.com"}, "password": {testPassword}})
	if status != 200 || !strings.Contains(page, `action="/sign-in"`) || !strings.Contains(page, url.QueryEscape(da.UserCode)) {
		t.Fatalf("a password posted to /device: %d %s", status, page)
	}
	if status, page = signInWithNext(t, u, fresh, page, "wrong"); status != http.StatusUnauthorized || !strings.Contains(page, "do not match") {
		t.Fatalf("wrong password after /device: %d %s", status, page)
	}

	// Guessing: wrong codes are counted; then even a right one waits.
	csrf := field(t, csrfInput, page)
	for i := range 20 {
		status, page := post(t, fresh, u.URL+"/device", url.Values{"csrf": {csrf}, "user_code": {fmt.Sprintf("BCDF-%04d", i)}})
		if status != http.StatusBadRequest || !strings.Contains(page, "not valid or has expired") {
			t.Fatalf("wrong code %d: %d %s", i, status, page)
		}
	}
	if status, page := post(t, fresh, u.URL+"/device", url.Values{"csrf": {csrf}, "user_code": {da.UserCode},
		"email": {"jane@example.com"}, "password": {testPassword}}); status != http.StatusTooManyRequests || !strings.Contains(page, "Too many wrong codes") {
		t.Fatalf("after 20 wrong codes: %d %s", status, page)
	}
	u.Clock.Advance(10 * time.Minute)
	da = startDevice(t, cfg)
	if status, _ := post(t, fresh, u.URL+"/device", url.Values{"csrf": {csrf}, "user_code": {da.UserCode},
		"email": {"jane@example.com"}, "password": {testPassword}}); status != 200 {
		t.Fatalf("after the guessing window: %d", status)
	}
}

// A third-party device app the user allows is remembered as a consent:
// withdrawing it ends the device's tokens.
func TestDeviceThirdPartyConsent(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	user := u.newUser(t, "jane@example.com")
	cfg := u.deviceClient(t, true, func(c *storage.Client) { c.Source = "api"; c.FirstParty = false })
	da := startDevice(t, cfg)
	b := oidctest.NewBrowser(t, u.URL)
	answer(t, u, b, signInAtDevice(t, u, b, da), "approve")
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatal(err)
	}
	c, err := u.Store.GetConsent(ctx, user.ID, cfg.ClientID)
	if err != nil || strings.Join(c.Scopes, " ") != "openid email offline_access" {
		t.Fatalf("consent after approving a third-party device: %+v, %v", c, err)
	}
	if err := u.Provider.RevokeConsent(ctx, user.ID, cfg.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); errorCode(err) != "invalid_grant" {
		t.Fatalf("refresh after the consent was withdrawn: %v, want invalid_grant", err)
	}
}

// A private_key_jwt client authenticates with an assertion at both
// endpoints.
func TestDevicePrivateKeyJWTClient(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "tv-key-1", Algorithm: "ES256", Use: "sig"}}})
	cfg := u.deviceClient(t, false, func(c *storage.Client) { c.AuthMethod = "private_key_jwt"; c.JWKS = jwks })
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "tv-key-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertion := func() url.Values {
		now := time.Now()
		tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: cfg.ClientID, Subject: cfg.ClientID, Audience: jwt.Audience{u.URL},
			ID: storage.NewID("jti"), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {tok}}
	}
	if _, err := cfg.DeviceAuth(ctx); errorCode(err) != "invalid_client" {
		t.Fatalf("device authorization without an assertion: %v", err)
	}
	a := assertion()
	da, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("client_assertion_type", a.Get("client_assertion_type")),
		oauth2.SetAuthURLParam("client_assertion", a.Get("client_assertion")))
	if err != nil {
		t.Fatal(err)
	}
	b := oidctest.NewBrowser(t, u.URL)
	answer(t, u, b, signInAtDevice(t, u, b, da), "approve")
	form := assertion()
	form.Set("grant_type", deviceGrant)
	form.Set("device_code", da.DeviceCode)
	resp, err := http.PostForm(u.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 || body["access_token"] == nil || body["id_token"] == nil {
		t.Fatalf("device token request with an assertion: %d %v", resp.StatusCode, body)
	}
}
