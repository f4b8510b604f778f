package provider_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/usher-id/usher/storage"
)

func grantTypes(t *testing.T, issuer string) string {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		GrantTypes []string `json:"grant_types_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return strings.Join(d.GrantTypes, " ")
}

// The JWT bearer grant (RFC 7523) serves clients with registered keys,
// acting for themselves; discovery lists it only once such a client exists.
func TestJWTBearerGrant(t *testing.T) {
	u := startUsher(t, nil)
	const bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	if strings.Contains(grantTypes(t, u.URL), bearer) {
		t.Fatal("discovery lists the JWT bearer grant while no client may use it")
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	withGrant, _ := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.JWKS, c.GrantTypes, c.RedirectURIs, c.Scopes = jwks, []string{bearer}, nil, []string{"jobs:run"}
	})
	withoutGrant, _ := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.JWKS, c.GrantTypes, c.RedirectURIs = jwks, []string{"client_credentials"}, nil
	})
	u.Clock.Advance(time.Minute) // past the provider's view of the clients
	if !strings.Contains(grantTypes(t, u.URL), bearer) {
		t.Fatal("discovery does not list the JWT bearer grant for a client that may use it")
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}}, nil)
	assertion := func(iss, sub string) string {
		now := time.Now()
		s, _ := jwt.Signed(signer).Claims(jwt.Claims{Issuer: iss, Subject: sub, Audience: jwt.Audience{u.URL}, ID: storage.NewID("jti"),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		return s
	}
	post := func(a string) (int, string) {
		resp, err := http.PostForm(u.URL+"/oauth/token", url.Values{"grant_type": {bearer}, "assertion": {a}, "scope": {"jobs:run"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(assertion(withGrant, withGrant)); code != 200 || !strings.Contains(body, `"access_token"`) || !strings.Contains(body, "jobs:run") {
		t.Fatalf("JWT bearer grant: %d %s", code, body)
	}
	if code, body := post(assertion(withoutGrant, withoutGrant)); code != 400 || !strings.Contains(body, "unauthorized_client") {
		t.Fatalf("a client without the grant: %d %s", code, body)
	}
	if code, _ := post(assertion(withGrant, "user_someone")); code == 200 {
		t.Fatal("a client got a token for another subject")
	}
}
