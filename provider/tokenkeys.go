package provider

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/usher-id/usher/keys"
)

// Bounds of the verified-token memory: a signature is checked again after
// verifiedTTL, and at most verifiedMax tokens are remembered.
const (
	verifiedTTL = 5 * time.Minute
	verifiedMax = 1 << 14
)

// accessTokenKeys verifies the signatures of Usher's own JWT access tokens
// at /userinfo and /introspect. A resource server presents the same token
// on every call it serves, so a verified token is remembered (by a hash of
// its whole serialization) while the key that signed it is still
// published: the signature check, the costliest step of introspection, is
// then done once per token instead of once per call. Expiry, audience and
// liveness are still checked on every call by the library and the store.
type accessTokenKeys struct {
	keys *keys.Manager
	now  func() time.Time

	mu       sync.Mutex
	verified map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	kid, alg string
	payload  []byte
	until    time.Time
	// claims are the payload parsed, when introspection parsed it (see
	// verifyAccessToken); shared, never modified.
	claims *oidc.AccessTokenClaims
}

var errUnknownKey = errors.New("the token is not signed by a published key")

func newAccessTokenKeys(m *keys.Manager, now func() time.Time) *accessTokenKeys {
	return &accessTokenKeys{keys: m, now: now, verified: make(map[[sha256.Size]byte]verifiedToken)}
}

// VerifySignature implements oidc.KeySet.
func (a *accessTokenKeys) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, errors.New("the token must carry exactly one signature")
	}
	h := jws.Signatures[0].Protected
	// The compact form covers the header, the payload and the signature:
	// a token that differs in any of them is verified afresh.
	compact, err := jws.CompactSerialize()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(compact))
	// The JWKS is consulted before the memory, on every call: a key that
	// was revoked (or has expired) fails its tokens at once, remembered or
	// not, and the memory forgets them.
	key := a.publishedKey(h.KeyID, h.Algorithm)
	if key == nil {
		a.forget(sum)
		return nil, errUnknownKey
	}
	now := a.now()
	a.mu.Lock()
	v, ok := a.verified[sum]
	a.mu.Unlock()
	if ok && v.kid == h.KeyID && now.Before(v.until) {
		keepPayload(ctx, v.payload, h.KeyID, h.Algorithm)
		return v.payload, nil
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, err
	}
	a.remember(sum, verifiedToken{kid: h.KeyID, alg: h.Algorithm, payload: payload, until: now.Add(verifiedTTL)}, now)
	keepPayload(ctx, payload, h.KeyID, h.Algorithm)
	return payload, nil
}

// verifiedPayload carries, within one request, the payload of the token
// the library just verified: introspection of a token that has no record
// answers from its signed claims. claims is the payload already parsed,
// when the introspection fast path has it; kid and alg name the key that
// signed it.
type verifiedPayload struct {
	payload  []byte
	claims   *oidc.AccessTokenClaims
	kid, alg string
}

// accessTokenClaims are the verified payload's claims.
func (h *verifiedPayload) accessTokenClaims() (*oidc.AccessTokenClaims, error) {
	if h.claims != nil {
		return h.claims, nil
	}
	c := new(oidc.AccessTokenClaims)
	if err := json.Unmarshal(h.payload, c); err != nil {
		return nil, err
	}
	return c, nil
}

type verifiedPayloadKey struct{}

func withVerifiedPayload(ctx context.Context) (context.Context, *verifiedPayload) {
	h := &verifiedPayload{}
	return context.WithValue(ctx, verifiedPayloadKey{}, h), h
}

func keepPayload(ctx context.Context, payload []byte, kid, alg string) {
	if h, ok := ctx.Value(verifiedPayloadKey{}).(*verifiedPayload); ok {
		h.payload, h.kid, h.alg = payload, kid, alg
	}
}

// keepVerifiedPayload makes the request keep what the library verifies.
func keepVerifiedPayload(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := withVerifiedPayload(r.Context())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// publishedKey is the public key with that kid and algorithm in the JWKS,
// or nil: once a key is no longer published its tokens stop verifying,
// remembered or not.
func (a *accessTokenKeys) publishedKey(kid, alg string) *jose.JSONWebKey {
	for _, k := range a.keys.PublicKeys() {
		if k.KeyID == kid && k.Algorithm == alg {
			return &k
		}
	}
	return nil
}

func (a *accessTokenKeys) forget(sum [sha256.Size]byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.verified, sum)
}

func (a *accessTokenKeys) remember(sum [sha256.Size]byte, v verifiedToken, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.verified) >= verifiedMax {
		for k, old := range a.verified {
			if !now.Before(old.until) {
				delete(a.verified, k)
			}
		}
	}
	if len(a.verified) >= verifiedMax {
		// Still full of live entries: forget half, in map order, which is
		// as good as random here.
		n := 0
		for k := range a.verified {
			if n >= verifiedMax/2 {
				break
			}
			delete(a.verified, k)
			n++
		}
	}
	a.verified[sum] = v
}
