package provider

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/usher-id/usher/storage"
)

const consentPath = "/consent"

// needsConsent reports whether the user must be asked before a
// third-party client gets the scopes it requests. First-party clients never
// ask; a remembered consent covering the scopes is enough unless the app
// asked with prompt=consent.
func (p *Provider) needsConsent(ctx context.Context, req *storage.AuthRequest, userID string) (bool, error) {
	c, err := p.client(ctx, req.ClientID)
	if err != nil {
		return false, err
	}
	if c.c.FirstParty {
		return false, nil
	}
	if slices.Contains(req.Prompt, oidc.PromptConsent) {
		return true, nil
	}
	got, err := p.opts.Store.GetConsent(ctx, userID, req.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, s := range req.Scopes {
		if !slices.Contains(got.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

func (p *Provider) consentPage(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest) {
	c, err := p.client(r.Context(), req.ClientID)
	if err != nil {
		p.message(w, r, http.StatusBadRequest, "Sign in", "This application is no longer registered.")
		return
	}
	p.render(w, r, http.StatusOK, "consent", pageData{Title: "Allow access", CSRF: p.csrfToken(w, r), AuthRequestID: req.ID,
		ClientName: c.c.Name, Scopes: req.Scopes})
}

// consentSubmit records the user's answer. Allowing remembers the scopes
// (added to any earlier consent); denying sends access_denied to the app.
func (p *Provider) consentSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || !csrfValid(r) {
		p.message(w, r, http.StatusForbidden, "Allow access", "This form has expired. Go back, reload the page and try again.")
		return
	}
	req, ok := p.boundRequest(w, r, r.PostFormValue("authRequestID"))
	if !ok {
		return
	}
	sess := p.currentSession(ctx, r)
	if sess == nil {
		p.message(w, r, http.StatusForbidden, "Allow access", "You are not signed in any more. Go back to the application and try again.")
		return
	}
	if r.PostFormValue("decision") != "allow" {
		op.AuthRequestError(w, r, &authRequest{req}, oidc.ErrAccessDenied().WithDescription("the user declined"), p.op)
		return
	}
	if err := grantConsent(ctx, p.opts.Store, sess.UserID, req.ClientID, req.Scopes); err != nil {
		p.opts.Log.Error("save consent", "err", err)
		p.message(w, r, http.StatusInternalServerError, "Allow access", "Something went wrong on our side. Try again in a moment.")
		return
	}
	p.finish(w, r, req, sess)
}

// grantConsent remembers that the user allowed the client scopes, on top
// of what they allowed it before.
func grantConsent(ctx context.Context, store storage.Consents, userID, clientID string, scopes []string) error {
	scopes = slices.Clone(scopes)
	old, err := store.GetConsent(ctx, userID, clientID)
	switch {
	case err == nil:
		for _, s := range old.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	return store.SaveConsent(ctx, &storage.Consent{UserID: userID, ClientID: clientID, Scopes: scopes})
}

// RevokeConsent withdraws a user's consent to a client and ends what the
// client holds: its refresh and access tokens for that user.
func (p *Provider) RevokeConsent(ctx context.Context, userID, clientID string) error {
	return RevokeConsent(ctx, p.opts.Store, userID, clientID, p.opts.Now())
}

// ConsentStore is what RevokeConsent needs.
type ConsentStore interface {
	InTx(ctx context.Context, fn func(tx storage.Tx) error) error
}

// RevokeConsent withdraws a user's consent to a client and, in the same
// transaction, revokes the client's refresh and access tokens for that
// user, so the client cannot keep using what the user took back. It
// returns storage.ErrNotFound when there is no such consent.
func RevokeConsent(ctx context.Context, store ConsentStore, userID, clientID string, now time.Time) error {
	return store.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.DeleteConsent(ctx, userID, clientID); err != nil {
			return err
		}
		if _, err := tx.RevokeRefreshTokens(ctx, userID, clientID, now); err != nil {
			return err
		}
		_, err := tx.RevokeAccessTokens(ctx, userID, clientID, now)
		return err
	})
}
