package provider

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/usher-id/usher/storage"
)

// opStorage is Usher's side of zitadel's op.Storage: it keeps every piece of
// protocol state in Usher's database, and closes the gaps the library
// leaves to storage (atomic code use, refresh rotation and reuse detection,
// revocation, token liveness at userinfo and introspection).
type opStorage struct {
	p *Provider
}

var (
	_ op.Storage                        = (*opStorage)(nil)
	_ op.ClientCredentialsStorage       = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*opStorage)(nil)
	_ op.CanTerminateSessionFromRequest = (*opStorage)(nil)
)

// hashToken is how codes and refresh tokens are stored: they are long
// random values, so a fast hash suffices.
func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// randomToken returns a prefixed 256-bit random token.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func (s *opStorage) now() time.Time { return s.p.opts.Now().UTC() }

// CreateAuthRequest stores an incoming authorization request. It enforces
// what the library leaves open: PKCE must be S256, and public clients must
// use it.
func (s *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	c, err := s.p.client(ctx, req.ClientID)
	if err != nil {
		return nil, err
	}
	switch {
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256; plain is not accepted")
	case req.CodeChallenge == "" && c.c.AuthMethod == string(oidc.AuthMethodNone):
		return nil, oidc.ErrInvalidRequest().WithDescription("public clients must use PKCE: send code_challenge with code_challenge_method=S256")
	}
	maxAge := -1
	if req.MaxAge != nil {
		maxAge = int(min(*req.MaxAge, 1<<31-1))
	}
	now := s.now()
	r := &storage.AuthRequest{
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		State:               req.State,
		Nonce:               req.Nonce,
		Scopes:              req.Scopes,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              req.Prompt,
		MaxAge:              maxAge,
		LoginHint:           req.LoginHint,
		HintSubject:         hintSubject,
		ACRValues:           req.ACRValues,
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.p.opts.LoginTimeout),
	}
	for _, l := range req.UILocales {
		r.UILocales = append(r.UILocales, l.String())
	}
	if err := s.p.opts.Store.CreateAuthRequest(ctx, r); err != nil {
		return nil, fmt.Errorf("store authorization request: %w", err)
	}
	return &authRequest{r}, nil
}

func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.p.opts.Store.GetAuthRequest(ctx, id, s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrInvalidRequest().WithDescription("the authorization request is unknown or has expired; start again from the application")
	}
	if err != nil {
		return nil, err
	}
	return &authRequest{r}, nil
}

// AuthRequestByCode claims the code: of two exchanges of one code exactly
// one gets here, and a replay revokes what the first one was issued.
func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	now := s.now()
	r, err := s.p.opts.Store.ClaimAuthCode(ctx, hashToken(code), now)
	switch {
	case err == nil:
		return &authRequest{r}, nil
	case errors.Is(err, storage.ErrConflict) && r != nil:
		n, rerr := s.p.opts.Store.RevokeRefreshTokensByAuthRequest(ctx, r.ID, now)
		m, aerr := s.p.opts.Store.RevokeAccessTokensByAuthRequest(ctx, r.ID, now)
		s.p.opts.Log.Warn("authorization code replayed: revoked the tokens issued from it",
			"client_id", r.ClientID, "user_id", r.UserID, "refresh_tokens_revoked", n, "access_tokens_revoked", m, "err", errors.Join(rerr, aerr))
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code was already used")
	case errors.Is(err, storage.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code is invalid or has expired")
	}
	return nil, err
}

func (s *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.p.opts.Store.SaveAuthCode(ctx, id, hashToken(code), s.now().Add(s.p.opts.CodeLifetime))
}

// DeleteAuthRequest keeps the request: its used code must stay known until
// it expires, so a replay is recognised as one.
func (s *opStorage) DeleteAuthRequest(context.Context, string) error { return nil }

// tokenContext is what an access token records about its grant.
type tokenContext struct {
	clientID, userID, sessionID, familyID, authRequestID string
	scopes, audience                                     []string
}

func (s *opStorage) contextOf(ctx context.Context, req op.TokenRequest) (tokenContext, error) {
	tc := tokenContext{scopes: req.GetScopes(), audience: req.GetAudience()}
	switch r := req.(type) {
	case *authRequest:
		tc.clientID, tc.userID, tc.sessionID, tc.authRequestID = r.r.ClientID, r.r.UserID, r.r.SessionID, r.r.ID
	case *refreshRequest:
		tc.clientID, tc.userID, tc.sessionID, tc.familyID = r.t.ClientID, r.t.UserID, r.t.SessionID, r.t.FamilyID
		tc.authRequestID = r.t.AuthRequestID
	case *clientCredentialsRequest:
		tc.clientID = r.clientID
	case *oidc.JWTTokenRequest:
		tc.clientID = r.Issuer // the library checked that the subject is the issuer
	case *op.DeviceAuthorizationState:
		// No session: signing out of the browser that approved does not
		// sign the device out.
		tc.clientID, tc.userID = r.ClientID, r.Subject
	default:
		return tc, oidc.ErrUnsupportedGrantType().WithDescription("this grant is not supported")
	}
	return tc, nil
}

// newAccessToken records an access token and returns its ID and expiry.
// A JWT access token a client gets for itself (client_credentials, JWT
// bearer) is not recorded: everything introspection says of it is in the
// signed token, and revoking it writes a record then (see RevokeToken).
// That leaves signing as the cost of the grant.
func (s *opStorage) newAccessToken(ctx context.Context, tx storage.AccessTokens, tc tokenContext) (string, time.Time, error) {
	c, err := s.p.client(ctx, tc.clientID)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	if tc.userID == "" && c.c.AccessTokenFormat != "opaque" {
		// The ID names the client's generation (when it was created), so
		// a client deleted and declared again under the same ID does not
		// bring back its predecessor's tokens.
		return storage.NewID(storage.PrefixClientToken) + "." + clientGeneration(c.c), now.Add(c.c.AccessTokenTTL), nil
	}
	at := &storage.AccessToken{
		ClientID: tc.clientID, UserID: tc.userID, SessionID: tc.sessionID, FamilyID: tc.familyID, AuthRequestID: tc.authRequestID,
		Scopes: tc.scopes, Audience: tc.audience, CreatedAt: now, ExpiresAt: now.Add(c.c.AccessTokenTTL),
	}
	if err := tx.CreateAccessToken(ctx, at); err != nil {
		return "", time.Time{}, fmt.Errorf("store access token: %w", err)
	}
	return at.ID, at.ExpiresAt, nil
}

func (s *opStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	tc, err := s.contextOf(ctx, req)
	if err != nil {
		return "", time.Time{}, err
	}
	return s.newAccessToken(ctx, s.p.opts.Store, tc)
}

// Errors of a refresh whose token was rotated already, decided inside the
// transaction and answered after it.
var (
	errRefreshReused  = errors.New("refresh token reused")   // past the grace window: revoke the family
	errRefreshRevoked = errors.New("refresh token revoked")  // the family is gone already
	errRefreshMovedOn = errors.New("refresh chain moved on") // inside the grace window, but the successor was used
	errRefreshScopes  = errors.New("refresh retry widens scopes")
)

// successorLabel separates the successor key from the provider's other
// uses of its MAC key.
const successorLabel = "usher refresh token successor v1"

// successorOf is the refresh token that replaces token when it is rotated.
//
// It is derived, not random, so that a second use of a token inside the
// grace window (a client retrying after its reply was lost, or several
// tabs refreshing at once) can be handed the same successor instead of a
// second one: however many requests race, one token has one successor and
// the family stays one chain. Refresh tokens are stored only as hashes, so
// the successor must be reproducible without keeping it. A keyed hash of
// the presented token does that with no new state: only whoever holds the
// presented token (and the server, with the key) can compute it, every
// replica computes the same value, and nothing readable is added to the
// database. (Sealing the successor into the rotated row would need a
// schema change and a decryption on every retry, for the same result.)
// The key is a subkey of the provider's instance MAC key
// (provider.mac_key, from keys.Manager.Secret, so every replica has it),
// separated by a label so its outputs never collide with the MAC's other
// uses.
func (s *opStorage) successorOf(token string) string {
	k := hmac.New(sha256.New, s.p.macKey)
	k.Write([]byte(successorLabel))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(token))
	return "urt_" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CreateAccessAndRefreshTokens issues an access token and a refresh token.
// A rotation marks the presented token used in the same transaction that
// creates its successor, so of any number of concurrent refreshes one
// rotates. The others, and any retry inside the grace window, get that
// same successor (see successorOf) with a fresh access token, as long as
// the successor has not been used itself; past the window a reuse revokes
// the whole family.
func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	tc, err := s.contextOf(ctx, req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	c, err := s.p.client(ctx, tc.clientID)
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := s.now()
	token := randomToken("urt_")
	if current != "" {
		token = s.successorOf(current)
	}
	next := &storage.RefreshToken{
		ID: storage.NewID(storage.PrefixRefreshToken), TokenHash: hashToken(token),
		ClientID: tc.clientID, UserID: tc.userID, SessionID: tc.sessionID,
		Scopes: tc.scopes, Audience: tc.audience, CreatedAt: now,
		ExpiresAt: now.Add(c.c.RefreshTokenIdleTTL), FamilyExpires: now.Add(c.c.RefreshTokenMaxTTL),
	}
	switch r := req.(type) {
	case *authRequest:
		next.AuthRequestID, next.AMR, next.AuthTime = r.r.ID, r.r.AMR, r.r.AuthTime
	case *refreshRequest:
		next.FamilyID, next.FamilyExpires, next.AMR, next.AuthTime = r.t.FamilyID, r.t.FamilyExpires, r.t.AMR, r.t.AuthTime
		next.AuthRequestID = r.t.AuthRequestID
	case *op.DeviceAuthorizationState:
		next.AMR, next.AuthTime = r.AMR, r.AuthTime
	}
	next.ExpiresAt = minTime(next.ExpiresAt, next.FamilyExpires)
	var atID string
	var atExp time.Time
	err = s.p.opts.Store.InTx(ctx, func(tx storage.Tx) error {
		if current != "" {
			old, err := tx.GetRefreshTokenByHash(ctx, hashToken(current))
			if err != nil {
				return err
			}
			err = tx.MarkRefreshTokenRotated(ctx, old.ID, next.ID, now)
			if errors.Is(err, storage.ErrConflict) {
				// Rotated (or revoked) by another request: hand out the
				// successor it created, issuing no new refresh token.
				if err := s.sameSuccessor(ctx, tx, current, token, tc.scopes, now); err != nil {
					return err
				}
				tc.familyID = old.FamilyID
				atID, atExp, err = s.newAccessToken(ctx, tx, tc)
				return err
			}
			if err != nil {
				return err
			}
		}
		if err := tx.CreateRefreshToken(ctx, next); err != nil {
			return err
		}
		tc.familyID = next.FamilyID
		var err error
		atID, atExp, err = s.newAccessToken(ctx, tx, tc)
		return err
	})
	switch {
	case errors.Is(err, errRefreshReused):
		s.revokeFamily(ctx, req.(*refreshRequest).t, "refresh token reused: revoked its whole family")
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used")
	case errors.Is(err, errRefreshRevoked):
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token was revoked")
	case errors.Is(err, errRefreshMovedOn):
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used, and so was its successor")
	case errors.Is(err, errRefreshScopes):
		return "", "", time.Time{}, oidc.ErrInvalidScope().WithDescription("a repeated refresh may not ask for more scopes than the first")
	case err != nil:
		return "", "", time.Time{}, err
	}
	return atID, token, atExp, nil
}

// sameSuccessor decides, inside the transaction, whether a refresh token
// that is already rotated may be answered with its successor (whose value
// is successor): only inside the grace window, only while the successor
// is unused and live, and only for scopes the successor carries. Anything
// else is refused without a new refresh token, so one token never gets two
// usable successors.
func (s *opStorage) sameSuccessor(ctx context.Context, tx storage.RefreshTokens, current, successor string, scopes []string, now time.Time) error {
	// Read again: what the caller read may predate the rotation that beat
	// it, depending on the backend's isolation.
	old, err := tx.GetRefreshTokenByHash(ctx, hashToken(current))
	if err != nil {
		return err
	}
	switch {
	case !old.RevokedAt.IsZero():
		return errRefreshRevoked
	case old.RotatedAt.IsZero() || now.Sub(old.RotatedAt) > s.p.opts.RefreshReuseGrace:
		return errRefreshReused
	}
	next, err := tx.GetRefreshTokenByHash(ctx, hashToken(successor))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Rotated to a token that is not this one's derived successor
		// (by a version that drew successors at random): nothing to
		// hand out again.
		return errRefreshMovedOn
	case err != nil:
		return err
	case next.ID != old.ReplacedBy || next.FamilyID != old.FamilyID:
		return errRefreshMovedOn
	case !next.RevokedAt.IsZero():
		return errRefreshRevoked
	case !next.RotatedAt.IsZero() || !now.Before(next.ExpiresAt):
		// The chain went on from the successor: whoever still presents
		// its predecessor is not the client that holds the chain.
		return errRefreshMovedOn
	}
	for _, sc := range scopes {
		if !slices.Contains(next.Scopes, sc) {
			return errRefreshScopes
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// revokeFamily revokes a refresh token family and the access tokens
// issued from it, and says so in the log.
func (s *opStorage) revokeFamily(ctx context.Context, t *storage.RefreshToken, why string) {
	now := s.now()
	n, err := s.p.opts.Store.RevokeRefreshTokenFamily(ctx, t.FamilyID, now)
	m, aerr := s.p.opts.Store.RevokeAccessTokenFamily(ctx, t.FamilyID, now)
	s.p.opts.Log.Warn(why, "client_id", t.ClientID, "user_id", t.UserID, "family_id", t.FamilyID,
		"refresh_tokens_revoked", n, "access_tokens_revoked", m, "err", errors.Join(err, aerr))
}

// TokenRequestByRefreshToken looks up a refresh token presented at the
// token endpoint.
func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	t, err := s.p.opts.Store.GetRefreshTokenByHash(ctx, hashToken(token))
	if errors.Is(err, storage.ErrNotFound) {
		noteUnknownRefreshToken(ctx) // guessing refresh tokens is rate limited
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token is invalid")
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case !t.RevokedAt.IsZero():
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was revoked")
	case !t.RotatedAt.IsZero() && now.Sub(t.RotatedAt) > s.p.opts.RefreshReuseGrace:
		s.revokeFamily(ctx, t, "refresh token reused: revoked its whole family")
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used")
	case !now.Before(t.ExpiresAt) || !now.Before(t.FamilyExpires):
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token has expired")
	}
	if u, err := s.p.opts.Store.GetUser(ctx, t.UserID); err != nil || u.Banned {
		return nil, oidc.ErrInvalidGrant().WithDescription("the user can no longer sign in")
	}
	return &refreshRequest{t: t, scopes: t.Scopes}, nil
}

// TerminateSession ends the user's sessions at Usher (used only when no
// confirmation page is involved).
func (s *opStorage) TerminateSession(ctx context.Context, userID, _ string) error {
	_, err := s.p.opts.Store.RevokeUserSessions(ctx, userID, "", s.now())
	return err
}

// TerminateSessionFromRequest sends every RP-initiated logout through the
// confirmation page, which signs out only after a same-site form post: a
// link alone can never sign a user out.
func (s *opStorage) TerminateSessionFromRequest(_ context.Context, req *op.EndSessionRequest) (string, error) {
	return s.p.logoutConfirmURL(req), nil
}

// GetRefreshTokenInfo resolves a refresh token for revocation. The token
// ID it returns is the family: revoking a refresh token revokes its grant.
func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, err := s.p.opts.Store.GetRefreshTokenByHash(ctx, hashToken(token))
	if err != nil || t.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	if h, ok := ctx.Value(revocationKey{}).(*revocation); ok {
		h.family = t.FamilyID
	}
	return t.UserID, t.FamilyID, nil
}

// revocation carries, within one revocation request, the refresh token
// family the library resolved from a refresh token the client holds: a
// family ID posted as if it were a token revokes nothing.
type revocation struct{ family string }

type revocationKey struct{}

// keepRevocation prepares a revocation request for RevokeToken's checks.
func keepRevocation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := withVerifiedPayload(context.WithValue(r.Context(), revocationKey{}, &revocation{}))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// RevokeToken revokes a refresh token family or an access token. Tokens
// of other clients and unknown tokens are ignored, as RFC 7009 asks.
func (s *opStorage) RevokeToken(ctx context.Context, id, subject, clientID string) *oidc.Error {
	if !plausibleID(id) {
		return nil // no token has such an ID: nothing to revoke, as RFC 7009 asks
	}
	now := s.now()
	switch {
	case strings.HasPrefix(id, storage.PrefixTokenFamily+"_"):
		if h, ok := ctx.Value(revocationKey{}).(*revocation); !ok || h.family != id {
			return nil // not resolved from a refresh token of this client
		}
		if _, err := s.p.opts.Store.RevokeRefreshTokenFamily(ctx, id, now); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		if _, err := s.p.opts.Store.RevokeAccessTokenFamily(ctx, id, now); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
	case strings.HasPrefix(id, storage.PrefixClientToken+"_"):
		// Only the client the token was issued to (its subject) revokes it.
		if subject != clientID {
			return nil
		}
		// The record must outlive the token: until its own expiry, and
		// no sooner than keys.max_token_lifetime.
		expires := now.Add(s.p.opts.Keys.MaxTokenLifetime())
		if h, ok := ctx.Value(verifiedPayloadKey{}).(*verifiedPayload); ok && h.payload != nil {
			var c oidc.AccessTokenClaims
			if json.Unmarshal(h.payload, &c) == nil && c.JWTID == id && c.Expiration.AsTime().After(expires) {
				expires = c.Expiration.AsTime()
			}
		}
		err := s.p.opts.Store.CreateAccessToken(ctx, &storage.AccessToken{ID: id, ClientID: clientID, CreatedAt: now,
			ExpiresAt: expires, RevokedAt: now})
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			return oidc.ErrServerError().WithParent(err)
		}
	case strings.HasPrefix(id, storage.PrefixAccessToken+"_"):
		at, err := s.p.opts.Store.GetAccessToken(ctx, id)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && at.ClientID != clientID) {
			return nil
		}
		if err == nil {
			err = s.p.opts.Store.RevokeAccessToken(ctx, id, now)
		}
		if err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
	}
	return nil
}

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	return s.p.opts.Keys.Current(s.p.opts.Keys.DefaultAlgorithm())
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.SignatureAlgorithm(s.p.opts.Keys.DefaultAlgorithm())}, nil
}

func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	pub := s.p.opts.Keys.PublicKeys()
	out := make([]op.Key, len(pub))
	for i, k := range pub {
		out[i] = &publicKey{id: k.KeyID, alg: k.Algorithm, key: k.Key}
	}
	return out, nil
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	return s.p.client(ctx, id)
}

func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	_, err := s.p.checkSecret(ctx, id, secret)
	return err
}

// ClientCredentials authenticates a client for the client_credentials
// grant, which it must be allowed.
func (s *opStorage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	// The grant is checked in ClientCredentialsTokenRequest: an error here
	// is always reported as invalid_client.
	return s.p.checkSecret(ctx, id, secret)
}

func (s *opStorage) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	c, err := s.p.client(ctx, clientID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.c.GrantTypes, string(oidc.GrantTypeClientCredentials)) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("this client may not use the client_credentials grant")
	}
	var granted []string
	for _, sc := range scopes {
		if slices.Contains(c.c.Scopes, sc) && sc != oidc.ScopeOpenID && sc != oidc.ScopeOfflineAccess {
			granted = append(granted, sc)
		}
	}
	return &clientCredentialsRequest{clientID: clientID, scopes: granted}, nil
}

// SetUserinfoFromScopes is the library's older hook; SetUserinfoFromRequest
// does the work.
func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims.
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.p.fillUserinfo(ctx, ui, req.GetSubject(), scopes); err != nil {
		return err
	}
	if a, ok := req.(*authRequest); ok && a.r.SessionID != "" {
		ui.AppendClaims("sid", a.r.SessionID)
	}
	if r, ok := req.(*refreshRequest); ok && r.t.SessionID != "" {
		ui.AppendClaims("sid", r.t.SessionID)
	}
	custom, err := s.p.sessionClaims(ctx, req.GetSubject())
	if err != nil {
		return err
	}
	for k, v := range custom {
		ui.AppendClaims(k, v)
	}
	return nil
}

// liveToken returns the access token if it may still be used.
func (s *opStorage) liveToken(ctx context.Context, tokenID string) (*storage.AccessToken, error) {
	dead := oidc.ErrInvalidRequest().WithDescription("the access token is invalid, expired or revoked")
	if !plausibleID(tokenID) {
		return nil, dead
	}
	at, err := s.p.opts.Store.GetAccessToken(ctx, tokenID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !at.Active(s.now())) {
		return nil, dead
	}
	if err != nil {
		return nil, err
	}
	// A deleted client's tokens die with it, and a client declared again
	// under the same ID does not bring them back.
	if !s.p.clientStillIssues(ctx, at.ClientID, at.CreatedAt) {
		return nil, dead
	}
	return at, nil
}

// SetUserinfoFromToken backs /userinfo; the library only checked the
// token's form, so liveness is checked here.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, _, _ string) error {
	at, err := s.liveToken(ctx, tokenID)
	if err != nil {
		return err
	}
	if at.UserID == "" {
		return oidc.ErrInvalidRequest().WithDescription("this access token was issued to a client, not a user")
	}
	return s.p.fillUserinfo(ctx, ui, at.UserID, at.Scopes)
}

// SetIntrospectionFromToken answers introspection; an error makes the
// answer {"active": false}.
func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	if strings.HasPrefix(tokenID, storage.PrefixClientToken+"_") {
		return s.introspectClientToken(ctx, resp, tokenID)
	}
	at, err := s.liveToken(ctx, tokenID)
	if err != nil {
		return err
	}
	resp.Active = true
	resp.Scope = at.Scopes
	resp.ClientID = at.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(at.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(at.CreatedAt)
	resp.Audience = at.Audience
	resp.Issuer = s.p.opts.Issuer
	resp.JWTID = at.ID
	if at.UserID == "" {
		resp.Subject = at.ClientID
		return nil
	}
	if clientID != at.ClientID && !slices.Contains(at.Audience, clientID) {
		return nil // another resource server learns that the token is live, not who its user is
	}
	resp.Subject = at.UserID
	var ui oidc.UserInfo
	if err := s.p.fillUserinfo(ctx, &ui, at.UserID, at.Scopes); err != nil {
		return err
	}
	resp.SetUserInfo(&ui)
	return nil
}

// introspectClientToken answers for a token a client got for itself: it
// has no record, so the answer comes from the claims just verified, and it
// is live unless a revocation record names it or its client is gone.
func (s *opStorage) introspectClientToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID string) error {
	inactive := oidc.ErrInvalidRequest().WithDescription("the access token is invalid, expired or revoked")
	h, ok := ctx.Value(verifiedPayloadKey{}).(*verifiedPayload)
	if !ok || h.payload == nil {
		return inactive
	}
	c, err := h.accessTokenClaims()
	if err != nil || c.JWTID != tokenID {
		return inactive
	}
	switch _, err := s.p.opts.Store.GetAccessToken(ctx, tokenID); {
	case err == nil:
		return inactive // only revocation records such a token
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	if !c.Expiration.AsTime().After(s.now()) {
		return inactive
	}
	if cl, err := s.p.client(ctx, c.ClientID); err != nil || !strings.HasSuffix(tokenID, "."+clientGeneration(cl.c)) {
		return inactive
	}
	resp.Active = true
	resp.Scope = c.Scopes
	resp.ClientID = c.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = c.Expiration
	resp.IssuedAt = c.IssuedAt
	resp.Audience = c.Audience
	resp.Issuer = s.p.opts.Issuer
	resp.JWTID = tokenID
	resp.Subject = c.Subject
	return nil
}

// GetPrivateClaimsFromScopes adds the custom session claims, and the claims
// of the JWT template the client names for its access tokens, to JWT access
// tokens issued for a user. Neither replaces a standard claim; where both
// set a claim, the client's template wins.
func (s *opStorage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, _ []string) (map[string]any, error) {
	custom, err := s.p.sessionClaims(ctx, userID)
	if err != nil {
		return nil, err
	}
	own, err := s.p.clientTemplateClaims(ctx, clientID, userID)
	if err != nil {
		return nil, err
	}
	if len(own) == 0 {
		return custom, nil
	}
	if custom == nil {
		return own, nil
	}
	maps.Copy(custom, own)
	return custom, nil
}

// GetPrivateClaimsFromRequest adds to JWT access tokens the scope they
// were granted (RFC 9068; the library leaves it out, and resource servers
// that verify tokens offline need it) and the custom claims of
// GetPrivateClaimsFromScopes.
func (s *opStorage) GetPrivateClaimsFromRequest(ctx context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	tc, err := s.contextOf(ctx, req)
	if err != nil {
		return nil, err
	}
	out, err := s.GetPrivateClaimsFromScopes(ctx, req.GetSubject(), tc.clientID, nil)
	if err != nil {
		return nil, err
	}
	if scopes := req.GetScopes(); len(scopes) > 0 {
		if out == nil {
			out = map[string]any{}
		}
		out["scope"] = strings.Join(scopes, " ")
	}
	return out, nil
}

// ValidateJWTProfileScopes admits the JWT bearer grant (RFC 7523) for a
// client that has the grant and registered keys (its assertion, signed by
// one of them, was verified already), acting for itself, and keeps the
// scopes it may have.
func (s *opStorage) ValidateJWTProfileScopes(ctx context.Context, clientID string, scopes []string) ([]string, error) {
	c, err := s.p.client(ctx, clientID)
	if err != nil {
		return nil, err
	}
	if !jwtBearerAllowed(c.c) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("this client may not use the JWT bearer grant")
	}
	var granted []string
	for _, sc := range scopes {
		if slices.Contains(c.c.Scopes, sc) && sc != oidc.ScopeOpenID && sc != oidc.ScopeOfflineAccess {
			granted = append(granted, sc)
		}
	}
	return granted, nil
}

func jwtBearerAllowed(c *storage.Client) bool {
	return slices.Contains(c.GrantTypes, string(oidc.GrantTypeBearer)) && (len(c.JWKS) > 0 || c.JWKSURI != "")
}

// JWTProfileTokenType issues the access token in the client's format.
func (s *opStorage) JWTProfileTokenType(ctx context.Context, req op.TokenRequest) (op.AccessTokenType, error) {
	tr, ok := req.(*oidc.JWTTokenRequest)
	if !ok {
		return op.AccessTokenTypeJWT, nil
	}
	c, err := s.p.client(ctx, tr.Issuer)
	if err != nil {
		return 0, err
	}
	return c.AccessTokenType(), nil
}

func (s *opStorage) Health(ctx context.Context) error { return s.p.opts.Store.Ping(ctx) }

// clientGeneration tells apart clients that had the same ID at different
// times.
func clientGeneration(c *storage.Client) string {
	return strconv.FormatInt(c.CreatedAt.UnixMicro(), 36)
}
