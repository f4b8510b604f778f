package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/usher-id/usher/internal/ushertest"
)

// raw posts a form as it is: no token, flow or step is added for it.
func (b *browser) raw(path string, form url.Values) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) field(re *regexp.Regexp) string {
	b.t.Helper()
	m := re.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no %s on the page at %s: %s", re, b.url, b.last)
	}
	return m[1]
}

// The step a flow is at decides which form it may post: the password
// cannot be posted before the address step, so home-realm discovery and
// everything after it cannot be skipped; the consent answer cannot be
// posted before signing in; and a flow of another browser is refused.
func TestStepsCannotBeSkipped(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	_, cfg := acClient(t, s, "Photo Printer", false)
	authURL := cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	// Without a flow, nothing but the first step starts one.
	b := s.browser(t)
	b.get("/sign-in")
	csrf := b.field(csrfField)
	for _, path := range []string{"/sign-in/password", "/sign-in/email", "/consent"} {
		st, body := b.raw(path, url.Values{"csrf": {csrf}, "email": {"ada@example.com"}, "password": {password}, "decision": {"allow"}})
		b.want(409, st, body, "does not belong to the step")
	}
	if acSignedIn(b) {
		t.Fatal("a password posted without the address step signed in")
	}

	// An application's flow starts at the address step.
	st, body := b.get(authURL)
	b.want(200, st, body, "to continue to Photo Printer")
	flow := b.field(flowField)
	for _, path := range []string{"/sign-in/password", "/consent"} {
		st, body = b.raw(path, url.Values{"csrf": {csrf}, "flow": {flow}, "password": {password}, "decision": {"allow"}})
		b.want(409, st, body, "does not belong to the step")
	}

	// Another browser cannot post to this flow, at any step.
	other := s.browser(t)
	other.get("/sign-in")
	st, body = other.raw("/sign-in", url.Values{"csrf": {other.field(csrfField)}, "flow": {flow}, "email": {"ada@example.com"}})
	other.want(403, st, body, "started in another browser")

	// The steps in order: the consent page comes after signing in, and
	// the code after the consent.
	st, body = b.raw("/sign-in", url.Values{"csrf": {csrf}, "flow": {flow}, "email": {"ada@example.com"}})
	b.want(200, st, body, `action="/sign-in/password"`)
	st, body = b.raw("/sign-in/password", url.Values{"csrf": {csrf}, "flow": {flow}, "password": {password}})
	b.want(200, st, body, `action="/consent"`, "Photo Printer")
	// The address step is behind: posting it again is refused.
	st, body = b.raw("/sign-in", url.Values{"csrf": {b.field(csrfField)}, "flow": {flow}, "email": {"someone@example.com"}})
	b.want(409, st, body, "does not belong to the step")
	b.get("/consent?flow=" + flow)
	st, _ = b.raw("/consent", url.Values{"csrf": {b.field(csrfField)}, "flow": {flow}, "decision": {"allow"}})
	if st != http.StatusFound || !strings.HasPrefix(b.url, acRedirect) {
		t.Fatalf("consent ended with %d at %s", st, b.url)
	}
	// The flow is over: its forms are refused.
	b.get("/account")
	st, body = b.raw("/consent", url.Values{"csrf": {b.field(csrfField)}, "flow": {flow}, "decision": {"allow"}})
	b.want(400, st, body, "expired or is already finished")
}

// The address a flow identified is the one the password is checked for: a
// password form that names another address signs in nobody else.
func TestPasswordIsCheckedForTheIdentifiedAddress(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	acUser(t, s, "bob@example.com")
	b := s.browser(t)
	b.get("/sign-in")
	st, body := b.post("/sign-in", url.Values{"email": {"bob@example.com"}})
	b.want(200, st, body, "bob@example.com")
	// Ada's password, with Ada's address slipped into the form.
	st, body = b.raw("/sign-in/password", url.Values{"csrf": {b.field(csrfField)}, "flow": {b.field(flowField)},
		"email": {"ada@example.com"}, "password": {password + "!"}})
	b.want(401, st, body, "do not match", "bob@example.com")
}

// Two tabs posting the same step of one flow at once: one moves it on.
func TestOneFlowMovesOnOnce(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := s.browser(t)
	b.get("/sign-in")
	b.post("/sign-in", url.Values{"email": {"ada@example.com"}})
	csrf, flow := b.field(csrfField), b.field(flowField)
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/sign-in/password",
				strings.NewReader(url.Values{"csrf": {csrf}, "flow": {flow}, "password": {password}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			c := &http.Client{Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	moved := 0
	for _, st := range statuses {
		switch st {
		case http.StatusSeeOther:
			moved++
		case http.StatusConflict, http.StatusBadRequest:
		default:
			t.Errorf("a concurrent post answered %d", st)
		}
	}
	u, err := s.Store.GetUserByEmail(context.Background(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if moved != 1 || len(acActiveSessions(t, s, u.ID)) != 1 {
		t.Fatalf("%d posts moved the flow on, %d sessions: want 1 and 1 (statuses %v)", moved, len(acActiveSessions(t, s, u.ID)), statuses)
	}
}

// Someone who can set cookies on the domain (a sibling subdomain, or a
// network attacker on plain http) plants his own CSRF cookie in a signed-in
// victim's browser and posts a form with the matching token he got for
// himself: the token is bound to the session, so the post is refused. So
// is a post that the browser says came from another site, even with the
// victim's own token.
func TestCSRFTokenBoundToTheSession(t *testing.T) {
	s := startSite(t)
	victim := acUser(t, s, "victim@example.com")
	b := acSignIn(t, s, "victim@example.com", password)

	attacker := s.browser(t)
	attacker.get("/sign-in")
	token := attacker.field(csrfField)
	base, _ := url.Parse(s.URL)
	var secret string
	for _, c := range attacker.c.Jar.Cookies(base) {
		if c.Name == "usher_csrf" {
			secret = c.Value
		}
	}
	if secret == "" {
		t.Fatal("the attacker's browser got no CSRF cookie")
	}
	b.c.Jar.SetCookies(base, []*http.Cookie{{Name: "usher_csrf", Value: secret, Path: "/"}})
	st, body := b.raw("/account/profile", url.Values{"csrf": {token}, "first_name": {"Pwned"}})
	b.want(403, st, body, "This form has expired")
	if got := acGetUser(t, s, victim.ID); got.FirstName == "Pwned" {
		t.Fatal("a planted CSRF cookie changed the victim's profile")
	}

	// The victim's own token, from another site.
	b.get("/account")
	own := b.field(csrfField)
	for _, h := range []struct{ name, value string }{
		{"Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"}, // a sibling subdomain
		{"Origin", "null"},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/account/profile",
			strings.NewReader(url.Values{"csrf": {own}, "first_name": {"Pwned"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(h.name, h.value)
		st, body := b.do(req)
		b.want(403, st, body, "This form has expired")
	}
	if got := acGetUser(t, s, victim.ID); got.FirstName == "Pwned" {
		t.Fatal("a cross-site post changed the victim's profile")
	}
	// The same post from the page itself works.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/account/profile",
		strings.NewReader(url.Values{"csrf": {own}, "first_name": {"Vic"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	st, body = b.do(req)
	b.want(200, st, body, "Saved.")
}

// On an https issuer every cookie carries the __Host- prefix and Secure,
// so no sibling subdomain or plain-http page can set one.
func TestCookiesAreHostPrefixedOnHTTPS(t *testing.T) {
	u := ushertest.Start(t, ushertest.Options{Issuer: "https://id.example.test"})
	resp, err := http.Get(u.URL + "/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) == 0 {
		t.Fatal("the sign-in page set no cookie")
	}
	for _, c := range cookies {
		if !strings.HasPrefix(c.Name, "__Host-usher_") || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly {
			t.Errorf("cookie %s: Secure=%v Path=%q Domain=%q HttpOnly=%v", c.Name, c.Secure, c.Path, c.Domain, c.HttpOnly)
		}
	}
}

// A new password gives the browser's session a new cookie: a copy of the
// old one, taken before the change, is signed out.
func TestPasswordChangeRotatesTheSessionCookie(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	base, _ := url.Parse(s.URL)
	stolen, _ := cookiejar.New(nil)
	stolen.SetCookies(base, b.c.Jar.Cookies(base))
	st, body := b.post("/account/password", url.Values{"current": {password}, "password": {"a brand new passphrase"}})
	b.want(200, st, body, "Your account")
	if !acSignedIn(b) {
		t.Fatal("the password change signed its own browser out")
	}
	thief := s.browser(t)
	thief.c.Jar = stolen
	if acSignedIn(thief) {
		t.Fatal("the cookie from before the password change still works")
	}
}

// A planted session cookie is worthless: signing in starts a new session
// with a new cookie, and ends the one the browser had.
func TestSignInStartsANewSession(t *testing.T) {
	s := startSite(t)
	ada := acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	base, _ := url.Parse(s.URL)
	var before string
	for _, c := range b.c.Jar.Cookies(base) {
		if c.Name == "usher_session" {
			before = c.Value
		}
	}
	first := acActiveSessions(t, s, ada.ID)
	b.get("/sign-in?again=1")
	st, body := b.post("/sign-in/password", url.Values{"email": {"ada@example.com"}, "password": {password}})
	b.want(200, st, body, "Your account")
	for _, c := range b.c.Jar.Cookies(base) {
		if c.Name == "usher_session" && c.Value == before {
			t.Fatal("signing in again kept the session cookie")
		}
	}
	now := acActiveSessions(t, s, ada.ID)
	if len(first) != 1 || len(now) != 1 || now[0] == first[0] {
		t.Fatalf("sessions before %v and after %v signing in again", first, now)
	}
}

// 99 wrong passwords for one account, sent at once from as many browsers:
// no more than the lockout's ten are checked, every answer once the
// account is locked is the same (the one that locked it too), the owner
// gets one email, and then the right password is refused like the rest.
func TestConcurrentGuessesStopAtTheLockout(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "target@example.com")
	const guesses = 99
	browsers := make([]*browser, guesses)
	for i := range browsers {
		browsers[i] = s.browser(t)
		browsers[i].get("/sign-in")
		st, body := browsers[i].post("/sign-in", url.Values{"email": {"target@example.com"}})
		browsers[i].want(200, st, body, `action="/sign-in/password"`)
	}
	type answer struct {
		status int
		alert  string
	}
	alert := regexp.MustCompile(`role="alert"[^>]*>([^<]*)<`)
	answers := make([]answer, guesses)
	var wg sync.WaitGroup
	for i, b := range browsers {
		csrf, flow := b.field(csrfField), b.field(flowField)
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/sign-in/password",
				strings.NewReader(url.Values{"csrf": {csrf}, "flow": {flow}, "password": {"wrong guess " + strconv.Itoa(i)}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := b.c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			a := answer{status: resp.StatusCode}
			if m := alert.FindSubmatch(body); m != nil {
				a.alert = string(m[1])
			}
			answers[i] = a
		})
	}
	wg.Wait()
	checked, locked := 0, map[answer]int{}
	for _, a := range answers {
		switch a.status {
		case http.StatusUnauthorized:
			checked++
		case http.StatusForbidden:
			locked[a]++
		default:
			t.Errorf("a guess answered %d %q", a.status, a.alert)
		}
	}
	// Nine wrong passwords answer "wrong"; the tenth locks and answers as
	// the locked account does.
	if checked > 9 || len(locked) != 1 {
		t.Fatalf("%d guesses answered as checked, locked answers %v: at most 9 and one kind", checked, locked)
	}
	last := s.browser(t)
	last.get("/sign-in")
	st, body := last.post("/sign-in/password", url.Values{"email": {"target@example.com"}, "password": {password}})
	last.want(403, st, body, "locked")
	if m := alert.FindStringSubmatch(body); m == nil || locked[answer{http.StatusForbidden, m[1]}] == 0 {
		t.Fatalf("the right password's answer differs from the guesses' once locked: %s", body)
	}
	if n := len(s.acMails("target@example.com")); n != 1 {
		t.Fatalf("%d emails to the owner, want 1 (the lock)", n)
	}
}

// A burst of sign-ins from new browsers sends the owner a bounded number
// of new-sign-in notices, not one each.
func TestNewSignInNoticesAreCapped(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "busy@example.com")
	for range 8 {
		acSignIn(t, s, "busy@example.com", password) // each a browser Usher has not seen
	}
	if n := len(s.acMails("busy@example.com")); n != 5 {
		t.Fatalf("%d new-sign-in emails after 8 sign-ins from new browsers, want 5 (the hourly cap)", n)
	}
	// The cap is per hour.
	s.Clock.Advance(61 * time.Minute)
	acSignIn(t, s, "busy@example.com", password)
	if n := len(s.acMails("busy@example.com")); n != 6 {
		t.Fatalf("%d emails an hour later, want 6", n)
	}
}
