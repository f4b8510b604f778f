package provider_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/usher-id/usher/storage"
)

// A third-party client asks for consent once; the answer is remembered
// until the app asks again with prompt=consent or the consent is revoked.
func TestThirdPartyConsent(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	user := u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false, func(c *storage.Client) { c.Name = "Photo Printer" })
	cl, err := u.Store.GetClient(ctx, f.cfg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	cl.FirstParty = false
	if err := u.Store.UpdateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	u.Clock.Advance(10 * time.Second) // past the provider's client cache

	start := func(opts ...oauth2.AuthCodeOption) (*http.Response, []byte) {
		verifier := oauth2.GenerateVerifier()
		resp, err := f.b.Client.Get(f.cfg.AuthCodeURL("s", append(opts, oauth2.S256ChallengeOption(verifier))...))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, body
	}
	resp, page := start()
	resp, page = f.b.SignIn(page, "jane@example.com", testPassword)
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Photo Printer") || !strings.Contains(string(page), "email") {
		t.Fatalf("after sign-in for a third-party client: %d %s", resp.StatusCode, page)
	}
	// Deny: access_denied goes back to the app.
	resp = f.b.Decide(page, "deny")
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "access_denied" {
		t.Fatalf("deny sent the browser to %v", resp.Header.Get("Location"))
	}
	// prompt=none without consent: consent_required.
	resp, _ = start(oauth2.SetAuthURLParam("prompt", "none"))
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none without consent went to %v", resp.Header.Get("Location"))
	}
	// Allow: a code, and the next time no question.
	_, page = start()
	resp = f.b.Decide(page, "allow")
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("allow: %d %v", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = start()
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("remembered consent: %d %v, want a code", resp.StatusCode, resp.Header.Get("Location"))
	}
	// prompt=consent asks again.
	resp, page = start(oauth2.SetAuthURLParam("prompt", "consent"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `action="/consent"`) {
		t.Fatalf("prompt=consent: %d", resp.StatusCode)
	}
	if _, err := u.Store.GetConsent(ctx, user.ID, f.cfg.ClientID); err != nil {
		t.Fatalf("consent not stored: %v", err)
	}

	// Revoking the consent ends the app's tokens and asks again.
	verifier := oauth2.GenerateVerifier()
	resp, err = f.b.Client.Get(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "consent")))
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	resp = f.b.Decide(page, "allow")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := f.cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Provider.RevokeConsent(ctx, user.ID, f.cfg.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.refresh(tok.RefreshToken); err == nil {
		t.Fatal("a refresh token survived the revocation of its consent")
	}
	if resp, page = start(); resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `action="/consent"`) {
		t.Fatalf("after revoking consent: %d, want the consent page", resp.StatusCode)
	}
}
