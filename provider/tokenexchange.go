package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/usher-id/usher/storage"
)

// RFC 8693 token types.
const (
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// errSubjectRefused is every reason an access token cannot stand for its
// user: unknown, expired, revoked, a client's own, or its client gone.
var errSubjectRefused = errors.New("the subject token is invalid, expired or revoked")

// subjectToken checks an access token Usher issued and returns its record
// and its user. Expired, revoked, unknown and client-only tokens are
// refused alike.
func (p *Provider) subjectToken(ctx context.Context, token string) (*storage.AccessToken, *storage.User, error) {
	id := ""
	if plain, err := p.op.Crypto().Decrypt(token); err == nil {
		// An opaque token: the library's encrypted "id:subject".
		id, _, _ = strings.Cut(plain, ":")
	} else if c, err := op.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, p.op.AccessTokenVerifier(ctx)); err == nil {
		id = c.JWTID
	}
	refused := errSubjectRefused
	if !plausibleID(id) || !strings.HasPrefix(id, storage.PrefixAccessToken+"_") {
		return nil, nil, refused
	}
	at, err := p.opts.Store.GetAccessToken(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (!at.Active(p.opts.Now()) || at.UserID == "")) {
		return nil, nil, refused
	}
	if err != nil {
		return nil, nil, err
	}
	if !p.clientStillIssues(ctx, at.ClientID, at.CreatedAt) {
		return nil, nil, refused
	}
	u, err := p.opts.Store.GetUser(ctx, at.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Banned) {
		return nil, nil, refused
	}
	return at, u, err
}

// tokenExchange answers the RFC 8693 token exchange grant: a client
// presents the user's access token and names a JWT template (template, or
// audience), and gets a token shaped by it.
func (p *Provider) tokenExchange(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	setNoStore(w)
	c, err := p.authenticateClient(r)
	if err != nil {
		op.RequestError(w, r, asOIDCError(err), nil)
		return
	}
	if !slices.Contains(c.c.GrantTypes, string(oidc.GrantTypeTokenExchange)) {
		op.RequestError(w, r, oidc.ErrUnauthorizedClient().WithDescription("this client may not use the token exchange grant"), nil)
		return
	}
	f := r.PostForm
	for _, k := range []string{"subject_token", "subject_token_type", "template", "requested_token_type", "resource"} {
		if len(f[k]) > 1 {
			op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("%s is given more than once", k), nil)
			return
		}
	}
	switch {
	case f.Get("subject_token") == "":
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("subject_token is missing"), nil)
		return
	case f.Get("subject_token_type") != tokenTypeAccessToken:
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("subject_token_type must be "+tokenTypeAccessToken), nil)
		return
	case f.Get("actor_token") != "":
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("actor tokens are not supported"), nil)
		return
	case f.Get("requested_token_type") != "" && f.Get("requested_token_type") != tokenTypeJWT:
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("requested_token_type must be "+tokenTypeJWT), nil)
		return
	}
	name := f.Get("template")
	if name == "" {
		name = f.Get("audience")
	}
	if name == "" || len(f["audience"]) > 1 {
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("name one JWT template with template or audience"), nil)
		return
	}
	if !plausibleID(name) {
		op.RequestError(w, r, &oidc.Error{ErrorType: "invalid_target", Description: "no JWT template has that name"}, nil)
		return
	}
	at, u, err := p.subjectToken(ctx, f.Get("subject_token"))
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			op.RequestError(w, r, oe, nil)
			return
		}
		if errors.Is(err, errSubjectRefused) {
			// RFC 8693, section 2.2.2: an unusable subject token is
			// invalid_request.
			op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("%s", err.Error()), nil)
			return
		}
		op.RequestError(w, r, oidc.ErrServerError().WithParent(err), nil)
		return
	}
	// A token is exchanged by the application it was issued to, or by a
	// service it was issued for.
	if at.ClientID != c.c.ID && !slices.Contains(at.Audience, c.c.ID) {
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("the subject token was issued to another client"), nil)
		return
	}
	jwt, exp, err := p.Mint(ctx, name, u, c.c.ID)
	if errors.Is(err, errNoTemplate) {
		op.RequestError(w, r, &oidc.Error{ErrorType: "invalid_target", Description: "no JWT template is named " + name}, nil)
		return
	}
	if err != nil {
		p.opts.Log.Error("mint a template token", "template", name, "err", err)
		op.RequestError(w, r, oidc.ErrServerError().WithDescription("the token could not be made"), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      jwt,
		"issued_token_type": tokenTypeJWT,
		"token_type":        "N_A",
		"expires_in":        int64(exp.Sub(p.opts.Now()).Round(time.Second) / time.Second),
	})
}

// mintEndpoint serves POST /v1/tokens/{template}: the user's bearer
// access token in, a token shaped by the template out, as {"jwt": "..."}.
func (p *Provider) mintEndpoint(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	setNoStore(w)
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="usher"`)
		writeJSON(w, http.StatusUnauthorized, apiError{"unauthenticated", "send the user's access token as Authorization: Bearer"})
		return
	}
	at, u, err := p.subjectToken(ctx, token)
	if err != nil {
		if errors.Is(err, errSubjectRefused) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="usher", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, apiError{"invalid_token", "the access token is invalid, expired or revoked"})
			return
		}
		p.opts.Log.Error("mint endpoint", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{"internal_error", "the token could not be made"})
		return
	}
	// The application the token was issued to must be allowed to turn it
	// into template tokens, as at the token exchange.
	if c, err := p.client(ctx, at.ClientID); err != nil || !slices.Contains(c.c.GrantTypes, string(oidc.GrantTypeTokenExchange)) {
		writeJSON(w, http.StatusForbidden, apiError{"unauthorized_client", "the application this token was issued to may not mint template tokens"})
		return
	}
	name := r.PathValue("template")
	if !plausibleID(name) {
		writeJSON(w, http.StatusNotFound, apiError{"template_not_found", "no JWT template has that name"})
		return
	}
	jwt, _, err := p.Mint(ctx, name, u, at.ClientID)
	if errors.Is(err, errNoTemplate) {
		writeJSON(w, http.StatusNotFound, apiError{"template_not_found", "no JWT template is named " + name})
		return
	}
	if err != nil {
		p.opts.Log.Error("mint a template token", "template", name, "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{"internal_error", "the token could not be made"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"jwt": jwt})
}

// apiError is the {code, message} body of the JSON endpoints.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// asOIDCError keeps a protocol error as it is and turns anything else into
// a server_error whose cause is logged, not shown.
func asOIDCError(err error) error {
	var oe *oidc.Error
	if errors.As(err, &oe) {
		return oe
	}
	return oidc.ErrServerError().WithParent(err)
}

// clientStillIssues reports whether the client a token was issued to still
// exists and is the same one: a client deleted and declared again with the
// same ID does not bring back the old client's tokens. Replicas' clocks may
// differ a little, hence the minute of slack.
func (p *Provider) clientStillIssues(ctx context.Context, clientID string, issued time.Time) bool {
	c, err := p.client(ctx, clientID)
	return err == nil && !issued.Before(c.c.CreatedAt.Add(-time.Minute))
}
