// Package provider is Usher's OpenID Connect provider: zitadel/oidc's op
// on Usher's storage, keys, clients and users, with the state the library
// leaves to storage kept safe under concurrency and replicas.
package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/session"
	"github.com/usher-id/usher/storage"
)

// Store is the storage the provider uses.
type Store interface {
	storage.Users
	storage.Sessions
	storage.Clients
	storage.AuthRequests
	storage.RefreshTokens
	storage.AccessTokens
	storage.DeviceAuthorizations
	storage.Consents
	storage.RateLimits
	storage.JWTTemplates
	InTx(ctx context.Context, fn func(tx storage.Tx) error) error
	Ping(ctx context.Context) error
}

// ClientAuthenticator checks a client's secret, against the stored record
// or one the caller holds.
type ClientAuthenticator interface {
	Authenticate(ctx context.Context, clientID, secret string) (*storage.Client, error)
	VerifySecret(c *storage.Client, secret string) bool
}

// Options configure a Provider. Zero durations take the defaults shown.
type Options struct {
	Issuer  string
	Store   Store
	Keys    *keys.Manager
	Clients ClientAuthenticator
	// Sessions is the browser side: the session an authorization request
	// may be satisfied by, and the binding of a request to its browser.
	Sessions *session.Manager
	// Interaction takes browsers through signing in (package web).
	Interaction Interaction
	Log         *slog.Logger
	Now         func() time.Time

	LoginTimeout      time.Duration // 30m: how long a user may take to sign in
	CodeLifetime      time.Duration // 60s
	RefreshReuseGrace time.Duration // 5s: a rotated token presented again this soon gets the same successor; negative for none
	ClientCacheTTL    time.Duration // 5s: how stale a replica's view of a client may be
	// Failed client authentications and unknown refresh tokens allowed
	// per client address (100) and per client (1000) in each window (5m).
	TokenFailuresPerAddress int
	TokenFailuresPerClient  int
	TokenFailureWindow      time.Duration
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.LoginTimeout, 30*time.Minute)
	def(&o.CodeLifetime, time.Minute)
	switch {
	case o.RefreshReuseGrace == 0:
		o.RefreshReuseGrace = 5 * time.Second
	case o.RefreshReuseGrace < 0:
		o.RefreshReuseGrace = 0
	}
	def(&o.ClientCacheTTL, 5*time.Second)
	def(&o.TokenFailureWindow, defaultTokenFailureWindow)
	o.TokenFailuresPerAddress = cmp.Or(max(o.TokenFailuresPerAddress, 0), defaultTokenFailuresPerAddr)
	o.TokenFailuresPerClient = cmp.Or(max(o.TokenFailuresPerClient, 0), defaultTokenFailuresPerClient)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Provider serves the OpenID Connect endpoints. It speaks only protocol:
// people are handed to the Interaction, browsers are the session
// package's.
type Provider struct {
	opts        Options
	op          *op.Provider
	handler     http.Handler
	macKey      []byte // signs logout confirmations
	clientMu    sync.Mutex
	clients     map[string]cachedClient
	clientFacts clientFacts
	keySets     *clientKeySets
	templates   templateCache
	failures    failureMemo      // recent failure counts, to spare reads
	tokenKeys   *accessTokenKeys // verifies Usher's own JWT access tokens
}

type cachedClient struct {
	c       *client
	expires time.Time
}

// loginPath is where the library sends a browser after storing its
// authorization request (the clients' LoginURL): the provider decides there
// whether the browser's session will do, and hands it to the Interaction.
const loginPath = "/login"

// New builds the provider. It reads (or creates) the instance key that
// encrypts authorization codes and opaque tokens, shared by all replicas.
func New(ctx context.Context, opts Options) (*Provider, error) {
	opts.setDefaults()
	if opts.Sessions == nil || opts.Interaction == nil {
		return nil, errors.New("provider: Sessions and Interaction are required")
	}
	u, err := url.Parse(opts.Issuer)
	if err != nil {
		return nil, fmt.Errorf("provider: issuer: %w", err)
	}
	cryptoKey, err := opts.Keys.Secret(ctx, "oidc.crypto_key", 32)
	if err != nil {
		return nil, err
	}
	macKey, err := opts.Keys.Secret(ctx, "provider.mac_key", 32)
	if err != nil {
		return nil, err
	}
	p := &Provider{opts: opts, macKey: macKey, clients: make(map[string]cachedClient), keySets: newClientKeySets()}
	cfg := &op.Config{
		CryptoKeyId:              "usher-1",
		DefaultLogoutRedirectURI: LoggedOutPath,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		AuthMethodPrivateKeyJWT:  true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		SupportedClaims: []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "c_hash", "at_hash", "azp", "sid",
			"name", "given_name", "family_name", "preferred_username", "picture", "updated_at", "email", "email_verified"},
	}
	copy(cfg.CryptoKey[:], cryptoKey)
	// Codes and opaque tokens are only ever made with AES-256-GCM; the
	// library's default would also try its legacy unauthenticated AES-CFB,
	// which turns any long enough string into garbage "IDs".
	gcm := op.NewAES256GCMCrypto(cfg.CryptoKey, cfg.CryptoKeyId)
	cfg.DeviceAuthorization = op.DeviceAuthorizationConfig{Lifetime: 10 * time.Minute, PollInterval: 5 * time.Second,
		UserFormPath: DevicePath, UserCode: op.UserCodeBase20}
	var options []op.Option
	if u.Scheme == "http" {
		options = append(options, op.WithAllowInsecure())
	}
	options = append(options, op.WithCORSOptions(p.corsOptions()), op.WithCrypto(gcm))
	// The library verifies its own tokens (id_token_hint, JWT access tokens
	// at userinfo and introspection) with RS256, ES256 and PS256 only;
	// Usher may sign with EdDSA too.
	algs := opts.Keys.Algorithms()
	p.tokenKeys = newAccessTokenKeys(opts.Keys, opts.Now)
	options = append(options,
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms(algs...)),
		op.WithAccessTokenVerifierOpts(op.WithSupportedAccessTokenSigningAlgorithms(algs...)),
		op.WithAccessTokenKeySet(p.tokenKeys))
	p.op, err = op.NewProvider(cfg, &opStorage{p: p}, op.StaticIssuer(opts.Issuer), options...)
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	discovery, err := p.renderDiscovery(ctx)
	if err != nil {
		return nil, fmt.Errorf("provider: discovery: %w", err)
	}
	mux := http.NewServeMux()
	p.routes(mux, discovery)
	p.handler = settleLibraryLogs(mux)
	return p, nil
}

// ServeHTTP serves the protocol endpoints.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// client returns a client by ID, from a short-lived per-replica cache:
// the library asks for the client several times per request.
func (p *Provider) client(ctx context.Context, id string) (*client, error) {
	if !plausibleID(id) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client_id")
	}
	now := p.opts.Now()
	p.clientMu.Lock()
	cc, ok := p.clients[id]
	p.clientMu.Unlock()
	if ok && now.Before(cc.expires) {
		return cc.c, nil
	}
	c, err := p.opts.Store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client_id")
	}
	if err != nil {
		return nil, err
	}
	wrapped := p.wrap(c)
	p.clientMu.Lock()
	if len(p.clients) > 10000 {
		clear(p.clients)
	}
	p.clients[id] = cachedClient{c: wrapped, expires: now.Add(p.opts.ClientCacheTTL)}
	p.clientMu.Unlock()
	return wrapped, nil
}

// checkSecret authenticates a client by secret. It checks the cached
// record first (client authentication runs on every token request) and
// falls back to the stored one, so a secret that was just rotated in works
// at once; a rotated-out secret keeps working on a replica for at most the
// cache lifetime.
func (p *Provider) checkSecret(ctx context.Context, id, secret string) (*client, error) {
	if c, err := p.client(ctx, id); err == nil && p.opts.Clients.VerifySecret(c.c, secret) {
		return c, nil
	}
	fresh, err := p.opts.Clients.Authenticate(ctx, id, secret)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	p.forget(id)
	return p.wrap(fresh), nil
}

// forget drops a client from the cache.
func (p *Provider) forget(id string) {
	p.clientMu.Lock()
	delete(p.clients, id)
	p.clientMu.Unlock()
}

func (p *Provider) wrap(c *storage.Client) *client {
	return &client{c: c, loginURL: func(id string) string {
		return p.opts.Issuer + loginPath + "?" + url.Values{"authRequestID": {id}}.Encode()
	}}
}

// fillUserinfo sets the claims the scopes grant.
func (p *Provider) fillUserinfo(ctx context.Context, ui *oidc.UserInfo, userID string, scopes []string) error {
	ui.Subject = userID // the library would otherwise blank sub
	var u *storage.User
	for _, sc := range scopes {
		if sc != oidc.ScopeProfile && sc != oidc.ScopeEmail {
			continue
		}
		if u == nil {
			var err error
			if u, err = p.opts.Store.GetUser(ctx, userID); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return oidc.ErrInvalidRequest().WithDescription("the user no longer exists")
				}
				return err
			}
		}
		switch sc {
		case oidc.ScopeProfile:
			ui.GivenName, ui.FamilyName = u.FirstName, u.LastName
			ui.Name = joinName(u.FirstName, u.LastName)
			ui.PreferredUsername = u.Username
			ui.Picture = u.ImageURL
			ui.UpdatedAt = oidc.FromTime(u.UpdatedAt)
		case oidc.ScopeEmail:
			e := u.PrimaryEmail()
			ui.Email, ui.EmailVerified = e.Email, oidc.Bool(e.Verified)
		}
	}
	return nil
}

func joinName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}

// plausibleID reports whether s could be a record's ID, a client ID or a
// template name: what comes from a request is checked before it reaches
// the database, some of which refuse bytes such as NUL outright.
func plausibleID(s string) bool {
	return s != "" && len(s) <= 128 && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
