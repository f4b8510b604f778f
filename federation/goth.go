package federation

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/markbates/goth/providers/github"
	"github.com/markbates/goth/providers/google"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/storage"
)

// GitHub and Google go through goth's providers for the user's profile.
// goth cannot send a PKCE verifier with their code exchange (its
// Session.Authorize reads only the code), so the authorization URL and the
// exchange are made here with x/oauth2, on the same endpoints goth's
// providers use; then goth's FetchUser reads the profile with the access
// token. Every call goes through the connector's HTTP client, bound to the
// sign-in's context.

// gothConnector is an OAuth upstream whose profile is read by a goth
// provider.
type gothConnector struct {
	config *oauth2.Config
	// authOptions are added to every authorization URL.
	authOptions []oauth2.AuthCodeOption
	client      *http.Client
	// identity reads who signed in with the token, through hc.
	identity func(ctx context.Context, hc *http.Client, tok *oauth2.Token) (*Identity, error)
}

func (g *gothConnector) AuthURL(_ context.Context, r Round) (string, error) {
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(r.Verifier)}, g.authOptions...)
	return g.config.AuthCodeURL(r.State, opts...), nil
}

func (g *gothConnector) Finish(ctx context.Context, r Round, query map[string][]string) (*Identity, error) {
	get := func(k string) string {
		if v := query[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if subtle.ConstantTimeCompare([]byte(get("state")), []byte(r.State)) != 1 {
		return nil, fmt.Errorf("%w: the answer's state is not the round's", ErrRefused)
	}
	if e := get("error"); e != "" {
		return nil, fmt.Errorf("%w: %s %s", ErrRefused, truncate(e, 100), truncate(get("error_description"), 200))
	}
	code := get("code")
	if code == "" {
		return nil, fmt.Errorf("%w: the answer has no code", ErrRefused)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	hc := boundClient(ctx, g.client)
	tok, err := g.config.Exchange(context.WithValue(ctx, oauth2.HTTPClient, hc), code, oauth2.VerifierOption(r.Verifier))
	if err != nil {
		return nil, upstreamError("code exchange", err)
	}
	return g.identity(ctx, hc, tok)
}

// upstreamError classifies a failed call: no answer (network, timeout,
// cancellation) is ErrUnreachable, any answer that is not a success is
// ErrRefused.
func upstreamError(what string, err error) error {
	// goth sends Google's access token in the query: keep it out of the
	// message, which is logged.
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			ue.URL = u.String()
		} else {
			ue.URL = "(unparsable URL)"
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || isNetError(err) {
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, what, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrRefused, what, err)
}

// boundClient is hc sending every request under ctx too: goth's providers
// make their requests without a context.
func boundClient(ctx context.Context, hc *http.Client) *http.Client {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &http.Client{Transport: boundTransport{ctx: ctx, base: base}, Timeout: hc.Timeout,
		CheckRedirect: hc.CheckRedirect, Jar: hc.Jar}
}

type boundTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t boundTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	done := func() {
		stop()
		cancel(nil)
	}
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		done()
		return nil, err
	}
	resp.Body = &doneBody{ReadCloser: resp.Body, done: done}
	return resp, nil
}

// doneBody releases its request's context when closed.
type doneBody struct {
	io.ReadCloser
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

// githubConnector signs in with GitHub (github.com, at goth's endpoints).
type githubConnector struct {
	profile *github.Provider
	// emailURL lists the user's addresses with their verified and
	// primary flags, which goth's provider reads but does not return.
	emailURL string
}

func (cs *Connectors) github(c *storage.Connection) (Connector, error) {
	secret, err := cs.OpenSecret(c)
	if err != nil {
		return nil, err
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{"read:user", "user:email"}
	}
	// goth's provider gets no scopes: they only make its FetchUser read
	// /user/emails itself, and fail for a user with no verified primary
	// address; the addresses are read below instead.
	profile := github.NewCustomisedURL(c.ClientID, secret, cs.RedirectURI, github.AuthURL, github.TokenURL,
		github.ProfileURL, github.EmailURL)
	gh := &githubConnector{profile: profile, emailURL: github.EmailURL}
	return &gothConnector{
		config: &oauth2.Config{ClientID: c.ClientID, ClientSecret: secret, RedirectURL: cs.RedirectURI, Scopes: scopes,
			Endpoint: oauth2.Endpoint{AuthURL: github.AuthURL, TokenURL: github.TokenURL, AuthStyle: oauth2.AuthStyleInParams}},
		client:   cs.httpClient(),
		identity: gh.identity,
	}, nil
}

func (gh *githubConnector) identity(ctx context.Context, hc *http.Client, tok *oauth2.Token) (*Identity, error) {
	p := *gh.profile
	p.HTTPClient = hc
	u, err := p.FetchUser(&github.Session{AccessToken: tok.AccessToken})
	if err != nil {
		return nil, upstreamError("github user", err)
	}
	if u.UserID == "" || u.UserID == "0" {
		return nil, fmt.Errorf("%w: github user: no id", ErrRefused)
	}
	id := &Identity{Subject: u.UserID, Username: u.NickName, ImageURL: u.AvatarURL,
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
	id.FirstName, id.LastName, _ = strings.Cut(strings.TrimSpace(u.Name), " ")
	emails, err := gh.emails(ctx, hc, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	// The primary address, verified or not; without one (no user:email
	// scope) the public profile address, unverified: goth does not check
	// it.
	id.Email = u.Email
	for _, e := range emails {
		if e.Primary {
			id.Email, id.EmailVerified = e.Email, e.Verified
			break
		}
	}
	return id, nil
}

type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// emails reads GET /user/emails. Without the user:email scope GitHub
// answers 404 (or 403): no addresses then.
func (gh *githubConnector) emails(ctx context.Context, hc *http.Client, token string) ([]githubEmail, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gh.emailURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: github emails: %v", ErrRefused, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, upstreamError("github emails", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusForbidden:
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: github emails: status %d", ErrRefused, resp.StatusCode)
	}
	var list []githubEmail
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&list); err != nil {
		return nil, upstreamError("github emails", err)
	}
	return list, nil
}

// googleConnector signs in with Google through goth's provider, which
// reads the profile from Google's userinfo endpoint with the access token
// (the ID token is neither verified nor used).
type googleConnector struct {
	profile *google.Provider
}

func (cs *Connectors) google(c *storage.Connection) (Connector, error) {
	secret, err := cs.OpenSecret(c)
	if err != nil {
		return nil, err
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{"openid", "email", "profile"}
	}
	var opts []oauth2.AuthCodeOption
	if c.StoreTokens {
		opts = append(opts, oauth2.AccessTypeOffline) // a refresh token, to keep
	}
	gg := &googleConnector{profile: google.New(c.ClientID, secret, cs.RedirectURI, scopes...)}
	return &gothConnector{
		config: &oauth2.Config{ClientID: c.ClientID, ClientSecret: secret, RedirectURL: cs.RedirectURI, Scopes: scopes,
			Endpoint: google.Endpoint},
		authOptions: opts,
		client:      cs.httpClient(),
		identity:    gg.identity,
	}, nil
}

func (gg *googleConnector) identity(_ context.Context, hc *http.Client, tok *oauth2.Token) (*Identity, error) {
	p := *gg.profile
	p.HTTPClient = hc
	u, err := p.FetchUser(&google.Session{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresAt: tok.Expiry})
	if err != nil {
		return nil, upstreamError("google user", err)
	}
	// goth v1.82 reads userinfo v2 (id, verified_email); later versions
	// read the OpenID Connect userinfo (sub, email_verified).
	sub := u.UserID
	if sub == "" {
		sub, _ = u.RawData["sub"].(string)
	}
	if sub == "" {
		return nil, fmt.Errorf("%w: google user: no id", ErrRefused)
	}
	id := &Identity{Subject: sub, Email: u.Email, EmailVerified: rawTrue(u.RawData, "verified_email", "email_verified"),
		FirstName: u.FirstName, LastName: u.LastName, ImageURL: u.AvatarURL,
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
	if id.FirstName == "" && id.LastName == "" {
		id.FirstName, id.LastName, _ = strings.Cut(strings.TrimSpace(u.Name), " ")
	}
	return id, nil
}

// rawTrue reports whether the first of keys present in raw is true (a
// JSON boolean, or the string "true").
func rawTrue(raw map[string]any, keys ...string) bool {
	for _, k := range keys {
		switch v := raw[k].(type) {
		case bool:
			return v
		case string:
			return v == "true"
		}
	}
	return false
}
