package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/storage"
)

// introspect asks as the given client and returns the answer.
func introspect(t *testing.T, base, id, secret, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A JWT access token a client gets for itself is not stored: it carries
// what introspection says, revoking it records it, and only its client
// may revoke it.
func TestClientTokensWithoutRecords(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	id, secret := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.GrantTypes, c.RedirectURIs, c.Scopes = []string{clients.GrantClientCredentials}, nil, []string{"reports:read", "reports:write"}
	})
	otherID, otherSecret := u.newClient(t, appRedirect, false, func(c *storage.Client) {
		c.GrantTypes, c.RedirectURIs = []string{clients.GrantClientCredentials}, nil
	})
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: u.URL + "/oauth/token", Scopes: []string{"reports:read"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claims := verifyWithJWKS(t, u, tok.AccessToken)
	jti, _ := claims["jti"].(string)
	if claims["scope"] != "reports:read" || claims["client_id"] != id || !strings.HasPrefix(jti, storage.PrefixClientToken+"_") {
		t.Fatalf("client token claims %v", claims)
	}
	if _, err := u.Store.GetAccessToken(ctx, jti); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the client token has a record: %v", err)
	}
	got := introspect(t, u.URL, otherID, otherSecret, tok.AccessToken)
	if got["active"] != true || got["scope"] != "reports:read" || got["client_id"] != id || got["sub"] != id || got["jti"] != jti {
		t.Fatalf("introspection %v", got)
	}

	// Another client cannot revoke it; its own client can, on any replica.
	if err := revoke(u.URL, otherID, otherSecret, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if got := introspect(t, u.URL, id, secret, tok.AccessToken); got["active"] != true {
		t.Fatalf("revoked by another client: %v", got)
	}
	if err := revoke(u.URL, id, secret, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if got := introspect(t, u.URL, id, secret, tok.AccessToken); got["active"] != false {
		t.Fatalf("after revocation: %v", got)
	}

	// A deleted client's tokens die with it.
	second, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Store.DeleteClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	u.Clock.Advance(10 * time.Second) // past the client cache
	if got := introspect(t, u.URL, otherID, otherSecret, second.AccessToken); got["active"] != false {
		t.Fatalf("a deleted client's token: %v", got)
	}
}

// User access tokens name their scope too (RFC 9068).
func TestUserAccessTokensCarryScope(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	tok := f.login(t)
	if c := verifyWithJWKS(t, u, tok.AccessToken); c["scope"] != "openid email offline_access" {
		t.Fatalf("scope claim %v", c["scope"])
	}
}
