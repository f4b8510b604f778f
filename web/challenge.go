package web

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/session"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

// Where each purpose's code form and link live.
var (
	codePaths = map[string]string{storage.ChallengeSignIn: PathSignIn + "/code", storage.ChallengeVerifyEmail: "/verify", storage.ChallengeResetPassword: "/reset/code"}
	linkPaths = map[string]string{storage.ChallengeSignIn: PathSignIn + "/link", storage.ChallengeVerifyEmail: "/verify/link", storage.ChallengeResetPassword: "/reset/link"}
	mailKinds = map[string]mail.Kind{storage.ChallengeSignIn: mail.SignIn, storage.ChallengeVerifyEmail: mail.VerifyEmail, storage.ChallengeResetPassword: mail.ResetPassword}
	titles    = map[string]string{storage.ChallengeSignIn: "signin.check_email", storage.ChallengeVerifyEmail: "verify.title", storage.ChallengeResetPassword: "reset.title"}
	// The link pages come after the email was opened.
	linkTitles = map[string]string{storage.ChallengeSignIn: "link.confirm_sign_in", storage.ChallengeVerifyEmail: "verify.title", storage.ChallengeResetPassword: "reset.title"}
)

// codePagePath is the page that asks for the code of challenge id, sent
// to email during flow flowID (or none).
func codePagePath(purpose, id, email, flowID string) string {
	q := url.Values{"ch": {id}, "to": {email}}
	if flowID != "" {
		q.Set("flow", flowID)
	}
	return codePaths[purpose] + "?" + q.Encode()
}

// purposeOf is the purpose a page path serves.
func purposeOf(path string) string {
	for purpose, p := range codePaths {
		if p == path || linkPaths[purpose] == path {
			return purpose
		}
	}
	return ""
}

// issue creates a challenge for purpose and emails its code and link to
// addr, as part of flow flowID (or none). Only the newest challenge of a
// user and purpose works. When the email cannot be sent the challenge is
// withdrawn and the user told so.
func (h *Handler) issue(w http.ResponseWriter, r *http.Request, u *storage.User, addr storage.EmailAddress, purpose, flowID string) (*storage.EmailChallenge, error) {
	ctx := r.Context()
	now := h.opts.Now().UTC()
	code, token := newCode(), session.Random(32)
	ch := &storage.EmailChallenge{
		ID: storage.NewID(storage.PrefixChallenge), Purpose: purpose, UserID: u.ID, EmailID: addr.ID, Email: addr.Email,
		LinkHash: linkHash(token), FlowID: flowID, BrowserHash: h.opts.Sessions.BrowserHash(w, r),
		IPAddress: h.opts.Sessions.ClientIP(r), UserAgent: truncate(r.UserAgent(), 512),
		CreatedAt: now, ExpiresAt: now.Add(h.opts.CodeTTL),
	}
	ch.CodeHash = h.codeHash(ch.ID, code)
	if err := h.opts.Store.CreateEmailChallenge(ctx, ch); err != nil {
		return nil, err
	}
	msg, err := mail.Render(mailKinds[purpose], mail.Data{
		To: addr.Email, Code: code, Link: h.opts.Issuer + linkPaths[purpose] + "?t=" + token,
		ExpiresIn: h.opts.CodeTTL, Brand: h.mailBrand(),
	})
	if err != nil {
		return nil, err
	}
	if err := h.opts.Mail.Send(ctx, msg); err != nil {
		h.opts.Log.Warn("email not sent", "purpose", purpose, "user_id", u.ID, "err", err)
		_ = h.opts.Store.UseEmailChallenge(ctx, ch.ID, now)
		return nil, &pageError{Status: http.StatusServiceUnavailable, Message: t("mail.not_sent"), Cause: err}
	}
	return ch, nil
}

func (h *Handler) mailBrand() mail.Brand {
	b := h.opts.Brand
	return mail.Brand{ProductName: b.ProductName, LogoURL: b.LogoURL, PrimaryColor: b.PrimaryColor, SupportEmail: b.SupportEmail}
}

// codePage asks for the code that was emailed.
func (h *Handler) codePage(w http.ResponseWriter, r *http.Request) error {
	purpose := purposeOf(r.URL.Path)
	q := r.URL.Query()
	h.render(w, r, http.StatusOK, "code", &view{Title: t(titles[purpose]), Purpose: purpose, Challenge: q.Get("ch"),
		MaskedEmail: maskEmail(q.Get("to")), Action: r.URL.RequestURI(), Flow: cleanID(q.Get("flow"))})
	return nil
}

// codeSubmit checks a typed code. Every try is counted before the code is
// compared, in the same statement that checks the limit, so guesses sent
// at once cannot get past it: a few per challenge (then it is used up),
// a bounded number per network address, and, for sign-in, wrong codes
// count toward the account's lockout.
func (h *Handler) codeSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	purpose := purposeOf(r.URL.Path)
	if h.limited(ctx, "code-ip:"+h.addressKey(r), failuresPerIP) {
		return slowDown()
	}
	f, err := h.codeFlow(r, purpose)
	if err != nil {
		return err
	}
	id := cleanID(r.PostFormValue("ch"))
	code := strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("code")), " ", "")
	again := func(status int, msg string) error {
		h.render(w, r, status, "code", &view{Title: t(titles[purpose]), Purpose: purpose, Challenge: id, Action: r.URL.RequestURI(),
			MaskedEmail: maskEmail(r.URL.Query().Get("to")), Error: msg, Flow: f.id()})
		return nil
	}
	ch, err := h.opts.Store.GetEmailChallenge(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (ch.Purpose != purpose || !ch.Usable(h.opts.Now()))) {
		return again(http.StatusUnauthorized, t("code.wrong"))
	}
	if err != nil {
		return err
	}
	if purpose == storage.ChallengeResetPassword {
		// A password the rules refuse must not use up a try.
		if err := h.checkNewPassword(r.PostFormValue("password")); err != nil {
			return again(http.StatusBadRequest, err.Error())
		}
	}
	if purpose == storage.ChallengeSignIn {
		if until, locked, err := h.opts.Users.CheckLocked(ctx, ch.UserID); err != nil {
			return err
		} else if locked {
			return failure(http.StatusForbidden, lockedMessage(until))
		}
	}
	tries, err := h.opts.Store.TakeEmailChallengeAttempt(ctx, ch.ID, wrongCodesPerEmail, h.opts.Now())
	if errors.Is(err, storage.ErrConflict) {
		return again(http.StatusUnauthorized, t("code.too_many"))
	}
	if err != nil {
		return err
	}
	if len(code) == 6 && subtle.ConstantTimeCompare(h.codeHash(ch.ID, code), ch.CodeHash) == 1 {
		if f == nil || ch.FlowID != f.ID {
			// A code typed into this browser's page belongs to a flow of
			// this browser, or to none (an address added on the account
			// page).
			f = nil
		}
		return h.answer(w, r, ch, f, f != nil || ch.FlowID == "")
	}
	if purpose == storage.ChallengeSignIn {
		var locked *users.LockedError
		switch err := h.opts.Users.CountFailedAttempt(ctx, ch.UserID); {
		case errors.As(err, &locked):
			if locked.JustLocked {
				if u, err := h.opts.Store.GetUser(ctx, ch.UserID); err == nil {
					h.notifyLocked(r, u, locked.Until)
				}
			}
			return failure(http.StatusForbidden, lockedMessage(locked.Until))
		case err != nil:
			return err
		}
	}
	if tries >= wrongCodesPerEmail {
		_ = h.opts.Store.UseEmailChallenge(ctx, ch.ID, h.opts.Now())
		return again(http.StatusUnauthorized, t("code.too_many"))
	}
	return again(http.StatusUnauthorized, t("code.wrong"))
}

// cleanID returns s when it could be a record ID, else "": IDs come from
// forms, and some databases refuse bytes such as NUL outright.
func cleanID(s string) string {
	if len(s) > 64 || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return ""
	}
	return s
}

// linkPage shows what an emailed link will do. Opening the link changes
// nothing: mail scanners open links too, so the user confirms with a form.
func (h *Handler) linkPage(w http.ResponseWriter, r *http.Request) error {
	purpose := purposeOf(r.URL.Path)
	token := r.URL.Query().Get("t")
	ch, err := h.opts.Store.GetEmailChallengeByLinkHash(r.Context(), linkHash(token))
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (ch.Purpose != purpose || !ch.Usable(h.opts.Now()))) {
		return failure(http.StatusBadRequest, t("link.invalid"))
	}
	if err != nil {
		return err
	}
	v := &view{Title: t(linkTitles[purpose]), Purpose: purpose, Token: token, Action: r.URL.Path, MaskedEmail: maskEmail(ch.Email)}
	if !h.opts.Sessions.SameBrowser(r, ch.BrowserHash) && purpose == storage.ChallengeSignIn {
		if loc := h.locate(ch.IPAddress); loc != "" {
			v.Elsewhere = tf("link.elsewhere_near", describeDevice(ch.UserAgent), ch.IPAddress, loc)
		} else {
			v.Elsewhere = tf("link.elsewhere", describeDevice(ch.UserAgent), ch.IPAddress)
		}
	}
	h.render(w, r, http.StatusOK, "link", v)
	return nil
}

func (h *Handler) linkSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	purpose := purposeOf(r.URL.Path)
	ch, err := h.opts.Store.GetEmailChallengeByLinkHash(ctx, linkHash(r.PostFormValue("t")))
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (ch.Purpose != purpose || !ch.Usable(h.opts.Now()))) {
		return failure(http.StatusBadRequest, t("link.invalid"))
	}
	if err != nil {
		return err
	}
	if purpose == storage.ChallengeResetPassword {
		if err := h.checkNewPassword(r.PostFormValue("password")); err != nil {
			h.render(w, r, http.StatusBadRequest, "link", &view{Title: t(titles[purpose]), Purpose: purpose, Token: r.PostFormValue("t"), Action: r.URL.Path, Error: err.Error()})
			return nil
		}
	}
	if purpose == storage.ChallengeSignIn {
		if until, locked, err := h.opts.Users.CheckLocked(ctx, ch.UserID); err != nil {
			return err
		} else if locked {
			return failure(http.StatusForbidden, lockedMessage(until))
		}
	}
	// The flow that sent the email goes on when the link is opened in its
	// browser; elsewhere the link signs in that browser only.
	var f *flow
	if ch.FlowID != "" {
		if got, err := h.loadFlow(r, ch.FlowID); err == nil && slices.Contains(flowStepsFor(purpose), got.Step) {
			f = got
		}
	}
	return h.answer(w, r, ch, f, f != nil || (ch.FlowID == "" && h.opts.Sessions.SameBrowser(r, ch.BrowserHash)))
}

// flowStepsFor are the steps of a flow at which an emailed code or link
// of purpose may be answered.
func flowStepsFor(purpose string) []string {
	if purpose == storage.ChallengeVerifyEmail {
		return []string{stepVerifyEmail}
	}
	return []string{stepIdentify, stepFirstFactor}
}

// codeFlow is the flow a code page names, which must be at a step where
// the purpose's code is answered; none is fine (a code sent from the
// account page, or a flow-less page).
func (h *Handler) codeFlow(r *http.Request, purpose string) (*flow, error) {
	f, err := h.pageFlow(r)
	if err != nil || f == nil || !slices.Contains(flowStepsFor(purpose), f.Step) {
		// A flow at another step is not moved on by this code: whatever
		// the code proves is then a sign-in of its own.
		return nil, err
	}
	return f, nil
}

// answer uses the challenge up and does what it was for. Whoever answers
// it has shown control of the address, so the address becomes verified.
// f is the flow the challenge was sent in when it goes on in this browser;
// otherwise a sign-in starts afresh here, and sameBrowser says whether this
// browser asked for the email (an application's sign-in is finished only
// in the browser that started it).
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, ch *storage.EmailChallenge, f *flow, sameBrowser bool) error {
	ctx := r.Context()
	now := h.opts.Now().UTC()
	if err := h.opts.Store.UseEmailChallenge(ctx, ch.ID, now); err != nil {
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			return failure(http.StatusBadRequest, t("link.invalid"))
		}
		return err
	}
	if err := h.opts.Store.SetEmailVerified(ctx, ch.UserID, ch.EmailID, true); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	u, err := h.opts.Store.GetUser(ctx, ch.UserID)
	if err != nil {
		return err
	}
	if u.Banned {
		return failure(http.StatusForbidden, t("signin.failed"))
	}
	if f == nil {
		f = h.newFlow("")
		if ch.FlowID != "" && !sameBrowser {
			// The email was asked for in another browser, perhaps for an
			// application: this browser is signed in to Usher only.
			f.Next = PathAccount + "?notice=link.app_other"
		}
		f.Step = stepFirstFactor
	}
	switch ch.Purpose {
	case storage.ChallengeResetPassword:
		if err := h.opts.Users.SetPassword(ctx, u.ID, r.PostFormValue("password")); err != nil {
			return err
		}
		// Whoever knew the old password is signed out everywhere (apps'
		// refresh tokens included), and the lock their guesses caused is
		// lifted for the owner.
		if err := h.opts.Sessions.RevokeOthers(ctx, u.ID, ""); err != nil {
			return err
		}
		if _, err := h.opts.Store.RevokeRefreshTokens(ctx, u.ID, "", now); err != nil {
			return err
		}
		if _, err := h.opts.Store.SupersedeEmailChallenges(ctx, u.ID, storage.ChallengeSignIn, now); err != nil {
			return err
		}
		if err := h.opts.Users.Unlock(ctx, u.ID); err != nil {
			return err
		}
		return h.authenticated(w, r, f, u, factorReset, []string{"pwd", "otp"})
	case storage.ChallengeVerifyEmail:
		if f.Step == stepVerifyEmail && f.UserID == u.ID {
			// The step of a flow whose first factor is behind it.
			f.AMR = append(f.AMR, "otp")
			return h.proceed(w, r, f)
		}
		if s := h.opts.Sessions.Use(r); s != nil && s.UserID == u.ID {
			http.Redirect(w, r, PathAccount+"?notice=verify.done", http.StatusSeeOther)
			return nil
		}
		// Proving an address added on the account page proves only that
		// address: it signs nobody in, or a mistyped address would hand
		// the account to its holder. Proving the primary address (at
		// sign-up) signs in, since whoever holds it could reset the
		// password anyway.
		if u.PrimaryEmail().ID != ch.EmailID {
			h.render(w, r, http.StatusOK, "message", &view{Title: t("verify.title"), Success: t("verify.done")})
			return nil
		}
		return h.authenticated(w, r, f, u, factorEmail, []string{"otp"})
	default:
		return h.authenticated(w, r, f, u, factorEmail, []string{"otp"})
	}
}

// describeDevice turns a User-Agent into words a person recognises.
func describeDevice(ua string) string {
	browser := "A browser"
	for _, b := range []struct{ token, name string }{{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"}} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	if system == "" {
		return browser
	}
	return fmt.Sprintf("%s on %s", browser, system)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
