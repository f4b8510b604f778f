package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-id/usher/internal/smtptest"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/storage/postgres"
	"github.com/usher-id/usher/storage/postgres/pgtest"
	"github.com/usher-id/usher/web"
)

// The verification email of an address added on /account verifies the
// address and signs nobody in: a mistyped address must not hand over the
// account.
func TestVerifyingAnAddedAddressSignsNobodyIn(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	ada := acSignIn(t, s, "ada@example.com", password)
	// Ada mistypes her work address: the code and link go to a stranger.
	st, body := ada.post("/account/emails", url.Values{"email": {"ada.wrok@example.com"}})
	ada.want(200, st, body, "6-digit code")
	_, link := s.acLastMail(t, "ada.wrok@example.com", "/verify/link")
	stranger := s.browser(t)
	st, body = stranger.get(link)
	stranger.want(200, st, body, "Verify my email")
	stranger.post("/verify/link", url.Values{"t": {acLinkToken(t, body)}})
	if acSignedIn(stranger) {
		t.Fatal("whoever opened the verification email of an added address is signed in to Ada's account")
	}
}

// The per-address email limit counts one mailbox, whatever the case.
func TestEmailLimitIgnoresLetterCase(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "victim@example.com")
	b := s.browser(t)
	b.get("/sign-in")
	for _, local := range []string{"victim", "Victim", "vIctim", "viCtim", "vicTim", "victIm", "victiM", "VICTIM"} {
		b.acNoFollow(http.MethodPost, "/sign-in/email", url.Values{"email": {local + "@example.com"}})
	}
	if n := len(s.acMails("victim@example.com")); n > 5 {
		t.Fatalf("%d emails to one address within one window; the limit is 5", n)
	}
}

// Known and unknown addresses get the same cookies.
func TestCookiesDoNotTellWhoHasAnAccount(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "known@example.com")
	cookiesSet := func(page, path, email string) string {
		b := s.browser(t)
		b.get(page)
		resp, _ := b.acNoFollow(http.MethodPost, path, url.Values{"email": {email}, "password": {"a fine long passphrase"}})
		var names []string
		for _, c := range resp.Cookies() {
			names = append(names, c.Name)
		}
		sort.Strings(names)
		return strings.Join(names, ",")
	}
	for _, f := range []struct{ page, path string }{{"/sign-in", "/sign-in/email"}, {"/reset", "/reset"}, {"/sign-up", "/sign-up"}} {
		known, unknown := cookiesSet(f.page, f.path, "known@example.com"), cookiesSet(f.page, f.path, "nobody@example.com")
		if known != unknown {
			t.Errorf("%s sets cookies [%s] for a known address and [%s] for an unknown one", f.path, known, unknown)
		}
	}
}

// A crafted link cannot put words in the account page's notice.
func TestAccountNoticeRefusesCraftedWords(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	_, body := b.get("/account?notice=link.app_other&app=" + url.QueryEscape("your bank. Your account is suspended: call +1 555 0100"))
	if strings.Contains(body, "Your account is suspended") {
		t.Fatal("a crafted link put its words on the account page")
	}
}

// A crafted link cannot put words in the code page.
func TestCodePageRefusesCraftedWords(t *testing.T) {
	s := startSite(t)
	b := s.browser(t)
	_, body := b.get("/sign-in/code?ch=ech_x&to=" + url.QueryEscape("Your account is suspended. Call 555 0100 now. Nobody"))
	if strings.Contains(body, "Your account is suspended. Call 555 0100 now.") {
		t.Fatal("a crafted link put its words on the code page")
	}
}

// Once the account is locked, /account/password checks no more guesses
// of the current password.
func TestLockoutStopsCurrentPasswordGuesses(t *testing.T) {
	s := startSite(t)
	ada := acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	for range 10 {
		b.get("/account")
		b.post("/account/password", url.Values{"current": {"a wrong guess"}, "password": {"a brand new passphrase"}})
	}
	if _, locked, err := s.Users.CheckLocked(context.Background(), ada.ID); err != nil || !locked {
		t.Fatalf("not locked after 10 wrong current passwords: %v", err)
	}
	b.get("/account")
	st, body := b.post("/account/password", url.Values{"current": {password}, "password": {"a brand new passphrase"}})
	if st == http.StatusOK && strings.Contains(body, "Password changed.") {
		t.Fatal("a locked account still has its current password checked (and changed) on /account/password")
	}
}

// Using the pages counts as activity: a user active every day stays
// signed in past the idle timeout.
func TestPageActivityKeepsSessionAlive(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	for day := 1; day <= 8; day++ {
		s.Clock.Advance(24 * time.Hour)
		if !acSignedIn(b) {
			t.Fatalf("signed out on day %d despite using /account every day", day)
		}
	}
}

// An address another account added and never verified does not keep its
// owner from signing up.
func TestUnverifiedClaimDoesNotBlockTheOwner(t *testing.T) {
	s := startSite(t)
	mallory := acUser(t, s, "mallory@example.com")
	m := acSignIn(t, s, "mallory@example.com", password)
	m.post("/account/emails", url.Values{"email": {"victim@example.com"}})

	v := s.browser(t)
	v.get("/sign-up")
	v.post("/sign-up", url.Values{"email": {"victim@example.com"}, "password": {"the victim's own passphrase"}})
	u := acGetUserByEmail(t, s, "victim@example.com")
	if u.ID == mallory.ID {
		t.Fatal("the owner of victim@example.com cannot sign up: Mallory's unverified claim on the address holds it")
	}
}

// Retry-After covers the whole window of the limit.
func TestRetryAfterCoversTheWindow(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := s.browser(t)
	b.get("/sign-in")
	var resp *http.Response
	for range 6 {
		resp, _ = b.acNoFollow(http.MethodPost, "/sign-in/email", url.Values{"email": {"ada@example.com"}})
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("%d", resp.StatusCode)
	}
	wait, _ := time.ParseDuration(resp.Header.Get("Retry-After") + "s")
	s.Clock.Advance(wait + time.Second)
	if resp, _ = b.acNoFollow(http.MethodPost, "/sign-in/email", url.Values{"email": {"ada@example.com"}}); resp.StatusCode == http.StatusTooManyRequests {
		t.Fatalf("still limited %s after Retry-After said %s", wait+time.Second, wait)
	}
}

// Adding addresses is limited, so a signed-in user cannot make Usher
// email any number of strangers.
func TestAddEmailIsLimited(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	sent := 0
	for i := range 30 {
		b.get("/account")
		st, _ := b.post("/account/emails", url.Values{"email": {"stranger" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.com"}})
		if st == http.StatusOK {
			sent++
		}
	}
	if sent > 20 {
		t.Fatalf("one account had Usher email %d strangers in one window (the per-network limit elsewhere is 20)", sent)
	}
}

// With require_name / require_username, the profile form cannot clear
// them.
func TestProfileKeepsRequiredFields(t *testing.T) {
	s := acStart(t, func(o *web.Options) { o.RequireName, o.RequireUsername = true, true })
	b := s.browser(t)
	b.get("/sign-up")
	b.post("/sign-up", url.Values{"email": {"ada@example.com"}, "password": {password}, "first_name": {"Ada"}, "last_name": {"Lovelace"}, "username": {"ada_l"}})
	code, _ := s.acLastMail(t, "ada@example.com", "/verify/link")
	st, body := acCodeForm(b, code)
	b.want(200, st, body, "Your account")
	b.post("/account/profile", url.Values{"first_name": {""}, "last_name": {""}, "username": {""}})
	u := acGetUserByEmail(t, s, "ada@example.com")
	if u.FirstName == "" || u.Username == "" {
		t.Fatalf("the profile form cleared required fields: %+v", u)
	}
}

// The new-sign-in email goes out for a browser never used with this
// account, even one carrying cookies from another account.
func TestNewSignInEmailDespiteAnotherAccountsCookie(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "victim@example.com")
	acUser(t, s, "mallory@example.com")
	m := acSignIn(t, s, "mallory@example.com", password) // Mallory's browser gets its cookie
	m.get("/sign-out")
	m.post("/sign-out", url.Values{})
	m.get("/sign-in")
	st, body := m.post("/sign-in/password", url.Values{"email": {"victim@example.com"}, "password": {password}}) // a stolen password
	m.want(200, st, body, "Your account")
	if n := len(s.acMails("victim@example.com")); n != 1 {
		t.Fatalf("the victim got %d new-sign-in emails for a sign-in from a browser never used with their account", n)
	}
}

// Adding one's own address again, in another case, says it is already
// on the account.
func TestAddingOwnAddressAgain(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	_, body := b.post("/account/emails", url.Values{"email": {"ADA@example.com"}})
	if strings.Contains(body, "belongs to another account") {
		t.Fatal("Ada's own address is said to belong to another account")
	}
}

// On PostgreSQL, a NUL byte or invalid UTF-8 in a form field is never a
// server error.
func TestPostgresOddBytesAreNotServerErrors(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := smtptest.Start(t, smtptest.Options{})
	sender, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "u@usher.test", TLS: "none"}, slog.New(slog.DiscardHandler))
	s := &site{Usher: ushertest.Start(t, ushertest.Options{Mail: sender, Store: db}), smtp: srv}
	acUser(t, s, "ada@example.com")
	signedIn := acSignIn(t, s, "ada@example.com", password)
	for _, v := range []string{"a\x00b", "\xff\xfe"} {
		for _, c := range []struct {
			b    *browser
			path string
			form url.Values
		}{
			{s.browser(t), "/sign-in/password", url.Values{"email": {v}, "password": {"whatever it is"}}},
			{s.browser(t), "/sign-in/code", url.Values{"ch": {v}, "code": {"123456"}}},
			{s.browser(t), "/verify", url.Values{"ch": {v}, "code": {"123456"}}},
			{signedIn, "/account/sessions/revoke", url.Values{"id": {v}}},
			{signedIn, "/account/consents/revoke", url.Values{"client_id": {v}}},
			{signedIn, "/account/emails/remove", url.Values{"id": {v}}},
		} {
			c.b.get("/sign-in")
			if c.b == signedIn {
				c.b.get("/account")
			}
			resp, body := c.b.acNoFollow(http.MethodPost, c.path, c.form)
			if resp.StatusCode >= 500 {
				t.Errorf("POST %s with %q: %d %.200s", c.path, v, resp.StatusCode, body)
			}
		}
		for _, path := range []string{"/sign-in?flow=", "/sign-up?flow=", "/sign-in/link?t="} {
			resp, _ := s.browser(t).acNoFollow(http.MethodGet, path+url.QueryEscape(v), nil)
			if resp.StatusCode >= 500 {
				t.Errorf("GET %s%q: %d", path, v, resp.StatusCode)
			}
		}
	}
}

// Wrong codes sent at once cannot get past the cap of five tries per
// challenge: each try is counted before the code is compared (PostgreSQL,
// where requests really run in parallel).
func TestPostgresParallelGuessesStopAtTheCap(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := smtptest.Start(t, smtptest.Options{})
	sender, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "u@usher.test", TLS: "none"}, slog.New(slog.DiscardHandler))
	s := &site{Usher: ushertest.Start(t, ushertest.Options{Mail: sender, Store: db}), smtp: srv}
	acUser(t, s, "ada@example.com")
	b := s.browser(t)
	b.get("/reset")
	st, body := b.post("/reset", url.Values{"email": {"ada@example.com"}})
	b.want(200, st, body, "6-digit code")
	ch := chParam.FindStringSubmatch(body)[1]
	code, _ := s.acLastMail(t, "ada@example.com", "/reset/link")
	var wg sync.WaitGroup
	for i := range 80 {
		wg.Go(func() {
			b.acNoFollow(http.MethodPost, "/reset/code", url.Values{"ch": {ch}, "code": {acWrongCode(code, i)}, "password": {"the attacker's passphrase"}})
		})
	}
	wg.Wait()
	got, err := s.Store.GetEmailChallenge(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 5 {
		t.Fatalf("%d codes were checked against one challenge; the cap is 5", got.Attempts)
	}
	// The right code comes too late: the challenge is used up.
	resp, _ := b.acNoFollow(http.MethodPost, "/reset/code", url.Values{"ch": {ch}, "code": {code}, "password": {"the attacker's passphrase"}})
	// Refused either way: the challenge is used up, and the address has
	// sent more than its 50 tries in the window.
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right code after 80 wrong ones: %d", resp.StatusCode)
	}
	if _, err := s.Users.Authenticate(context.Background(), "ada@example.com", "the attacker's passphrase"); err == nil {
		t.Fatal("the password was reset")
	}
}
