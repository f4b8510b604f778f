// Package oidctest drives Usher's sign-in pages from tests, the way a
// person in a browser would, without a browser: it keeps cookies, follows
// redirects inside Usher, fills in the sign-in form, and stops at the
// first redirect back to the application.
package oidctest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser is one user agent with its own cookies.
type Browser struct {
	t      testing.TB
	Client *http.Client
	issuer string
}

// NewBrowser returns a browser that treats URLs under issuer as Usher.
func NewBrowser(t testing.TB, issuer string) *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &Browser{t: t, issuer: issuer}
	b.Client = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	flowField = regexp.MustCompile(`name="flow" value="([^"]+)"`)
)

// Authorize opens authURL and, when Usher shows the sign-in form, signs
// in with email and password. It returns where Usher sent the browser
// back to the application, and fails the test on anything else.
func (b *Browser) Authorize(authURL, email, password string) *url.URL {
	b.t.Helper()
	resp, err := b.Client.Get(authURL)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && csrfField.Match(body) {
		resp, body = b.SignIn(body, email, password)
	}
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("authorize ended with %d, not a redirect to the app: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// SignIn signs in on the hosted sign-in page found in page, with the
// address first, then the password, and returns the answer.
func (b *Browser) SignIn(page []byte, email, password string) (*http.Response, []byte) {
	b.t.Helper()
	csrf := csrfField.FindSubmatch(page)
	flow := flowField.FindSubmatch(page)
	if csrf == nil || flow == nil {
		b.t.Fatalf("no sign-in form in %s", page)
	}
	for _, step := range []struct {
		path string
		form url.Values
	}{
		{"/sign-in", url.Values{"csrf": {string(csrf[1])}, "flow": {string(flow[1])}, "email": {email}}},
		{"/sign-in/password", url.Values{"csrf": {string(csrf[1])}, "flow": {string(flow[1])}, "password": {password}}},
	} {
		resp, err := b.Client.PostForm(b.issuer+step.path, step.form)
		if err != nil {
			b.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if step.path != "/sign-in" || resp.StatusCode != http.StatusOK {
			return resp, body
		}
	}
	panic("unreachable")
}

// Decide answers the consent page found in page with "allow" or "deny"
// and returns where Usher sent the browser.
func (b *Browser) Decide(page []byte, decision string) *http.Response {
	b.t.Helper()
	csrf := csrfField.FindSubmatch(page)
	flow := flowField.FindSubmatch(page)
	if csrf == nil || flow == nil || !strings.Contains(string(page), `action="/consent"`) {
		b.t.Fatalf("no consent form in %s", page)
	}
	resp, err := b.Client.PostForm(b.issuer+"/consent", url.Values{
		"csrf": {string(csrf[1])}, "flow": {string(flow[1])}, "decision": {decision}})
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
