package provider

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/usher-id/usher/claims"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
)

// SessionClaimsTemplate names the instance's custom session claims: a
// template rendered into every access token and ID token.
const SessionClaimsTemplate = "_session"

// parsedTemplate is a stored template with its claims parsed.
type parsedTemplate struct {
	rec *storage.JWTTemplate
	tpl *claims.Template
}

// templateCache keeps parsed templates by name. The record is read on
// every use, so an edit made anywhere (another replica, the CLI) applies
// to the next token; only the parse is reused while the record is
// unchanged.
type templateCache struct {
	mu     sync.Mutex
	byName map[string]parsedTemplate
}

// template returns the template called name; rec is nil when there is
// none.
func (p *Provider) template(ctx context.Context, name string) (*parsedTemplate, error) {
	rec, err := p.opts.Store.GetJWTTemplateByName(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return &parsedTemplate{}, nil
	}
	if err != nil {
		return nil, err
	}
	p.templates.mu.Lock()
	c, ok := p.templates.byName[name]
	p.templates.mu.Unlock()
	if ok && c.rec.ID == rec.ID && c.rec.UpdatedAt.Equal(rec.UpdatedAt) {
		c.rec = rec
		return &c, nil
	}
	tpl, _, err := claims.Parse(rec.Claims)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	c = parsedTemplate{rec: rec, tpl: tpl}
	p.templates.mu.Lock()
	if p.templates.byName == nil {
		p.templates.byName = map[string]parsedTemplate{}
	}
	p.templates.byName[name] = c
	p.templates.mu.Unlock()
	return &c, nil
}

// errNoTemplate means no template has the name asked for.
var errNoTemplate = errors.New("no such template")

// Mint renders the template name for user and signs it. azp names the
// party the token is for (the client), and may be empty.
func (p *Provider) Mint(ctx context.Context, name string, user *storage.User, azp string) (token string, expires time.Time, err error) {
	pt, err := p.template(ctx, name)
	if err != nil {
		return "", time.Time{}, err
	}
	if pt.rec == nil || name == SessionClaimsTemplate {
		return "", time.Time{}, errNoTemplate
	}
	custom, err := pt.tpl.Render(claims.Context{User: user})
	if err != nil {
		return "", time.Time{}, err
	}
	now := p.opts.Now().UTC().Truncate(time.Second)
	expires = now.Add(pt.rec.Lifetime)
	body := make(map[string]any, len(custom)+7)
	for k, v := range custom {
		body[k] = v
	}
	// Usher's own claims last: they win over anything rendered.
	body["iss"] = p.opts.Issuer
	body["sub"] = user.ID
	body["iat"] = now.Unix()
	body["exp"] = expires.Unix()
	body["nbf"] = now.Add(-pt.rec.ClockSkew).Unix()
	body["jti"] = randomToken("")
	if azp != "" {
		body["azp"] = azp
	} else {
		delete(body, "azp")
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return "", time.Time{}, err
	}
	token, err = p.signTemplate(pt.rec, payload, expires)
	return token, expires, err
}

// signTemplate signs with the instance key of the template's algorithm,
// or with the template's own key.
func (p *Provider) signTemplate(rec *storage.JWTTemplate, payload []byte, expires time.Time) (string, error) {
	if len(rec.CustomKey) == 0 {
		return p.opts.Keys.Sign(rec.Algorithm, payload, expires)
	}
	raw, err := p.opts.Keys.Open(rec.CustomKey, keys.TemplateKeyPurpose(rec.Name))
	if err != nil {
		return "", err
	}
	var key jose.SigningKey
	switch rec.Algorithm {
	case string(jose.HS256):
		key = jose.SigningKey{Algorithm: jose.HS256, Key: raw}
	case string(jose.RS256):
		priv, err := x509.ParsePKCS8PrivateKey(raw)
		if err != nil {
			return "", fmt.Errorf("template %s: its RS256 key: %w", rec.Name, err)
		}
		key = jose.SigningKey{Algorithm: jose.RS256, Key: priv}
	default:
		return "", fmt.Errorf("template %s: a custom key signs HS256 or RS256, not %s", rec.Name, rec.Algorithm)
	}
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// standardClaims are what Usher's access and ID tokens carry on their own;
// custom session claims never replace them.
var standardClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true, "azp": true,
	"scope": true, "client_id": true, "auth_time": true, "amr": true, "acr": true, "sid": true, "nonce": true,
	"at_hash": true, "c_hash": true, "email": true, "email_verified": true, "name": true, "given_name": true,
	"family_name": true, "preferred_username": true, "picture": true, "updated_at": true,
	// Claims with protocol meaning elsewhere: impersonation, proof of
	// possession, and the OIDC profile claims Usher does not issue.
	"act": true, "may_act": true, "cnf": true, "token_type": true, "events": true,
	"middle_name": true, "nickname": true, "profile": true, "website": true, "gender": true, "birthdate": true,
	"zoneinfo": true, "locale": true, "phone_number": true, "phone_number_verified": true, "address": true,
}

// sessionClaims renders the custom session claims for the user, without
// any standard claim; nil when none are set.
func (p *Provider) sessionClaims(ctx context.Context, userID string) (map[string]any, error) {
	if !strings.HasPrefix(userID, storage.PrefixUser+"_") {
		return nil, nil // a client acting for itself has no user
	}
	pt, err := p.template(ctx, SessionClaimsTemplate)
	if err != nil {
		// A template that cannot be used must not stop every sign-in:
		// tokens go out without its claims, and the operator hears of it.
		p.opts.Log.ErrorContext(ctx, "the custom session claims cannot be rendered; tokens carry none", "err", err)
		return nil, nil
	}
	if pt.rec == nil {
		return nil, nil
	}
	return p.extraClaims(ctx, pt, userID)
}

// extraClaims renders pt for the user, without any standard claim: what a
// template adds to Usher's own tokens. A user gone since is no claims.
func (p *Provider) extraClaims(ctx context.Context, pt *parsedTemplate, userID string) (map[string]any, error) {
	u, err := p.opts.Store.GetUser(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	custom, err := pt.tpl.Render(claims.Context{User: u})
	if err != nil {
		return nil, err
	}
	for k := range custom {
		if standardClaims[k] {
			delete(custom, k)
		}
	}
	return custom, nil
}
