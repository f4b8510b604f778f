package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

// accountHandler is a page of a signed-in user.
type accountHandler func(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error

// withUser runs fn for the session's user, or sends the browser to sign
// in.
func (h *Handler) withUser(fn accountHandler) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s := h.opts.Sessions.Use(r)
		if s == nil {
			http.Redirect(w, r, PathSignIn, http.StatusSeeOther)
			return nil
		}
		u, err := h.opts.Store.GetUser(r.Context(), s.UserID)
		if errors.Is(err, storage.ErrNotFound) {
			http.Redirect(w, r, PathSignIn, http.StatusSeeOther)
			return nil
		}
		if err != nil {
			return err
		}
		return fn(w, r, s, u)
	}
}

// recentSignIn is how fresh a sign-in must be for the changes that could
// hand the account to someone else or end it: a session left open on a
// shared computer is not enough for those.
const recentSignIn = 15 * time.Minute

// sensitive runs fn only for a session signed in within recentSignIn;
// others are asked to sign in again first.
func (h *Handler) sensitive(fn accountHandler) accountHandler {
	return func(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error {
		if h.opts.Now().Sub(s.AuthTime) > recentSignIn {
			http.Redirect(w, r, PathSignIn+"?"+url.Values{"again": {"1"}, "email": {u.PrimaryEmail().Email}}.Encode(), http.StatusSeeOther)
			return nil
		}
		return fn(w, r, s, u)
	}
}

// accountView fills the profile page for the signed-in user.
func (h *Handler) accountView(r *http.Request, s *storage.Session, u *storage.User) (*view, error) {
	ctx := r.Context()
	v := &view{Title: t("account.title"), User: u}
	sessions, err := h.opts.Sessions.List(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, x := range sessions {
		v.Sessions = append(v.Sessions, sessionView{ID: x.ID, Device: describeDevice(x.UserAgent), IPAddress: x.IPAddress,
			Location: h.locate(x.IPAddress), LastActive: x.LastActiveAt, Created: x.CreatedAt, Current: x.ID == s.ID})
	}
	links, err := h.opts.Store.ListUserExternalIdentities(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	linked := map[string]bool{}
	for _, l := range links {
		name := l.ConnectionID
		if c, err := h.opts.Store.GetConnection(ctx, l.ConnectionID); err == nil {
			name, linked[c.Slug] = c.DisplayName, true
		}
		v.Identities = append(v.Identities, identityView{ID: l.ID, Connection: name, Email: l.Email})
	}
	for _, b := range h.socialButtons(ctx) {
		if !linked[b.Slug] {
			v.Connections = append(v.Connections, b)
		}
	}
	consents, err := h.opts.Store.ListUserConsents(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range consents {
		cv := consentView{ClientID: c.ClientID, ClientName: c.ClientID, Scopes: describeScopes(c.Scopes)}
		if cl, err := h.opts.Store.GetClient(ctx, c.ClientID); err == nil {
			cv.ClientName = cl.Name
		}
		v.Consents = append(v.Consents, cv)
	}
	return v, nil
}

func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error {
	v, err := h.accountView(r, s, u)
	if err != nil {
		return err
	}
	// Notices come by key only, and only the page's own keys, so a
	// crafted link cannot put words on the page.
	switch key := r.URL.Query().Get("notice"); {
	case key == "link.app_other":
		v.Notice = t(key)
	case key == "verify.done" || strings.HasPrefix(key, "account."):
		if _, ok := en[key]; ok {
			v.Success = t(key)
		}
	}
	h.render(w, r, http.StatusOK, "account", v)
	return nil
}

// accountAgain shows the profile page again with an error.
func (h *Handler) accountAgain(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User, status int, msg string) error {
	v, err := h.accountView(r, s, u)
	if err != nil {
		return err
	}
	v.Error = msg
	h.render(w, r, status, "account", v)
	return nil
}

func done(w http.ResponseWriter, r *http.Request, notice string) error {
	http.Redirect(w, r, PathAccount+"?"+url.Values{"notice": {notice}}.Encode(), http.StatusSeeOther)
	return nil
}

func (h *Handler) profileSubmit(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error {
	p := users.Profile{FirstName: strings.TrimSpace(r.PostFormValue("first_name")),
		LastName: strings.TrimSpace(r.PostFormValue("last_name")), Username: strings.TrimSpace(r.PostFormValue("username")),
		ImageURL: strings.TrimSpace(r.PostFormValue("image_url"))}
	switch {
	case h.opts.RequireName && (p.FirstName == "" || p.LastName == ""):
		return h.accountAgain(w, r, s, u, http.StatusBadRequest, t("signup.name_required"))
	case h.opts.RequireUsername && p.Username == "":
		return h.accountAgain(w, r, s, u, http.StatusBadRequest, t("signup.username_required"))
	}
	err := h.opts.Users.UpdateProfile(r.Context(), u.ID, p)
	var invalid *users.ValidationError
	switch {
	case errors.Is(err, users.ErrUsernameTaken):
		return h.accountAgain(w, r, s, u, http.StatusConflict, t("account.username_taken"))
	case errors.As(err, &invalid):
		return h.accountAgain(w, r, s, u, http.StatusBadRequest, invalid.Error())
	case err != nil:
		return err
	}
	return done(w, r, "account.saved")
}

func (h *Handler) passwordSubmit(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error {
	// A locked account's password is not checked here either: a stolen
	// session must not be a way around the lockout.
	if until, locked, err := h.opts.Users.CheckLocked(r.Context(), u.ID); err != nil {
		return err
	} else if locked {
		return failure(http.StatusForbidden, lockedMessage(until))
	}
	if err := h.checkNewPassword(r.PostFormValue("password")); err != nil {
		return h.accountAgain(w, r, s, u, http.StatusBadRequest, err.Error())
	}
	err := h.opts.Users.ChangePassword(r.Context(), u, r.PostFormValue("current"), r.PostFormValue("password"))
	if errors.Is(err, users.ErrWrongPassword) {
		var locked *users.LockedError
		switch ferr := h.opts.Users.CountFailedAttempt(r.Context(), u.ID); {
		case errors.As(ferr, &locked):
			if locked.JustLocked {
				h.notifyLocked(r, u, locked.Until)
			}
			return failure(http.StatusForbidden, lockedMessage(locked.Until))
		case ferr != nil:
			return ferr
		}
		return h.accountAgain(w, r, s, u, http.StatusUnauthorized, t("account.wrong_password"))
	}
	if err != nil {
		return err
	}
	// Other browsers signed in with the old password are signed out, and
	// this one's cookie changes, so a copy taken before is worthless.
	if err := h.opts.Sessions.RevokeOthers(r.Context(), u.ID, s.ID); err != nil {
		return err
	}
	if err := h.opts.Sessions.Rotate(w, r, s); err != nil {
		return err
	}
	return done(w, r, "account.password_set")
}

func (h *Handler) emailAdd(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error {
	ctx := r.Context()
	email, err := users.ValidateEmail(r.PostFormValue("email"))
	if err != nil {
		return h.accountAgain(w, r, s, u, http.StatusBadRequest, err.Error())
	}
	if _, own := addressOf(u, email); own {
		return h.accountAgain(w, r, s, u, http.StatusConflict, t("account.email_yours"))
	}
	if len(u.Emails) >= maxEmailsPerUser {
		return h.accountAgain(w, r, s, u, http.StatusBadRequest, t("account.too_many_emails"))
	}
	if h.limited(ctx, "email-ip:"+h.addressKey(r), emailsPerIP) || h.limited(ctx, "email-user:"+u.ID, emailsPerAddress) ||
		h.limited(ctx, emailKey(email), emailsPerAddress) {
		return slowDown()
	}
	if err := h.releaseUnverifiedClaim(ctx, email); err != nil {
		return err
	}
	addr := &storage.EmailAddress{Email: email}
	err = h.opts.Store.AddEmail(ctx, u.ID, addr)
	if errors.Is(err, storage.ErrConflict) {
		return h.accountAgain(w, r, s, u, http.StatusConflict, t("account.email_taken"))
	}
	if err != nil {
		return err
	}
	ch, err := h.issue(w, r, u, *addr, storage.ChallengeVerifyEmail, "")
	if err != nil {
		return err
	}
	http.Redirect(w, r, codePagePath(ch.Purpose, ch.ID, ch.Email, ""), http.StatusSeeOther)
	return nil
}

// ownEmail finds the address the form names among the user's.
func ownEmail(u *storage.User, id string) (storage.EmailAddress, bool) {
	id = cleanID(id)
	i := slices.IndexFunc(u.Emails, func(e storage.EmailAddress) bool { return e.ID == id })
	if i < 0 {
		return storage.EmailAddress{}, false
	}
	return u.Emails[i], true
}

func (h *Handler) emailVerify(w http.ResponseWriter, r *http.Request, _ *storage.Session, u *storage.User) error {
	addr, ok := ownEmail(u, r.PostFormValue("id"))
	if !ok {
		return failure(http.StatusBadRequest, t("account.unknown_email"))
	}
	if h.limited(r.Context(), emailKey(addr.Email), emailsPerAddress) {
		return slowDown()
	}
	ch, err := h.issue(w, r, u, addr, storage.ChallengeVerifyEmail, "")
	if err != nil {
		return err
	}
	http.Redirect(w, r, codePagePath(ch.Purpose, ch.ID, ch.Email, ""), http.StatusSeeOther)
	return nil
}

func (h *Handler) emailPrimary(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error {
	addr, ok := ownEmail(u, r.PostFormValue("id"))
	if !ok {
		return failure(http.StatusBadRequest, t("account.unknown_email"))
	}
	if !addr.Verified {
		return h.accountAgain(w, r, s, u, http.StatusBadRequest, t("account.verify_first"))
	}
	if err := h.opts.Store.SetPrimaryEmail(r.Context(), u.ID, addr.ID); err != nil {
		return err
	}
	return done(w, r, "account.primary_set")
}

func (h *Handler) emailRemove(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error {
	addr, ok := ownEmail(u, r.PostFormValue("id"))
	if !ok {
		return failure(http.StatusBadRequest, t("account.unknown_email"))
	}
	err := h.opts.Store.DeleteEmail(r.Context(), u.ID, addr.ID)
	if errors.Is(err, storage.ErrConflict) {
		return h.accountAgain(w, r, s, u, http.StatusBadRequest, t("account.remove_primary"))
	}
	if err != nil {
		return err
	}
	return done(w, r, "account.email_removed")
}

func (h *Handler) sessionRevoke(w http.ResponseWriter, r *http.Request, _ *storage.Session, u *storage.User) error {
	// Another user's session is answered like an unknown one.
	if err := h.opts.Sessions.Revoke(r.Context(), u.ID, cleanID(r.PostFormValue("id"))); err != nil {
		return err
	}
	return done(w, r, "account.session_out")
}

func (h *Handler) sessionsRevokeOthers(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error {
	if err := h.opts.Sessions.RevokeOthers(r.Context(), u.ID, s.ID); err != nil {
		return err
	}
	return done(w, r, "account.others_out_done")
}

func (h *Handler) consentRevoke(w http.ResponseWriter, r *http.Request, _ *storage.Session, u *storage.User) error {
	err := provider.RevokeConsent(r.Context(), h.opts.Store, u.ID, cleanID(r.PostFormValue("client_id")), h.opts.Now())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return done(w, r, "account.access_revoked")
}

func (h *Handler) deletePage(w http.ResponseWriter, r *http.Request, _ *storage.Session, u *storage.User) error {
	h.render(w, r, http.StatusOK, "delete", &view{Title: t("delete.title")})
	return nil
}

// deleteSubmit deletes the account. Its sessions, tokens, consents and
// pending emails go with it (the database cascades the user's rows).
func (h *Handler) deleteSubmit(w http.ResponseWriter, r *http.Request, _ *storage.Session, u *storage.User) error {
	if r.PostFormValue("confirm") != "DELETE" {
		h.render(w, r, http.StatusBadRequest, "delete", &view{Title: t("delete.title"), Error: t("delete.mistyped")})
		return nil
	}
	if err := h.opts.Users.Delete(r.Context(), u.ID); err != nil {
		return err
	}
	_ = h.opts.Sessions.SignOut(w, r)
	h.render(w, r, http.StatusOK, "signedout", &view{Title: t("delete.done")})
	return nil
}

func (h *Handler) signOutPage(w http.ResponseWriter, r *http.Request) error {
	h.render(w, r, http.StatusOK, "signout", &view{Title: t("signout.title")})
	return nil
}

func (h *Handler) signOutSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := h.opts.Sessions.SignOut(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
	return nil
}

func (h *Handler) signedOutPage(w http.ResponseWriter, r *http.Request) error {
	h.render(w, r, http.StatusOK, "signedout", &view{Title: t("signedout.title")})
	return nil
}

// brandCSS carries the configured colour, so pages need no inline style
// and the CSP can refuse all inline styles.
func (h *Handler) brandCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write([]byte(":root{--brand:" + h.opts.Brand.PrimaryColor + "}\n"))
}
