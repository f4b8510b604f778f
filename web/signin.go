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

// signInPage shows the step of signing in the flow is at: the address
// first, then the ways to prove it is yours.
func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) error {
	f, err := h.pageFlow(r)
	if err != nil {
		return err
	}
	again := r.URL.Query().Get("again") == "1"
	if f == nil && !again && h.opts.Sessions.Use(r) != nil {
		http.Redirect(w, r, PathAccount, http.StatusFound)
		return nil
	}
	v := &view{Title: t("signin.title"), Request: f.request(), Flow: f.id(), Email: r.URL.Query().Get("email"),
		Next: localPath(r.FormValue("next")), Connections: h.socialButtons(r.Context())}
	if again {
		v.Notice = t("signin.again")
	}
	if f != nil {
		switch f.Step {
		case stepIdentify:
			if v.Email == "" {
				v.Email = f.Email
			}
		case stepFirstFactor:
			if r.URL.Query().Get("change") == "1" {
				// "Not you?": the address step again, in the same flow.
				v.Email = ""
				break
			}
			v.Email, v.Connections = f.Email, nil
			h.render(w, r, http.StatusOK, "factors", v)
			return nil
		default:
			http.Redirect(w, r, steps[stepIndex(f.Step)].page+"?"+url.Values{"flow": {f.ID}}.Encode(), http.StatusSeeOther)
			return nil
		}
	}
	h.render(w, r, http.StatusOK, "signin", v)
	return nil
}

// signInIdentify takes the email and shows the ways to sign in. Every
// address gets the same page, so it does not tell who has an account; an
// enterprise's domain goes straight to its identity provider instead.
func (h *Handler) signInIdentify(w http.ResponseWriter, r *http.Request, f *flow) error {
	if h.limited(r.Context(), "identify-ip:"+h.addressKey(r), identifiesPerIP) {
		return slowDown()
	}
	email, err := users.ValidateEmail(r.PostFormValue("email"))
	if err != nil {
		v := &view{Title: t("signin.title"), Request: f.request(), Flow: f.id(), Next: f.Next, Email: r.PostFormValue("email"),
			Error: err.Error(), Connections: h.socialButtons(r.Context())}
		h.render(w, r, http.StatusBadRequest, "signin", v)
		return nil
	}
	f.Email = email
	if c := h.connectionForEmail(r.Context(), email); c != nil {
		if f.ID == "" {
			if err := h.save(w, r, f, ""); err != nil {
				return err
			}
		}
		return h.goUpstream(w, r, c, f, "", email)
	}
	return h.moveTo(w, r, f, stepFirstFactor)
}

// signInPassword checks the password of the address the flow identified.
func (h *Handler) signInPassword(w http.ResponseWriter, r *http.Request, f *flow) error {
	ctx := r.Context()
	ipKey := "login-failures-ip:" + h.addressKey(r)
	if h.over(ctx, ipKey, failuresPerIP) {
		return slowDown()
	}
	u, err := h.opts.Users.Authenticate(ctx, f.Email, r.PostFormValue("password"))
	var locked *users.LockedError
	switch {
	case errors.As(err, &locked):
		// Every answer of a locked account is this one, the attempt that
		// locked it included; only that attempt emails the owner.
		if locked.JustLocked {
			h.limited(ctx, ipKey, failuresPerIP)
			if u, err := h.opts.Store.GetUserByEmail(ctx, f.Email); err == nil {
				h.notifyLocked(r, u, locked.Until)
			}
		}
		return failure(http.StatusForbidden, lockedMessage(locked.Until))
	case errors.Is(err, users.ErrInvalidCredentials) || errors.Is(err, users.ErrBanned):
		h.limited(ctx, ipKey, failuresPerIP)
		h.render(w, r, http.StatusUnauthorized, "factors", &view{Title: t("signin.title"), Request: f.request(), Flow: f.ID,
			Email: f.Email, Error: t("signin.failed")})
		return nil
	case err != nil:
		return err
	}
	// A password used from a browser this account has not signed in from
	// before: the owner hears of it, in case it was not them, once the
	// flow has moved on (of two racing posts, only the one that moved it).
	newBrowser := u.PrimaryEmail().Verified && !h.seenBefore(r, u.ID)
	h.opts.Sessions.BrowserID(w, r)
	if err := h.authenticated(w, r, f, u, factorPassword, []string{"pwd"}); err != nil {
		return err
	}
	if newBrowser {
		// mail.Data has no place of its own: the address carries it.
		h.notify(r, u, mail.NewSignIn, mail.Data{UserAgent: describeDevice(r.UserAgent()), IPAddress: h.placed(h.opts.Sessions.ClientIP(r)),
			When: h.opts.Now(), ResetURL: h.opts.Issuer + "/reset"})
	}
	return nil
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
	got := h.opts.Sessions.Cookie(r, name)
	return got != "" && hmac.Equal([]byte(got), []byte(value))
}

func (h *Handler) remember(w http.ResponseWriter, userID string) {
	name, value := h.seenCookie(userID)
	h.opts.Sessions.SetCookie(w, name, value, 365*24*time.Hour)
}

// notifyLocked tells the owner their account was locked. It is sent once
// per lock (by the attempt that locked it), and never held back by the
// cap on other notices.
func (h *Handler) notifyLocked(r *http.Request, u *storage.User, until time.Time) {
	d := mail.Data{ResetURL: h.opts.Issuer + "/reset"}
	if until.Before(users.LockedIndefinitely) {
		d.LockedUntil = until
	}
	h.send(r, u, mail.AccountLocked, d)
}

// noticesPerHour caps the security notices (new sign-in) one account is
// sent in an hour: a burst of sign-ins must not become a burst of emails.
const noticesPerHour = 5

// notify emails the user's primary address about their account, at most
// noticesPerHour times an hour. It is news, not a step the user waits
// for, so a failure is only logged.
func (h *Handler) notify(r *http.Request, u *storage.User, kind mail.Kind, d mail.Data) {
	n, err := h.opts.Store.HitRateLimit(r.Context(), "notices:"+u.ID, time.Hour, h.opts.Now())
	if err != nil {
		h.opts.Log.Error("rate limit", "err", err)
	}
	if n > noticesPerHour {
		h.opts.Log.Info("notice email held back: too many this hour", "kind", string(kind), "user_id", u.ID)
		return
	}
	h.send(r, u, kind, d)
}

func (h *Handler) send(r *http.Request, u *storage.User, kind mail.Kind, d mail.Data) {
	d.To, d.Brand = u.PrimaryEmail().Email, h.mailBrand()
	msg, err := mail.Render(kind, d)
	if err == nil {
		err = h.opts.Mail.Send(r.Context(), msg)
	}
	if err != nil {
		h.opts.Log.Warn("notice email not sent", "kind", string(kind), "user_id", u.ID, "err", err)
	}
}

// signInEmail sends a sign-in code and link to the address the flow
// identified. An unknown address gets the same page, with a challenge ID
// that matches nothing.
func (h *Handler) signInEmail(w http.ResponseWriter, r *http.Request, f *flow) error {
	ctx := r.Context()
	if h.limited(ctx, "email-ip:"+h.addressKey(r), emailsPerIP) || h.limited(ctx, emailKey(f.Email), emailsPerAddress) {
		return slowDown()
	}
	// Every answer sets the same cookies, known address or not.
	h.opts.Sessions.BrowserID(w, r)
	u, addr, err := h.owner(ctx, f.Email)
	if errors.Is(err, storage.ErrNotFound) {
		http.Redirect(w, r, codePagePath(storage.ChallengeSignIn, storage.NewID(storage.PrefixChallenge), f.Email, f.ID), http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	ch, err := h.issue(w, r, u, addr, storage.ChallengeSignIn, f.ID)
	if err != nil {
		return err
	}
	http.Redirect(w, r, codePagePath(ch.Purpose, ch.ID, ch.Email, f.ID), http.StatusSeeOther)
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
