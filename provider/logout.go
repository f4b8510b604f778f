package provider

import (
	"crypto/hmac"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// RP-initiated logout: end_session sends the browser to the hosted
// sign-out confirmation (LogoutPath), which signs out only on a same-site
// form post, so a link alone never signs anyone out. The destination,
// already validated by the library, travels signed, so the page cannot be
// turned into an open redirect.

// LogoutPath is the sign-out confirmation page; LoggedOutPath is where a
// logout without a registered destination ends.
const (
	LogoutPath    = "/logout"
	LoggedOutPath = "/logged-out"
)

// logoutConfirmURL is where end_session sends the browser.
func (p *Provider) logoutConfirmURL(req *op.EndSessionRequest) string {
	return LogoutPath + "?" + url.Values{"redirect": {req.RedirectURI}, "sig": {p.signLogout(req.RedirectURI)}}.Encode()
}

func (p *Provider) signLogout(s string) string { return p.mac("logout-redirect", s) }

// LogoutTarget checks the destination of a sign-out confirmation: it
// returns where to go after signing out and its signature, or false when
// the destination was not signed by Usher. No destination means the
// logged-out page.
func (p *Provider) LogoutTarget(redirect, sig string) (string, string, bool) {
	if redirect == "" {
		return LoggedOutPath, p.signLogout(LoggedOutPath), true
	}
	return redirect, sig, hmac.Equal([]byte(p.signLogout(redirect)), []byte(sig))
}
