package web

import (
	"net/http"
)

// logoutPage asks before signing out for an application's RP-initiated
// logout: a link alone never signs anyone out. The destination comes
// signed by the provider.
func (h *Handler) logoutPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	redirect, sig, ok := h.opts.Provider.LogoutTarget(q.Get("redirect"), q.Get("sig"))
	if !ok {
		return failure(http.StatusBadRequest, t("logout.bad_link"))
	}
	h.render(w, r, http.StatusOK, "logout", &view{Title: t("signout.title"), Redirect: redirect, Sig: sig})
	return nil
}

// logoutSubmit signs the browser out and goes where the application
// asked.
func (h *Handler) logoutSubmit(w http.ResponseWriter, r *http.Request) error {
	redirect, _, ok := h.opts.Provider.LogoutTarget(r.PostFormValue("redirect"), r.PostFormValue("sig"))
	if !ok || r.PostFormValue("redirect") == "" {
		return failure(http.StatusBadRequest, t("logout.bad_request"))
	}
	if err := h.opts.Sessions.SignOut(w, r); err != nil {
		h.opts.Log.Error("sign out", "err", err)
	}
	http.Redirect(w, r, redirect, http.StatusFound)
	return nil
}
