package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

// Limits on attempts, per address and per account or email, counted in the
// database so every replica shares them.
const (
	limitWindow        = 10 * time.Minute
	failuresPerIP      = 50 // wrong passwords and codes from one address
	emailsPerAddress   = 5  // emails Usher sends to one address
	emailsPerIP        = 20 // emails one address makes Usher send
	signUpsPerIP       = 10
	identifiesPerIP    = 100
	wrongCodesPerEmail = 5 // per challenge: then it is used up
	maxEmailsPerUser   = 10
)

// pending returns the authorization request named by the ar parameter,
// when it is still waiting for sign-in.
func (h *Handler) pending(r *http.Request) *pendingView {
	id := r.FormValue("ar")
	if id == "" {
		return nil
	}
	p := h.opts.Provider.Pending(r, id)
	if p == nil {
		return nil
	}
	return &pendingView{ID: p.ID, ClientName: p.ClientName, LoginHint: p.LoginHint}
}

// limited counts one event for key and reports whether the window now
// holds more than max. A storage failure does not lock users out; it is
// logged.
func (h *Handler) limited(ctx context.Context, key string, max int) bool {
	n, err := h.opts.Store.HitRateLimit(ctx, key, limitWindow, h.opts.Now())
	if err != nil {
		h.opts.Log.Error("rate limit", "err", err)
		return false
	}
	return n > max
}

func (h *Handler) over(ctx context.Context, key string, max int) bool {
	n, err := h.opts.Store.RateLimitCount(ctx, key, limitWindow, h.opts.Now())
	if err != nil {
		h.opts.Log.Error("rate limit", "err", err)
		return false
	}
	return n >= max
}

// emailKey is the rate-limit key of an address: one mailbox, whatever the
// letter case it is typed in.
func emailKey(email string) string { return "email-to:" + strings.ToLower(email) }

func slowDown() error { return failure(http.StatusTooManyRequests, t("limit.slow_down")) }

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) error {
	req := h.pending(r)
	again := r.URL.Query().Get("again") == "1"
	if req == nil && !again && h.opts.Provider.Session(r) != nil {
		http.Redirect(w, r, PathAccount, http.StatusFound)
		return nil
	}
	v := &view{Title: t("signin.title"), Request: req, Email: r.URL.Query().Get("email"), Next: localPath(r.FormValue("next")),
		Connections: h.socialButtons(r.Context())}
	if again {
		v.Notice = t("signin.again")
	}
	if req != nil && v.Email == "" {
		v.Email = req.LoginHint
	}
	h.render(w, r, http.StatusOK, "signin", v)
	return nil
}

// signInIdentify takes the email and shows the ways to sign in. Every
// address gets the same page, so it does not tell who has an account.
func (h *Handler) signInIdentify(w http.ResponseWriter, r *http.Request) error {
	if h.limited(r.Context(), "identify-ip:"+h.opts.Provider.ClientIP(r), identifiesPerIP) {
		return slowDown()
	}
	v := &view{Title: t("signin.title"), Request: h.pending(r), Next: localPath(r.PostFormValue("next"))}
	email, err := users.ValidateEmail(r.PostFormValue("email"))
	if err != nil {
		v.Email = r.PostFormValue("email")
		v.Error = err.Error()
		h.render(w, r, http.StatusBadRequest, "signin", v)
		return nil
	}
	v.Email = email
	// An enterprise's domain goes straight to its identity provider.
	if c := h.connectionForEmail(r.Context(), email); c != nil {
		return h.goUpstream(w, r, c, r.PostFormValue("ar"), "", email)
	}
	h.render(w, r, http.StatusOK, "factors", v)
	return nil
}

func (h *Handler) signInPassword(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ipKey := "login-failures-ip:" + h.opts.Provider.ClientIP(r)
	if h.over(ctx, ipKey, failuresPerIP) {
		return slowDown()
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	u, err := h.opts.Users.Authenticate(ctx, email, r.PostFormValue("password"))
	var locked *users.LockedError
	switch {
	case errors.As(err, &locked):
		return failure(http.StatusForbidden, lockedMessage(locked.Until))
	case errors.Is(err, users.ErrInvalidCredentials) || errors.Is(err, users.ErrBanned):
		h.limited(ctx, ipKey, failuresPerIP)
		h.tellIfJustLocked(r, email)
		h.render(w, r, http.StatusUnauthorized, "factors", &view{Title: t("signin.title"), Request: h.pending(r), Email: email,
			Next: localPath(r.PostFormValue("next")), Error: t("signin.failed")})
		return nil
	case err != nil:
		return err
	}
	primary := u.PrimaryEmail()
	if !primary.Verified {
		// The password is right, but the address was never proven: prove
		// it before the first session.
		ch, err := h.issue(w, r, u, primary, storage.ChallengeVerifyEmail, r.PostFormValue("ar"))
		if err != nil {
			return err
		}
		http.Redirect(w, r, codePagePath(ch.Purpose, ch.ID, ch.Email), http.StatusSeeOther)
		return nil
	}
	if !h.seenBefore(r, u.ID) {
		// A password used from a browser this account has not signed in
		// from before: the owner hears of it, in case it was not them.
		// mail.Data has no place of its own: the address carries it.
		h.notify(r, u, mail.NewSignIn, mail.Data{UserAgent: describeDevice(r.UserAgent()), IPAddress: h.placed(h.opts.Provider.ClientIP(r)),
			When: h.opts.Now(), ResetURL: h.opts.Issuer + "/reset"})
	}
	h.browserID(w, r)
	return h.signedIn(w, r, u, []string{"pwd"}, r.PostFormValue("ar"), true)
}

// A browser remembers each account that signed in on it with a cookie only
// Usher can make (a keyed hash of the account ID): a cookie from another
// account, or a made-up one, does not count.
func (h *Handler) seenCookie(userID string) (name, value string) {
	m := hmac.New(sha256.New, h.opts.CodeKey)
	m.Write([]byte("seen-browser:" + userID))
	sum := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	return "usher_seen_" + sum[:12], sum
}

func (h *Handler) seenBefore(r *http.Request, userID string) bool {
	name, value := h.seenCookie(userID)
	c, err := r.Cookie(name)
	return err == nil && hmac.Equal([]byte(c.Value), []byte(value))
}

func (h *Handler) remember(w http.ResponseWriter, userID string) {
	name, value := h.seenCookie(userID)
	h.opts.Provider.SetCookie(w, name, value, 365*24*time.Hour)
}

// tellIfJustLocked emails the owner of email when the failure just
// counted locked the account. Authenticate answers a locked account with
// a LockedError, so a plain refusal that leaves the account locked was
// the one that locked it.
func (h *Handler) tellIfJustLocked(r *http.Request, email string) {
	u, err := h.opts.Store.GetUserByEmail(r.Context(), email)
	if err != nil {
		return
	}
	if until, locked, err := h.opts.Users.CheckLocked(r.Context(), u.ID); err == nil && locked {
		h.notifyLocked(r, u, until)
	}
}

func (h *Handler) notifyLocked(r *http.Request, u *storage.User, until time.Time) {
	d := mail.Data{ResetURL: h.opts.Issuer + "/reset"}
	if until.Before(users.LockedIndefinitely) {
		d.LockedUntil = until
	}
	h.notify(r, u, mail.AccountLocked, d)
}

// notify emails the user's primary address about their account. It is
// news, not a step the user waits for, so a failure is only logged.
func (h *Handler) notify(r *http.Request, u *storage.User, kind mail.Kind, d mail.Data) {
	d.To, d.Brand = u.PrimaryEmail().Email, h.mailBrand()
	msg, err := mail.Render(kind, d)
	if err == nil {
		err = h.opts.Mail.Send(r.Context(), msg)
	}
	if err != nil {
		h.opts.Log.Warn("notice email not sent", "kind", string(kind), "user_id", u.ID, "err", err)
	}
}

// signInEmail sends a sign-in code and link. An unknown address gets the
// same page, with a challenge ID that matches nothing.
func (h *Handler) signInEmail(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	email, err := users.ValidateEmail(r.PostFormValue("email"))
	if err != nil {
		return failure(http.StatusBadRequest, err.Error())
	}
	if h.limited(ctx, "email-ip:"+h.opts.Provider.ClientIP(r), emailsPerIP) || h.limited(ctx, emailKey(email), emailsPerAddress) {
		return slowDown()
	}
	// Every answer sets the same cookies, known address or not.
	h.browserID(w, r)
	u, addr, err := h.owner(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		http.Redirect(w, r, codePagePath(storage.ChallengeSignIn, storage.NewID(storage.PrefixChallenge), email), http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	ch, err := h.issue(w, r, u, addr, storage.ChallengeSignIn, r.PostFormValue("ar"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, codePagePath(ch.Purpose, ch.ID, ch.Email), http.StatusSeeOther)
	return nil
}

// owner finds the account an emailed code or link for email may go to: a
// banned account, or an address another user added but never verified,
// counts as no account (the unverified claim must not receive the real
// owner's sign-in or reset emails).
func (h *Handler) owner(ctx context.Context, email string) (*storage.User, storage.EmailAddress, error) {
	u, err := h.opts.Store.GetUserByEmail(ctx, email)
	if err != nil {
		return nil, storage.EmailAddress{}, err
	}
	addr, ok := addressOf(u, email)
	if !ok || u.Banned || (!addr.Verified && !addr.Primary) {
		return nil, storage.EmailAddress{}, storage.ErrNotFound
	}
	return u, addr, nil
}

func addressOf(u *storage.User, email string) (storage.EmailAddress, bool) {
	for _, e := range u.Emails {
		if strings.EqualFold(e.Email, email) {
			return e, true
		}
	}
	return storage.EmailAddress{}, false
}

func lockedMessage(until time.Time) string {
	if !until.Before(users.LockedIndefinitely) {
		return t("locked.forever")
	}
	return tf("locked.for", until.UTC().Format("15:04 UTC on 2 Jan 2006"))
}

// signedIn starts the session and sends the browser on: back to the
// application whose sign-in is pending in this browser, else to the
// profile.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, u *storage.User, amr []string, arID string, sameBrowser bool) error {
	sess, err := h.opts.Provider.SignIn(w, r, u, amr)
	if err != nil {
		return err
	}
	h.remember(w, u.ID)
	if arID != "" {
		if p := h.opts.Provider.Pending(r, arID); p != nil {
			if p.SameBrowser && sameBrowser {
				h.opts.Provider.Continue(w, r, arID, sess)
				return nil
			}
			http.Redirect(w, r, PathAccount+"?notice=link.app_other", http.StatusSeeOther)
			return nil
		}
	}
	next := PathAccount
	if p := localPath(r.PostFormValue("next")); p != "" {
		next = p
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// localPath returns p when it is a path on this site, else "": a next
// parameter must never send the browser elsewhere.
func localPath(p string) string {
	if len(p) > 512 || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return p
}
