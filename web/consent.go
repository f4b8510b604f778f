package web

import (
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/usher-id/usher/provider"
)

// pathConsent is the consent step's page.
const pathConsent = "/consent"

// consentPage asks the signed-in user whether the third-party application
// may have what it asks for.
func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request) error {
	f, err := h.loadFlow(r, r.URL.Query().Get("flow"))
	if err != nil {
		return err
	}
	if f.Step != stepConsent || f.req == nil {
		return failure(http.StatusConflict, t("flow.out_of_step"))
	}
	h.render(w, r, http.StatusOK, "consent", &view{Title: t("consent.title"), Flow: f.ID, Request: f.request(),
		ClientName: f.req.ClientName, Scopes: describeScopes(f.req.Scopes)})
	return nil
}

// consentSubmit records the answer. Allowing remembers the scopes (added to
// any earlier consent) and goes on; denying sends access_denied to the
// application.
func (h *Handler) consentSubmit(w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.req == nil {
		return failure(http.StatusBadRequest, t("flow.request_over"))
	}
	if s := h.opts.Sessions.Current(r); s == nil || s.ID != f.SessionID {
		return failure(http.StatusForbidden, t("consent.signed_out"))
	}
	if r.PostFormValue("decision") != "allow" {
		h.opts.Provider.Decline(w, r, f.req.ID, provider.ErrDeclined)
		return nil
	}
	if err := h.opts.Provider.GrantConsent(r.Context(), f.req, f.UserID); err != nil {
		return err
	}
	return h.proceed(w, r, f)
}

var scopeText = map[string]string{
	oidc.ScopeOpenID:        "scope.openid",
	oidc.ScopeProfile:       "scope.profile",
	oidc.ScopeEmail:         "scope.email",
	oidc.ScopeOfflineAccess: "scope.offline_access",
}

// describeScopes says in words what each scope lets an application do.
func describeScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if key, ok := scopeText[s]; ok {
			out = append(out, t(key))
		} else {
			out = append(out, tf("scope.other", s))
		}
	}
	return out
}
