// Package web serves the hosted pages: signing in (one flow of small
// steps: the address, a password or an emailed code or link or an upstream
// identity provider, email verification, consent), sign-up, password
// reset, the profile and its sessions, the device code page and the
// sign-out confirmation. The pages are server-rendered (html/template,
// assets embedded in the binary) and work without JavaScript. Applications'
// authorization requests come in from the provider (provider.Interaction)
// and go back to it completed (Provider.Complete).
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/usher-id/usher/federation"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/session"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

// Store is the storage the pages use.
type Store interface {
	storage.Users
	storage.Sessions
	storage.EmailChallenges
	storage.RateLimits
	storage.Consents
	storage.Clients
	storage.RefreshTokens
	storage.AccessTokens
	storage.Connections
	storage.ExternalIdentities
	storage.UpstreamLogins
	InTx(ctx context.Context, fn func(tx storage.Tx) error) error
}

// Brand is what the pages and emails show of the product.
type Brand struct {
	ProductName  string
	LogoURL      string
	PrimaryColor string // #rrggbb
	SupportEmail string
	TermsURL     string
	PrivacyURL   string
}

// Options configure the pages.
type Options struct {
	Issuer   string // the public base URL, for links in emails
	Store    Store
	Users    *users.Service
	Provider *provider.Provider
	// Sessions is the browser side: sessions, cookies, CSRF, sign-in
	// flows.
	Sessions *session.Manager
	Mail     mail.Sender
	// Mailbox, when set (development without SMTP), is served at /dev/mail.
	Mailbox *mail.Mailbox
	// CodeKey keys the hashes of emailed codes; every replica needs the
	// same one.
	CodeKey []byte
	Brand   Brand

	SignUp          bool
	RequireName     bool
	RequireUsername bool
	CodeTTL         time.Duration // 10m: how long an emailed code or link works

	// Federation, when set, offers sign-in through the stored upstream
	// connections; SealToken seals upstream tokens a connection keeps.
	Federation *federation.Connectors
	SealToken  func(plaintext []byte, purpose string) []byte
	// Locate, when set, describes roughly where a network address is
	// ("Berlin, Germany"), or returns "" when it cannot tell. Pages and
	// emails show it beside the address.
	Locate func(ip string) string

	Now func() time.Time
	Log *slog.Logger
}

// Handler serves the pages.
type Handler struct {
	opts    Options
	pages   *pageSet
	mux     *http.ServeMux
	handler http.Handler // mux, with a place per request for its session
}

// Paths of the pages.
const (
	PathSignIn  = "/sign-in"
	PathSignUp  = "/sign-up"
	PathAccount = "/account"
)

// New returns the pages' handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil || opts.Users == nil || opts.Sessions == nil || opts.Mail == nil {
		return nil, errors.New("web: Store, Users, Sessions and Mail are required")
	}
	if len(opts.CodeKey) < 32 {
		return nil, errors.New("web: CodeKey must be at least 32 bytes")
	}
	if opts.CodeTTL <= 0 {
		opts.CodeTTL = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Issuer = strings.TrimSuffix(opts.Issuer, "/")
	pages, err := parsePages(opts.Brand)
	if err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, pages: pages, mux: http.NewServeMux()}
	h.routes()
	h.handler = opts.Sessions.Middleware(h.mux)
	return h, nil
}

// UseProvider connects the pages to the provider whose authorization
// requests they sign people in for; the provider is built with the pages
// as its Interaction, so the two are joined after both exist.
func (h *Handler) UseProvider(p *provider.Provider) { h.opts.Provider = p }

// Routes mounts the pages on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	for _, p := range []string{PathSignIn, PathSignIn + "/", PathSignUp, "/verify", "/verify/", "/reset", "/reset/",
		PathAccount, PathAccount + "/", "/sign-out", "/signed-out", "/assets/", "/sso/", pathConsent,
		provider.LogoutPath, provider.LoggedOutPath, provider.DevicePath} {
		mux.Handle(p, h.handler)
	}
	if h.opts.Mailbox != nil {
		mux.Handle("GET /dev/mail", h.opts.Mailbox.Handler())
	}
}

func (h *Handler) routes() {
	m := h.mux
	m.Handle("GET /assets/", assetHandler())
	m.HandleFunc("GET /assets/brand.css", h.brandCSS)
	m.Handle("GET "+PathSignIn, h.page(h.signInPage))
	m.Handle("POST "+PathSignIn, h.form(h.atStep(h.signInIdentify, stepIdentify, stepFirstFactor)))
	m.Handle("POST "+PathSignIn+"/password", h.form(h.atStep(h.signInPassword, stepFirstFactor)))
	m.Handle("POST "+PathSignIn+"/email", h.form(h.atStep(h.signInEmail, stepFirstFactor)))
	m.Handle("GET "+PathSignIn+"/code", h.page(h.codePage))
	m.Handle("POST "+PathSignIn+"/code", h.form(h.codeSubmit))
	m.Handle("GET "+PathSignIn+"/link", h.page(h.linkPage))
	m.Handle("POST "+PathSignIn+"/link", h.form(h.linkSubmit))
	m.Handle("GET "+PathSignUp, h.page(h.signUpPage))
	m.Handle("POST "+PathSignUp, h.form(h.atStep(h.signUpSubmit, stepIdentify, stepFirstFactor)))
	m.Handle("GET /verify", h.page(h.codePage))
	m.Handle("POST /verify", h.form(h.codeSubmit))
	m.Handle("GET /verify/link", h.page(h.linkPage))
	m.Handle("POST /verify/link", h.form(h.linkSubmit))
	m.Handle("GET /reset", h.page(h.resetPage))
	m.Handle("POST /reset", h.form(h.atStep(h.resetRequest, stepIdentify, stepFirstFactor)))
	m.Handle("GET /reset/code", h.page(h.codePage))
	m.Handle("POST /reset/code", h.form(h.codeSubmit))
	m.Handle("GET /reset/link", h.page(h.linkPage))
	m.Handle("POST /reset/link", h.form(h.linkSubmit))
	m.Handle("GET "+PathAccount, h.page(h.withUser(h.accountPage)))
	m.Handle("POST "+PathAccount+"/profile", h.form(h.withUser(h.profileSubmit)))
	m.Handle("POST "+PathAccount+"/password", h.form(h.withUser(h.passwordSubmit)))
	m.Handle("POST "+PathAccount+"/emails", h.form(h.withUser(h.sensitive(h.emailAdd))))
	m.Handle("POST "+PathAccount+"/emails/primary", h.form(h.withUser(h.sensitive(h.emailPrimary))))
	m.Handle("POST "+PathAccount+"/emails/remove", h.form(h.withUser(h.sensitive(h.emailRemove))))
	m.Handle("POST "+PathAccount+"/emails/verify", h.form(h.withUser(h.emailVerify)))
	m.Handle("POST "+PathAccount+"/sessions/revoke", h.form(h.withUser(h.sessionRevoke)))
	m.Handle("POST "+PathAccount+"/sessions/revoke-others", h.form(h.withUser(h.sessionsRevokeOthers)))
	m.Handle("POST "+PathAccount+"/consents/revoke", h.form(h.withUser(h.consentRevoke)))
	m.Handle("GET "+PathAccount+"/delete", h.page(h.withUser(h.sensitive(h.deletePage))))
	m.Handle("POST "+PathAccount+"/delete", h.form(h.withUser(h.sensitive(h.deleteSubmit))))
	m.Handle("POST /sso/{slug}/start", h.form(h.upstreamStart))
	m.Handle("GET "+PathUpstreamCallback, h.page(h.upstreamCallback))
	m.Handle("POST "+federation.SAMLACSPath, h.page(h.samlACS))
	m.Handle("POST "+PathSAMLFinish, h.page(h.samlFinish))
	m.HandleFunc("GET /sso/saml/{slug}/metadata", h.samlMetadata)
	m.Handle("POST "+PathAccount+"/identities/remove", h.form(h.withUser(h.sensitive(h.unlinkIdentity))))
	m.Handle("GET "+pathConsent, h.page(h.consentPage))
	m.Handle("POST "+pathConsent, h.form(h.atStep(h.consentSubmit, stepConsent)))
	m.Handle("GET "+provider.LogoutPath, h.page(h.logoutPage))
	m.Handle("POST "+provider.LogoutPath, h.form(h.logoutSubmit))
	m.Handle("GET "+provider.LoggedOutPath, h.page(h.signedOutPage))
	m.Handle("GET "+provider.DevicePath, h.page(h.devicePage))
	m.Handle("POST "+provider.DevicePath, h.form(h.deviceSubmit))
	m.Handle("GET /sign-out", h.page(h.signOutPage))
	m.Handle("POST /sign-out", h.form(h.signOutSubmit))
	m.Handle("GET /signed-out", h.page(h.signedOutPage))
}

// pageError is a failure a page shows to the user: Status and Message are
// public, Cause is logged.
type pageError struct {
	Status  int
	Message string
	Cause   error
	// SignIn shows the message on the sign-in page, where the user can
	// try again or another way, rather than on a page of its own.
	SignIn bool
}

func (e *pageError) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

func failure(status int, message string) *pageError {
	return &pageError{Status: status, Message: message}
}

// page adapts a GET handler that returns an error.
func (h *Handler) page(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// maxFormBytes bounds every form: the largest holds a profile.
const maxFormBytes = 32 << 10

// form adapts a POST handler: the body is bounded and parsed, and the
// CSRF token checked, before fn runs.
func (h *Handler) form(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				h.fail(w, r, failure(http.StatusRequestEntityTooLarge, t("error.too_large")))
				return
			}
			h.fail(w, r, failure(http.StatusBadRequest, t("error.bad_form")))
			return
		}
		if err := h.opts.Sessions.CheckForm(r); err != nil {
			h.opts.Log.Info("form refused", "path", r.URL.Path, "reason", err.Error())
			h.fail(w, r, failure(http.StatusForbidden, t("error.csrf")))
			return
		}
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *pageError
	if !errors.As(err, &pe) {
		pe = &pageError{Status: http.StatusInternalServerError, Message: t("error.internal"), Cause: err}
	}
	if pe.Status >= 500 {
		h.opts.Log.Error("page failed", "path", r.URL.Path, "err", err)
	}
	if pe.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(int(limitWindow/time.Second)))
	}
	if pe.SignIn {
		h.render(w, r, pe.Status, "signin", &view{Title: t("signin.title"), Error: pe.Message, Connections: h.socialButtons(r.Context())})
		return
	}
	h.render(w, r, pe.Status, "message", &view{Title: t("error.title"), Error: pe.Message})
}

// addressKey is the key of the browser's network address in the limits
// counted per address (an IPv6 address counts by its /64).
func (h *Handler) addressKey(r *http.Request) string {
	return session.AddressKey(h.opts.Sessions.ClientIP(r))
}

// codeHash keys the code with the challenge it belongs to, so a code is
// worth nothing for any other challenge.
func (h *Handler) codeHash(challengeID, code string) []byte {
	m := hmac.New(sha256.New, h.opts.CodeKey)
	fmt.Fprintf(m, "%s:%s", challengeID, code)
	return m.Sum(nil)
}

func linkHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// newCode returns six random digits.
func newCode() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	var n uint64
	for _, x := range b {
		n = n<<8 | uint64(x)
	}
	return fmt.Sprintf("%06d", n%1_000_000)
}

// locate describes where ip is, or "" when unknown or not configured.
func (h *Handler) locate(ip string) string {
	if h.opts.Locate == nil || ip == "" {
		return ""
	}
	return h.opts.Locate(ip)
}

// placed is ip followed by where it is, when known: "203.0.113.7
// (Berlin, Germany)".
func (h *Handler) placed(ip string) string {
	if loc := h.locate(ip); loc != "" {
		return ip + " (" + loc + ")"
	}
	return ip
}

// ServeHTTP serves the pages; Routes is the usual way to mount them.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }
