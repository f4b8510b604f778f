// Package session owns the browser: its session cookie (a random token of
// which only a hash is stored), the idle and absolute lifetimes of a
// session, signing in and out, the CSRF tokens of its forms (bound to the
// session), the address it connects from, and the record of a sign-in in
// progress (which step of signing in the browser is at). The provider asks
// it whether a browser's session satisfies an authorization request; the
// hosted pages use it to sign people in and to list and end their
// sessions.
package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/usher-id/usher/storage"
)

// Store is the storage the sessions use.
type Store interface {
	storage.Sessions
	storage.SignInFlows
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// Options configure a Manager. Zero durations take the defaults shown.
type Options struct {
	// Issuer is Usher's public URL: an https issuer gets Secure cookies
	// with the __Host- prefix, and is the only origin forms are accepted
	// from.
	Issuer string
	Store  Store
	// Key keys CSRF tokens and browser bindings; every replica needs the
	// same one, of at least 32 bytes.
	Key          []byte
	IdleTimeout  time.Duration // 7 days
	MaxLifetime  time.Duration // 30 days
	FlowLifetime time.Duration // 30 minutes: how long a sign-in may take
	// TrustedProxies are the load balancers whose X-Forwarded-For is
	// believed.
	TrustedProxies []netip.Prefix
	Now            func() time.Time
	Log            *slog.Logger
}

// Manager is the browser side of Usher: sessions, cookies, CSRF, client
// addresses and sign-in flows.
type Manager struct {
	opts   Options
	secure bool   // cookies are Secure and __Host- (an https issuer)
	origin string // the issuer's origin, for the Origin check
}

// touchEvery bounds how often using a session writes its last activity:
// often enough for the idle timeout, rarely enough to cost nothing.
const touchEvery = time.Minute

// New returns a Manager.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("session: a Store is required")
	}
	if len(opts.Key) < 32 {
		return nil, errors.New("session: the key must be at least 32 bytes")
	}
	u, err := url.Parse(opts.Issuer)
	if err != nil || u.Host == "" {
		return nil, errors.New("session: the issuer must be an absolute URL")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.IdleTimeout, 7*24*time.Hour)
	def(&opts.MaxLifetime, 30*24*time.Hour)
	def(&opts.FlowLifetime, 30*time.Minute)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: opts, secure: u.Scheme == "https", origin: u.Scheme + "://" + u.Host}, nil
}

// ---- cookies ----

// Base names of Usher's cookies. On an https issuer every cookie carries
// the __Host- prefix, so a sibling subdomain or a network attacker on plain
// http cannot set one.
const (
	sessionCookie = "usher_session"
	csrfCookie    = "usher_csrf"
	browserCookie = "usher_browser"
)

// CookieName is the name a cookie of base name has on this issuer.
func (m *Manager) CookieName(base string) string {
	if m.secure {
		return "__Host-" + base
	}
	return base
}

// SetCookie sets a cookie the way all of Usher's are: HttpOnly,
// SameSite=Lax, path /, Secure and __Host- on an https issuer. A negative
// maxAge clears it.
func (m *Manager) SetCookie(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: m.CookieName(base), Value: value, Path: "/", HttpOnly: true, Secure: m.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second)})
}

// Cookie returns the value of the cookie of base name, or "".
func (m *Manager) Cookie(r *http.Request, base string) string {
	c, err := r.Cookie(m.CookieName(base))
	if err != nil {
		return ""
	}
	return c.Value
}

// setRequestCookie makes a cookie set in this response visible to the
// rest of the request's handling too.
func (m *Manager) setRequestCookie(r *http.Request, base, value string) {
	name := m.CookieName(base)
	kept := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range kept {
		if c.Name != name {
			r.AddCookie(c)
		}
	}
	if value != "" {
		r.AddCookie(&http.Cookie{Name: name, Value: value})
	}
}

// ---- the browser ----

// BrowserID returns the random value that identifies this browser to the
// records bound to it (sign-in flows, emailed links, upstream round
// trips), setting one when it has none.
func (m *Manager) BrowserID(w http.ResponseWriter, r *http.Request) string {
	if v := m.Cookie(r, browserCookie); len(v) >= 32 {
		return v
	}
	v := Random(32)
	m.SetCookie(w, browserCookie, v, 365*24*time.Hour)
	m.setRequestCookie(r, browserCookie, v)
	return v
}

// BrowserHash is the hash of this browser's ID that records store.
func (m *Manager) BrowserHash(w http.ResponseWriter, r *http.Request) []byte {
	sum := sha256.Sum256([]byte(m.BrowserID(w, r)))
	return sum[:]
}

// SameBrowser reports whether this browser is the one whose BrowserHash
// was stored as hash.
func (m *Manager) SameBrowser(r *http.Request, hash []byte) bool {
	v := m.Cookie(r, browserCookie)
	if v == "" || len(hash) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(v))
	return hmac.Equal(sum[:], hash)
}

// Bind marks this browser as the one that started the thing id of kind
// (an authorization request), for lifetime.
func (m *Manager) Bind(w http.ResponseWriter, kind, id string, lifetime time.Duration) {
	m.SetCookie(w, bindingCookie(kind, id), m.mac("bind:"+kind, id), lifetime)
}

// Bound reports whether this browser started the thing id of kind.
func (m *Manager) Bound(r *http.Request, kind, id string) bool {
	v := m.Cookie(r, bindingCookie(kind, id))
	return v != "" && hmac.Equal([]byte(v), []byte(m.mac("bind:"+kind, id)))
}

// Unbind clears a binding that is used up.
func (m *Manager) Unbind(w http.ResponseWriter, kind, id string) {
	m.SetCookie(w, bindingCookie(kind, id), "", -time.Second)
}

func bindingCookie(kind, id string) string { return "usher_" + kind + "_" + id }

func (m *Manager) mac(purpose, s string) string {
	h := hmac.New(sha256.New, m.opts.Key)
	h.Write([]byte(purpose + "\x00" + s))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Random returns n random bytes, base64url-encoded.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is how session tokens are stored: they are long random
// values, so a fast hash suffices.
func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// ---- sessions ----

// state is what one request has learnt of its browser's session, so that
// the session is read once per request, and a sign-in during the request
// is seen by the rest of it (the CSRF token of a page drawn after it).
type state struct {
	loaded  bool
	session *storage.Session
}

type stateKey struct{}

// Middleware gives each request a place to remember its session. Handlers
// work without it, reading the session each time they ask.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, &state{})))
	})
}

func requestState(r *http.Request) *state {
	st, _ := r.Context().Value(stateKey{}).(*state)
	return st
}

// Current returns the browser's live session, or nil: not revoked, before
// its absolute end, not idle for longer than the idle timeout, and of a
// user who may still sign in.
func (m *Manager) Current(r *http.Request) *storage.Session {
	st := requestState(r)
	if st != nil && st.loaded {
		return st.session
	}
	s := m.load(r)
	if st != nil {
		st.loaded, st.session = true, s
	}
	return s
}

func (m *Manager) load(r *http.Request) *storage.Session {
	token := m.Cookie(r, sessionCookie)
	if token == "" {
		return nil
	}
	ctx := r.Context()
	s, err := m.opts.Store.GetSessionByTokenHash(ctx, hashToken(token))
	if err != nil || !m.Live(s) {
		return nil
	}
	if u, err := m.opts.Store.GetUser(ctx, s.UserID); err != nil || u.Banned {
		return nil
	}
	return s
}

// Use returns the browser's live session like Current, and counts the
// request as activity, so a user active on the pages is not signed out for
// being idle.
func (m *Manager) Use(r *http.Request) *storage.Session {
	s := m.Current(r)
	if s == nil {
		return nil
	}
	if now := m.opts.Now().UTC(); now.Sub(s.LastActiveAt) >= touchEvery {
		if err := m.opts.Store.TouchSession(r.Context(), s.ID, now, s.ExpiresAt); err != nil {
			m.opts.Log.Warn("touch session", "session_id", s.ID, "err", err)
		} else {
			s.LastActiveAt = now
		}
	}
	return s
}

// Live reports whether s may still be used: not revoked, before its
// absolute end, and not idle for longer than the idle timeout.
func (m *Manager) Live(s *storage.Session) bool {
	now := m.opts.Now()
	return s.Active(now) && now.Sub(s.LastActiveAt) <= m.opts.IdleTimeout
}

// SignIn starts a new browser session for the user, authenticated by the
// methods amr (RFC 8176 values such as "pwd" or "otp"). The session the
// browser had, if any, ends first, and the new one gets a new token, so a
// cookie planted before the sign-in is worthless.
func (m *Manager) SignIn(w http.ResponseWriter, r *http.Request, userID string, amr []string) (*storage.Session, error) {
	return m.SignInAs(w, r, storage.NewID(storage.PrefixSession), userID, amr, m.opts.Now().UTC())
}

// SignInAs is SignIn with the session's ID and sign-in time chosen by the
// caller, which records them (in a sign-in flow) before the session
// exists, so that of two requests racing to finish one sign-in only the
// one that recorded them starts a session.
func (m *Manager) SignInAs(w http.ResponseWriter, r *http.Request, id, userID string, amr []string, authTime time.Time) (*storage.Session, error) {
	ctx := r.Context()
	if old := m.Current(r); old != nil {
		if err := m.opts.Store.RevokeSession(ctx, old.ID, m.opts.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	now := m.opts.Now().UTC()
	token := Random(32)
	s := &storage.Session{ID: id, TokenHash: hashToken(token), UserID: userID, AuthTime: authTime, AMR: slices.Clone(amr),
		UserAgent: truncate(r.UserAgent(), 512), IPAddress: m.ClientIP(r), CreatedAt: now, LastActiveAt: now,
		ExpiresAt: now.Add(m.opts.MaxLifetime)}
	if err := m.opts.Store.CreateSession(ctx, s); err != nil {
		return nil, err
	}
	m.SetCookie(w, sessionCookie, token, m.opts.MaxLifetime)
	m.setRequestCookie(r, sessionCookie, token)
	if st := requestState(r); st != nil {
		st.loaded, st.session = true, s
	}
	return s, nil
}

// Rotate gives the browser's session a new token after a change of
// privilege (a new password, say): a copy of the old cookie, taken before
// the change, no longer works.
func (m *Manager) Rotate(w http.ResponseWriter, r *http.Request, s *storage.Session) error {
	token := Random(32)
	if err := m.opts.Store.RotateSessionToken(r.Context(), s.ID, hashToken(token)); err != nil {
		return err
	}
	m.SetCookie(w, sessionCookie, token, time.Until(s.ExpiresAt).Round(time.Second))
	m.setRequestCookie(r, sessionCookie, token)
	return nil
}

// SignOut ends the browser's session, if it has one, and clears its
// cookie.
func (m *Manager) SignOut(w http.ResponseWriter, r *http.Request) error {
	m.SetCookie(w, sessionCookie, "", -time.Second)
	s := m.Current(r)
	m.setRequestCookie(r, sessionCookie, "")
	if st := requestState(r); st != nil {
		st.loaded, st.session = true, nil
	}
	if s == nil {
		return nil
	}
	if err := m.opts.Store.RevokeSession(r.Context(), s.ID, m.opts.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// List returns the user's live sessions, most recently active first, for
// the account page.
func (m *Manager) List(ctx context.Context, userID string) ([]*storage.Session, error) {
	all, err := m.opts.Store.ListUserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(s *storage.Session) bool { return !m.Live(s) }), nil
}

// Revoke ends session id if it is the user's; another user's session, or
// an unknown one, is left alone without saying so.
func (m *Manager) Revoke(ctx context.Context, userID, id string) error {
	s, err := m.opts.Store.GetSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && s.UserID != userID) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := m.opts.Store.RevokeSession(ctx, s.ID, m.opts.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// RevokeOthers ends every session of the user but keep ("" ends them
// all).
func (m *Manager) RevokeOthers(ctx context.Context, userID, keep string) error {
	_, err := m.opts.Store.RevokeUserSessions(ctx, userID, keep, m.opts.Now())
	return err
}

// Requirement is what an authorization request asks of a session.
type Requirement struct {
	// Login asks for a fresh sign-in whatever the session (prompt=login,
	// prompt=select_account).
	Login bool
	// MaxAge is the oldest sign-in accepted (max_age); negative for any.
	MaxAge time.Duration
	// Subject is the user the application expects (id_token_hint), or "".
	Subject string
}

// Satisfying returns the browser's session when it satisfies req, else
// nil. Every authentication level is the same today: acr_values ask for
// nothing a session could lack.
func (m *Manager) Satisfying(r *http.Request, req Requirement) *storage.Session {
	if req.Login {
		return nil
	}
	s := m.Current(r)
	switch {
	case s == nil:
		return nil
	case req.Subject != "" && req.Subject != s.UserID:
		return nil
	case req.MaxAge >= 0 && m.opts.Now().Sub(s.AuthTime) > req.MaxAge:
		return nil
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
