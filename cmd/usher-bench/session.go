package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// Scopes the code flows ask for: what a typical web app asks, plus
// offline_access where a refresh token is wanted.
const (
	ssoScope     = "openid profile email"
	refreshScope = "openid profile email offline_access"
)

// maxHops bounds the redirects one authorization follows inside Usher.
const maxHops = 10

// session is one browser with its own cookies, signed in to Usher, and
// the app that sends it there. It follows Usher's redirects itself and
// stops at the redirect to the app, which it never contacts.
type session struct {
	e        *env
	hc       *http.Client
	redirect *url.URL
}

func newSession(e *env) *session {
	jar, _ := cookiejar.New(nil) // never fails without options
	redirect, _ := url.Parse(e.opts.appRedirect)
	return &session{e: e, redirect: redirect, hc: &http.Client{Transport: e.tr, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn runs one code flow that signs in with the password on Usher's
// form, leaving the session cookie in the jar.
func (s *session) signIn(ctx context.Context) error {
	code, verifier, err := s.authorize(ctx, ssoScope, true)
	if err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	if _, err := s.exchange(ctx, code, verifier); err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	return nil
}

// codeFlow runs authorize → callback → token with the existing session:
// Usher must not show the sign-in form.
func (s *session) codeFlow(ctx context.Context, scope string) (*tokenResponse, error) {
	code, verifier, err := s.authorize(ctx, scope, false)
	if err != nil {
		return nil, err
	}
	return s.exchange(ctx, code, verifier)
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	flowField = regexp.MustCompile(`name="flow" value="([^"]+)"`)
)

// authorize opens an authorization request with PKCE S256 and follows
// Usher until it sends the browser to the app; it returns the code and
// the PKCE verifier. With signIn it fills in the sign-in form once.
func (s *session) authorize(ctx context.Context, scope string, signIn bool) (code, verifier string, err error) {
	verifier = randomString()
	sum := sha256.Sum256([]byte(verifier))
	state := randomString()
	q := url.Values{
		"client_id":             {s.e.opts.appID},
		"redirect_uri":          {s.e.opts.appRedirect},
		"response_type":         {"code"},
		"scope":                 {scope},
		"state":                 {state},
		"nonce":                 {randomString()},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	req, err := http.NewRequest(http.MethodGet, s.e.ep.authorize+"?"+q.Encode(), nil)
	if err != nil {
		return "", "", err
	}
	for range maxHops {
		resp, body, err := do(ctx, s.hc, req)
		if err != nil {
			return "", "", err
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				return "", "", fmt.Errorf("%s answered %d without a usable Location: %w", req.URL.Path, resp.StatusCode, err)
			}
			if s.toApp(loc) {
				return fromApp(loc, state, verifier)
			}
			if !s.insideUsher(loc) {
				return "", "", fmt.Errorf("Usher redirected to %s, which is neither Usher nor --app-redirect-uri", loc.Redacted())
			}
			if req, err = http.NewRequest(http.MethodGet, loc.String(), nil); err != nil {
				return "", "", err
			}
		case resp.StatusCode == http.StatusOK && csrfField.Match(body):
			if !signIn {
				return "", "", errors.New("Usher showed the sign-in form: the session is gone")
			}
			var password bool
			if req, password, err = s.signInRequest(resp.Request.URL, body); err != nil {
				return "", "", err
			}
			signIn = !password
		case resp.StatusCode == http.StatusUnauthorized && csrfField.Match(body):
			return "", "", errors.New("Usher refused the sign-in: check --user-email and --user-password")
		default:
			return "", "", fmt.Errorf("%s %s answered %d: %q", req.Method, req.URL.Path, resp.StatusCode, snippet(body))
		}
	}
	return "", "", fmt.Errorf("more than %d redirects inside Usher", maxHops)
}

// signInRequest fills in the step of the hosted sign-in found on page:
// the address on the first page, the password on the next. It reports
// whether it was the password.
func (s *session) signInRequest(page *url.URL, body []byte) (*http.Request, bool, error) {
	csrf, flow := csrfField.FindSubmatch(body), flowField.FindSubmatch(body)
	if csrf == nil || flow == nil {
		return nil, false, fmt.Errorf("the sign-in page has no form: %q", snippet(body))
	}
	form := url.Values{"flow": {html.UnescapeString(string(flow[1]))}, "csrf": {html.UnescapeString(string(csrf[1]))}}
	path, password := "/sign-in", bytes.Contains(body, []byte(`action="/sign-in/password"`))
	if password {
		path = "/sign-in/password"
		form.Set("password", s.e.opts.userPassword)
	} else {
		form.Set("email", s.e.opts.userEmail)
	}
	action := page.ResolveReference(&url.URL{Path: path})
	req, err := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, password, nil
}

// toApp reports whether loc is the app's redirect URI.
func (s *session) toApp(loc *url.URL) bool {
	return loc.Scheme == s.redirect.Scheme && loc.Host == s.redirect.Host && loc.Path == s.redirect.Path
}

// insideUsher reports whether loc is on the issuer's or the target's host.
func (s *session) insideUsher(loc *url.URL) bool {
	for _, raw := range []string{s.e.ep.issuer, s.e.opts.url} {
		if u, err := url.Parse(raw); err == nil && u.Scheme == loc.Scheme && u.Host == loc.Host {
			return true
		}
	}
	return false
}

// fromApp takes the code from the redirect to the app.
func fromApp(loc *url.URL, state, verifier string) (string, string, error) {
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", "", fmt.Errorf("Usher sent the app an error: %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return "", "", errors.New("the redirect to the app carries the wrong state")
	}
	code := q.Get("code")
	if code == "" {
		return "", "", errors.New("the redirect to the app carries no code")
	}
	return code, verifier, nil
}

// exchange trades a code for tokens, as the app's back end would.
func (s *session) exchange(ctx context.Context, code, verifier string) (*tokenResponse, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {s.e.opts.appRedirect}, "code_verifier": {verifier}}.Encode()
	tr, err := token(ctx, s.e.hc, s.e.ep.token, form, s.e.opts.appID, s.e.opts.appSecret)
	if err != nil {
		return nil, err
	}
	if tr.IDToken == "" {
		return nil, errors.New("the code exchange gave no ID token")
	}
	return tr, nil
}

// randomString is 256 random bits, base64url: a PKCE verifier, a state.
func randomString() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
