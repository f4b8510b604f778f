package web

import (
	"errors"
	"net/http"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) error {
	f, err := h.pageFlow(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "reset", &view{Title: t("reset.title"), Request: f.request(), Flow: f.id(), Email: r.URL.Query().Get("email")})
	return nil
}

// resetRequest emails a reset code and link. Every address gets the same
// answer, so the form does not tell who has an account. A reset is a way
// of proving the first factor: the flow, if any, goes on once the code is
// answered.
func (h *Handler) resetRequest(w http.ResponseWriter, r *http.Request, f *flow) error {
	ctx := r.Context()
	email, err := users.ValidateEmail(r.PostFormValue("email"))
	if err != nil {
		h.render(w, r, http.StatusBadRequest, "reset", &view{Title: t("reset.title"), Request: f.request(), Flow: f.id(),
			Email: r.PostFormValue("email"), Error: err.Error()})
		return nil
	}
	if h.limited(ctx, "email-ip:"+h.addressKey(r), emailsPerIP) || h.limited(ctx, emailKey(email), emailsPerAddress) {
		return slowDown()
	}
	h.opts.Sessions.BrowserID(w, r)
	if f.ID == "" {
		f.Step = stepFirstFactor
	}
	f.Email = email
	if err := h.save(w, r, f, f.Step); err != nil {
		return err
	}
	u, addr, err := h.owner(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		http.Redirect(w, r, codePagePath(storage.ChallengeResetPassword, storage.NewID(storage.PrefixChallenge), email, f.ID), http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	ch, err := h.issue(w, r, u, addr, storage.ChallengeResetPassword, f.ID)
	if err != nil {
		return err
	}
	http.Redirect(w, r, codePagePath(ch.Purpose, ch.ID, ch.Email, f.ID), http.StatusSeeOther)
	return nil
}
