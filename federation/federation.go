// Package federation signs users in through upstream identity providers:
// any OpenID Connect provider (through zitadel's verifying relying party,
// which checks the ID token's signature, audience, expiry and nonce),
// GitHub and Google (goth providers, with PKCE), and, next, SAML IdPs. It
// turns an upstream's answer into an Identity; linking identities to users
// is the caller's.
package federation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/usher-id/usher/storage"
)

// Timeout bounds every call to an upstream: discovery, keys, the token
// exchange, user info. A slow upstream ends the sign-in with an error.
const Timeout = 10 * time.Second

// Identity is what an upstream says of the user who signed in there.
type Identity struct {
	Subject       string // the upstream's stable ID for the user
	Email         string
	EmailVerified bool
	FirstName     string
	LastName      string
	Username      string
	ImageURL      string
	// AMR are the upstream's authentication methods, for the amr claim.
	AMR          []string
	AccessToken  string
	RefreshToken string
}

// Errors a sign-in through an upstream can end with. Each is shown to the
// user as a sentence; the cause is logged.
var (
	// ErrUnreachable: the upstream did not answer, or not in time.
	ErrUnreachable = errors.New("federation: the identity provider could not be reached")
	// ErrRefused: the upstream answered with an error, or its answer did
	// not verify (signature, audience, nonce, expiry).
	ErrRefused = errors.New("federation: the identity provider did not confirm the sign-in")
	// ErrUnsupported: the connection's type has no connector yet.
	ErrUnsupported = errors.New("federation: this kind of connection is not supported")
)

// Round is one round trip's secrets: the state sent to the upstream, the
// nonce it must echo in the ID token, and the PKCE verifier.
type Round struct {
	State, Nonce, Verifier string
}

// NewRound returns fresh random secrets.
func NewRound() Round {
	return Round{State: random(), Nonce: random(), Verifier: random()}
}

// StateHash is how a round's state is stored: its hash.
func StateHash(state string) []byte {
	sum := sha256.Sum256([]byte(state))
	return sum[:]
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Connector is one connection ready to use.
type Connector interface {
	// AuthURL is where the browser goes to sign in upstream.
	AuthURL(ctx context.Context, r Round) (string, error)
	// Finish handles the upstream's answer (the callback's query) for the
	// round r and returns who signed in.
	Finish(ctx context.Context, r Round, query map[string][]string) (*Identity, error)
}

// Connectors builds connectors from stored connections and keeps them
// while the connection is unchanged (an OpenID Connect connector holds the
// upstream's discovery document and keys).
type Connectors struct {
	// RedirectURI is Usher's callback for upstreams, the same for every
	// connection (the state names the round and thus the connection).
	RedirectURI string
	// OpenSecret unseals a connection's client secret.
	OpenSecret func(c *storage.Connection) (string, error)
	// HTTPClient talks to upstreams; nil uses one with Timeout.
	HTTPClient *http.Client

	mu    sync.Mutex
	built map[string]builtConnector
}

type builtConnector struct {
	updated time.Time
	c       Connector
}

// For returns the connector for c.
func (cs *Connectors) For(ctx context.Context, c *storage.Connection) (Connector, error) {
	cs.mu.Lock()
	b, ok := cs.built[c.ID]
	cs.mu.Unlock()
	if ok && b.updated.Equal(c.UpdatedAt) {
		return b.c, nil
	}
	var conn Connector
	var err error
	switch c.Type {
	case storage.ConnectionOIDC:
		conn, err = cs.oidc(ctx, c)
	case storage.ConnectionGitHub:
		conn, err = cs.github(c)
	case storage.ConnectionGoogle:
		conn, err = cs.google(c)
	case storage.ConnectionSAML:
		conn, err = cs.saml(ctx, c)
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, c.Type)
	}
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	if cs.built == nil {
		cs.built = map[string]builtConnector{}
	}
	cs.built[c.ID] = builtConnector{updated: c.UpdatedAt, c: conn}
	cs.mu.Unlock()
	return conn, nil
}

func (cs *Connectors) httpClient() *http.Client {
	if cs.HTTPClient != nil {
		return cs.HTTPClient
	}
	return &http.Client{Timeout: Timeout}
}

// oidcConnector is an OpenID Connect upstream, through zitadel's relying
// party: it verifies the ID token's signature against the upstream's
// JWKS, its issuer, audience, expiry and the round's nonce.
type oidcConnector struct {
	party rp.RelyingParty
}

type nonceKey struct{}

func (cs *Connectors) oidc(ctx context.Context, c *storage.Connection) (Connector, error) {
	secret, err := cs.OpenSecret(c)
	if err != nil {
		return nil, err
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeProfile}
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	party, err := rp.NewRelyingPartyOIDC(ctx, c.Issuer, c.ClientID, secret, cs.RedirectURI, scopes,
		rp.WithHTTPClient(cs.httpClient()),
		rp.WithVerifierOpts(rp.WithNonce(func(ctx context.Context) string {
			n, _ := ctx.Value(nonceKey{}).(string)
			return n
		})))
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %v", ErrUnreachable, c.Issuer, err)
	}
	return &oidcConnector{party: party}, nil
}

func (o *oidcConnector) AuthURL(_ context.Context, r Round) (string, error) {
	return rp.AuthURL(r.State, o.party, rp.WithCodeChallenge(challenge(r.Verifier)),
		rp.AuthURLOpt(rp.WithURLParam("nonce", r.Nonce))), nil
}

func (o *oidcConnector) Finish(ctx context.Context, r Round, query map[string][]string) (*Identity, error) {
	get := func(k string) string {
		if v := query[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if e := get("error"); e != "" {
		return nil, fmt.Errorf("%w: %s %s", ErrRefused, e, truncate(get("error_description"), 200))
	}
	code := get("code")
	if code == "" {
		return nil, fmt.Errorf("%w: the answer has no code", ErrRefused)
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, nonceKey{}, r.Nonce), Timeout)
	defer cancel()
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, o.party, rp.WithCodeVerifier(r.Verifier))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isNetError(err) {
			return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	c := tokens.IDTokenClaims
	if c == nil || c.Subject == "" {
		return nil, fmt.Errorf("%w: no ID token", ErrRefused)
	}
	id := &Identity{Subject: c.Subject, Email: c.Email, EmailVerified: bool(c.EmailVerified), FirstName: c.GivenName,
		LastName: c.FamilyName, Username: c.PreferredUsername, ImageURL: c.Picture, AMR: c.AuthenticationMethodsReferences,
		AccessToken: tokens.AccessToken, RefreshToken: tokens.RefreshToken}
	if id.FirstName == "" && id.LastName == "" && c.Name != "" {
		id.FirstName, id.LastName, _ = strings.Cut(c.Name, " ")
	}
	return id, nil
}

func isNetError(err error) bool {
	var ue interface{ Timeout() bool }
	return errors.As(err, &ue)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
