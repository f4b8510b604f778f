package provider

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/usher-id/usher/storage"
)

// NeedsConsent reports whether the user must be asked before the
// application of req gets the scopes it requests. First-party clients never
// ask; a remembered consent covering the scopes is enough unless the
// application asked with prompt=consent.
func (p *Provider) NeedsConsent(ctx context.Context, req *Request, userID string) (bool, error) {
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

// GrantConsent remembers that the user allowed the application of req the
// scopes it asked for, on top of what they allowed it before.
func (p *Provider) GrantConsent(ctx context.Context, req *Request, userID string) error {
	return grantConsent(ctx, p.opts.Store, userID, req.ClientID, req.Scopes)
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
