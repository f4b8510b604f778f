package provider

// Wrappers that hold the protocol endpoints to the letter of the specs
// where the library is lenient: client credentials only in a POST body,
// clients authenticated before anything they present is used up, failed
// attempts counted and limited, the challenge RFC 6749 asks for, a
// request_uri refused instead of ignored, the form_post page protected
// like every other page, and clients' mistakes kept out of the error log.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/usher-id/usher/session"
)

// credentialParams are the parameters that carry a secret, a token or a
// code. In a URL they end up in access logs, proxies and browser history,
// so the endpoints that take them refuse them there (RFC 6749, sections
// 2.3.1 and 3.2; RFC 6750, section 2.3 for access tokens).
var credentialParams = []string{
	"client_secret", "client_assertion", "code", "code_verifier", "refresh_token", "device_code",
	"token", "access_token", "subject_token", "actor_token", "assertion", "password",
}

// queryCredential names the first credential parameter in the query, or "".
func queryCredential(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	q := r.URL.Query()
	for _, name := range credentialParams {
		if q.Has(name) {
			return name
		}
	}
	return ""
}

// writeOAuthError answers an RFC 6749 error with the given status.
func writeOAuthError(w http.ResponseWriter, status int, e *oidc.Error) {
	setNoStore(w)
	httphelper.MarshalJSONWithStatus(w, e, status)
}

// clientEndpoint is the kind of endpoint clientGuard protects.
type clientEndpoint int

const (
	atToken clientEndpoint = iota
	atIntrospection
	atRevocation
	atDeviceAuthorization
)

// Failed client authentication and unknown refresh tokens are counted per
// client address and per client, in the database so every replica
// enforces one limit. A key that reached its limit is refused with 429
// until its window ends. The per-client limit is higher: anyone who knows
// a client_id (it is public) could otherwise lock the client out from a
// handful of addresses.
const (
	defaultTokenFailureWindow     = 5 * time.Minute
	defaultTokenFailuresPerAddr   = 100
	defaultTokenFailuresPerClient = 1000
)

// tokenFailures is what one request records for clientGuard: set when
// the storage met a refresh token it does not know. It also hands the
// client clientGuard authenticated to the handler behind, which need not
// authenticate it again.
type tokenFailures struct {
	unknownRefresh bool
	client         *client
}

type tokenFailuresKey struct{}

// noteUnknownRefreshToken counts the request as a failed attempt.
func noteUnknownRefreshToken(ctx context.Context) {
	if f, ok := ctx.Value(tokenFailuresKey{}).(*tokenFailures); ok {
		f.unknownRefresh = true
	}
}

// clientGuard fronts an endpoint where clients authenticate: POST only,
// credentials never in the query, attempts limited, and, at the token
// endpoint, the client authenticated before its code or refresh token is
// looked at, so a request with a wrong secret cannot use up a code.
func (p *Provider) clientGuard(kind clientEndpoint, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r) // a CORS preflight, answered behind
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeOAuthError(w, http.StatusMethodNotAllowed,
				oidc.ErrInvalidRequest().WithDescription("this endpoint accepts only POST, with its parameters in the form body"))
			return
		}
		if name := queryCredential(r); name != "" {
			writeOAuthError(w, http.StatusBadRequest,
				oidc.ErrInvalidRequest().WithDescription("%s must be sent in the form body, never in the URL", name))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			writeOAuthError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("the form cannot be read"))
			return
		}
		ctx := r.Context()
		keys := p.failureKeys(ctx, r)
		if p.failuresBlocked(ctx, keys) {
			w.Header().Set("Retry-After", strconv.Itoa(int(p.opts.TokenFailureWindow/time.Second)))
			writeOAuthError(w, http.StatusTooManyRequests,
				oidc.ErrInvalidRequest().WithDescription("too many failed requests from this address or for this client; try again later"))
			return
		}
		failures := &tokenFailures{}
		r = r.WithContext(context.WithValue(ctx, tokenFailuresKey{}, failures))
		cw := &challengeBasic{statusWriter: statusWriter{ResponseWriter: w}, basic: hasBasic(r)}
		grant := r.PostForm.Get("grant_type")
		switch {
		case kind == atToken && (grant == string(oidc.GrantTypeCode) || grant == string(oidc.GrantTypeRefreshToken)),
			kind == atIntrospection, kind == atRevocation:
			// The library looks the code or refresh token up (and
			// claims the code) before it checks the client; checking
			// here first leaves them alone when the client is wrong.
			c, err := p.authenticateClient(r)
			if err != nil {
				op.RequestError(cw, r, asOIDCError(err), nil)
				break
			}
			failures.client = c
			next.ServeHTTP(cw, r)
		default:
			next.ServeHTTP(cw, r)
		}
		if cw.status == http.StatusUnauthorized || failures.unknownRefresh {
			p.countFailure(ctx, keys)
		}
	})
}

func hasBasic(r *http.Request) bool {
	_, _, ok := r.BasicAuth()
	return ok
}

// challengeBasic adds the challenge RFC 6749 (section 5.2) requires when a
// client that tried HTTP Basic is refused with 401, and remembers the
// status.
type challengeBasic struct {
	statusWriter
	basic bool
}

func (c *challengeBasic) WriteHeader(status int) {
	if status == http.StatusUnauthorized && c.basic && c.Header().Get("WWW-Authenticate") == "" {
		c.Header().Set("WWW-Authenticate", `Basic realm="usher", charset="UTF-8"`)
	}
	c.statusWriter.WriteHeader(status)
}

// addressKey is the rate-limit key of the request's client address: its
// /64 for IPv6.
func (p *Provider) addressKey(r *http.Request) string {
	return session.AddressKey(p.opts.Sessions.ClientIP(r))
}

// failureKeys are the rate-limit keys a failed request counts against:
// its address, and the client it names when that client exists (an
// unknown client_id has no budget to protect, and would only fill the
// table).
func (p *Provider) failureKeys(ctx context.Context, r *http.Request) []string {
	keys := []string{"token-failures-ip:" + p.addressKey(r)}
	id, _, ok := r.BasicAuth()
	if ok {
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
	} else {
		id = r.PostForm.Get("client_id")
	}
	if id != "" {
		if _, err := p.client(ctx, id); err == nil {
			keys = append(keys, "token-failures-client:"+id)
		}
	}
	return keys
}

// failuresBlocked reports whether any key has used up its failures. A
// storage error counts as blocked, as for the other limits: the limit is
// not silently lifted while the database is unwell. Counts this replica
// saw within the last second spare the reads (see failureMemo).
func (p *Provider) failuresBlocked(ctx context.Context, keys []string) bool {
	now := p.opts.Now()
	for _, k := range keys {
		limit := p.opts.TokenFailuresPerAddress
		if strings.HasPrefix(k, "token-failures-client:") {
			limit = p.opts.TokenFailuresPerClient
		}
		if p.failures.quiet(k, limit, now) {
			continue // read within the last second, far below its limit
		}
		n, err := p.opts.Store.RateLimitCount(ctx, k, p.opts.TokenFailureWindow, now)
		if err != nil {
			p.opts.Log.Error("reading the failed client request count", "err", err)
			return true
		}
		p.failures.note(k, n, now)
		if n >= limit {
			return true
		}
	}
	return false
}

func (p *Provider) countFailure(ctx context.Context, keys []string) {
	now := p.opts.Now()
	for _, k := range keys {
		n, err := p.opts.Store.HitRateLimit(context.WithoutCancel(ctx), k, p.opts.TokenFailureWindow, now)
		if err != nil {
			p.opts.Log.Error("counting a failed client request", "err", err)
			continue
		}
		p.failures.note(k, n, now)
	}
}

// userinfoGuard refuses an access token in the userinfo URL; the header
// or a form body carry it without leaving it in logs (RFC 6750, 2.3).
func userinfoGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name := queryCredential(r); name != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="usher", error="invalid_request", error_description="send the access token in the Authorization header"`)
			writeOAuthError(w, http.StatusBadRequest,
				oidc.ErrInvalidRequest().WithDescription("%s must be sent in the Authorization header or the form body, never in the URL", name))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// mintGuard refuses credentials in the URL of the template token endpoint,
// which reads the access token from the Authorization header only.
func mintGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name := queryCredential(r); name != "" {
			setNoStore(w)
			writeJSON(w, http.StatusBadRequest, apiError{"invalid_request", name + " must never be sent in the URL; send the access token as Authorization: Bearer"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorizeGuard refuses request_uri, which Usher does not support (and
// discovery says so), instead of ignoring it: a client that relies on it
// would otherwise get a request built from other parameters than it
// meant. The error goes back to the client when its redirect URI checks
// out (OpenID Connect Core, section 6.2), and to the browser otherwise.
func (p *Provider) authorizeGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil || !r.Form.Has("request_uri") {
			next.ServeHTTP(w, r)
			return
		}
		e := &oidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is not supported; send the request's parameters directly"}
		req := &errRequest{redirectURI: r.Form.Get("redirect_uri"), responseType: oidc.ResponseType(r.Form.Get("response_type")),
			responseMode: oidc.ResponseMode(r.Form.Get("response_mode")), state: r.Form.Get("state")}
		c, err := p.client(r.Context(), r.Form.Get("client_id"))
		if err != nil || req.redirectURI == "" || op.ValidateAuthReqRedirectURI(c, req.redirectURI, req.responseType) != nil {
			p.opts.Interaction.Problem(w, r, RequestURIUnsupported)
			return
		}
		op.AuthRequestError(w, r, req, e, p.op)
	})
}

// errRequest is just enough of an authorization request to send an error
// back to the client.
type errRequest struct {
	redirectURI, state string
	responseType       oidc.ResponseType
	responseMode       oidc.ResponseMode
}

func (e *errRequest) GetRedirectURI() string             { return e.redirectURI }
func (e *errRequest) GetResponseType() oidc.ResponseType { return e.responseType }
func (e *errRequest) GetState() string                   { return e.state }
func (e *errRequest) GetResponseMode() oidc.ResponseMode {
	if e.responseMode == oidc.ResponseModeFormPost {
		return "" // the library would put a form_post error in the query anyway
	}
	return e.responseMode
}

// formPostScript is the handler the library's form_post page runs on load
// to submit itself. The page's policy allows exactly this script, by its
// hash; a test checks the library still renders it so.
const formPostScript = "javascript:document.forms[0].submit()"

var formPostCSP = func() string {
	sum := sha256.Sum256([]byte(formPostScript))
	// An event handler attribute needs 'unsafe-hashes' to be allowed by
	// hash; nothing else may run. form-action is left out: the form goes
	// to the client's registered redirect URI, and in Chromium the
	// directive would also police the client's own redirects after it.
	return "default-src 'none'; script-src 'unsafe-hashes' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; frame-ancestors 'none'"
}()

// pageProtection gives what /authorize and its callback answer themselves
// the protection every page has: the form_post page (the only 200 the
// library writes there) cannot be framed, cached or sniffed, and runs
// only its own submit script; the library's plain-text errors cannot be
// framed either. Answers that set their own policy (Usher's pages) keep it.
func pageProtection(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&protectedWriter{ResponseWriter: w}, r)
	})
}

type protectedWriter struct {
	http.ResponseWriter
	wrote bool
}

func (p *protectedWriter) WriteHeader(status int) {
	if !p.wrote {
		p.wrote = true
		h := p.Header()
		if status == http.StatusOK || status >= 400 {
			h.Set("Cache-Control", "no-store")
			h.Set("X-Frame-Options", "DENY")
			h.Set("X-Content-Type-Options", "nosniff")
			switch {
			case h.Get("Content-Security-Policy") != "":
			case status == http.StatusOK:
				h.Set("Content-Security-Policy", formPostCSP)
				h.Set("Referrer-Policy", "no-referrer")
			default:
				h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			}
		}
	}
	p.ResponseWriter.WriteHeader(status)
}

func (p *protectedWriter) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	return p.ResponseWriter.Write(b)
}

func (p *protectedWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// ---- the library's log ----

// LibraryLogHandler wraps the handler zitadel/oidc logs to (it logs
// through slog.Default, so cmd installs this as the default): the library
// logs every error it answers at WARN, and a request it cannot parse (a
// bare GET /authorize) as an ERROR server_error, so anyone could fill the
// error log. A record the library writes while Provider serves a request
// is held until the answer is known, then logged at INFO unless the
// answer is a 5xx; outside a request, only server_error keeps its level.
// Everything that is not the library's passes through untouched.
func LibraryLogHandler(h slog.Handler) slog.Handler { return &libraryHandler{h: h} }

type libraryHandler struct{ h slog.Handler }

func (l *libraryHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *libraryHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &libraryHandler{h: l.h.WithAttrs(as)}
}

func (l *libraryHandler) WithGroup(name string) slog.Handler {
	return &libraryHandler{h: l.h.WithGroup(name)}
}

func (l *libraryHandler) Handle(ctx context.Context, r slog.Record) error {
	if !fromLibrary(r) {
		return l.h.Handle(ctx, r)
	}
	if held, ok := ctx.Value(heldLogsKey{}).(*heldLogs); ok {
		held.add(l.h, r.Clone())
		return nil
	}
	if r.Level > slog.LevelInfo && !isServerError(r) {
		r.Level = slog.LevelInfo
	}
	return emit(ctx, l.h, r)
}

func emit(ctx context.Context, h slog.Handler, r slog.Record) error {
	if !h.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handle(ctx, r)
}

// fromLibrary reports whether the record was logged by zitadel/oidc.
func fromLibrary(r slog.Record) bool {
	if r.PC == 0 {
		return false
	}
	f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
	return strings.HasPrefix(f.Function, "github.com/zitadel/oidc/")
}

func isServerError(r slog.Record) bool {
	server := false
	r.Attrs(func(a slog.Attr) bool {
		if e, ok := a.Value.Any().(*oidc.Error); ok && a.Key == "oidc_error" {
			server = e.ErrorType == oidc.ServerError
			return false
		}
		return true
	})
	return server
}

// heldLogs are the library's records of one request, held until its
// status is known.
type heldLogs struct {
	mu   sync.Mutex
	recs []heldRecord
}

type heldRecord struct {
	h slog.Handler
	r slog.Record
}

type heldLogsKey struct{}

func (l *heldLogs) add(h slog.Handler, r slog.Record) {
	l.mu.Lock()
	l.recs = append(l.recs, heldRecord{h, r})
	l.mu.Unlock()
}

// settleLibraryLogs holds the library's records while a request is
// served, then logs them at a level that matches the answer: a client's
// mistake (any status below 500) is INFO, never WARN or ERROR.
func settleLibraryLogs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held := &heldLogs{}
		sw := &statusWriter{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), heldLogsKey{}, held)
		next.ServeHTTP(sw, r.WithContext(ctx))
		held.mu.Lock()
		recs := held.recs
		held.mu.Unlock()
		for _, hr := range recs {
			if sw.status < 500 && hr.r.Level > slog.LevelInfo {
				hr.r.Level = slog.LevelInfo
			}
			_ = emit(r.Context(), hr.h, hr.r)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
