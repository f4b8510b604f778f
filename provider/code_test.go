package provider_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Two concurrent exchanges of one code: exactly one gets tokens. A later
// replay revokes what the winner got.
func TestCodeExchangedOnceAndReplayRevokes(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	code, verifier := f.code(t)
	const racers = 8
	toks := make([]*oauth2.Token, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { toks[i], errs[i] = f.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)) })
	}
	wg.Wait()
	var winner *oauth2.Token
	for i, err := range errs {
		switch {
		case err == nil && winner == nil:
			winner = toks[i]
		case err == nil:
			t.Fatal("two exchanges of one code both got tokens")
		case !strings.Contains(err.Error(), "invalid_grant"):
			t.Fatalf("a losing exchange: %v, want invalid_grant", err)
		}
	}
	if winner == nil {
		t.Fatal("no exchange won")
	}
	// The losers' attempts were replays, so the winner's grant is revoked.
	if _, err := f.refresh(winner.RefreshToken); err == nil {
		t.Fatal("the refresh token of a replayed code still works")
	}
	if _, err := f.op.UserInfo(ctx, oauth2.StaticTokenSource(winner)); err == nil {
		t.Fatal("the access token of a replayed code still works")
	}
}

func TestExpiredCode(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	code, verifier := f.code(t)
	u.Clock.Advance(2 * time.Minute)
	_, err := f.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("exchange of an expired code = %v, want invalid_grant", err)
	}
}

var formPostField = regexp.MustCompile(`name="(code|state)" value="([^"]+)"`)

func TestResponseModeFormPost(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	verifier := oauth2.GenerateVerifier()
	authURL := f.cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "form_post"))
	resp, err := f.b.Client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, page = f.b.SignIn(page, "jane@example.com", testPassword)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `action="`+appRedirect+`"`) {
		t.Fatalf("form_post answer: %d %s", resp.StatusCode, page)
	}
	fields := map[string]string{}
	for _, m := range formPostField.FindAllStringSubmatch(string(page), -1) {
		fields[m[1]] = m[2]
	}
	if fields["state"] != "st" || fields["code"] == "" {
		t.Fatalf("form_post fields = %v", fields)
	}
	if _, err := f.cfg.Exchange(context.Background(), fields["code"], oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
}

// max_age asks for a recent sign-in: an older session means the form again,
// and auth_time tells the app when the user signed in.
func TestMaxAge(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	f.login(t)
	u.Clock.Advance(10 * time.Minute)
	verifier := oauth2.GenerateVerifier()
	resp, err := f.b.Client.Get(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("max_age", "300")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("max_age=300 with a 10-minute-old session: %d, want the sign-in form", resp.StatusCode)
	}
	resp, err = f.b.Client.Get(f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("max_age", "3600")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("max_age=3600 with a 10-minute-old session: %d %s, want a code", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A code replayed long after it expired is still recognised, and still
// revokes what its first exchange got.
func TestLateCodeReplayRevokes(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	code, verifier := f.code(t)
	tok, err := f.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	u.Clock.Advance(time.Hour)
	if _, err := f.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a replayed code was exchanged")
	}
	if _, err := f.refresh(tok.RefreshToken); err == nil {
		t.Fatal("the refresh token of a code replayed an hour later still works")
	}
}

// A replayed code revokes exactly what its grant produced: the same user's
// tokens from another sign-in to the same app stay valid.
func TestCodeReplayRevokesOnlyItsGrant(t *testing.T) {
	ctx := context.Background()
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	other := f.login(t) // another sign-in, same user and app
	code, verifier := f.code(t)
	tok, err := f.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a replayed code was exchanged")
	}
	if _, err := f.op.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("the replayed grant's access token still works")
	}
	if _, err := f.op.UserInfo(ctx, oauth2.StaticTokenSource(other)); err != nil {
		t.Fatalf("another grant's access token was revoked too: %v", err)
	}
	if _, err := f.refresh(other.RefreshToken); err != nil {
		t.Fatalf("another grant's refresh token was revoked too: %v", err)
	}
}
