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

// DevicePath is the hosted page where users enter user codes
// (op.DeviceAuthorizationConfig.UserFormPath).
const DevicePath = "/device"

var _ op.DeviceAuthorizationStorage = (*opStorage)(nil)

// deviceRoutes mounts the device authorization endpoint; the device_code
// grant is answered at the token endpoint, and the user-code page (at
// DevicePath) is one of the hosted pages, which use FindDevice and
// AnswerDevice.
func (p *Provider) deviceRoutes(mux *http.ServeMux, interceptor *op.IssuerInterceptor) {
	mux.Handle(p.op.DeviceAuthorizationEndpoint().Relative(), noStore(interceptor.Handler(p.clientGuard(atDeviceAuthorization, http.HandlerFunc(p.deviceAuthorization)))))
}

// deviceEnabled reports whether the grant is configured; discovery
// advertises it only then.
func (p *Provider) deviceEnabled() bool {
	cfg := p.op.DeviceAuthorization()
	return p.op.GrantTypeDeviceCodeSupported() && cfg.Lifetime > 0 && cfg.UserFormPath == DevicePath &&
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
	verify := p.opts.Issuer + DevicePath
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

// ---- the user-code page's questions ----

// Errors of FindDevice and AnswerDevice, for the user-code page to explain.
var (
	ErrNoUserCode       = errors.New("provider: no user code was entered")
	ErrTooManyGuesses   = errors.New("provider: too many wrong user codes")
	ErrUnknownUserCode  = errors.New("provider: the user code is not valid or has expired")
	ErrUserCodeUsed     = errors.New("provider: the user code was already used")
	ErrDeviceClientGone = errors.New("provider: the device's application is no longer registered")
)

// DeviceRequest is a device waiting for a person to allow or deny it.
type DeviceRequest struct {
	ID         string
	ClientID   string
	ClientName string
	UserCode   string   // as the device shows it, with dashes
	Scopes     []string // as requested
}

// Guessing user codes: wrong codes are counted per key the page names (the
// browser session and the network address), and a key that reached
// guessLimit in the current window is refused until the window ends. User
// codes carry about 34 bits and live ten minutes, so this keeps guessing
// hopeless (RFC 8628, section 5.1). The counts live in the database, so all
// replicas share one limit.
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

// FindDevice looks up a user code typed by a person, counting a wrong one
// against each of guessKeys: ErrNoUserCode, ErrTooManyGuesses,
// ErrUnknownUserCode or ErrUserCodeUsed when it cannot be answered.
func (p *Provider) FindDevice(ctx context.Context, typed string, guessKeys ...string) (*DeviceRequest, error) {
	now := p.opts.Now()
	code := storage.NormalizeUserCode(typed)
	switch {
	case p.guessBlocked(ctx, now, guessKeys...):
		return nil, ErrTooManyGuesses
	case code == "":
		return nil, ErrNoUserCode
	}
	d, err := p.opts.Store.GetDeviceAuthorizationByUserCode(ctx, code, now)
	if errors.Is(err, storage.ErrNotFound) {
		p.guessFailed(ctx, now, guessKeys...)
		return nil, ErrUnknownUserCode
	}
	if err != nil {
		return nil, err
	}
	if d.Status != storage.DeviceAuthPending {
		return nil, ErrUserCodeUsed
	}
	out := &DeviceRequest{ID: d.ID, ClientID: d.ClientID, ClientName: d.ClientID, UserCode: p.formatUserCode(d.UserCode), Scopes: d.Scopes}
	if c, err := p.client(ctx, d.ClientID); err == nil && c.c.Name != "" {
		out.ClientName = c.c.Name
	}
	return out, nil
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

// AnswerDevice records the person's answer for the device d, signed in as
// auth; the device learns it at its next poll. Allowing a third-party
// application is a consent, remembered as on the consent page: the
// application is listed with the user's others, and withdrawing the
// consent ends the device's tokens. ErrUnknownUserCode means the code
// expired meanwhile, ErrUserCodeUsed that it was answered already.
func (p *Provider) AnswerDevice(ctx context.Context, d *DeviceRequest, auth Authentication, allow bool) error {
	now := p.opts.Now().UTC()
	c, err := p.client(ctx, d.ClientID)
	if err != nil {
		return ErrDeviceClientGone
	}
	err = p.opts.Store.InTx(ctx, func(tx storage.Tx) error {
		if !allow {
			return tx.DenyDeviceAuthorization(ctx, d.ID, auth.UserID, auth.SessionID, now)
		}
		if err := tx.ApproveDeviceAuthorization(ctx, d.ID, auth.UserID, auth.SessionID, auth.AuthTime, auth.AMR, now); err != nil {
			return err
		}
		if c.c.FirstParty {
			return nil
		}
		return grantConsent(ctx, tx, auth.UserID, d.ClientID, d.Scopes)
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrUnknownUserCode
	case errors.Is(err, storage.ErrConflict):
		return ErrUserCodeUsed
	case err != nil:
		return err
	}
	if allow {
		p.opts.Log.Info("device authorization approved", "client_id", d.ClientID, "user_id", auth.UserID)
	} else {
		p.opts.Log.Info("device authorization denied", "client_id", d.ClientID, "user_id", auth.UserID)
	}
	return nil
}
