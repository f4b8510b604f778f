// Package web serves the hosted account pages: sign-up, sign-in with a
// password, an emailed code or an emailed link, email verification,
// password reset, the profile and its sessions, and sign-out. The pages
// are server-rendered (html/template, assets embedded in the binary), work
// without JavaScript, and hand signed-in browsers back to the OpenID
// Connect provider.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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
	opts  Options
	pages *pageSet
	mux   *http.ServeMux
}

// Paths of the pages.
const (
	PathSignIn  = "/sign-in"
	PathSignUp  = "/sign-up"
	PathAccount = "/account"
)

// New returns the pages' handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil || opts.Users == nil || opts.Provider == nil || opts.Mail == nil {
		return nil, errors.New("web: Store, Users, Provider and Mail are required")
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
	opts.Provider.UsePages(h)
	return h, nil
}

// Routes mounts the pages on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	for _, p := range []string{PathSignIn, PathSignIn + "/", PathSignUp, "/verify", "/verify/", "/reset", "/reset/",
		PathAccount, PathAccount + "/", "/sign-out", "/signed-out", "/assets/", "/sso/"} {
		mux.Handle(p, h.mux)
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
	m.Handle("POST "+PathSignIn, h.form(h.signInIdentify))
	m.Handle("POST "+PathSignIn+"/password", h.form(h.signInPassword))
	m.Handle("POST "+PathSignIn+"/email", h.form(h.signInEmail))
	m.Handle("GET "+PathSignIn+"/code", h.page(h.codePage))
	m.Handle("POST "+PathSignIn+"/code", h.form(h.codeSubmit))
	m.Handle("GET "+PathSignIn+"/link", h.page(h.linkPage))
	m.Handle("POST "+PathSignIn+"/link", h.form(h.linkSubmit))
	m.Handle("GET "+PathSignUp, h.page(h.signUpPage))
	m.Handle("POST "+PathSignUp, h.form(h.signUpSubmit))
	m.Handle("GET /verify", h.page(h.codePage))
	m.Handle("POST /verify", h.form(h.codeSubmit))
	m.Handle("GET /verify/link", h.page(h.linkPage))
	m.Handle("POST /verify/link", h.form(h.linkSubmit))
	m.Handle("GET /reset", h.page(h.resetPage))
	m.Handle("POST /reset", h.form(h.resetRequest))
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
		if !provider.CSRFValid(r) {
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

// Cookies the pages set beside the provider's session cookie.
const (
	browserCookie = "usher_browser"
)

// browserID returns the value that identifies this browser to the emailed
// links it asked for, setting one when it has none.
func (h *Handler) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	v := randomString(32)
	h.opts.Provider.SetCookie(w, browserCookie, v, 365*24*time.Hour)
	r.AddCookie(&http.Cookie{Name: browserCookie, Value: v})
	return v
}

func sameBrowser(r *http.Request, hash []byte) bool {
	c, err := r.Cookie(browserCookie)
	if err != nil || len(hash) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(c.Value))
	return subtle.ConstantTimeCompare(sum[:], hash) == 1
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
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
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }
