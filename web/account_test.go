package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/internal/smtptest"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
	"github.com/usher-id/usher/web"
)

// The helpers of this file start with "ac" (or are methods named so), to
// stay clear of the other test files of the package.

// acStart is startSite with the pages' options adjusted by pages.
func acStart(t *testing.T, pages func(*web.Options)) *site {
	t.Helper()
	srv := smtptest.Start(t, smtptest.Options{})
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "Usher <no-reply@usher.test>", TLS: "none"},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &site{Usher: ushertest.Start(t, ushertest.Options{Mail: sender, Pages: pages}), smtp: srv}
}

// acUser creates a user with a verified address and the test password.
func acUser(t *testing.T, s *site, email string) *storage.User {
	t.Helper()
	u, err := s.Users.Create(context.Background(), usersNew(email))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// acGetUser reads the user from storage.
func acGetUser(t *testing.T, s *site, id string) *storage.User {
	t.Helper()
	u, err := s.Store.GetUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// acSignIn signs a new browser in with a password.
func acSignIn(t *testing.T, s *site, email, pw string) *browser {
	t.Helper()
	b := s.browser(t)
	b.get("/sign-in")
	st, body := b.post("/sign-in/password", url.Values{"email": {email}, "password": {pw}})
	b.want(200, st, body, "Your account", "Signed-in devices")
	return b
}

// acSignedIn reports whether the browser's /account is the profile (true)
// or it was sent to sign in (false).
func acSignedIn(b *browser) bool {
	b.t.Helper()
	st, body := b.get("/account")
	if st != http.StatusOK {
		b.t.Fatalf("/account answered %d: %s", st, body)
	}
	u, _ := url.Parse(b.url)
	switch {
	case u.Path == "/account" && strings.Contains(body, "Signed-in devices"):
		return true
	case u.Path == "/sign-in" && strings.Contains(body, `action="/sign-in"`):
		return false
	}
	b.t.Fatalf("/account ended at %s with neither the profile nor the sign-in page: %s", b.url, body)
	return false
}

// acCanSignIn reports whether a fresh browser can sign in with email and pw.
func acCanSignIn(t *testing.T, s *site, email, pw string) bool {
	t.Helper()
	b := s.browser(t)
	b.get("/sign-in")
	st, body := b.post("/sign-in/password", url.Values{"email": {email}, "password": {pw}})
	switch {
	case st == http.StatusOK && strings.Contains(body, "Signed-in devices"):
		return true
	case st == http.StatusUnauthorized && strings.Contains(body, "do not match"):
		return false
	}
	t.Fatalf("password sign-in of %s answered %d: %s", email, st, body)
	return false
}

// acNoFollow sends one request with the browser's cookies and returns the
// response as it is, redirects not followed. A form gets the CSRF token of
// the browser's last page, as post does; the browser's last page stays.
func (b *browser) acNoFollow(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		if b.skipsAddressStep(path, form) {
			last, lastURL := b.last, b.url
			b.fill(path, form)
			b.last, b.url = last, lastURL
		} else {
			b.fill(path, form) // reads the last page only: safe from parallel requests
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := &http.Client{Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// acMails returns the messages sent to `to` so far. Pages send their email
// before they answer, so every email of a finished request is here.
func (s *site) acMails(to string) []smtptest.Message {
	var out []smtptest.Message
	for _, m := range s.smtp.Messages() {
		for _, rcpt := range m.To {
			if strings.EqualFold(rcpt, to) {
				out = append(out, m)
			}
		}
	}
	return out
}

// acLastMail returns the code and link of the newest message to `to`
// that carries a link to linkPath.
func (s *site) acLastMail(t *testing.T, to, linkPath string) (code, link string) {
	t.Helper()
	linkRE := regexp.MustCompile(regexp.QuoteMeta(s.URL+linkPath) + `\?t=[A-Za-z0-9_-]+`)
	msgs := s.acMails(to)
	for i := len(msgs) - 1; i >= 0; i-- {
		l := linkRE.FindString(msgs[i].Text)
		c := codeInMail.FindStringSubmatch(msgs[i].Text)
		if l != "" && c != nil {
			return c[1], l
		}
	}
	t.Fatalf("no email to %s with a %s link among %d", to, linkPath, len(msgs))
	return "", ""
}

// acWrongCode returns a six-digit code that is not code, different for each i.
func acWrongCode(code string, i int) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+1+i)%1_000_000)
}

// acEmailRow returns the account page's list entry of the address.
func acEmailRow(t *testing.T, body, email string) string {
	t.Helper()
	for _, li := range strings.Split(body, "<li>")[1:] {
		li, _, _ = strings.Cut(li, "</li>")
		if strings.Contains(li, `class="grow">`+email+" <") {
			return li
		}
	}
	t.Fatalf("the account page lists no %s: %s", email, body)
	return ""
}

// acEmailID returns the ID of the user's address.
func acEmailID(t *testing.T, s *site, userID, email string) string {
	t.Helper()
	for _, e := range acGetUser(t, s, userID).Emails {
		if e.Email == email {
			return e.ID
		}
	}
	t.Fatalf("user %s has no address %s", userID, email)
	return ""
}

// acActiveSessions returns the IDs of the user's active sessions.
func acActiveSessions(t *testing.T, s *site, userID string) []string {
	t.Helper()
	list, err := s.Store.ListUserSessions(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range list {
		if x.Active(s.Clock.Now()) {
			ids = append(ids, x.ID)
		}
	}
	return ids
}

// acCodeForm posts the code on the code page the browser shows.
func acCodeForm(b *browser, code string) (int, string) {
	b.t.Helper()
	m := chParam.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no code form at %s: %s", b.url, b.last)
	}
	return b.post(b.url, url.Values{"ch": {m[1]}, "code": {code}})
}

// acLinkToken returns the token of the link confirmation form on the page.
func acLinkToken(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`name="t" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link confirmation form: %s", body)
	}
	return m[1]
}

const acRedirect = "https://app.example.com/callback"

// acClient registers a confidential client asking for a refresh token.
func acClient(t *testing.T, s *site, name string, firstParty bool) (*storage.Client, *oauth2.Config) {
	t.Helper()
	ctx := context.Background()
	c := &storage.Client{Name: name, RedirectURIs: []string{acRedirect}}
	// Defaults make a client first-party; a third-party one clears it after.
	clients.ApplyDefaults(c)
	c.FirstParty = firstParty
	secret, err := s.Clients.Create(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c, &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: acRedirect, Endpoint: p.Endpoint(),
		Scopes: []string{oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess}}
}

// acCodeFlow runs the code flow in a browser that is signed in and needs no
// consent page, and returns the tokens.
func acCodeFlow(t *testing.T, b *browser, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	st, body := b.get(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)))
	if st != http.StatusFound || !strings.HasPrefix(b.url, acRedirect) {
		t.Fatalf("authorization ended with %d at %s: %s", st, b.url, body)
	}
	back, _ := url.Parse(b.url)
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	return tok
}

// acRefresh uses a refresh token and returns the next one.
func acRefresh(cfg *oauth2.Config, refresh string) (string, error) {
	tok, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: refresh}).Token()
	if err != nil {
		return "", err
	}
	return tok.RefreshToken, nil
}

// Emails on the account page: add one and verify it with the code, make it
// primary, remove the old one; the primary cannot be removed, another
// user's addresses cannot be named, and another account's address cannot
// be added.
func TestAccountEmails(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	ada := acUser(t, s, "ada@example.com")
	bob := acUser(t, s, "bob@example.com")
	b := acSignIn(t, s, "ada@example.com", password)

	// A bad address is refused on the page.
	st, body := b.post("/account/emails", url.Values{"email": {"not an address"}})
	b.want(400, st, body, "enter an address like name@example.com", "Your account")

	st, body = b.post("/account/emails", url.Values{"email": {"ada.work@example.com"}})
	b.want(200, st, body, "Verify your email", "ad…@example.com", "6-digit code")
	if !strings.HasPrefix(b.url, s.URL+"/verify?ch=ech_") {
		t.Fatalf("adding an address went to %s", b.url)
	}
	code, _ := s.acLastMail(t, "ada.work@example.com", "/verify/link")
	st, body = b.get("/account")
	row := acEmailRow(t, body, "ada.work@example.com")
	if !strings.Contains(row, ">Unverified<") || strings.Contains(row, "Make primary") {
		t.Fatalf("the new address is listed as %q", row)
	}
	// An unverified address cannot become primary.
	workID := acEmailID(t, s, ada.ID, "ada.work@example.com")
	st, body = b.post("/account/emails/primary", url.Values{"id": {workID}})
	b.want(400, st, body, "Verify the address before making it primary.")

	// Asking again sends a new code; the newest one verifies.
	st, body = b.post("/account/emails/verify", url.Values{"id": {workID}})
	b.want(200, st, body, "6-digit code")
	code2, _ := s.acLastMail(t, "ada.work@example.com", "/verify/link")
	if code2 != code {
		// Only the newest email works.
		st, body = acCodeForm(b, code)
		b.want(401, st, body, "wrong or has expired")
	}
	st, body = acCodeForm(b, code2)
	b.want(200, st, body, "Your email address is verified.")
	row = acEmailRow(t, body, "ada.work@example.com")
	if !strings.Contains(row, ">Verified<") || !strings.Contains(row, "Make primary") {
		t.Fatalf("the verified address is listed as %q", row)
	}

	st, body = b.post("/account/emails/primary", url.Values{"id": {workID}})
	b.want(200, st, body, "Primary email address changed.")
	if row := acEmailRow(t, body, "ada.work@example.com"); !strings.Contains(row, ">Primary<") {
		t.Fatalf("the new primary is listed as %q", row)
	}
	if got := acGetUser(t, s, ada.ID).PrimaryEmail().Email; got != "ada.work@example.com" {
		t.Fatalf("primary is %s", got)
	}

	oldID := acEmailID(t, s, ada.ID, "ada@example.com")
	st, body = b.post("/account/emails/remove", url.Values{"id": {oldID}})
	b.want(200, st, body, "Email address removed.")
	if strings.Contains(body, "ada@example.com <") {
		t.Fatal("the removed address is still listed")
	}
	if n := len(acGetUser(t, s, ada.ID).Emails); n != 1 {
		t.Fatalf("%d addresses left, want 1", n)
	}

	// The primary address cannot be removed.
	st, body = b.post("/account/emails/remove", url.Values{"id": {workID}})
	b.want(400, st, body, "Make another address primary before removing this one.")
	if n := len(acGetUser(t, s, ada.ID).Emails); n != 1 {
		t.Fatalf("%d addresses left after refusing, want 1", n)
	}

	// Another user's address is not Ada's to change.
	bobEmail := bob.Emails[0].ID
	for _, path := range []string{"/account/emails/remove", "/account/emails/primary", "/account/emails/verify"} {
		b.get("/account")
		st, body = b.post(path, url.Values{"id": {bobEmail}})
		b.want(400, st, body, "That email address is not on your account.")
	}
	if got := acGetUser(t, s, bob.ID); len(got.Emails) != 1 || !got.Emails[0].Verified || !got.Emails[0].Primary {
		t.Fatalf("bob's address changed: %+v", got.Emails)
	}
	if n := len(s.acMails("bob@example.com")); n != 0 {
		t.Fatalf("bob got %d emails", n)
	}

	// Bob's address cannot be added to Ada's account, and nothing is sent.
	b.get("/account")
	st, body = b.post("/account/emails", url.Values{"email": {"Bob@Example.com"}})
	b.want(409, st, body, "That email address belongs to another account.")
	if n := len(s.acMails("bob@example.com")); n != 0 {
		t.Fatalf("bob got %d emails", n)
	}
	if n := len(acGetUser(t, s, ada.ID).Emails); n != 1 {
		t.Fatalf("ada has %d addresses", n)
	}
	if u, err := s.Store.GetUserByEmail(ctx, "bob@example.com"); err != nil || u.ID != bob.ID {
		t.Fatalf("bob's address now finds %v, %v", u, err)
	}
}

// Removing an address ends the challenges emailed to it.
func TestAccountRemovedEmailEndsItsChallenges(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	ada := acUser(t, s, "ada@example.com")
	extra := &storage.EmailAddress{Email: "old-job@example.com"}
	if err := s.Store.AddEmail(ctx, ada.ID, extra); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.SetEmailVerified(ctx, ada.ID, extra.ID, true); err != nil {
		t.Fatal(err)
	}
	// Someone with the old address asks for a sign-in code.
	other := s.browser(t)
	other.get("/sign-in")
	st, body := other.post("/sign-in/email", url.Values{"email": {"old-job@example.com"}})
	other.want(200, st, body, "ol…@example.com")
	code, link := s.acLastMail(t, "old-job@example.com", "/sign-in/link")

	b := acSignIn(t, s, "ada@example.com", password)
	st, body = b.post("/account/emails/remove", url.Values{"id": {extra.ID}})
	b.want(200, st, body, "Email address removed.")

	st, body = acCodeForm(other, code)
	other.want(401, st, body, "wrong or has expired")
	st, body = other.get(link)
	other.want(400, st, body, "invalid, has expired or was already used")
	if acSignedIn(other) {
		t.Fatal("a code sent to a removed address signed in")
	}
}

// Changing the password: a wrong current password is refused and counted
// toward the lockout, a breached new one is refused, and a change signs
// out the other browsers but not this one.
func TestAccountPasswordChange(t *testing.T) {
	s := startSite(t)
	ada := acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	other := acSignIn(t, s, "ada@example.com", password)
	b.get("/account")

	st, body := b.post("/account/password", url.Values{"current": {"not my password"}, "password": {"a brand new passphrase"}})
	b.want(401, st, body, "The current password is wrong.", "Signed-in devices")
	if n := acGetUser(t, s, ada.ID).FailedAttempts; n != 1 {
		t.Fatalf("failed attempts %d, want 1", n)
	}

	for _, bad := range []struct{ pw, says string }{{"password123", "common"}, {"short", "at least 8"}} {
		st, body = b.post("/account/password", url.Values{"current": {password}, "password": {bad.pw}})
		b.want(400, st, body, bad.says)
	}
	if !acSignedIn(other) {
		t.Fatal("a refused change signed the other browser out")
	}

	b.get("/account")
	st, body = b.post("/account/password", url.Values{"current": {password}, "password": {"a brand new passphrase"}})
	b.want(200, st, body, "Password changed.", "Signed-in devices")
	if acSignedIn(other) {
		t.Fatal("the other browser is still signed in after the password change")
	}
	if !acSignedIn(b) {
		t.Fatal("the browser that changed the password was signed out")
	}
	if acCanSignIn(t, s, "ada@example.com", password) {
		t.Fatal("the old password still works")
	}
	if !acCanSignIn(t, s, "ada@example.com", "a brand new passphrase") {
		t.Fatal("the new password does not work")
	}
}

// Sessions: the list shows each signed-in browser and marks this one;
// another can be signed out by its ID, or all others at once; another
// user's session ID changes nothing.
func TestAccountSessions(t *testing.T) {
	s := startSite(t)
	ada := acUser(t, s, "ada@example.com")
	acUser(t, s, "carol@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	phone := acSignIn(t, s, "ada@example.com", password)
	carol := acSignIn(t, s, "carol@example.com", password)

	sessions := acActiveSessions(t, s, ada.ID)
	if len(sessions) != 2 {
		t.Fatalf("%d sessions, want 2", len(sessions))
	}
	st, body := b.get("/account")
	b.want(200, st, body, "This device")
	_, list, _ := strings.Cut(body, `id="sessions"`)
	list, _, _ = strings.Cut(list, "</ul>")
	if n := strings.Count(list, "<li>"); n != 2 {
		t.Fatalf("%d sessions listed, want 2: %s", n, list)
	}
	if n := strings.Count(list, "This device"); n != 1 {
		t.Fatalf(`"This device" shown %d times`, n)
	}
	// The other browser's session is the one with a sign-out button.
	m := regexp.MustCompile(`name="id" value="(sess_[^"]+)"`).FindAllStringSubmatch(list, -1)
	if len(m) != 1 {
		t.Fatalf("%d sign-out buttons, want 1: %s", len(m), list)
	}
	phoneSession := m[0][1]
	st, body = b.post("/account/sessions/revoke", url.Values{"id": {phoneSession}})
	b.want(200, st, body, "That device is signed out.")
	if acSignedIn(phone) {
		t.Fatal("the signed-out browser still reaches /account")
	}
	if !acSignedIn(b) {
		t.Fatal("signing out another browser signed this one out")
	}

	// Carol's session is not Ada's to end; the answer is the same.
	carolSessions := acActiveSessions(t, s, acGetUserByEmail(t, s, "carol@example.com").ID)
	b.get("/account")
	st, body = b.post("/account/sessions/revoke", url.Values{"id": {carolSessions[0]}})
	b.want(200, st, body, "That device is signed out.")
	if !acSignedIn(carol) {
		t.Fatal("another user's session ID signed that user out")
	}

	// Sign out all other devices.
	laptop := acSignIn(t, s, "ada@example.com", password)
	tablet := acSignIn(t, s, "ada@example.com", password)
	b.get("/account")
	st, body = b.post("/account/sessions/revoke-others", url.Values{})
	b.want(200, st, body, "Your other devices are signed out.")
	if acSignedIn(laptop) || acSignedIn(tablet) {
		t.Fatal("another device is still signed in")
	}
	if !acSignedIn(b) || !acSignedIn(carol) {
		t.Fatal("this device or another user was signed out")
	}
	if n := len(acActiveSessions(t, s, ada.ID)); n != 1 {
		t.Fatalf("%d active sessions left, want 1", n)
	}
}

func acGetUserByEmail(t *testing.T, s *site, email string) *storage.User {
	t.Helper()
	u, err := s.Store.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Deleting the account needs DELETE typed; then the user is signed out
// everywhere, cannot sign in, and the applications' tokens stop working.
func TestAccountDelete(t *testing.T) {
	s := startSite(t)
	ada := acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	other := acSignIn(t, s, "ada@example.com", password)
	_, cfg := acClient(t, s, "Photo App", true)
	refresh, err := acRefresh(cfg, acCodeFlow(t, b, cfg).RefreshToken)
	if err != nil {
		t.Fatalf("the refresh token does not work even before the deletion: %v", err)
	}

	st, body := b.get("/account/delete")
	b.want(200, st, body, "Type DELETE to confirm", `action="/account/delete"`)
	for _, typed := range []string{"", "delete", "DELETE ", "yes"} {
		st, body = b.post("/account/delete", url.Values{"confirm": {typed}})
		b.want(400, st, body, "Type DELETE in capitals to confirm.")
	}
	if _, err := s.Store.GetUser(context.Background(), ada.ID); err != nil {
		t.Fatalf("a mistyped confirmation deleted the account: %v", err)
	}

	st, body = b.post("/account/delete", url.Values{"confirm": {"DELETE"}})
	b.want(200, st, body, "Your account was deleted.")
	if _, err := s.Store.GetUser(context.Background(), ada.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the user is still stored: %v", err)
	}
	if acSignedIn(b) || acSignedIn(other) {
		t.Fatal("a browser is still signed in to the deleted account")
	}
	if acCanSignIn(t, s, "ada@example.com", password) {
		t.Fatal("the deleted user can sign in")
	}
	if _, err := acRefresh(cfg, refresh); err == nil {
		t.Fatal("the deleted user's refresh token still works")
	}
}

// A third-party application the user allowed is listed on the account page
// and can be removed, which ends its tokens; another user's consent to the
// same application stays.
func TestAccountConnectedApps(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	ada := acUser(t, s, "ada@example.com")
	carol := acUser(t, s, "carol@example.com")
	c, cfg := acClient(t, s, "Gallery Sync", false)
	stored, err := s.Store.GetClient(ctx, c.ID)
	if err != nil || stored.FirstParty {
		t.Fatalf("the client is not third-party: %+v %v", stored, err)
	}
	for _, id := range []string{ada.ID, carol.ID} {
		if err := s.Store.SaveConsent(ctx, &storage.Consent{UserID: id, ClientID: c.ID, Scopes: cfg.Scopes}); err != nil {
			t.Fatal(err)
		}
	}
	b := acSignIn(t, s, "ada@example.com", password)
	tok := acCodeFlow(t, b, cfg) // the saved consent covers the scopes: no consent page

	st, body := b.get("/account")
	b.want(200, st, body, "Connected applications", "<strong>Gallery Sync</strong>")
	_, app, _ := strings.Cut(body, "<strong>Gallery Sync</strong>")
	app, _, _ = strings.Cut(app, "</li>")
	// The entry says what the application may do (in words or as scopes)
	// and offers to remove its access.
	if !strings.Contains(strings.ToLower(app), "email") || !strings.Contains(app, `name="client_id" value="`+c.ID+`"`) {
		t.Fatalf("the application's entry: %s", app)
	}
	// A client the user never allowed: nothing to remove, nothing breaks.
	st, body = b.post("/account/consents/revoke", url.Values{"client_id": {"client_unknown"}})
	b.want(200, st, body, "Access removed.", "Gallery Sync")

	st, body = b.post("/account/consents/revoke", url.Values{"client_id": {c.ID}})
	b.want(200, st, body, "Access removed.")
	if strings.Contains(body, "Gallery Sync") || strings.Contains(body, "Connected applications") {
		t.Fatal("the application is still listed")
	}
	if _, err := s.Store.GetConsent(ctx, ada.ID, c.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the consent is still stored: %v", err)
	}
	if _, err := acRefresh(cfg, tok.RefreshToken); err == nil {
		t.Fatal("the application's refresh token still works")
	}
	if _, err := s.Store.GetConsent(ctx, carol.ID, c.ID); err != nil {
		t.Fatalf("another user's consent went too: %v", err)
	}
	// The application must ask again.
	st, body = b.get(cfg.AuthCodeURL("again", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	b.want(200, st, body, "Gallery Sync", "asks to use your account")
}

// accounts.require_name and require_username are enforced at sign-up.
func TestSignUpRequiredFields(t *testing.T) {
	s := acStart(t, func(o *web.Options) { o.RequireName, o.RequireUsername = true, true })
	ctx := context.Background()
	b := s.browser(t)
	st, body := b.get("/sign-up")
	b.want(200, st, body)
	for _, field := range []string{"first_name", "last_name", "username"} {
		if !regexp.MustCompile(`<input id="` + field + `"[^>]*\srequired[\s>]`).MatchString(body) {
			t.Fatalf("%s is not a required field: %s", field, body)
		}
	}
	if strings.Contains(body, "(optional)") {
		t.Fatal("a required field is marked optional")
	}
	form := func(first, last, username string) url.Values {
		return url.Values{"email": {"ada@example.com"}, "password": {password}, "first_name": {first}, "last_name": {last}, "username": {username}}
	}
	st, body = b.post("/sign-up", form("Ada", "", "ada_l"))
	b.want(400, st, body, "Enter your first and last name.", `value="ada@example.com"`, `value="ada_l"`)
	st, body = b.post("/sign-up", form("  ", "Lovelace", "ada_l"))
	b.want(400, st, body, "Enter your first and last name.")
	st, body = b.post("/sign-up", form("Ada", "Lovelace", " "))
	b.want(400, st, body, "Choose a username.", `value="Ada"`, `value="Lovelace"`)
	if n, _ := s.Store.CountUsers(ctx); n != 0 {
		t.Fatalf("%d users after refused sign-ups", n)
	}
	st, body = b.post("/sign-up", form("Ada", "Lovelace", "ada_l"))
	b.want(200, st, body, "6-digit code")
	u := acGetUserByEmail(t, s, "ada@example.com")
	if u.FirstName != "Ada" || u.LastName != "Lovelace" || u.Username != "ada_l" {
		t.Fatalf("stored %+v", u)
	}

	// Without the requirements the fields are optional.
	s2 := startSite(t)
	b2 := s2.browser(t)
	st, body = b2.get("/sign-up")
	b2.want(200, st, body, "(optional)")
	st, body = b2.post("/sign-up", url.Values{"email": {"ada@example.com"}, "password": {password}})
	b2.want(200, st, body, "6-digit code")
}

// With sign-up closed, the page and the form are refused and the sign-in
// page does not offer it.
func TestSignUpDisabled(t *testing.T) {
	s := acStart(t, func(o *web.Options) { o.SignUp = false })
	b := s.browser(t)
	st, body := b.get("/sign-in")
	b.want(200, st, body, `action="/sign-in"`)
	if strings.Contains(body, `href="/sign-up`) {
		t.Fatal("the sign-in page links to the closed sign-up")
	}
	st, body = b.get("/sign-up")
	b.want(403, st, body, "Sign-up is closed.")
	b.get("/sign-in")
	st, body = b.post("/sign-up", url.Values{"email": {"ada@example.com"}, "password": {password}})
	b.want(403, st, body, "Sign-up is closed.")
	if n, _ := s.Store.CountUsers(context.Background()); n != 0 {
		t.Fatalf("%d users", n)
	}
	if n := len(s.smtp.Messages()); n != 0 {
		t.Fatalf("%d emails", n)
	}
}

func TestSignUpUsernameTaken(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	bob := acUser(t, s, "bob@example.com")
	if err := s.Users.UpdateProfile(ctx, bob.ID, users.Profile{Username: "builder"}); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.get("/sign-up")
	st, body := b.post("/sign-up", url.Values{"email": {"ada@example.com"}, "password": {password}, "username": {"Builder"}})
	b.want(400, st, body, "That username is taken.", `value="ada@example.com"`)
	if _, err := s.Store.GetUserByEmail(ctx, "ada@example.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a user was created: %v", err)
	}
	st, body = b.post("/sign-up", url.Values{"email": {"ada@example.com"}, "password": {password}, "username": {"x"}})
	b.want(400, st, body, "use 4 to 64 characters")
}

// Signing up with an address that has an account answers like a new
// sign-up, tells the owner by email, and creates nothing.
func TestSignUpExistingEmail(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	owner := acUser(t, s, "owner@example.com")
	before, _ := s.Store.CountUsers(ctx)

	b := s.browser(t)
	b.get("/sign-up")
	signUp := func(email string) *url.URL {
		resp, body := b.acNoFollow(http.MethodPost, "/sign-up", url.Values{"email": {email}, "password": {"another fine passphrase"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-up of %s answered %d: %s", email, resp.StatusCode, body)
		}
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	fresh, taken := signUp("newcomer@example.com"), signUp("Owner@example.com")
	for _, u := range []*url.URL{fresh, taken} {
		q := u.Query()
		if u.Path != "/verify" || !strings.HasPrefix(q.Get("ch"), "ech_") || len(q) != 3 || q.Get("to") == "" || !strings.HasPrefix(q.Get("flow"), "flow_") {
			t.Fatalf("sign-up went to %s", u)
		}
	}
	if len(fresh.Query().Get("ch")) != len(taken.Query().Get("ch")) {
		t.Fatalf("challenge IDs differ in shape: %s vs %s", fresh, taken)
	}
	if n, _ := s.Store.CountUsers(ctx); n != before+1 {
		t.Fatalf("%d users, want %d (the newcomer only)", n, before+1)
	}
	msgs := s.acMails("owner@example.com")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "Someone tried to sign up") {
		t.Fatalf("emails to the owner: %+v", msgs)
	}
	if strings.Contains(msgs[0].Text, "another fine passphrase") {
		t.Fatal("the email shows the password typed")
	}
	if got := acGetUser(t, s, owner.ID); got.PasswordHash != owner.PasswordHash || len(got.Emails) != 1 {
		t.Fatal("the owner's account changed")
	}
	// The code page of the taken address accepts no code.
	st, body := b.get(taken.String())
	b.want(200, st, body, "6-digit code")
	st, body = acCodeForm(b, "123456")
	b.want(401, st, body, "wrong or has expired")
}

// Verification by link: opening it changes nothing, confirming verifies
// and signs in; an expired code fails; five wrong codes use the challenge
// up even for the right code.
func TestVerifyByLinkExpiryAndWrongCodes(t *testing.T) {
	s := startSite(t)
	signUp := func(email string) *browser {
		b := s.browser(t)
		b.get("/sign-up")
		st, body := b.post("/sign-up", url.Values{"email": {email}, "password": {password}})
		b.want(200, st, body, "6-digit code")
		return b
	}
	verified := func(email string) bool {
		return acGetUserByEmail(t, s, email).PrimaryEmail().Verified
	}

	b := signUp("link@example.com")
	_, link := s.acLastMail(t, "link@example.com", "/verify/link")
	for range 2 {
		st, body := b.get(link)
		b.want(200, st, body, "Verify my email", `action="/verify/link"`)
	}
	if verified("link@example.com") {
		t.Fatal("opening the link verified the address")
	}
	tok := acLinkToken(t, b.last)
	st, body := b.post("/verify/link", url.Values{"t": {tok}})
	b.want(200, st, body, "Your account", "link@example.com")
	if !verified("link@example.com") {
		t.Fatal("confirming the link did not verify the address")
	}
	st, body = b.get(link)
	b.want(400, st, body, "invalid, has expired or was already used")

	// A code past its ten minutes.
	late := signUp("late@example.com")
	code, link := s.acLastMail(t, "late@example.com", "/verify/link")
	s.Clock.Advance(10*time.Minute + time.Second)
	st, body = acCodeForm(late, code)
	late.want(401, st, body, "wrong or has expired")
	st, body = late.get(link)
	late.want(400, st, body, "invalid, has expired or was already used")
	if verified("late@example.com") {
		t.Fatal("an expired code verified the address")
	}

	// Five wrong codes.
	guess := signUp("guess@example.com")
	code, link = s.acLastMail(t, "guess@example.com", "/verify/link")
	codeURL := guess.url
	for i := range 4 {
		st, body = acCodeForm(guess, acWrongCode(code, i))
		guess.want(401, st, body, "wrong or has expired")
	}
	st, body = acCodeForm(guess, acWrongCode(code, 4))
	guess.want(401, st, body, "Too many wrong codes.")
	guess.get(codeURL)
	st, body = acCodeForm(guess, code)
	guess.want(401, st, body, "wrong or has expired")
	st, body = guess.get(link)
	guess.want(400, st, body, "invalid")
	if verified("guess@example.com") || acSignedIn(guess) {
		t.Fatal("the right code worked after five wrong ones")
	}
}

// A code belongs to the page of its purpose only.
func TestCodeOfAnotherPurposeIsRefused(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := s.browser(t)
	b.get("/sign-in")
	st, body := b.post("/sign-in/email", url.Values{"email": {"ada@example.com"}})
	b.want(200, st, body, "6-digit code")
	ch := chParam.FindStringSubmatch(body)[1]
	code, link := s.acLastMail(t, "ada@example.com", "/sign-in/link")
	for _, path := range []string{"/verify", "/reset/code"} {
		st, body = b.post(path, url.Values{"ch": {ch}, "code": {code}, "password": {"a brand new passphrase"}})
		b.want(401, st, body, "wrong or has expired")
	}
	st, body = b.get(strings.Replace(link, "/sign-in/link", "/reset/link", 1))
	b.want(400, st, body, "invalid")
	if acSignedIn(b) || !acCanSignIn(t, s, "ada@example.com", password) {
		t.Fatal("a sign-in code worked on another page")
	}
	// It still works where it belongs.
	b.get("/sign-in/code?ch=" + ch)
	st, body = b.post("/sign-in/code?ch="+ch, url.Values{"ch": {ch}, "code": {code}})
	b.want(200, st, body, "Your account")
}

// Reset by link: the page asks for the new password; saving it signs in,
// ends the old password and the other sessions.
func TestResetByLink(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	other := acSignIn(t, s, "ada@example.com", password)
	b := s.browser(t)
	b.get("/reset")
	st, body := b.post("/reset", url.Values{"email": {"ada@example.com"}})
	b.want(200, st, body, "Reset your password")
	_, link := s.acLastMail(t, "ada@example.com", "/reset/link")

	st, body = b.get(link)
	b.want(200, st, body, `name="password"`, "Save new password", `action="/reset/link"`)
	tok := acLinkToken(t, body)
	// A breached password is refused and does not use the link up.
	st, body = b.post("/reset/link", url.Values{"t": {tok}, "password": {"password123"}})
	b.want(400, st, body, "common")
	st, body = b.post("/reset/link", url.Values{"t": {tok}, "password": {"a brand new passphrase"}})
	b.want(200, st, body, "Your account", "ada@example.com")
	if !acSignedIn(b) {
		t.Fatal("the reset did not sign in")
	}
	if acSignedIn(other) {
		t.Fatal("the reset left another session signed in")
	}
	if acCanSignIn(t, s, "ada@example.com", password) {
		t.Fatal("the old password still works")
	}
	if !acCanSignIn(t, s, "ada@example.com", "a brand new passphrase") {
		t.Fatal("the new password does not work")
	}
	st, body = b.post("/reset/link", url.Values{"t": {tok}, "password": {"yet another passphrase"}})
	b.want(400, st, body, "already used")
}

// Too many emails to one address: 429 with Retry-After and a page a person
// can read; the window passes.
func TestEmailRateLimit(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := s.browser(t)
	b.get("/sign-in")
	send := func() (*http.Response, string) {
		return b.acNoFollow(http.MethodPost, "/sign-in/email", url.Values{"email": {"ada@example.com"}})
	}
	for i := range 5 {
		if resp, body := send(); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("email %d answered %d: %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := send()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the sixth email answered %d", resp.StatusCode)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra <= 0 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Too many attempts.") ||
		!strings.Contains(body, `href="/sign-in"`) {
		t.Fatalf("the 429 page: %s", body)
	}
	if n := len(s.acMails("ada@example.com")); n != 5 {
		t.Fatalf("%d emails sent, want 5", n)
	}
	// The same limit guards the reset form.
	b.get("/reset")
	if resp, _ := b.acNoFollow(http.MethodPost, "/reset", url.Values{"email": {"ada@example.com"}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("reset answered %d under the limit", resp.StatusCode)
	}
	s.Clock.Advance(11 * time.Minute)
	if resp, body := send(); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the window: %d %s", resp.StatusCode, body)
	}
}

// The right password of an account whose address was never verified leads
// to the code page, not to a session.
func TestPasswordSignInUnverified(t *testing.T) {
	s := startSite(t)
	if _, err := s.Users.Create(context.Background(), users.NewUser{Email: "new@example.com", Password: password}); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.get("/sign-in")
	st, body := b.post("/sign-in/password", url.Values{"email": {"new@example.com"}, "password": {password}})
	b.want(200, st, body, "Verify your email", "ne…@example.com", "6-digit code")
	if !strings.HasPrefix(b.url, s.URL+"/verify?ch=ech_") {
		t.Fatalf("went to %s", b.url)
	}
	codeURL := b.url
	code, _ := s.acLastMail(t, "new@example.com", "/verify/link")
	if acSignedIn(b) {
		t.Fatal("signed in before the address was verified")
	}
	b.get(codeURL)
	st, body = acCodeForm(b, code)
	b.want(200, st, body, "Your account")
	if row := acEmailRow(t, body, "new@example.com"); !strings.Contains(row, ">Verified<") {
		t.Fatalf("listed as %q", row)
	}
	// The wrong password of such an account says nothing about it.
	b2 := s.browser(t)
	b2.get("/sign-in")
	st, body = b2.post("/sign-in/password", url.Values{"email": {"new@example.com"}, "password": {"not the password"}})
	b2.want(401, st, body, "do not match")
}

// Without a session /account sends the browser to sign in, and every form
// under it changes nothing.
func TestAccountRequiresSession(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	ada := acUser(t, s, "ada@example.com")
	extra := &storage.EmailAddress{Email: "ada.work@example.com"}
	if err := s.Store.AddEmail(ctx, ada.ID, extra); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.SetEmailVerified(ctx, ada.ID, extra.ID, true); err != nil {
		t.Fatal(err)
	}
	pending := &storage.EmailAddress{Email: "ada.pending@example.com"}
	if err := s.Store.AddEmail(ctx, ada.ID, pending); err != nil {
		t.Fatal(err)
	}
	c, _ := acClient(t, s, "Gallery Sync", false)
	if err := s.Store.SaveConsent(ctx, &storage.Consent{UserID: ada.ID, ClientID: c.ID, Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	signedIn := acSignIn(t, s, "ada@example.com", password)
	sessions := acActiveSessions(t, s, ada.ID)

	// A browser that was signed in and whose session ended is a stranger too.
	stale := acSignIn(t, s, "ada@example.com", password)
	for _, id := range acActiveSessions(t, s, ada.ID) {
		if id != sessions[0] {
			if err := s.Store.RevokeSession(ctx, id, s.Clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	mailsBefore := len(s.smtp.Messages())

	for _, b := range []*browser{s.browser(t), stale} {
		for _, path := range []string{"/account", "/account/delete"} {
			resp, body := b.acNoFollow(http.MethodGet, path, nil)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sign-in" {
				t.Fatalf("GET %s without a session: %d to %q: %s", path, resp.StatusCode, resp.Header.Get("Location"), body)
			}
		}
		b.get("/sign-in") // a CSRF token, as an attacker's own browser has
		forms := map[string]url.Values{
			"/account/profile":                {"first_name": {"Mallory"}},
			"/account/password":               {"current": {password}, "password": {"mallory's passphrase"}},
			"/account/emails":                 {"email": {"mallory@example.com"}},
			"/account/emails/primary":         {"id": {extra.ID}},
			"/account/emails/remove":          {"id": {extra.ID}},
			"/account/emails/verify":          {"id": {pending.ID}},
			"/account/sessions/revoke":        {"id": {sessions[0]}},
			"/account/sessions/revoke-others": {},
			"/account/consents/revoke":        {"client_id": {c.ID}},
			"/account/delete":                 {"confirm": {"DELETE"}},
		}
		for path, form := range forms {
			resp, body := b.acNoFollow(http.MethodPost, path, form)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sign-in" {
				t.Fatalf("POST %s without a session: %d to %q: %s", path, resp.StatusCode, resp.Header.Get("Location"), body)
			}
		}
	}

	u := acGetUser(t, s, ada.ID)
	if u.FirstName != "" || len(u.Emails) != 3 || u.PrimaryEmail().Email != "ada@example.com" {
		t.Fatalf("the user changed: %+v", u)
	}
	if _, err := s.Store.GetConsent(ctx, ada.ID, c.ID); err != nil {
		t.Fatalf("the consent went: %v", err)
	}
	if n := len(s.smtp.Messages()); n != mailsBefore {
		t.Fatalf("%d emails sent", n-mailsBefore)
	}
	if !acSignedIn(signedIn) {
		t.Fatal("the signed-in browser was signed out")
	}
	if !acCanSignIn(t, s, "ada@example.com", password) {
		t.Fatal("the password changed")
	}
}

// The forms of the account page need the browser's CSRF token.
func TestAccountFormsNeedCSRF(t *testing.T) {
	s := startSite(t)
	ada := acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	other := acSignIn(t, s, "ada@example.com", password)
	for _, csrf := range []string{"", "forged-forged-forged-forged-forged-forged"} {
		for path, form := range map[string]url.Values{
			"/account/delete":                 {"confirm": {"DELETE"}},
			"/account/sessions/revoke-others": {},
			"/account/profile":                {"first_name": {"Mallory"}},
			"/sign-out":                       {},
		} {
			b.get("/account")
			form.Set("csrf", csrf)
			st, body := b.post(path, form)
			b.want(403, st, body, "This form has expired")
		}
	}
	if u := acGetUser(t, s, ada.ID); u.FirstName != "" {
		t.Fatalf("the profile changed: %+v", u)
	}
	if !acSignedIn(b) || !acSignedIn(other) {
		t.Fatal("a forged form signed a browser out")
	}
}

// Bad profile input is refused with a reason, on the page.
func TestAccountProfileBadInput(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	ada := acUser(t, s, "ada@example.com")
	bob := acUser(t, s, "bob@example.com")
	if err := s.Users.UpdateProfile(ctx, bob.ID, users.Profile{Username: "builder"}); err != nil {
		t.Fatal(err)
	}
	b := acSignIn(t, s, "ada@example.com", password)
	for _, c := range []struct {
		form   url.Values
		status int
		says   string
	}{
		{url.Values{"username": {"BUILDER"}}, 409, "That username is taken."},
		{url.Values{"username": {"ab"}}, 400, "use 4 to 64 characters"},
		{url.Values{"username": {"ada@home"}}, 400, "use only letters"},
		{url.Values{"image_url": {"http://example.com/me.png"}}, 400, "https://"},
		{url.Values{"image_url": {"javascript:alert(1)"}}, 400, "https://"},
		{url.Values{"first_name": {"Ada\x00"}}, 400, "control characters"},
		{url.Values{"first_name": {strings.Repeat("a", 257)}}, 400, "at most 256"},
	} {
		b.get("/account")
		st, body := b.post("/account/profile", c.form)
		b.want(c.status, st, body, c.says, "Your account")
	}
	if u := acGetUser(t, s, ada.ID); u.Username != "" || u.FirstName != "" || u.ImageURL != "" {
		t.Fatalf("the profile changed: %+v", u)
	}
	// What the user typed is shown escaped.
	b.get("/account")
	st, body := b.post("/account/profile", url.Values{"first_name": {`<script>alert(1)</script>`}})
	b.want(200, st, body, "Saved.", "&lt;script&gt;")
	if strings.Contains(body, "<script>") {
		t.Fatal("a name reached the page unescaped")
	}
}

// The sign-in page names the application of a pending request, and shows
// the plain page for a request ID that names nothing.
func TestSignInPageNamesTheApplication(t *testing.T) {
	s := startSite(t)
	_, cfg := acClient(t, s, "Photo App", true)
	b := s.browser(t)
	st, body := b.get(cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("login_hint", "hint@example.com")))
	b.want(200, st, body, "to continue to Photo App", `name="flow"`, `value="hint@example.com"`)
	u, _ := url.Parse(b.url)
	ar := u.Query().Get("flow")
	if u.Path != "/sign-in" || ar == "" {
		t.Fatalf("authorization went to %s", b.url)
	}
	st, body = b.get("/sign-up?flow=" + url.QueryEscape(ar))
	b.want(200, st, body, "to continue to Photo App", `name="flow" value="`+ar+`"`)

	for _, bogus := range []string{"flow_bogus", "<script>", strings.Repeat("x", 4000), ar} {
		fresh := s.browser(t) // ar, the first browser's flow, is bogus here too
		for _, page := range []string{"/sign-in", "/sign-up", "/reset"} {
			st, body = fresh.get(page + "?flow=" + url.QueryEscape(bogus))
			fresh.want(200, st, body, "<form")
			if strings.Contains(body, "to continue to") || strings.Contains(body, `name="flow"`) || strings.Contains(body, "<script>") {
				t.Fatalf("%s with a bogus flow: %s", page, body)
			}
		}
	}
}

// Sign-out asks first: the page alone signs nothing out.
func TestSignOutAsksFirst(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	b := acSignIn(t, s, "ada@example.com", password)
	st, body := b.get("/sign-out")
	b.want(200, st, body, "Sign out of this browser?", `action="/sign-out"`)
	if !acSignedIn(b) {
		t.Fatal("opening the sign-out page signed out")
	}
	b.get("/sign-out")
	st, body = b.post("/sign-out", url.Values{})
	b.want(200, st, body, "You are signed out.")
	if acSignedIn(b) {
		t.Fatal("still signed in")
	}
}

// Odd input anywhere is a client mistake: never a server error.
func TestOddInputIsNeverAServerError(t *testing.T) {
	s := startSite(t)
	acUser(t, s, "ada@example.com")
	odd := []string{"", "\x00", "a\x00@example.com", "\xff\xfe", "<script>alert(1)</script>", "../../../etc/passwd",
		"ada@example.com", strings.Repeat("é", 8000), " 12 34 56 ", "-1"}
	fields := []string{"email", "password", "ch", "code", "t", "ar", "flow", "first_name", "last_name", "username", "image_url",
		"id", "client_id", "confirm", "current"}
	posts := []string{"/sign-in", "/sign-in/password", "/sign-in/email", "/sign-in/code", "/sign-in/link", "/sign-up",
		"/verify", "/verify/link", "/reset", "/reset/code", "/reset/link", "/account/profile", "/account/password",
		"/account/emails", "/account/emails/primary", "/account/emails/remove", "/account/emails/verify",
		"/account/sessions/revoke", "/account/consents/revoke", "/account/delete"}
	gets := []string{"/sign-in", "/sign-up", "/sign-in/code", "/sign-in/link", "/verify", "/verify/link", "/reset",
		"/reset/code", "/reset/link", "/account", "/account/delete", "/sign-out", "/signed-out"}
	signedIn := acSignIn(t, s, "ada@example.com", password)
	for _, b := range []*browser{s.browser(t), signedIn} {
		for _, v := range odd {
			q := url.Values{}
			for _, f := range append(fields, "to", "notice", "app") {
				q.Set(f, v)
			}
			for _, path := range gets {
				resp, body := b.acNoFollow(http.MethodGet, path+"?"+q.Encode(), nil)
				if resp.StatusCode >= 500 {
					t.Fatalf("GET %s with %q: %d %s", path, v, resp.StatusCode, body)
				}
			}
			b.get("/sign-in")
			for _, path := range posts {
				form := url.Values{}
				for _, f := range fields {
					form.Set(f, v)
				}
				resp, body := b.acNoFollow(http.MethodPost, path+"?"+url.Values{"to": {v}}.Encode(), form)
				if resp.StatusCode >= 500 {
					t.Fatalf("POST %s with %q: %d %s", path, v, resp.StatusCode, body)
				}
			}
		}
	}
}
