package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/usher-id/usher/session"
	"github.com/usher-id/usher/storage"
)

// A browser sign-in goes one way through the packages. The application
// sends the browser to /authorize; the library checks the request and
// stores it (CreateAuthRequest), and sends the browser to /login, where
// the provider asks package session whether the browser's session
// satisfies the request (prompt, max_age, id_token_hint). Either way it
// hands the request to the Interaction (the hosted pages' sign-in flow),
// which takes the browser through the steps still needed and hands back a
// completed authentication with Complete; the provider then sends the
// browser to /authorize/callback, where the library issues the code.

// Interaction is what the provider hands a browser to when a person must
// act: package web implements it with the hosted pages.
type Interaction interface {
	// SignIn takes the browser through signing in for req and ends with
	// Complete or Decline. auth is the browser's session when it already
	// satisfies the request (single sign-on: only the steps after signing
	// in, such as consent, may be left), else nil.
	SignIn(w http.ResponseWriter, r *http.Request, req *Request, auth *Authentication)
	// Problem tells the person why a request cannot go on, when it cannot
	// be sent back to the application.
	Problem(w http.ResponseWriter, r *http.Request, p Problem)
}

// Problem is why an authorization request cannot go on in this browser.
type Problem int

const (
	// RequestOver: the request is unknown, finished or expired (400).
	RequestOver Problem = iota
	// OtherBrowser: the request was started in another browser (403).
	OtherBrowser
	// RequestURIUnsupported: the request names a request_uri, and its
	// redirect URI is not one to send the error to (400).
	RequestURIUnsupported
)

// Request is an authorization request waiting for a person, as the
// sign-in flow needs to know it.
type Request struct {
	ID         string
	ClientID   string
	ClientName string
	FirstParty bool
	LoginHint  string
	Scopes     []string
	// Prompt is what the application asked of the interaction (none,
	// login, consent, select_account).
	Prompt []string
}

// PromptNone reports whether the application asked for no interaction at
// all: whatever would need a page is an error sent back to it.
func (r *Request) PromptNone() bool { return slices.Contains(r.Prompt, oidc.PromptNone) }

// Authentication is a completed sign-in: who, with which browser session,
// how and when.
type Authentication struct {
	UserID    string
	SessionID string
	AMR       []string
	AuthTime  time.Time
}

// ErrRequestOver means an authorization request is unknown, finished or
// expired.
var ErrRequestOver = errors.New("provider: the authorization request is over or has expired")

// Reasons for Decline.
var (
	// ErrDeclined: the person said no (access_denied).
	ErrDeclined = errors.New("provider: the user declined")
	// ErrConsentRequired: consent is needed but the application asked
	// for no interaction (consent_required).
	ErrConsentRequired = errors.New("provider: consent is required")
)

// requestBinding names the browser binding of an authorization request.
const requestBinding = "ar"

// Request returns the authorization request id while it waits for a
// person, or ErrRequestOver.
func (p *Provider) Request(ctx context.Context, id string) (*Request, error) {
	req, err := p.pending(ctx, id)
	if err != nil {
		return nil, err
	}
	return p.describe(ctx, req), nil
}

func (p *Provider) pending(ctx context.Context, id string) (*storage.AuthRequest, error) {
	if !plausibleID(id) {
		return nil, ErrRequestOver
	}
	req, err := p.opts.Store.GetAuthRequest(ctx, id, p.opts.Now())
	if errors.Is(err, storage.ErrNotFound) || (err == nil && req.Done) {
		return nil, ErrRequestOver
	}
	return req, err
}

func (p *Provider) describe(ctx context.Context, req *storage.AuthRequest) *Request {
	out := &Request{ID: req.ID, ClientID: req.ClientID, LoginHint: req.LoginHint, Scopes: req.Scopes, Prompt: req.Prompt}
	if c, err := p.client(ctx, req.ClientID); err == nil {
		out.ClientName, out.FirstParty = c.c.Name, c.c.FirstParty
	}
	return out
}

// authorizeContinue is where the library sends the browser after storing
// an authorization request: the request must have been started in this
// browser; a session that satisfies it is handed on with it, and without
// one prompt=none ends at the application with login_required.
func (p *Provider) authorizeContinue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("authRequestID")
	req, err := p.pending(ctx, id)
	if err != nil {
		if !errors.Is(err, ErrRequestOver) {
			p.opts.Log.Error("read authorization request", "err", err)
		}
		p.opts.Interaction.Problem(w, r, RequestOver)
		return
	}
	if !p.opts.Sessions.Bound(r, requestBinding, id) {
		p.opts.Interaction.Problem(w, r, OtherBrowser)
		return
	}
	need := session.Requirement{
		Login:   slices.Contains(req.Prompt, oidc.PromptLogin) || slices.Contains(req.Prompt, oidc.PromptSelectAccount),
		MaxAge:  -1,
		Subject: req.HintSubject,
	}
	if req.MaxAge >= 0 {
		need.MaxAge = time.Duration(req.MaxAge) * time.Second
	}
	var auth *Authentication
	if s := p.opts.Sessions.Satisfying(r, need); s != nil {
		auth = &Authentication{UserID: s.UserID, SessionID: s.ID, AMR: s.AMR, AuthTime: s.AuthTime}
	} else if slices.Contains(req.Prompt, oidc.PromptNone) {
		op.AuthRequestError(w, r, &authRequest{req}, oidc.ErrLoginRequired(), p.op)
		return
	}
	p.opts.Interaction.SignIn(w, r, p.describe(ctx, req), auth)
}

// Complete records that auth completed the authorization request id and
// sends the browser on to collect the code at the callback, which only
// the browser that started the request may do.
func (p *Provider) Complete(w http.ResponseWriter, r *http.Request, id string, auth Authentication) {
	err := p.opts.Store.CompleteAuthRequest(r.Context(), id, auth.UserID, auth.SessionID, auth.AuthTime, auth.AMR)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			p.opts.Log.Error("complete authorization request", "err", err)
		}
		p.opts.Interaction.Problem(w, r, RequestOver)
		return
	}
	ctx := op.ContextWithIssuer(r.Context(), p.opts.Issuer)
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(ctx, id), http.StatusFound)
}

// Decline ends the authorization request id at the application with an
// error: ErrDeclined (access_denied) or ErrConsentRequired.
func (p *Provider) Decline(w http.ResponseWriter, r *http.Request, id string, why error) {
	req, err := p.pending(r.Context(), id)
	if err != nil {
		p.opts.Interaction.Problem(w, r, RequestOver)
		return
	}
	var oe *oidc.Error
	switch {
	case errors.Is(why, ErrConsentRequired):
		oe = &oidc.Error{ErrorType: "consent_required", Description: "the user has not allowed this application"}
	default:
		oe = oidc.ErrAccessDenied().WithDescription("the user declined")
	}
	op.AuthRequestError(w, r, &authRequest{req}, oe, p.op)
}

// bindBrowser binds the request to the browser when the library sends it
// on to /login: the pages and the callback that hands out the code require
// the binding, so a link to someone else's authorization request cannot
// make a signed-in victim complete it for the attacker.
func (p *Provider) bindBrowser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&bindingWriter{ResponseWriter: w, p: p}, r)
	})
}

type bindingWriter struct {
	http.ResponseWriter
	p *Provider
}

func (b *bindingWriter) WriteHeader(status int) {
	if status == http.StatusFound || status == http.StatusSeeOther {
		if loc, err := url.Parse(b.Header().Get("Location")); err == nil &&
			strings.HasPrefix(loc.String(), b.p.opts.Issuer+loginPath+"?") {
			if id := loc.Query().Get("authRequestID"); id != "" {
				b.p.opts.Sessions.Bind(b.ResponseWriter, requestBinding, id, b.p.opts.LoginTimeout)
			}
		}
	}
	b.ResponseWriter.WriteHeader(status)
}

// requireBrowser lets only the browser that started a request collect its
// code, and clears the binding once it does.
func (p *Provider) requireBrowser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		if !p.opts.Sessions.Bound(r, requestBinding, id) {
			p.opts.Interaction.Problem(w, r, OtherBrowser)
			return
		}
		p.opts.Sessions.Unbind(w, requestBinding, id)
		next.ServeHTTP(w, r)
	})
}
