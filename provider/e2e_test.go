package provider_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres"
	"github.com/usher-id/usher/storage/postgres/pgtest"
	"github.com/usher-id/usher/users"
)

// testUsher is a running Usher with the helpers these tests share.
type testUsher struct{ *ushertest.Usher }

const testPassword = "correct horse battery staple"

func startUsher(t *testing.T, store storage.Storage) *testUsher {
	t.Helper()
	return startUsherAt(t, store, "")
}

// startUsherAt starts Usher with the given issuer ("" for the test
// server's own URL), as replicas behind one load balancer share one.
func startUsherAt(t *testing.T, store storage.Storage, issuer string) *testUsher {
	t.Helper()
	return startUsherWith(t, store, issuer, keys.Options{})
}

// startUsherWith also chooses the signing keys' options.
func startUsherWith(t *testing.T, store storage.Storage, issuer string, keyOpts keys.Options) *testUsher {
	t.Helper()
	if store == nil && onPostgres {
		db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		store = db
	}
	return &testUsher{ushertest.Start(t, ushertest.Options{Store: store, Issuer: issuer, Keys: keyOpts})}
}

// onPostgres makes startUsher use PostgreSQL; TestPostgresProvider sets it.
var onPostgres bool

// TestPostgresProvider runs the provider's tests again on PostgreSQL, so
// every grant and endpoint is proven on both backends.
func TestPostgresProvider(t *testing.T) {
	pgtest.URL(t) // skips (or, in CI, fails) without a server
	onPostgres = true
	defer func() { onPostgres = false }()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"CodeFlowWithGoOIDC", TestCodeFlowWithGoOIDC},
		{"NonRSAAlgorithms", TestNonRSAAlgorithms},
		{"CodeExchangedOnceAndReplayRevokes", TestCodeExchangedOnceAndReplayRevokes},
		{"ExpiredCode", TestExpiredCode},
		{"LateCodeReplayRevokes", TestLateCodeReplayRevokes},
		{"CodeReplayRevokesOnlyItsGrant", TestCodeReplayRevokesOnlyItsGrant},
		{"SignInFailuresLimitedPerAddress", TestSignInFailuresLimitedPerAddress},
		{"ResponseModeFormPost", TestResponseModeFormPost},
		{"MaxAge", TestMaxAge},
		{"ThirdPartyConsent", TestThirdPartyConsent},
		{"CORS", TestCORS},
		{"DeviceFlow", TestDeviceFlow},
		{"DeviceFlowConfidentialClient", TestDeviceFlowConfidentialClient},
		{"DeviceDenied", TestDeviceDenied},
		{"DevicePendingAndSlowDown", TestDevicePendingAndSlowDown},
		{"DeviceThirdPartyConsent", TestDeviceThirdPartyConsent},
		{"DeviceExpired", TestDeviceExpired},
		{"DeviceClientChecks", TestDeviceClientChecks},
		{"DevicePage", TestDevicePage},
		{"DevicePrivateKeyJWTClient", TestDevicePrivateKeyJWTClient},
		{"UserinfoChallenges", TestUserinfoChallenges},
		{"DiscoveryAdvertisesOnlyWhatWorks", TestDiscoveryAdvertisesOnlyWhatWorks},
		{"RPInitiatedLogout", TestRPInitiatedLogout},
		{"RefreshRotationAndReuse", TestRefreshRotationAndReuse},
		{"ConcurrentRefreshInsideGrace", TestConcurrentRefreshInsideGrace},
		{"ConcurrentRefreshesKeepOneChain", TestConcurrentRefreshesKeepOneChain},
		{"RefreshRetryAfterLostReply", TestRefreshRetryAfterLostReply},
		{"RefreshRetryAfterGraceRevokes", TestRefreshRetryAfterGraceRevokes},
		{"RefreshRetryMayNotWidenScopes", TestRefreshRetryMayNotWidenScopes},
		{"RefreshScopesMayOnlyNarrow", TestRefreshScopesMayOnlyNarrow},
		{"SSOAcrossClientsAndPromptNone", TestSSOAcrossClientsAndPromptNone},
		{"ClientCredentialsIntrospectionAndRevocation", TestClientCredentialsIntrospectionAndRevocation},
		{"AuthorizeBadInput", TestAuthorizeBadInput},
		{"SecretRotationAndClientCache", TestSecretRotationAndClientCache},
		{"JWTBearerGrant", TestJWTBearerGrant},
		{"PrivateKeyJWTClient", TestPrivateKeyJWTClient},
		{"PrivateKeyJWTClientCredentials", TestPrivateKeyJWTClientCredentials},
		{"AuthRequestBoundToItsBrowser", TestAuthRequestBoundToItsBrowser},
		{"IDTokenHintMustMatchSession", TestIDTokenHintMustMatchSession},
		{"BannedUserLosesSSOAndRefresh", TestBannedUserLosesSSOAndRefresh},
		{"ProtocolAnswers", TestProtocolAnswers},
		{"IntrospectionByAnotherClient", TestIntrospectionByAnotherClient},
		{"TokenExchangeMintsTemplateTokens", TestTokenExchangeMintsTemplateTokens},
		{"MintEndpointAndCustomKeys", TestMintEndpointAndCustomKeys},
		{"SessionClaims", TestSessionClaims},
		{"ClientTokensWithoutRecords", TestClientTokensWithoutRecords},
		{"CredentialsOnlyInPostBody", TestCredentialsOnlyInPostBody},
		{"WrongBasicSecretGetsChallenge", TestWrongBasicSecretGetsChallenge},
		{"ClientAuthenticatedBeforeCode", TestClientAuthenticatedBeforeCode},
		{"ClientFailuresRateLimited", TestClientFailuresRateLimited},
		{"ClientMistakesAreNotErrors", TestClientMistakesAreNotErrors},
		{"FormPostPageProtected", TestFormPostPageProtected},
		{"RequestURIRefused", TestRequestURIRefused},
	} {
		t.Run(tc.name, tc.fn)
	}
}

func (u *testUsher) newUser(t *testing.T, email string) *storage.User {
	t.Helper()
	usr, err := u.Users.Create(context.Background(), users.NewUser{Email: email, Password: testPassword, FirstName: "Jane", LastName: "Doe", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	return usr
}

// newClient registers a confidential (or public) web client with the
// given redirect URI and returns its id and secret.
func (u *testUsher) newClient(t *testing.T, redirect string, public bool, mods ...func(*storage.Client)) (string, string) {
	t.Helper()
	c := &storage.Client{Name: "test app", RedirectURIs: []string{redirect}}
	for _, m := range mods {
		m(c)
	}
	secret, err := u.Clients.Create(context.Background(), c, public)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, secret
}

func TestCodeFlowWithGoOIDC(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	user := u.newUser(t, "jane@example.com")
	const redirect = "http://127.0.0.1:9999/callback"
	clientID, secret := u.newClient(t, redirect, false)

	op, err := oidc.NewProvider(ctx, u.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: op.Endpoint(), RedirectURL: redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
	verifier := oauth2.GenerateVerifier()
	b := oidctest.NewBrowser(t, u.URL)
	loc := b.Authorize(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n0nce")), "jane@example.com", testPassword)
	if got := loc.Query().Get("state"); got != "st4te" {
		t.Fatalf("state = %q in %s", got, loc)
	}
	code := loc.Query().Get("code")
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		Name          string   `json:"name"`
		SID           string   `json:"sid"`
		AMR           []string `json:"amr"`
		AuthTime      int64    `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != user.ID || idt.Nonce != "n0nce" || claims.Email != "jane@example.com" || !claims.EmailVerified ||
		claims.Name != "Jane Doe" || claims.SID == "" || claims.AuthTime == 0 || fmt.Sprint(claims.AMR) != "[pwd]" {
		t.Fatalf("ID token: sub %q nonce %q claims %+v", idt.Subject, idt.Nonce, claims)
	}
	ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != user.ID || ui.Email != "jane@example.com" {
		t.Fatalf("userinfo = %+v, %v", ui, err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}

	// The code is single-use.
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("second exchange of the code = %v, want invalid_grant", err)
	}
}
