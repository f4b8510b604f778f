package provider

// The device authorization grant (RFC 8628), for TVs and CLIs: the device
// asks /device_authorization for a device code and a short user code, the
// user types the user code at /device in a browser, signs in and allows or
// denies, and the device polls the token endpoint until it gets tokens.
//
// The library's own handlers for the two protocol endpoints are replaced
// here, for four reasons: they authenticate clients by HTTP Basic only (a
// client_secret_post secret is ignored, and a confidential client that sends
// just its client_id is let through at /device_authorization), they decide
// "confidential" by application type rather than by the registered auth
// method, they cannot retry a user code that collides, and they read the
// wall clock instead of the provider's. The op.DeviceAuthorizationStorage
// methods are still implemented, with the same rules, so the grant stays
// correct should the library's handlers ever be reached.

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/usher-id/usher/storage"
)

// devicePath is the page where users enter user codes
// (op.DeviceAuthorizationConfig.UserFormPath).
const devicePath = "/device"

var _ op.DeviceAuthorizationStorage = (*opStorage)(nil)

// deviceRoutes mounts the device endpoints: the protocol endpoint, the
// device_code grant at the token endpoint (other grants pass on to next),
// and the user-code page.
func (p *Provider) deviceRoutes(mux *http.ServeMux, interceptor *op.IssuerInterceptor) {
	mux.Handle(p.op.DeviceAuthorizationEndpoint().Relative(), noStore(interceptor.Handler(p.clientGuard(atDeviceAuthorization, http.HandlerFunc(p.deviceAuthorization)))))
	mux.Handle("GET "+devicePath, interceptor.HandlerFunc(p.devicePage))
	mux.Handle("POST "+devicePath, interceptor.HandlerFunc(p.deviceSubmit))
}

// deviceEnabled reports whether the grant is configured; discovery
// advertises it only then.
func (p *Provider) deviceEnabled() bool {
	cfg := p.op.DeviceAuthorization()
	return p.op.GrantTypeDeviceCodeSupported() && cfg.Lifetime > 0 && cfg.UserFormPath == devicePath &&
		cfg.UserCode.CharSet != "" && cfg.UserCode.CharAmount > 0
}

// deviceClient authenticates the client of a device request and checks
// that it may use the grant.
func (p *Provider) deviceClient(r *http.Request) (*client, error) {
	c, err := p.authenticateClient(r)
	if err != nil {
		return nil, err
	}
	if !deviceAllowed(c) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("this client may not use the device authorization grant")
	}
	return c, nil
}

func deviceAllowed(c *client) bool {
	return slices.Contains(c.c.GrantTypes, string(oidc.GrantTypeDeviceCode))
}

// pollWindow and pollBurst set when a device is told to slow down: after
// pollBurst polls in a window of four fifths of the interval (room for
// timer jitter on devices and clock skew between replicas). The burst is 2
// because golang.org/x/oauth2, probing for the client authentication
// style, sends every poll twice until one succeeds: with HTTP Basic, then
// in the form.
const pollBurst = 2

func (p *Provider) pollWindow() time.Duration {
	return p.op.DeviceAuthorization().PollInterval * 4 / 5
}

// authenticateClient authenticates the client of a device request as it is
// registered: a public client (auth method none) sends only its client_id;
// a client with a secret sends it by HTTP Basic or in the form; a
// private_key_jwt client sends an assertion, which the library verifies.
func (p *Provider) authenticateClient(r *http.Request) (*client, error) {
	ctx := r.Context()
	if r.PostForm.Get("client_assertion") != "" {
		if r.PostForm.Get("client_assertion_type") != oidc.ClientAssertionTypeJWTAssertion {
			return nil, oidc.ErrInvalidClient().WithDescription("client_assertion_type must be " + oidc.ClientAssertionTypeJWTAssertion)
		}
		id, err := op.ClientJWTAuth(ctx, oidc.ClientAssertionParams{
			ClientAssertion: r.PostForm.Get("client_assertion"), ClientAssertionType: r.PostForm.Get("client_assertion_type"),
		}, p.op)
		if err != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("client authentication failed").WithParent(err)
		}
		c, err := p.client(ctx, id)
		if err != nil {
			return nil, err
		}
		if c.c.AuthMethod != string(oidc.AuthMethodPrivateKeyJWT) {
			return nil, oidc.ErrInvalidClient().WithDescription("this client does not authenticate with private_key_jwt")
		}
		return c, nil
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749, section 2.3.1: both parts are form-encoded first.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("the Authorization header is malformed")
		}
		if f := r.PostForm.Get("client_id"); f != "" && f != id {
			return nil, oidc.ErrInvalidRequest().WithDescription("client_id differs from the authenticated client")
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" {
		return nil, oidc.ErrInvalidClient().WithDescription("client_id is missing")
	}
	c, err := p.client(ctx, id)
	if err != nil {
		return nil, err
	}
	switch c.c.AuthMethod {
	case string(oidc.AuthMethodNone):
		return c, nil
	case string(oidc.AuthMethodPrivateKeyJWT):
		return nil, oidc.ErrInvalidClient().WithDescription("this client must authenticate with a private_key_jwt client assertion")
	}
	if secret == "" {
		return nil, oidc.ErrInvalidClient().WithDescription("this client must authenticate with its secret")
	}
	return p.checkSecret(ctx, id, secret)
}

// deviceScopes keeps the requested scopes the client may have: the
// standard ones Usher serves and those the client is configured with, as
// the library does for authorization requests.
func deviceScopes(c *client, requested []string) []string {
	var out []string
	for _, s := range requested {
		standard := s == oidc.ScopeOpenID || s == oidc.ScopeProfile || s == oidc.ScopeEmail || s == oidc.ScopeOfflineAccess
		if (standard || c.IsScopeAllowed(s)) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// storeDevice records a new device authorization; a user code already in
// use is storage.ErrConflict.
func (p *Provider) storeDevice(ctx context.Context, c *client, deviceCode, userCode string, lifetime time.Duration, scopes []string) error {
	now := p.opts.Now().UTC()
	return p.opts.Store.CreateDeviceAuthorization(ctx, &storage.DeviceAuthorization{
		DeviceCodeHash: hashToken(deviceCode),
		UserCode:       storage.NormalizeUserCode(userCode),
		ClientID:       c.c.ID,
		Scopes:         deviceScopes(c, scopes),
		CreatedAt:      now,
		ExpiresAt:      now.Add(lifetime),
	})
}

// deviceAuthorization is the device authorization endpoint (RFC 8628,
// section 3.1).
func (p *Provider) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.deviceEnabled() {
		op.RequestError(w, r, oidc.ErrUnsupportedGrantType().WithDescription("the device authorization grant is not enabled"), nil)
		return
	}
	if r.Method != http.MethodPost {
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("use POST"), nil)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("the form cannot be read"), nil)
		return
	}
	c, err := p.deviceClient(r)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	cfg := p.op.DeviceAuthorization()
	deviceCode := randomToken("udc_")
	var userCode string
	for range 3 { // user codes are short: on a collision, draw another
		userCode, err = op.NewUserCode([]rune(cfg.UserCode.CharSet), cfg.UserCode.CharAmount, cfg.UserCode.DashInterval)
		if err == nil {
			err = p.storeDevice(ctx, c, deviceCode, userCode, cfg.Lifetime, strings.Fields(r.PostForm.Get("scope")))
		}
		if !errors.Is(err, storage.ErrConflict) {
			break
		}
	}
	if err != nil {
		p.opts.Log.Error("store device authorization", "client_id", c.c.ID, "err", err)
		op.RequestError(w, r, oidc.ErrServerError().WithDescription("the device authorization could not be stored"), nil)
		return
	}
	verify := p.opts.Issuer + devicePath
	setNoStore(w)
	httphelper.MarshalJSON(w, &oidc.DeviceAuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                userCode,
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?" + url.Values{"user_code": {userCode}}.Encode(),
		ExpiresIn:               int(cfg.Lifetime / time.Second),
		Interval:                int(cfg.PollInterval / time.Second),
	})
}

// tokenEndpoint answers what Usher handles itself at the token endpoint
// (the device_code grant, and client_credentials for clients that
// authenticate with private_key_jwt, which the library does not support)
// and hands every other request to next.
func (p *Provider) tokenEndpoint(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("the form cannot be read"), nil)
			return
		}
		switch grant := r.Form.Get("grant_type"); {
		case grant == string(oidc.GrantTypeDeviceCode) && p.deviceEnabled():
			p.deviceToken(w, r)
		case grant == string(oidc.GrantTypeClientCredentials) && r.PostForm.Get("client_assertion") != "":
			p.clientCredentialsByAssertion(w, r)
		case grant == string(oidc.GrantTypeTokenExchange):
			p.tokenExchange(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// deviceToken is the device access token request (RFC 8628, section 3.4).
func (p *Provider) deviceToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("use POST"), nil)
		return
	}
	c, err := p.deviceClient(r)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	state, err := p.deviceState(ctx, c.c.ID, r.PostForm.Get("device_code"))
	if err == nil {
		switch {
		case state.Denied:
			err = oidc.ErrAccessDenied().WithDescription("the user denied the request")
		case state.Done:
		case !p.opts.Now().Before(state.Expires):
			err = oidc.ErrExpiredDeviceCode().WithDescription("the device code has expired; start again")
		default:
			err = oidc.ErrAuthorizationPending().WithDescription("the user has not answered yet")
		}
	}
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	resp, err := op.CreateDeviceTokenResponse(ctx, state, p.op, c)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	p.opts.Log.Info("device authorization exchanged for tokens", "client_id", c.c.ID, "user_id", state.Subject)
	httphelper.MarshalJSON(w, resp)
}

// deviceState records a poll of deviceCode by clientID and returns where
// its authorization stands. An approved one is claimed first, so it gives
// tokens once; its state is then Done. A state neither Done nor Denied is
// pending until Expires (by the provider's clock). Errors are for the
// client: invalid_grant for an unknown, foreign or used code, slow_down for
// a poll too soon after the last.
func (p *Provider) deviceState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	if deviceCode == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("device_code is missing")
	}
	now := p.opts.Now().UTC()
	d, err := p.opts.Store.PollDeviceAuthorization(ctx, hashToken(deviceCode), clientID, now, p.pollWindow(), pollBurst)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("the device code is invalid, has expired or was issued to another client")
	case errors.Is(err, storage.ErrConflict):
		return nil, oidc.ErrSlowDown().WithDescription("polled too often: wait longer between requests")
	case err != nil:
		return nil, err
	}
	st := &op.DeviceAuthorizationState{ClientID: d.ClientID, Audience: []string{d.ClientID}, Scopes: d.Scopes, Expires: d.ExpiresAt}
	if !now.Before(d.ExpiresAt) {
		return st, nil
	}
	switch d.Status {
	case storage.DeviceAuthDenied:
		st.Denied = true
	case storage.DeviceAuthApproved:
		err := p.opts.Store.ClaimDeviceAuthorization(ctx, d.ID, now)
		if errors.Is(err, storage.ErrConflict) {
			p.opts.Log.Warn("device code presented again after its tokens were issued", "client_id", d.ClientID, "user_id", d.UserID)
			return nil, oidc.ErrInvalidGrant().WithDescription("the device code was already used")
		}
		if err != nil {
			return nil, err
		}
		st.Done, st.Subject, st.AMR, st.AuthTime = true, d.UserID, d.AMR, d.AuthTime
	}
	return st, nil
}

// StoreDeviceAuthorization implements op.DeviceAuthorizationStorage for the
// library's own endpoint (deviceAuthorization answers in its place).
func (s *opStorage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	c, err := s.p.client(ctx, clientID)
	if err != nil {
		return err
	}
	if !deviceAllowed(c) {
		return oidc.ErrUnauthorizedClient().WithDescription("this client may not use the device authorization grant")
	}
	// The library set expires by the wall clock; keep the lifetime.
	err = s.p.storeDevice(ctx, c, deviceCode, userCode, time.Until(expires), scopes)
	if errors.Is(err, storage.ErrConflict) {
		return op.ErrDuplicateUserCode
	}
	return err
}

// GetDeviceAuthorizatonState implements op.DeviceAuthorizationStorage for
// the library's own token endpoint handler (deviceToken answers in its
// place).
func (s *opStorage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	st, err := s.p.deviceState(ctx, clientID, deviceCode)
	var oe *oidc.Error
	if errors.As(err, &oe) && oe.ErrorType == oidc.SlowDown {
		// The library answers slow_down only to a deadline error.
		return nil, fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return st, err
}

// ---- the user-code page ----

var devicePages = template.Must(template.Must(pages.Clone()).Parse(`
{{define "device"}}{{template "head" .}}
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<p>Enter the code shown on your TV, console or terminal.</p>
<form method="post" action="/device">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="user_code">Code</label><input id="user_code" name="user_code" required autocomplete="off" autocapitalize="characters" spellcheck="false" value="{{.UserCode}}">
{{if .Account}}<p>Signed in as {{.Account}}. <a href="/logout">Not you?</a></p><button type="submit">Continue</button>
{{else}}<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in and continue</button>{{end}}
</form></body></html>{{end}}
{{define "device_confirm"}}{{template "head" .}}
<p><strong>{{.ClientName}}</strong> wants to use your account on a device.</p>
<p>Allow it only if you started this yourself and your device shows the code <strong>{{.UserCode}}</strong>.</p>
{{if .Scopes}}<p>It will be able to:</p><ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>{{end}}
<p>Signed in as {{.Account}}.</p>
<form method="post" action="/device">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="user_code" value="{{.UserCode}}">
<button type="submit" name="action" value="approve">Allow</button>
<button type="submit" name="action" value="deny">Deny</button></form></body></html>{{end}}
`))

type devicePageData struct {
	Title, Error, Message, CSRF string
	UserCode, Email, Account    string
	ClientName                  string
	Scopes                      []string
}

// renderDevice writes a device page with the headers every page carries
// (as render does for the sign-in pages).
func (p *Provider) renderDevice(w http.ResponseWriter, r *http.Request, status int, name string, d devicePageData) {
	if d.Title == "" {
		d.Title = "Connect a device"
	}
	if p.pages != nil {
		p.pages.RenderProviderPage(w, r, status, Page{Name: name, Title: d.Title, Error: d.Error, Message: d.Message, CSRF: d.CSRF,
			UserCode: d.UserCode, Email: d.Email, Account: d.Account, ClientName: d.ClientName, Scopes: d.Scopes})
		return
	}
	pageHeaders(w, status)
	if err := devicePages.ExecuteTemplate(w, name, d); err != nil {
		p.opts.Log.Error("render page", "page", name, "err", err)
	}
}

var scopeText = map[string]string{
	oidc.ScopeOpenID:        "Know who you are",
	oidc.ScopeProfile:       "See your name and profile picture",
	oidc.ScopeEmail:         "See your email address",
	oidc.ScopeOfflineAccess: "Stay signed in until you sign it out",
}

// DescribeScopes says in words what each scope lets an application do.
func DescribeScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if t, ok := scopeText[s]; ok {
			out = append(out, t)
		} else {
			out = append(out, "Use "+s)
		}
	}
	return out
}

// formatUserCode shows a stored (normalized) user code the way the device
// does, with dashes.
func (p *Provider) formatUserCode(code string) string {
	n := p.op.DeviceAuthorization().UserCode.DashInterval
	if n <= 0 {
		return code
	}
	var b strings.Builder
	for i, r := range code {
		if i > 0 && i%n == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// account names the signed-in user for the page; "" without a session.
func (p *Provider) account(ctx context.Context, sess *storage.Session) string {
	if sess == nil {
		return ""
	}
	u, err := p.opts.Store.GetUser(ctx, sess.UserID)
	if err != nil {
		return "your account"
	}
	if e := u.PrimaryEmail().Email; e != "" {
		return e
	}
	if u.Username != "" {
		return u.Username
	}
	return "your account"
}

// Guessing user codes: wrong codes are counted per browser session and per
// IP address, and a key that reached guessLimit in the current window is
// refused until the window ends. User codes carry about 34 bits and live
// ten minutes, so this keeps guessing hopeless (RFC 8628, section 5.1).
// The counts live in the database, so all replicas share one limit.
const (
	guessWindow = 10 * time.Minute
	guessLimit  = 20
)

// guessBlocked reports whether any of keys has used up its wrong guesses.
// A storage error counts as blocked: guessing is refused rather than
// left unlimited.
func (p *Provider) guessBlocked(ctx context.Context, now time.Time, keys ...string) bool {
	for _, k := range keys {
		n, err := p.opts.Store.RateLimitCount(ctx, "device-guess:"+k, guessWindow, now)
		if err != nil {
			p.opts.Log.Error("reading the device code guess count", "err", err)
			return true
		}
		if n >= guessLimit {
			return true
		}
	}
	return false
}

// guessFailed counts a wrong guess against each of keys.
func (p *Provider) guessFailed(ctx context.Context, now time.Time, keys ...string) {
	for _, k := range keys {
		if _, err := p.opts.Store.HitRateLimit(ctx, "device-guess:"+k, guessWindow, now); err != nil {
			p.opts.Log.Error("counting a wrong device code", "err", err)
		}
	}
}

func (p *Provider) guessKeys(r *http.Request, sess *storage.Session) []string {
	keys := []string{"ip:" + p.addressKey(r)}
	if sess != nil {
		keys = append(keys, "session:"+sess.ID)
	}
	return keys
}

// findDevice looks up a user code typed in the browser. It returns the
// pending authorization, or the message and status to show instead.
func (p *Provider) findDevice(ctx context.Context, r *http.Request, sess *storage.Session, typed string) (*storage.DeviceAuthorization, string, int) {
	now := p.opts.Now()
	keys := p.guessKeys(r, sess)
	code := storage.NormalizeUserCode(typed)
	switch {
	case p.guessBlocked(ctx, now, keys...):
		return nil, "Too many wrong codes. Wait a few minutes, then try again.", http.StatusTooManyRequests
	case code == "":
		return nil, "Enter the code shown on your device.", http.StatusBadRequest
	}
	d, err := p.opts.Store.GetDeviceAuthorizationByUserCode(ctx, code, now)
	if errors.Is(err, storage.ErrNotFound) {
		p.guessFailed(ctx, now, keys...)
		return nil, "That code is not valid or has expired. Check the code on your device; if it has expired, start again there.", http.StatusBadRequest
	}
	if err != nil {
		p.opts.Log.Error("find device authorization", "err", err)
		return nil, "Something went wrong on our side. Try again in a moment.", http.StatusInternalServerError
	}
	if d.Status != storage.DeviceAuthPending {
		return nil, "That code was already used. If that was not you, start again on your device.", http.StatusBadRequest
	}
	return d, "", http.StatusOK
}

// devicePage shows the code form (with the sign-in fields when there is no
// session), or, for a signed-in user who brought a code, asks whether to
// allow the device.
func (p *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := p.currentSession(ctx, r)
	data := devicePageData{CSRF: p.csrfToken(w, r), Account: p.account(ctx, sess), UserCode: r.URL.Query().Get("user_code")}
	if data.UserCode == "" {
		p.renderDevice(w, r, http.StatusOK, "device", data)
		return
	}
	d, msg, status := p.findDevice(ctx, r, sess, data.UserCode)
	if d == nil {
		data.Error = msg
		p.renderDevice(w, r, status, "device", data)
		return
	}
	if sess == nil {
		p.renderDevice(w, r, http.StatusOK, "device", data)
		return
	}
	p.deviceConfirm(w, r, d, data)
}

// deviceConfirm asks the signed-in user to allow or deny the device,
// naming the application and the code, so a code sent by someone else
// (remote phishing, RFC 8628 section 5.4) has a chance to be noticed.
func (p *Provider) deviceConfirm(w http.ResponseWriter, r *http.Request, d *storage.DeviceAuthorization, data devicePageData) {
	data.ClientName = d.ClientID
	if c, err := p.client(r.Context(), d.ClientID); err == nil && c.c.Name != "" {
		data.ClientName = c.c.Name
	}
	data.UserCode = p.formatUserCode(d.UserCode)
	data.Scopes = DescribeScopes(d.Scopes)
	p.renderDevice(w, r, http.StatusOK, "device_confirm", data)
}

// deviceSubmit takes the code form (signing in first when needed) or the
// allow/deny answer.
func (p *Provider) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.renderDevice(w, r, http.StatusBadRequest, "message", devicePageData{Message: "The form could not be read. Go back and try again."})
		return
	}
	if !csrfValid(r) {
		p.renderDevice(w, r, http.StatusForbidden, "message", devicePageData{Message: "This form has expired. Go back, reload the page and try again."})
		return
	}
	sess := p.currentSession(ctx, r)
	data := devicePageData{CSRF: p.csrfToken(w, r), Account: p.account(ctx, sess), UserCode: r.PostFormValue("user_code"), Email: r.PostFormValue("email")}
	action := r.PostFormValue("action")
	if (action == "approve" || action == "deny") && sess == nil {
		data.Error = "Sign in to answer the device."
		p.renderDevice(w, r, http.StatusUnauthorized, "device", data)
		return
	}
	d, msg, status := p.findDevice(ctx, r, sess, data.UserCode)
	if d == nil {
		data.Error = msg
		p.renderDevice(w, r, status, "device", data)
		return
	}
	switch action {
	case "approve", "deny":
		p.deviceAnswer(w, r, d, sess, action == "approve")
		return
	case "":
	default:
		p.renderDevice(w, r, http.StatusBadRequest, "message", devicePageData{Message: "This form is not valid. Go back, reload the page and try again."})
		return
	}
	back := devicePath + "?" + url.Values{"user_code": {p.formatUserCode(d.UserCode)}}.Encode()
	if sess == nil && p.opts.SignInPage != "" {
		// The hosted pages sign the user in, then bring them back here.
		http.Redirect(w, r, p.opts.SignInPage+"?"+url.Values{"next": {back}}.Encode(), http.StatusSeeOther)
		return
	}
	if sess == nil {
		u, err := p.opts.Users.Authenticate(ctx, data.Email, r.PostFormValue("password"))
		if err != nil {
			p.opts.Log.Info("sign-in refused", "client_id", d.ClientID, "reason", err.Error())
			data.Error = "That email and password do not match an account that can sign in."
			p.renderDevice(w, r, http.StatusUnauthorized, "device", data)
			return
		}
		if _, err := p.startSession(ctx, w, r, u); err != nil {
			p.opts.Log.Error("create session", "err", err)
			p.renderDevice(w, r, http.StatusInternalServerError, "message", devicePageData{Message: "Something went wrong on our side. Try again in a moment."})
			return
		}
	}
	// The signed-in user is asked to allow or deny on the page itself.
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// startSession starts a browser session for u after a password sign-in.
// Every sign-in gets a new token, so a cookie planted before it is
// worthless, and the browser's previous session ends.
func (p *Provider) startSession(_ context.Context, w http.ResponseWriter, r *http.Request, u *storage.User) (*storage.Session, error) {
	return p.SignIn(w, r, u, []string{"pwd"})
}

// deviceAnswer records the user's answer; the device learns it at its
// next poll.
func (p *Provider) deviceAnswer(w http.ResponseWriter, r *http.Request, d *storage.DeviceAuthorization, sess *storage.Session, allow bool) {
	ctx := r.Context()
	now := p.opts.Now().UTC()
	c, err := p.client(ctx, d.ClientID)
	if err != nil {
		p.renderDevice(w, r, http.StatusBadRequest, "message", devicePageData{Message: "This application is no longer registered."})
		return
	}
	err = p.opts.Store.InTx(ctx, func(tx storage.Tx) error {
		if !allow {
			return tx.DenyDeviceAuthorization(ctx, d.ID, sess.UserID, sess.ID, now)
		}
		if err := tx.ApproveDeviceAuthorization(ctx, d.ID, sess.UserID, sess.ID, sess.AuthTime, sess.AMR, now); err != nil {
			return err
		}
		if c.c.FirstParty {
			return nil
		}
		// Allowing a third-party client is a consent, remembered as on the
		// consent page: the application is listed with the user's others,
		// and withdrawing the consent ends the device's tokens.
		return grantConsent(ctx, tx, sess.UserID, d.ClientID, d.Scopes)
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		p.renderDevice(w, r, http.StatusBadRequest, "message", devicePageData{Message: "That code has expired. Start again on your device."})
		return
	case errors.Is(err, storage.ErrConflict):
		p.renderDevice(w, r, http.StatusBadRequest, "message", devicePageData{Message: "That code was already used. If that was not you, start again on your device."})
		return
	case err != nil:
		p.opts.Log.Error("answer device authorization", "client_id", d.ClientID, "err", err)
		p.renderDevice(w, r, http.StatusInternalServerError, "message", devicePageData{Message: "Something went wrong on our side. Try again in a moment."})
		return
	}
	_ = p.opts.Store.TouchSession(ctx, sess.ID, now, sess.ExpiresAt)
	if !allow {
		p.opts.Log.Info("device authorization denied", "client_id", d.ClientID, "user_id", sess.UserID)
		p.renderDevice(w, r, http.StatusOK, "message", devicePageData{Title: "Device not connected", Message: "The device was not given access to your account. You can close this window."})
		return
	}
	p.opts.Log.Info("device authorization approved", "client_id", d.ClientID, "user_id", sess.UserID)
	p.renderDevice(w, r, http.StatusOK, "message", devicePageData{Title: "Device connected", Message: "Your device is now signed in. You can close this window."})
}
