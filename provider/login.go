package provider

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/usher-id/usher/storage"
)

// Failed sign-ins are limited per network address as well as per account
// (the account lockout), so one address cannot try passwords across many
// accounts.
const (
	loginFailuresPerIP = 50
	loginFailureWindow = 10 * time.Minute
)

// Cookie names. The session cookie carries a random token whose hash is
// the stored session's TokenHash.
const (
	sessionCookie = "usher_session"
	csrfCookie    = "usher_csrf"
)

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}
label,input,button{display:block;width:100%;margin:.4rem 0}input,button{padding:.5rem;font-size:1rem}
.error{color:#b00020}</style></head><body><h1>{{.Title}}</h1>{{end}}
{{define "login"}}{{template "head" .}}
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="authRequestID" value="{{.AuthRequestID}}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></body></html>{{end}}
{{define "logout"}}{{template "head" .}}
<p>Do you want to sign out of Usher?</p>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="redirect" value="{{.Redirect}}">
<input type="hidden" name="sig" value="{{.Sig}}"><button type="submit">Sign out</button></form></body></html>{{end}}
{{define "consent"}}{{template "head" .}}
<p><strong>{{.ClientName}}</strong> asks to:</p><ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
<form method="post" action="/consent">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="authRequestID" value="{{.AuthRequestID}}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></form></body></html>{{end}}
{{define "message"}}{{template "head" .}}<p>{{.Message}}</p></body></html>{{end}}
`))

type pageData struct {
	Title, Error, Message, CSRF, AuthRequestID, Email, Redirect, Sig string
	ClientName                                                       string
	Scopes                                                           []string
}

// pageHeaders are the headers every page carries: never cached, never
// framed, scripts and foreign forms refused.
func pageHeaders(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
}

func (p *Provider) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	if p.pages != nil {
		p.pages.RenderProviderPage(w, r, status, Page{Name: name, Title: d.Title, Error: d.Error, Message: d.Message, CSRF: d.CSRF,
			AuthRequestID: d.AuthRequestID, Email: d.Email, Redirect: d.Redirect, Sig: d.Sig, ClientName: d.ClientName,
			Scopes: DescribeScopes(d.Scopes)})
		return
	}
	pageHeaders(w, status)
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		p.opts.Log.Error("render page", "page", name, "err", err)
	}
}

func (p *Provider) message(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	p.render(w, r, status, "message", pageData{Title: title, Message: msg})
}

func (p *Provider) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: p.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())})
}

// csrfToken returns the browser's CSRF token, setting one if it has none.
// Forms echo it back and must match the cookie (double submit); SameSite
// keeps other sites from reading or setting it.
func (p *Provider) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	t := randomToken("")
	p.setCookie(w, csrfCookie, t, 24*time.Hour)
	// The cookie reaches the next request; this one's forms carry the value.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: t})
	return t
}

// CSRFToken returns the browser's CSRF token, setting one when it has
// none: the hosted pages and the provider's own pages share it.
func (p *Provider) CSRFToken(w http.ResponseWriter, r *http.Request) string { return p.csrfToken(w, r) }

// CSRFValid reports whether the posted form carries the browser's CSRF
// token (double submit; SameSite keeps other sites from reading or
// setting the cookie).
func CSRFValid(r *http.Request) bool { return csrfValid(r) }

func csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	form := r.PostFormValue("csrf")
	return err == nil && len(c.Value) >= 32 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) == 1
}

// currentSession returns the browser's live session, or nil.
func (p *Provider) currentSession(ctx context.Context, r *http.Request) *storage.Session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	s, err := p.opts.Store.GetSessionByTokenHash(ctx, hashToken(c.Value))
	now := p.opts.Now()
	if err != nil || !s.Active(now) || now.Sub(s.LastActiveAt) > p.opts.SessionIdle {
		return nil
	}
	if u, err := p.opts.Store.GetUser(ctx, s.UserID); err != nil || u.Banned {
		return nil
	}
	return s
}

// boundRequest loads the authorization request id for a page, if this
// browser started it; otherwise it answers with a message and false.
func (p *Provider) boundRequest(w http.ResponseWriter, r *http.Request, id string) (*storage.AuthRequest, bool) {
	req, err := p.opts.Store.GetAuthRequest(r.Context(), id, p.opts.Now())
	if err != nil || req.Done {
		p.message(w, r, http.StatusBadRequest, "Sign-in link expired", "This sign-in request is unknown or has expired. Go back to the application and try again.")
		return nil, false
	}
	if !p.startedHere(r, id) {
		p.message(w, r, http.StatusForbidden, "Sign in", "This sign-in was started in another browser. Go back to the application and start again here.")
		return nil, false
	}
	return req, true
}

// loginPage completes the authorization request from an existing session
// when the request allows it (SSO), and shows the sign-in form otherwise.
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("authRequestID")
	req, ok := p.boundRequest(w, r, id)
	if !ok {
		return
	}
	forceLogin := slices.Contains(req.Prompt, oidc.PromptLogin) || slices.Contains(req.Prompt, oidc.PromptSelectAccount)
	if sess := p.currentSession(ctx, r); sess != nil && !forceLogin && (req.HintSubject == "" || req.HintSubject == sess.UserID) {
		fresh := req.MaxAge < 0 || p.opts.Now().Sub(sess.AuthTime) <= time.Duration(req.MaxAge)*time.Second
		if fresh {
			p.complete(w, r, req, sess)
			return
		}
	}
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		op.AuthRequestError(w, r, &authRequest{req}, oidc.ErrLoginRequired(), p.op)
		return
	}
	if p.opts.SignInPage != "" {
		http.Redirect(w, r, p.signInPageURL(id), http.StatusFound)
		return
	}
	p.render(w, r, http.StatusOK, "login", pageData{Title: "Sign in", CSRF: p.csrfToken(w, r), AuthRequestID: id, Email: req.LoginHint})
}

// loginSubmit checks the password, starts a new browser session (a new
// token at every sign-in, so a planted cookie is worthless) and completes
// the authorization request.
func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.message(w, r, http.StatusBadRequest, "Sign in", "The form could not be read. Go back and try again.")
		return
	}
	if !csrfValid(r) {
		p.message(w, r, http.StatusForbidden, "Sign in", "This form has expired. Go back, reload the page and try again.")
		return
	}
	id := r.PostFormValue("authRequestID")
	if p.opts.SignInPage != "" {
		// The hosted pages sign users in (and check what this form does
		// not, such as an unverified address); this form is not offered.
		http.Redirect(w, r, p.signInPageURL(id), http.StatusSeeOther)
		return
	}
	req, ok := p.boundRequest(w, r, id)
	if !ok {
		return
	}
	email := r.PostFormValue("email")
	ipKey := "login-failures-ip:" + p.clientIP(r)
	if n, err := p.opts.Store.RateLimitCount(ctx, ipKey, loginFailureWindow, p.opts.Now()); err != nil || n >= loginFailuresPerIP {
		p.render(w, r, http.StatusTooManyRequests, "login", pageData{Title: "Sign in", Error: "Too many failed sign-ins from your network. Wait a few minutes, then try again.",
			CSRF: p.csrfToken(w, r), AuthRequestID: id, Email: email})
		return
	}
	u, err := p.opts.Users.Authenticate(ctx, email, r.PostFormValue("password"))
	if err != nil {
		if _, herr := p.opts.Store.HitRateLimit(ctx, ipKey, loginFailureWindow, p.opts.Now()); herr != nil {
			p.opts.Log.Error("counting a failed sign-in", "err", herr)
		}
		p.opts.Log.Info("sign-in refused", "client_id", req.ClientID, "reason", err.Error())
		// One answer for every reason, so the form does not reveal which
		// accounts exist.
		p.render(w, r, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Error: "That email and password do not match an account that can sign in.",
			CSRF: p.csrfToken(w, r), AuthRequestID: id, Email: email})
		return
	}
	sess, err := p.startSession(ctx, w, r, u)
	if err != nil {
		p.opts.Log.Error("create session", "err", err)
		p.message(w, r, http.StatusInternalServerError, "Sign in", "Something went wrong on our side. Try again in a moment.")
		return
	}
	p.complete(w, r, req, sess)
}

// complete hands an authenticated request on: to the consent page when a
// third-party client needs the user's permission, else back to the app.
func (p *Provider) complete(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, sess *storage.Session) {
	ask, err := p.needsConsent(r.Context(), req, sess.UserID)
	if err != nil {
		p.opts.Log.Error("consent check", "err", err)
		p.message(w, r, http.StatusInternalServerError, "Sign in", "Something went wrong on our side. Try again in a moment.")
		return
	}
	if ask {
		if slices.Contains(req.Prompt, oidc.PromptNone) {
			op.AuthRequestError(w, r, &authRequest{req}, &oidc.Error{ErrorType: "consent_required", Description: "the user has not allowed this application"}, p.op)
			return
		}
		p.consentPage(w, r, req)
		return
	}
	p.finish(w, r, req, sess)
}

// finish marks the request authenticated by sess and hands back to the
// library, which issues the code to the application.
func (p *Provider) finish(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, sess *storage.Session) {
	ctx := r.Context()
	if err := p.opts.Store.CompleteAuthRequest(ctx, req.ID, sess.UserID, sess.ID, sess.AuthTime, sess.AMR); err != nil {
		p.message(w, r, http.StatusBadRequest, "Sign-in link expired", "This sign-in request is unknown or has expired. Go back to the application and try again.")
		return
	}
	now := p.opts.Now().UTC()
	_ = p.opts.Store.TouchSession(ctx, sess.ID, now, sess.ExpiresAt)
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(ctx, req.ID), http.StatusFound)
}

// logoutConfirmURL is where end_session sends the browser: a page that
// signs out only on a same-site form post. The destination, already
// validated by the library, is signed so the page cannot be turned into an
// open redirect.
func (p *Provider) logoutConfirmURL(req *op.EndSessionRequest) string {
	return logoutPath + "?" + url.Values{"redirect": {req.RedirectURI}, "sig": {p.sign(req.RedirectURI)}}.Encode()
}

func (p *Provider) sign(s string) string { return p.mac("logout-redirect", s) }

func (p *Provider) signed(s, sig string) bool {
	return hmac.Equal([]byte(p.sign(s)), []byte(sig))
}

func (p *Provider) logoutPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, sig := q.Get("redirect"), q.Get("sig")
	if redirect == "" {
		redirect, sig = loggedOutPath, p.sign(loggedOutPath)
	}
	if !p.signed(redirect, sig) {
		p.message(w, r, http.StatusBadRequest, "Sign out", "This sign-out link is not valid. Sign out from the application instead.")
		return
	}
	p.render(w, r, http.StatusOK, "logout", pageData{Title: "Sign out", CSRF: p.csrfToken(w, r), Redirect: redirect, Sig: sig})
}

func (p *Provider) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || !csrfValid(r) {
		p.message(w, r, http.StatusForbidden, "Sign out", "This form has expired. Go back, reload the page and try again.")
		return
	}
	redirect := r.PostFormValue("redirect")
	if !p.signed(redirect, r.PostFormValue("sig")) {
		p.message(w, r, http.StatusBadRequest, "Sign out", "This sign-out request is not valid.")
		return
	}
	if s := p.currentSession(r.Context(), r); s != nil {
		if err := p.opts.Store.RevokeSession(r.Context(), s.ID, p.opts.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.opts.Log.Error("revoke session", "err", err)
		}
	}
	p.setCookie(w, sessionCookie, "", -time.Second)
	http.Redirect(w, r, redirect, http.StatusFound)
}

func (p *Provider) loggedOutPage(w http.ResponseWriter, r *http.Request) {
	p.message(w, r, http.StatusOK, "Signed out", "You are signed out.")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// clientIP is the address of the browser: the peer, or, when the peer is
// a trusted proxy, the nearest address in X-Forwarded-For that is not one.
// Without trusted proxies forwarded headers are ignored, since anyone can
// send them.
func (p *Provider) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !p.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !p.trusted(hop) {
			return hop
		}
		host = hop
	}
	return host
}

func (p *Provider) trusted(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, n := range p.opts.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
