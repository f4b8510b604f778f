package web

import (
	"net/http"

	"github.com/usher-id/usher/provider"
)

// RenderProviderPage draws the provider's own pages (consent, sign-out
// confirmation, device code, messages) in the look of the hosted pages.
func (h *Handler) RenderProviderPage(w http.ResponseWriter, r *http.Request, status int, p provider.Page) {
	v := &view{Title: p.Title, CSRF: p.CSRF, Error: p.Error, Email: p.Email, Redirect: p.Redirect, Sig: p.Sig,
		ClientName: p.ClientName, Scopes: p.Scopes, UserCode: p.UserCode, Account: p.Account, Challenge: p.AuthRequestID}
	name := p.Name
	switch name {
	case "consent", "logout", "device", "device_confirm":
	case "login":
		// Only reached when the provider has no sign-in page of its own.
		name, v.Error = "message", p.Message
	default:
		name = "message"
		// A provider message is news for the user, not always an error.
		if status < 400 {
			v.Notice = p.Message
		} else {
			v.Error = p.Message
		}
	}
	h.render(w, r, status, name, v)
}
