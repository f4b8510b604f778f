package provider_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/usher-id/usher/storage"
)

// A client authenticating with private_key_jwt: its assertion, signed
// with a key it registered, replaces the secret at the token endpoint.
func TestPrivateKeyJWTClient(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "app-key-1", Algorithm: "ES256", Use: "sig"}}})
	f := newFlow(t, u, false, func(c *storage.Client) {
		c.AuthMethod = "private_key_jwt"
		c.JWKS = jwks
	})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "app-key-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(signWith jose.Signer) string {
		now := time.Now()
		tok, err := jwt.Signed(signWith).Claims(jwt.Claims{Issuer: f.cfg.ClientID, Subject: f.cfg.ClientID, Audience: jwt.Audience{u.URL},
			ID: storage.NewID("jti"), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exchange := func(code, verifier, clientAssertion string) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {verifier},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {clientAssertion}}
		resp, err := http.Post(u.URL+"/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}

	// Signed with a key the client did not register: refused.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: other, KeyID: "app-key-1"}}, nil)
	code, verifier := f.code(t)
	// zitadel answers a bad assertion signature with invalid_grant.
	if status, body := exchange(code, verifier, assertion(otherSigner)); status != 401 && status != 400 ||
		body["error"] != "invalid_client" && body["error"] != "invalid_grant" {
		t.Fatalf("assertion signed by an unregistered key: %d %v", status, body)
	}

	code, verifier = f.code(t)
	status, body := exchange(code, verifier, assertion(signer))
	if status != 200 || body["access_token"] == nil || body["id_token"] == nil {
		t.Fatalf("private_key_jwt exchange: %d %v", status, body)
	}
}
