package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

func (h *Handler) signUpPage(w http.ResponseWriter, r *http.Request) error {
	if !h.opts.SignUp {
		return failure(http.StatusForbidden, t("signup.disabled"))
	}
	f, err := h.pageFlow(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	v := &view{Title: t("signup.title"), Request: f.request(), Flow: f.id(), Email: q.Get("email"), FirstName: q.Get("first_name"),
		LastName: q.Get("last_name"), Username: q.Get("username"), RequireName: h.opts.RequireName, RequireUsername: h.opts.RequireUsername,
		Connections: h.socialButtons(r.Context())}
	if v.Request != nil && v.Email == "" && strings.Contains(v.Request.LoginHint, "@") {
		v.Email = v.Request.LoginHint
	}
	h.render(w, r, http.StatusOK, "signup", v)
	return nil
}

// signUpSubmit creates the account with an unverified address and emails
// a code to verify it. An address that already has an account gets an
// email saying so instead, and the page is the same: sign-up does not
// tell who has an account. The new account's first factor is proving its
// address: the flow goes on to that step.
func (h *Handler) signUpSubmit(w http.ResponseWriter, r *http.Request, fl *flow) error {
	if !h.opts.SignUp {
		return failure(http.StatusForbidden, t("signup.disabled"))
	}
	ctx := r.Context()
	if h.limited(ctx, "signup-ip:"+h.addressKey(r), signUpsPerIP) {
		return slowDown()
	}
	f := r.PostForm
	nu := users.NewUser{Email: f.Get("email"), Password: f.Get("password"), FirstName: strings.TrimSpace(f.Get("first_name")),
		LastName: strings.TrimSpace(f.Get("last_name")), Username: strings.TrimSpace(f.Get("username"))}
	again := func(msg string) error {
		h.render(w, r, http.StatusBadRequest, "signup", &view{Title: t("signup.title"), Request: fl.request(), Flow: fl.id(), Error: msg,
			Email: nu.Email, FirstName: nu.FirstName, LastName: nu.LastName, Username: nu.Username,
			RequireName: h.opts.RequireName, RequireUsername: h.opts.RequireUsername})
		return nil
	}
	switch {
	case h.opts.RequireName && (nu.FirstName == "" || nu.LastName == ""):
		return again(t("signup.name_required"))
	case h.opts.RequireUsername && nu.Username == "":
		return again(t("signup.username_required"))
	}
	if err := h.checkNewPassword(nu.Password); err != nil {
		return again(err.Error())
	}
	email, err := users.ValidateEmail(nu.Email)
	if err != nil {
		return again(err.Error())
	}
	if h.limited(ctx, emailKey(email), emailsPerAddress) {
		return slowDown()
	}
	h.opts.Sessions.BrowserID(w, r)
	if err := h.releaseUnverifiedClaim(ctx, email); err != nil {
		return err
	}
	u, err := h.opts.Users.Create(ctx, nu)
	var invalid *users.ValidationError
	switch {
	case errors.Is(err, users.ErrEmailTaken):
		return h.signUpTaken(w, r, fl, email)
	case errors.Is(err, users.ErrUsernameTaken):
		return again(t("account.username_taken"))
	case errors.As(err, &invalid):
		return again(invalid.Message)
	case err != nil:
		return err
	}
	fl.Email = email
	return h.authenticated(w, r, fl, u, factorSignUp, nil)
}

// releaseUnverifiedClaim removes email from another account that added it
// and never proved it, so an address cannot be kept from its owner by
// claiming it first.
func (h *Handler) releaseUnverifiedClaim(ctx context.Context, email string) error {
	u, err := h.opts.Store.GetUserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if addr, ok := addressOf(u, email); ok && !addr.Verified && !addr.Primary {
		if err := h.opts.Store.DeleteEmail(ctx, u.ID, addr.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}

// signUpTaken tells the owner of an address that someone tried to sign up
// with it, and shows the page a new account would have shown: the flow
// waits at the verification step for a code that does not exist.
func (h *Handler) signUpTaken(w http.ResponseWriter, r *http.Request, fl *flow, email string) error {
	msg, err := mail.Render(mail.SignUpAttempt, mail.Data{To: email, Brand: h.mailBrand(),
		SignInURL: h.opts.Issuer + PathSignIn, ResetURL: h.opts.Issuer + "/reset"})
	if err != nil {
		return err
	}
	if err := h.opts.Mail.Send(r.Context(), msg); err != nil {
		return &pageError{Status: http.StatusServiceUnavailable, Message: t("mail.not_sent"), Cause: err}
	}
	from := fl.Step
	fl.Email, fl.Step = email, stepVerifyEmail
	if err := h.save(w, r, fl, from); err != nil {
		return err
	}
	http.Redirect(w, r, codePagePath(storage.ChallengeVerifyEmail, storage.NewID(storage.PrefixChallenge), email, fl.ID), http.StatusSeeOther)
	return nil
}

// checkNewPassword applies the password rules (length, breached list).
func (h *Handler) checkNewPassword(pw string) error {
	if err := users.ValidatePassword(pw); err != nil {
		var invalid *users.ValidationError
		if errors.As(err, &invalid) {
			return errors.New(invalid.Message)
		}
		return err
	}
	return nil
}
