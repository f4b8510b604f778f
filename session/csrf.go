package session

import (
	"crypto/hmac"
	"errors"
	"net/http"
	"time"
)

// Errors of CheckForm.
var (
	// ErrCrossSite means the browser said the form came from another site.
	ErrCrossSite = errors.New("session: the form was posted from another site")
	// ErrCSRF means the form's token is missing or not this browser's.
	ErrCSRF = errors.New("session: the form's CSRF token is missing or wrong")
)

// csrfLifetime is how long a browser keeps its CSRF secret.
const csrfLifetime = 24 * time.Hour

// CSRFToken returns the token the browser's forms carry, setting the
// browser's CSRF secret when it has none. The token is a keyed hash of that
// secret and of the browser's session: someone who can plant cookies on
// the domain still cannot make a token for another person's session.
func (m *Manager) CSRFToken(w http.ResponseWriter, r *http.Request) string {
	secret := m.Cookie(r, csrfCookie)
	if len(secret) < 32 {
		secret = Random(32)
		m.SetCookie(w, csrfCookie, secret, csrfLifetime)
		m.setRequestCookie(r, csrfCookie, secret)
	}
	return m.csrfFor(r, secret)
}

func (m *Manager) csrfFor(r *http.Request, secret string) string {
	sid := ""
	if s := m.Current(r); s != nil {
		sid = s.ID
	}
	return m.mac("csrf", secret+"\x00"+sid)
}

// CheckForm accepts a posted form only from Usher's own pages: the
// browser must not say it came from another site (Sec-Fetch-Site, or
// else Origin), and its csrf field must be this browser's token for its
// current session. Parse the form first.
func (m *Manager) CheckForm(r *http.Request) error {
	if !m.SameOrigin(r) {
		return ErrCrossSite
	}
	secret := m.Cookie(r, csrfCookie)
	form := r.PostFormValue("csrf")
	if len(secret) < 32 || form == "" || !hmac.Equal([]byte(form), []byte(m.csrfFor(r, secret))) {
		return ErrCSRF
	}
	return nil
}

// SameOrigin reports whether a request may have come from Usher's own
// pages. Browsers say where a request comes from in Sec-Fetch-Site (a
// sibling subdomain is "same-site", not "same-origin") or, older ones, in
// Origin; a request with neither is not from a browser that would carry
// a victim's cookies on its own.
func (m *Manager) SameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	return origin == "" || origin == m.origin
}
