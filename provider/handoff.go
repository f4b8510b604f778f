package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/usher-id/usher/storage"
)

// The hosted account pages (package web) sign users in and manage their
// browser sessions; these methods are their hand-off with the provider, so
// that one session cookie serves single sign-on and the pages alike.

// touchEvery bounds how often using the pages writes a session's last
// activity: often enough for the idle timeout, rarely enough to cost
// nothing.
const touchEvery = time.Minute

// Session returns the browser's live session, or nil. Using the pages
// counts as activity, so a user active on them is not signed out for
// being idle.
func (p *Provider) Session(r *http.Request) *storage.Session {
	s := p.currentSession(r.Context(), r)
	if s == nil {
		return nil
	}
	if now := p.opts.Now().UTC(); now.Sub(s.LastActiveAt) >= touchEvery {
		if err := p.opts.Store.TouchSession(r.Context(), s.ID, now, s.ExpiresAt); err != nil {
			p.opts.Log.Warn("touch session", "err", err)
		} else {
			s.LastActiveAt = now
		}
	}
	return s
}

// SessionLive reports whether s may still be used: not revoked, before
// its absolute end, and not idle for longer than the idle timeout.
func (p *Provider) SessionLive(s *storage.Session) bool {
	now := p.opts.Now()
	return s.Active(now) && now.Sub(s.LastActiveAt) <= p.opts.SessionIdle
}

// SignIn starts a new browser session for u, authenticated by the methods
// amr (RFC 8176 values such as "pwd" or "otp"). Any session the browser
// had is ended first, so a planted session cookie is worthless.
func (p *Provider) SignIn(w http.ResponseWriter, r *http.Request, u *storage.User, amr []string) (*storage.Session, error) {
	ctx := r.Context()
	if old := p.currentSession(ctx, r); old != nil {
		if err := p.opts.Store.RevokeSession(ctx, old.ID, p.opts.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	now := p.opts.Now().UTC()
	token := randomToken("")
	sess := &storage.Session{TokenHash: hashToken(token), UserID: u.ID, AuthTime: now, AMR: slices.Clone(amr),
		UserAgent: truncate(r.UserAgent(), 512), IPAddress: p.clientIP(r), CreatedAt: now, LastActiveAt: now, ExpiresAt: now.Add(p.opts.SessionMax)}
	if err := p.opts.Store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	p.setCookie(w, sessionCookie, token, p.opts.SessionMax)
	return sess, nil
}

// SignOut ends the browser's session, if it has one, and clears its cookie.
func (p *Provider) SignOut(w http.ResponseWriter, r *http.Request) error {
	p.setCookie(w, sessionCookie, "", -time.Second)
	if s := p.currentSession(r.Context(), r); s != nil {
		if err := p.opts.Store.RevokeSession(r.Context(), s.ID, p.opts.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}

// SetCookie sets a cookie the way the provider sets its own: HttpOnly,
// SameSite=Lax, Secure except on a localhost http issuer.
func (p *Provider) SetCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	p.setCookie(w, name, value, maxAge)
}

// SecureCookies reports whether cookies are marked Secure.
func (p *Provider) SecureCookies() bool { return p.secure }

// ClientIP is the browser's address, as the provider's rate limits see it
// (X-Forwarded-For is believed only from trusted proxies).
func (p *Provider) ClientIP(r *http.Request) string { return p.clientIP(r) }

// PendingRequest is an OIDC authorization request waiting for the user to
// sign in, as the sign-in pages show it.
type PendingRequest struct {
	ID         string
	ClientName string
	LoginHint  string
	// SameBrowser is false when the request was started in another
	// browser; it can then only be finished there.
	SameBrowser bool
}

// Pending returns the authorization request id waiting for sign-in, or
// nil when it is unknown, finished or expired.
func (p *Provider) Pending(r *http.Request, id string) *PendingRequest {
	if id == "" {
		return nil
	}
	ctx := r.Context()
	req, err := p.opts.Store.GetAuthRequest(ctx, id, p.opts.Now())
	if err != nil || req.Done {
		return nil
	}
	pr := &PendingRequest{ID: id, LoginHint: req.LoginHint, SameBrowser: p.startedHere(r, id)}
	pr.ClientName = p.clientName(ctx, req.ClientID)
	return pr
}

func (p *Provider) clientName(ctx context.Context, id string) string {
	c, err := p.client(ctx, id)
	if err != nil {
		return ""
	}
	return c.c.Name
}

// Continue hands the signed-in browser back to the authorization request
// id: to the consent page when a third-party application needs the user's
// permission, else to the application with a code. A request started in
// another browser, or no longer pending, gets an explanatory page.
func (p *Provider) Continue(w http.ResponseWriter, r *http.Request, id string, sess *storage.Session) {
	req, ok := p.boundRequest(w, r, id)
	if !ok {
		return
	}
	p.complete(w, r, req, sess)
}

// signInPageURL is where /login sends a browser that must sign in, when
// the hosted pages are mounted.
func (p *Provider) signInPageURL(id string) string {
	return p.opts.SignInPage + "?" + url.Values{"ar": {id}}.Encode()
}

// UsePages makes r draw the provider's own pages. Call it before serving.
func (p *Provider) UsePages(r PageRenderer) { p.pages = r }

// PageRenderer draws the pages the provider serves itself (consent, the
// sign-out confirmation, the device code pages, messages) in the look of
// the hosted pages. Without one the provider uses plain built-in pages.
type PageRenderer interface {
	RenderProviderPage(w http.ResponseWriter, r *http.Request, status int, page Page)
}

// Page is one provider page to draw. Name is login, consent, logout,
// message, device or device_confirm; the forms post back to the
// provider's paths with the field names its built-in pages use.
type Page struct {
	Name                                string
	Title, Error, Message, CSRF         string
	AuthRequestID, Email, Redirect, Sig string
	ClientName                          string
	Scopes                              []string // described for people
	UserCode, Account                   string
}
