package provider

import (
	"context"
	"strings"

	"github.com/usher-id/usher/storage"
)

// clientTemplateClaims renders the JWT template the client names for its
// access tokens (storage.Client.AccessTokenTemplate) for the user, without
// any standard claim. It is nil when the client names none, when no
// template has that name (logged, so the operator learns of it), and when
// the subject is not a user: a client acting for itself has no user to
// render.
func (p *Provider) clientTemplateClaims(ctx context.Context, clientID, userID string) (map[string]any, error) {
	if !strings.HasPrefix(userID, storage.PrefixUser+"_") {
		return nil, nil
	}
	c, err := p.client(ctx, clientID)
	if err != nil {
		return nil, err
	}
	name := c.c.AccessTokenTemplate
	if name == "" || name == SessionClaimsTemplate {
		// The session claims are in every token already.
		return nil, nil
	}
	pt, err := p.template(ctx, name)
	if err != nil {
		p.opts.Log.ErrorContext(ctx, "the client's access token template cannot be rendered; its tokens carry none of it",
			"client_id", clientID, "template", name, "err", err)
		return nil, nil
	}
	if pt.rec == nil {
		p.opts.Log.WarnContext(ctx, "the client's access token template does not exist; its access tokens carry no template claims",
			"client_id", clientID, "template", name)
		return nil, nil
	}
	return p.extraClaims(ctx, pt, userID)
}
