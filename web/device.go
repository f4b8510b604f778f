package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
)

// The device code page (RFC 8628): a person types the code their TV or
// terminal shows, signs in on the hosted pages if they are not, and allows
// or denies the device. The provider finds the code (counting wrong ones)
// and records the answer.

// deviceError is the page's answer to what FindDevice or AnswerDevice
// refused.
func deviceError(err error) *pageError {
	switch {
	case errors.Is(err, provider.ErrTooManyGuesses):
		return failure(http.StatusTooManyRequests, t("device.too_many"))
	case errors.Is(err, provider.ErrNoUserCode):
		return failure(http.StatusBadRequest, t("device.enter_code"))
	case errors.Is(err, provider.ErrUnknownUserCode):
		return failure(http.StatusBadRequest, t("device.unknown"))
	case errors.Is(err, provider.ErrUserCodeUsed):
		return failure(http.StatusBadRequest, t("device.used"))
	case errors.Is(err, provider.ErrDeviceClientGone):
		return failure(http.StatusBadRequest, t("device.client_gone"))
	}
	return nil
}

// deviceGuessKeys are what wrong codes are counted against: the network
// address, and the session when there is one.
func (h *Handler) deviceGuessKeys(r *http.Request, s *storage.Session) []string {
	keys := []string{"ip:" + h.addressKey(r)}
	if s != nil {
		keys = append(keys, "session:"+s.ID)
	}
	return keys
}

// account names the signed-in user for the page; "" without a session.
func (h *Handler) account(ctx context.Context, s *storage.Session) string {
	if s == nil {
		return ""
	}
	u, err := h.opts.Store.GetUser(ctx, s.UserID)
	if err != nil {
		return t("device.your_account")
	}
	if e := u.PrimaryEmail().Email; e != "" {
		return e
	}
	if u.Username != "" {
		return u.Username
	}
	return t("device.your_account")
}

// findDevice looks up the code the page was given; when it cannot be
// answered, it shows the code form again with why and returns nil.
func (h *Handler) findDevice(w http.ResponseWriter, r *http.Request, s *storage.Session, v *view) (*provider.DeviceRequest, error) {
	d, err := h.opts.Provider.FindDevice(r.Context(), v.UserCode, h.deviceGuessKeys(r, s)...)
	if pe := deviceError(err); pe != nil {
		v.Error = pe.Message
		h.render(w, r, pe.Status, "device", v)
		return nil, nil
	}
	return d, err
}

// devicePage shows the code form, or, for a signed-in user who brought a
// code, asks whether to allow the device.
func (h *Handler) devicePage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s := h.opts.Sessions.Use(r)
	v := &view{Title: t("device.title"), Account: h.account(ctx, s), UserCode: r.URL.Query().Get("user_code")}
	if v.UserCode == "" {
		h.render(w, r, http.StatusOK, "device", v)
		return nil
	}
	d, err := h.findDevice(w, r, s, v)
	if d == nil || err != nil {
		return err
	}
	if s == nil {
		h.render(w, r, http.StatusOK, "device", v)
		return nil
	}
	return h.deviceConfirm(w, r, d, v)
}

// deviceConfirm asks the signed-in user to allow or deny the device,
// naming the application and the code, so a code sent by someone else
// (remote phishing, RFC 8628 section 5.4) has a chance to be noticed.
func (h *Handler) deviceConfirm(w http.ResponseWriter, r *http.Request, d *provider.DeviceRequest, v *view) error {
	v.ClientName, v.UserCode, v.Scopes = d.ClientName, d.UserCode, describeScopes(d.Scopes)
	h.render(w, r, http.StatusOK, "device_confirm", v)
	return nil
}

// deviceSubmit takes the code form (sending a signed-out browser to sign
// in first, and back) or the allow/deny answer.
func (h *Handler) deviceSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s := h.opts.Sessions.Use(r)
	v := &view{Title: t("device.title"), Account: h.account(ctx, s), UserCode: r.PostFormValue("user_code")}
	action := r.PostFormValue("action")
	if (action == "approve" || action == "deny") && s == nil {
		v.Error = t("device.sign_in_first")
		h.render(w, r, http.StatusUnauthorized, "device", v)
		return nil
	}
	d, err := h.findDevice(w, r, s, v)
	if d == nil || err != nil {
		return err
	}
	switch action {
	case "approve", "deny":
		allow := action == "approve"
		err := h.opts.Provider.AnswerDevice(ctx, d, provider.Authentication{UserID: s.UserID, SessionID: s.ID, AMR: s.AMR, AuthTime: s.AuthTime}, allow)
		if errors.Is(err, provider.ErrUnknownUserCode) {
			return failure(http.StatusBadRequest, t("device.expired"))
		}
		if pe := deviceError(err); pe != nil {
			return pe
		}
		if err != nil {
			return err
		}
		if !allow {
			h.render(w, r, http.StatusOK, "message", &view{Title: t("device.refused"), Notice: t("device.refused_body")})
			return nil
		}
		h.render(w, r, http.StatusOK, "message", &view{Title: t("device.connected"), Notice: t("device.connected_body")})
		return nil
	case "":
	default:
		return failure(http.StatusBadRequest, t("device.bad_form"))
	}
	back := provider.DevicePath + "?" + url.Values{"user_code": {d.UserCode}}.Encode()
	if s == nil {
		// The hosted pages sign the user in, then bring them back here.
		http.Redirect(w, r, PathSignIn+"?"+url.Values{"next": {back}}.Encode(), http.StatusSeeOther)
		return nil
	}
	// The signed-in user is asked to allow or deny on the page itself.
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}
