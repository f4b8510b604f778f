package provider_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
)

// introspectionCall is one introspection request, replayable against
// several handlers.
type introspectionCall struct {
	form   url.Values
	header http.Header
}

type introspectionAnswer struct {
	status int
	header http.Header
	body   string
}

func (c introspectionCall) against(h http.Handler, base string) introspectionAnswer {
	r := httptest.NewRequest(http.MethodPost, base+"/oauth/introspect", strings.NewReader(c.form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range c.header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return introspectionAnswer{w.Code, w.Header(), w.Body.String()}
}

// sameAnswers checks that Usher's own introspection answers the call
// exactly as the library does (status, every header, the body byte for
// byte), and whether the fast path answered it or handed it on.
func sameAnswers(t *testing.T, u *testUsher, name string, fast bool, mk func() introspectionCall) introspectionAnswer {
	t.Helper()
	lib := mk().against(provider.LibraryIntrospection(u.Provider), u.URL)
	got := mk().against(u.Provider, u.URL)
	if got.status != lib.status || got.body != lib.body || !reflect.DeepEqual(got.header, lib.header) {
		t.Errorf("%s:\n usher   %d %v %s\n library %d %v %s", name, got.status, got.header, got.body, lib.status, lib.header, lib.body)
	}
	own := mk().against(provider.OwnIntrospection(u.Provider), u.URL)
	if handedOn := own.status == 599; handedOn == fast {
		t.Errorf("%s: answered by the fast path: %v, want %v", name, !handedOn, fast)
	}
	return got
}

func basicCall(id, secret, token string) func() introspectionCall {
	return func() introspectionCall {
		return introspectionCall{form: url.Values{"token": {token}}, header: basic(id, secret)}
	}
}

// Usher answers introspection of its own JWT access tokens itself, and
// its answers are the library's, to the byte, for every kind of token and
// every way a client authenticates; what it does not answer (opaque
// tokens, repeated parameters, public clients) it hands to the library.
func TestOwnIntrospectionAnswersAsTheLibrary(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	user := f.login(t)
	rsID, rsSecret := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.GrantTypes, c.RedirectURIs, c.Scopes = []string{clients.GrantClientCredentials}, nil, []string{"reports:read"}
	})
	cc := clientcredentials.Config{ClientID: rsID, ClientSecret: rsSecret, TokenURL: u.URL + "/oauth/token", Scopes: []string{"reports:read"}}
	service, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revokedService, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := revoke(u.URL, rsID, rsSecret, revokedService.AccessToken); err != nil {
		t.Fatal(err)
	}
	revokedUser := f.login(t)
	if err := revoke(u.URL, f.cfg.ClientID, f.cfg.ClientSecret, revokedUser.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Issued two hours ago by Usher's clock: expired by the wall clock
	// the library checks expiry with.
	u.Clock.Advance(-2 * time.Hour)
	stale := rawClientToken(t, u.URL, rsID, rsSecret)
	u.Clock.Advance(2 * time.Hour)
	opaqueID, opaqueSecret := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.GrantTypes, c.RedirectURIs, c.AccessTokenFormat = []string{clients.GrantClientCredentials}, nil, "opaque"
	})
	opaque, err := (&clientcredentials.Config{ClientID: opaqueID, ClientSecret: opaqueSecret, TokenURL: u.URL + "/oauth/token"}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(opaque.AccessToken, ".") == 2 {
		t.Fatalf("the opaque token looks like a JWT: %s", opaque.AccessToken)
	}
	foreign := foreignJWT(t, u.URL, service.AccessToken)

	post := func(id, secret, token string) func() introspectionCall {
		return func() introspectionCall {
			return introspectionCall{form: url.Values{"token": {token}, "client_id": {id}, "client_secret": {secret}}}
		}
	}
	for _, c := range []struct {
		name   string
		fast   bool
		active bool
		call   func() introspectionCall
	}{
		{"user token, its own client", true, true, basicCall(f.cfg.ClientID, f.cfg.ClientSecret, user.AccessToken)},
		{"user token, another resource server", true, true, basicCall(rsID, rsSecret, user.AccessToken)},
		{"user token, client_secret_post", true, true, post(f.cfg.ClientID, f.cfg.ClientSecret, user.AccessToken)},
		{"client_credentials token, its own client", true, true, basicCall(rsID, rsSecret, service.AccessToken)},
		{"client_credentials token, another client", true, true, basicCall(f.cfg.ClientID, f.cfg.ClientSecret, service.AccessToken)},
		{"client_credentials token, client_secret_post", true, true, post(rsID, rsSecret, service.AccessToken)},
		{"revoked client_credentials token", true, false, basicCall(rsID, rsSecret, revokedService.AccessToken)},
		{"revoked user token", true, false, basicCall(f.cfg.ClientID, f.cfg.ClientSecret, revokedUser.AccessToken)},
		{"expired token", true, false, basicCall(rsID, rsSecret, stale)},
		{"opaque token", false, true, basicCall(opaqueID, opaqueSecret, opaque.AccessToken)},
		{"opaque token, another client", false, true, basicCall(rsID, rsSecret, opaque.AccessToken)},
		{"unknown token", false, false, basicCall(rsID, rsSecret, "not-a-token")},
		{"unknown token in JWT form", true, false, basicCall(rsID, rsSecret, "a.b.c")},
		{"JWT signed by another key", true, false, basicCall(rsID, rsSecret, foreign)},
		{"token tampered with", true, false, basicCall(rsID, rsSecret, service.AccessToken[:len(service.AccessToken)-4]+"AAAA")},
		{"no token", false, false, func() introspectionCall { return introspectionCall{form: url.Values{}, header: basic(rsID, rsSecret)} }},
		{"a parameter given twice", false, true, func() introspectionCall {
			return introspectionCall{form: url.Values{"token": {service.AccessToken}, "token_type_hint": {"access_token", "refresh_token"}}, header: basic(rsID, rsSecret)}
		}},
		{"from a browser origin", true, true, func() introspectionCall {
			c := basicCall(rsID, rsSecret, service.AccessToken)()
			c.header.Set("Origin", "https://elsewhere.example")
			return c
		}},
	} {
		// Twice: the second answer comes from the verified-token memory.
		for round := range 2 {
			name := fmt.Sprintf("%s (round %d)", c.name, round+1)
			got := sameAnswers(t, u, name, c.fast, c.call)
			var body struct {
				Active bool `json:"active"`
			}
			if got.status != http.StatusOK || json.Unmarshal([]byte(got.body), &body) != nil || body.Active != c.active {
				t.Errorf("%s: %d %s, want active %v", name, got.status, got.body, c.active)
			}
		}
	}

	// Another resource server learns that a user token is live, not
	// whose it is; the client it was issued to learns the user.
	other := basicCall(rsID, rsSecret, user.AccessToken)().against(u.Provider, u.URL)
	own := basicCall(f.cfg.ClientID, f.cfg.ClientSecret, user.AccessToken)().against(u.Provider, u.URL)
	if strings.Contains(other.body, `"sub"`) || strings.Contains(other.body, "jane@example.com") || !strings.Contains(own.body, "jane@example.com") {
		t.Errorf("another resource server: %s\nits own client: %s", other.body, own.body)
	}

	// A wrong secret is 401 invalid_client, with the Basic challenge when
	// Basic was used.
	got := sameAnswers(t, u, "wrong Basic secret", true, basicCall(rsID, "usec_wrong", service.AccessToken))
	if got.status != http.StatusUnauthorized || !strings.Contains(got.body, `"error":"invalid_client"`) || !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("wrong Basic secret: %d %v %s", got.status, got.header, got.body)
	}
	got = sameAnswers(t, u, "wrong form secret", true, post(rsID, "usec_wrong", service.AccessToken))
	if got.status != http.StatusUnauthorized || !strings.Contains(got.body, `"error":"invalid_client"`) || got.header.Get("WWW-Authenticate") != "" {
		t.Errorf("wrong form secret: %d %v %s", got.status, got.header, got.body)
	}
	// The fast path never sees these: clientGuard answers them (hence
	// "fast": no 599 from the fast path's handler).
	sameAnswers(t, u, "unknown client", true, basicCall("cli_unknown", "usec_wrong", service.AccessToken))
}

// rawClientToken gets a client_credentials access token, whatever its
// expiry (the oauth2 package refuses a negative expires_in).
func rawClientToken(t *testing.T, base, id, secret string) string {
	t.Helper()
	status, _, body := call(t, http.MethodPost, base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(id, secret))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("client_credentials: %d %s", status, body)
	}
	return tok.AccessToken
}

// foreignJWT is the token's payload signed by a key Usher does not have,
// under a kid it publishes.
func foreignJWT(t *testing.T, base, token string) string {
	t.Helper()
	parsed, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: parsed.Signatures[0].Header.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(parsed.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A remembered token is still checked for expiry on every call.
func TestOwnIntrospectionRemembersNotPastExpiry(t *testing.T) {
	u := startUsher(t, nil)
	id, secret := serviceClient(t, u)
	tok := rawClientToken(t, u.URL, id, secret)
	for range 2 { // verified, then remembered
		if err := provider.VerifyOwnAccessToken(u.Provider, tok, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := provider.VerifyOwnAccessToken(u.Provider, tok, 2*time.Hour); err == nil {
		t.Fatal("a remembered token verified after its expiry")
	}
	if err := provider.VerifyOwnAccessToken(u.Provider, tok[:len(tok)-2]+"xx", 0); err == nil {
		t.Fatal("a tampered token verified")
	}
}

// A client authenticating with private_key_jwt gets the library's answers
// from the fast path too.
func TestOwnIntrospectionPrivateKeyJWT(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "rs-key-1", Algorithm: "ES256", Use: "sig"}}})
	rsID, _ := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.GrantTypes, c.RedirectURIs, c.AuthMethod, c.JWKS = []string{clients.GrantClientCredentials}, nil, "private_key_jwt", jwks
	})
	svcID, svcSecret := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.GrantTypes, c.RedirectURIs = []string{clients.GrantClientCredentials}, nil
	})
	tok, err := (&clientcredentials.Config{ClientID: svcID, ClientSecret: svcSecret, TokenURL: u.URL + "/oauth/token"}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "rs-key-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	call := func(token string) func() introspectionCall {
		return func() introspectionCall {
			now := time.Now()
			a, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: rsID, Subject: rsID, Audience: jwt.Audience{u.URL},
				ID: storage.NewID("jti"), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return introspectionCall{form: url.Values{"token": {token}, "client_assertion": {a},
				"client_assertion_type": {zoidc.ClientAssertionTypeJWTAssertion}}}
		}
	}
	if got := sameAnswers(t, u, "private_key_jwt, live token", true, call(tok.AccessToken)); !strings.Contains(got.body, `"active":true`) {
		t.Errorf("live token: %d %s", got.status, got.body)
	}
	sameAnswers(t, u, "private_key_jwt, unknown token", true, call("a.b.c"))
}

// The hand-written encoding is encoding/json's, byte for byte, or it
// declines.
func TestAppendIntrospectionIsEncodingJSON(t *testing.T) {
	strs := []string{"", "a", "utk_1.x", "https://issuer.example:8443/t", `q"uote`, `back\slash`, "<tag>", "a&b", "é", "tab\t", "\u2028", string([]byte{0xff}), "del\x7f"}
	var cases []*zoidc.IntrospectionResponse
	for i, s := range strs {
		cases = append(cases,
			&zoidc.IntrospectionResponse{},
			&zoidc.IntrospectionResponse{Active: true, Scope: zoidc.SpaceDelimitedArray{s}, ClientID: s, TokenType: "Bearer",
				Expiration: zoidc.Time(1700000000 + i), IssuedAt: zoidc.Time(-i), Subject: s, Audience: zoidc.Audience{s, "b"}, Issuer: s, JWTID: s},
			&zoidc.IntrospectionResponse{Active: i%2 == 0, Scope: zoidc.SpaceDelimitedArray{"a", s, "c"}, AuthTime: math.MaxInt64, NotBefore: math.MinInt64,
				Audience: zoidc.Audience{}},
			&zoidc.IntrospectionResponse{Active: true, Scope: zoidc.SpaceDelimitedArray{}, Audience: zoidc.Audience{s}},
			&zoidc.IntrospectionResponse{Active: true, Username: s},
			&zoidc.IntrospectionResponse{Active: true, UserInfoEmail: zoidc.UserInfoEmail{Email: s}},
			&zoidc.IntrospectionResponse{Active: true, UserInfoProfile: zoidc.UserInfoProfile{PreferredUsername: "jane"}},
			&zoidc.IntrospectionResponse{Active: true, Claims: map[string]any{"x": s}},
			&zoidc.IntrospectionResponse{Active: true, AuthenticationMethodsReferences: []string{"pwd"}},
		)
	}
	declined := 0
	for _, r := range cases {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(r); err != nil {
			t.Fatal(err)
		}
		got, ok := provider.AppendIntrospection(nil, r)
		if !ok {
			declined++
			continue
		}
		if string(got) != want.String() {
			t.Errorf("%+v:\n got  %s want %s", r, got, want.String())
		}
	}
	if declined == 0 || declined == len(cases) {
		t.Errorf("declined %d of %d", declined, len(cases))
	}
}
