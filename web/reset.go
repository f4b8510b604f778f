package web

import (
	"errors"
	"net/http"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) error {
	h.render(w, r, http.StatusOK, "reset", &view{Title: t("reset.title"), Request: h.pending(r), Email: r.URL.Query().Get("email")})
	return nil
}

// resetRequest emails a reset code and link. Every address gets the same
// answer, so the form does not tell who has an account.
func (h *Handler) resetRequest(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	email, err := users.ValidateEmail(r.PostFormValue("email"))
	if err != nil {
		h.render(w, r, http.StatusBadRequest, "reset", &view{Title: t("reset.title"), Request: h.pending(r), Email: r.PostFormValue("email"), Error: err.Error()})
		return nil
	}
	if h.limited(ctx, "email-ip:"+h.opts.Provider.ClientIP(r), emailsPerIP) || h.limited(ctx, emailKey(email), emailsPerAddress) {
		return slowDown()
	}
	h.browserID(w, r)
	u, addr, err := h.owner(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		http.Redirect(w, r, codePagePath(storage.ChallengeResetPassword, storage.NewID(storage.PrefixChallenge), email), http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	ch, err := h.issue(w, r, u, addr, storage.ChallengeResetPassword, r.PostFormValue("ar"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, codePagePath(ch.Purpose, ch.ID, ch.Email), http.StatusSeeOther)
	return nil
}
