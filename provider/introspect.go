package provider

import (
	"context"
	"crypto/sha256"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rs/cors"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Introspection of Usher's own JWT access tokens is what resource servers
// call most, and the library's handler costs several times the signature
// check and the revocation lookup that are the real work: it
// authenticates the client a second time (clientGuard already did),
// parses the token's claims twice (once in its verifier, once more in
// introspectClientToken) and re-serializes the token to find it in the
// verified-token memory, and goes through its router. Usher answers those
// requests itself, with the same steps in the same order as op.Introspect
// and op.VerifyAccessToken, and the same SetIntrospectionFromToken, so
// the answers are the library's: it only does each step once, and
// remembers a token's parsed claims with its verified signature.
// Everything else (opaque tokens, forms with a parameter given twice,
// clients that do not authenticate) goes to the library unchanged.

// introspection serves the introspection endpoint behind clientGuard:
// Usher's own JWT access tokens here, anything else by the library.
func (p *Provider) introspection(library http.Handler) http.Handler {
	// The library's router answers CORS with these options; so does the
	// fast path, so the headers match too.
	own := cors.New(*p.corsOptions()).Handler(http.HandlerFunc(p.introspectOwnJWT))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.ownJWTIntrospection(r) {
			own.ServeHTTP(w, r)
			return
		}
		library.ServeHTTP(w, r)
	})
}

// ownJWTIntrospection reports whether the request is one the fast path
// answers exactly as the library would: a client clientGuard
// authenticated by secret or assertion (the library refuses a client
// that did not authenticate, with an answer of its own), every parameter
// given once (the library reads the last of repeated values where
// clientGuard reads the first), and a token in the JWS compact form,
// which is never one of the library's encrypted opaque tokens (JWE, five
// parts).
func (p *Provider) ownJWTIntrospection(r *http.Request) bool {
	f, ok := r.Context().Value(tokenFailuresKey{}).(*tokenFailures)
	if !ok || f.client == nil || f.client.c.AuthMethod == string(oidc.AuthMethodNone) {
		return false
	}
	for _, vs := range r.Form {
		if len(vs) != 1 {
			return false
		}
	}
	token := r.Form.Get("token")
	return strings.Count(token, ".") == 2
}

// introspectOwnJWT is op.Introspect for a request ownJWTIntrospection
// admitted: the token is verified as op.VerifyAccessToken verifies it,
// and the answer is SetIntrospectionFromToken's, written as the library
// writes it (an error leaves the response as it stands, active or not).
func (p *Provider) introspectOwnJWT(w http.ResponseWriter, r *http.Request) {
	ctx, held := withVerifiedPayload(r.Context())
	clientID := ctx.Value(tokenFailuresKey{}).(*tokenFailures).client.c.ID
	response := new(oidc.IntrospectionResponse)
	claims, err := p.tokenKeys.verifyAccessToken(ctx, r.Form.Get("token"), p.op.AccessTokenVerifier(ctx))
	if err != nil {
		writeIntrospection(w, response)
		return
	}
	held.claims = claims
	st := &opStorage{p: p}
	if err := st.SetIntrospectionFromToken(ctx, response, claims.JWTID, claims.Subject, clientID); err != nil {
		writeIntrospection(w, response)
		return
	}
	response.Active = true
	writeIntrospection(w, response)
}

// verifyAccessToken is op.VerifyAccessToken for a token in compact form,
// with the verified-token memory keyed by the token as presented: a token
// verified before (its signature, issuer and claims) needs only the
// checks that can change since, namely that its key is still published
// and the token not expired. The parsed claims are shared between
// requests and must not be modified.
func (a *accessTokenKeys) verifyAccessToken(ctx context.Context, token string, v *op.AccessTokenVerifier) (*oidc.AccessTokenClaims, error) {
	sum := sha256.Sum256([]byte(token))
	now := a.now()
	a.mu.Lock()
	m, ok := a.verified[sum]
	a.mu.Unlock()
	if ok && m.claims != nil && now.Before(m.until) {
		// As VerifySignature: the JWKS is consulted on every call.
		if !a.published(m.kid, m.alg) {
			a.forget(sum)
			return nil, errUnknownKey
		}
		if err := oidc.CheckIssuerWithISSVerifier(m.claims, v.Issuer, v.ISS); err != nil {
			return nil, err
		}
		if !slices.Contains(v.SupportedSignAlgs, m.alg) {
			return nil, oidc.ErrSignatureUnsupportedAlg
		}
		if err := oidc.CheckExpiration(m.claims, v.Offset); err != nil {
			return nil, err
		}
		keepPayload(ctx, m.payload, m.kid, m.alg)
		return m.claims, nil
	}
	// The library's steps, in its order (oidc.DecryptToken is the
	// identity).
	claims := new(oidc.AccessTokenClaims)
	payload, err := oidc.ParseToken(token, claims)
	if err != nil {
		return nil, err
	}
	if err := oidc.CheckIssuerWithISSVerifier(claims, v.Issuer, v.ISS); err != nil {
		return nil, err
	}
	if err := oidc.CheckSignature(ctx, token, payload, claims, v.SupportedSignAlgs, v.KeySet); err != nil {
		return nil, err
	}
	if err := oidc.CheckExpiration(claims, v.Offset); err != nil {
		return nil, err
	}
	// VerifySignature kept the payload and the header's key: remember
	// them with the claims, under the token as presented.
	if h, ok := ctx.Value(verifiedPayloadKey{}).(*verifiedPayload); ok && h.kid != "" {
		a.remember(sum, verifiedToken{kid: h.kid, alg: h.alg, payload: payload, claims: claims, until: now.Add(verifiedTTL)}, now)
	}
	return claims, nil
}

// published reports whether the JWKS has a key with that kid and
// algorithm.
func (a *accessTokenKeys) published(kid, alg string) bool {
	keys := a.keys.PublicKeys()
	for i := range keys {
		if keys[i].KeyID == kid && keys[i].Algorithm == alg {
			return true
		}
	}
	return false
}

// writeIntrospection writes the response as httphelper.MarshalJSON does,
// byte for byte. The answers the fast path gives most (inactive, and a
// token that carries no user claims) are encoded by hand: the library's
// encoding runs the encoder twice through reflection, a tenth of an
// introspection. Anything else goes through the library's encoding.
func writeIntrospection(w http.ResponseWriter, resp *oidc.IntrospectionResponse) {
	b, ok := appendIntrospection(make([]byte, 0, 512), resp)
	if !ok {
		httphelper.MarshalJSON(w, resp)
		return
	}
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// appendIntrospection appends the JSON encoding/json gives resp, with the
// newline json.Encoder adds, or reports false when resp has a field it
// does not encode (user claims, amr, act, extra claims), or a string that
// would need escaping.
func appendIntrospection(b []byte, r *oidc.IntrospectionResponse) ([]byte, bool) {
	if len(r.AuthenticationMethodsReferences) > 0 || r.Actor != nil || r.Username != "" ||
		r.UserInfoProfile != (oidc.UserInfoProfile{}) || r.UserInfoEmail != (oidc.UserInfoEmail{}) ||
		r.UserInfoPhone != (oidc.UserInfoPhone{}) || r.Address != nil || len(r.Claims) > 0 {
		return b, false
	}
	ok := true
	str := func(name, v string) {
		if v == "" {
			return
		}
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		b, ok = appendPlainString(b, v, ok)
	}
	num := func(name string, v oidc.Time) {
		if v == 0 {
			return
		}
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, int64(v), 10)
	}
	b = append(b, `{"active":`...)
	b = strconv.AppendBool(b, r.Active)
	if len(r.Scope) > 0 {
		str("scope", strings.Join(r.Scope, " "))
		if len(r.Scope) == 1 && r.Scope[0] == "" {
			b = append(b, `,"scope":""`...) // omitempty looks at the slice, not the string
		}
	}
	str("client_id", r.ClientID)
	str("token_type", r.TokenType)
	num("exp", r.Expiration)
	num("iat", r.IssuedAt)
	num("auth_time", r.AuthTime)
	num("nbf", r.NotBefore)
	str("sub", r.Subject)
	if len(r.Audience) > 0 {
		b = append(b, `,"aud":[`...)
		for i, a := range r.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b, ok = appendPlainString(b, a, ok)
		}
		b = append(b, ']')
	}
	str("iss", r.Issuer)
	str("jti", r.JWTID)
	b = append(b, "}\n"...)
	return b, ok
}

// appendPlainString appends s quoted when encoding/json would write it
// unescaped: printable ASCII other than the quote, the backslash and the
// HTML characters it escapes. Otherwise ok turns false.
func appendPlainString(b []byte, s string, ok bool) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	b = append(b, '"')
	return b, ok
}
