package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres"
	"github.com/usher-id/usher/storage/postgres/pgtest"
)

// startUsherGrace starts Usher (on PostgreSQL under TestPostgresProvider)
// with the given refresh reuse grace. The server's clock is real time, so a
// test that needs fifty refreshes to land inside the window gives itself a
// window no slow machine outlasts, and steps past it with Clock.Advance.
func startUsherGrace(t *testing.T, store storage.Storage, issuer string, grace time.Duration) *testUsher {
	t.Helper()
	if store == nil && onPostgres {
		store = openPostgres(t, pgtest.URL(t))
	}
	return &testUsher{ushertest.Start(t, ushertest.Options{Store: store, Issuer: issuer,
		Provider: func(o *provider.Options) { o.RefreshReuseGrace = grace }})}
}

func openPostgres(t *testing.T, dsn string) storage.Storage {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn, postgres.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tokenAnswer is what the token endpoint said to one refresh.
type tokenAnswer struct {
	status       int
	accessToken  string
	refreshToken string
	err          string
}

// postRefresh refreshes rt with a raw form post to the token endpoint at
// base, so the test sees the status code a client library would hide. A
// scope narrows the request.
func postRefresh(f *flow, base, rt string, scope ...string) (tokenAnswer, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if len(scope) > 0 {
		form.Set("scope", strings.Join(scope, " "))
	}
	req, err := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tokenAnswer{}, err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return tokenAnswer{status: resp.StatusCode}, nil
	}
	return tokenAnswer{status: resp.StatusCode, accessToken: body.AccessToken, refreshToken: body.RefreshToken, err: body.Error}, nil
}

// Fifty concurrent refreshes of one token (a stolen token raced against
// its owner, or a client gone wild) leave exactly one usable chain: every
// answer is the same successor with its own access token, or a refusal.
func TestConcurrentRefreshesKeepOneChain(t *testing.T) {
	u := startUsherGrace(t, nil, "", time.Hour)
	concurrentRefreshesKeepOneChain(t, u)
}

// The same across two replicas on one PostgreSQL behind one issuer, the
// requests split between them.
func TestPostgresConcurrentRefreshesAcrossReplicas(t *testing.T) {
	dsn := pgtest.URL(t)
	a := startUsherGrace(t, openPostgres(t, dsn), "", time.Hour)
	b := startUsherGrace(t, openPostgres(t, dsn), a.URL, time.Hour)
	concurrentRefreshesKeepOneChain(t, a, b)
}

func concurrentRefreshesKeepOneChain(t *testing.T, replicas ...*testUsher) {
	const n = 50
	first := replicas[0]
	first.newUser(t, "jane@example.com")
	f := newFlow(t, first, false)
	tok := f.login(t)

	answers := make([]tokenAnswer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i], errs[i] = postRefresh(f, replicas[i%len(replicas)].URL, tok.RefreshToken)
		})
	}
	close(start)
	wg.Wait()

	var ok, refused int
	var chain string
	for i, a := range answers {
		switch {
		case errs[i] != nil:
			t.Fatalf("refresh %d: %v", i, errs[i])
		case a.status == http.StatusOK:
			ok++
			if a.refreshToken == "" || a.refreshToken == tok.RefreshToken {
				t.Fatalf("refresh %d: refresh token %q, want a successor", i, a.refreshToken)
			}
			if chain == "" {
				chain = a.refreshToken
			}
			if a.refreshToken != chain {
				t.Errorf("refresh %d got another successor than refresh before it: two chains", i)
			}
			// Each answer carries a working access token of its own.
			if _, err := f.op.UserInfo(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: a.accessToken, TokenType: "Bearer"})); err != nil {
				t.Errorf("refresh %d: userinfo with its access token: %v", i, err)
			}
		case a.status == http.StatusBadRequest && a.err == "invalid_grant":
			refused++
		default:
			t.Errorf("refresh %d: status %d, error %q; want 200, or 400 invalid_grant", i, a.status, a.err)
		}
	}
	t.Logf("%d concurrent refreshes over %d replica(s): %d answered 200 (one successor), %d refused", n, len(replicas), ok, refused)
	if ok == 0 {
		t.Fatal("every concurrent refresh was refused: the grace window should let them through")
	}

	// The one successor works, on every replica, and moves the chain on.
	next, err := postRefresh(f, replicas[len(replicas)-1].URL, chain)
	if err != nil || next.status != http.StatusOK || next.refreshToken == "" || next.refreshToken == chain {
		t.Fatalf("refreshing the successor: %+v %v", next, err)
	}
	// Once the chain moved on, the original token opens nothing, even
	// inside the grace window, and refusing it leaves the chain alone.
	for _, r := range replicas {
		again, err := postRefresh(f, r.URL, tok.RefreshToken)
		if err != nil || again.status != http.StatusBadRequest || again.err != "invalid_grant" {
			t.Fatalf("the original token after its successor was used: %+v %v, want invalid_grant", again, err)
		}
	}
	last, err := postRefresh(f, replicas[0].URL, next.refreshToken)
	if err != nil || last.status != http.StatusOK {
		t.Fatalf("the chain after a refused reuse inside the grace window: %+v %v", last, err)
	}

	// Past the grace window, presenting the original token is reuse: the
	// family is revoked, and every replica refuses the newest token.
	for _, r := range replicas {
		r.Clock.Advance(2 * time.Hour)
	}
	if late, err := postRefresh(f, replicas[len(replicas)-1].URL, tok.RefreshToken); err != nil || late.err != "invalid_grant" {
		t.Fatalf("reuse past the grace window: %+v %v, want invalid_grant", late, err)
	}
	for _, r := range replicas {
		if dead, err := postRefresh(f, r.URL, last.refreshToken); err != nil || dead.err != "invalid_grant" {
			t.Fatalf("the newest token after a reuse past the grace window: %+v %v, want invalid_grant", dead, err)
		}
	}
}

// A client whose reply was lost retries with the same token: inside the
// grace window it gets the same refresh token it would have had, and a new
// access token that works.
func TestRefreshRetryAfterLostReply(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	tok := f.login(t)
	lost, err := f.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := f.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("retry inside the grace window: %v", err)
	}
	if retry.RefreshToken != lost.RefreshToken {
		t.Fatal("the retry got another refresh token than the lost reply: two chains")
	}
	if retry.AccessToken == lost.AccessToken {
		t.Fatal("the retry got the lost reply's access token, want a fresh one")
	}
	if _, err := f.op.UserInfo(context.Background(), oauth2.StaticTokenSource(retry)); err != nil {
		t.Fatalf("userinfo with the retry's access token: %v", err)
	}
	next, err := f.refresh(retry.RefreshToken)
	if err != nil {
		t.Fatalf("refreshing the retried successor: %v", err)
	}
	if next.RefreshToken == retry.RefreshToken {
		t.Fatal("the successor did not rotate")
	}
}

// Past the grace window a lost reply cannot be recovered: the retry is
// reuse and revokes the family (the README says to tune
// tokens.refresh_reuse_grace for clients that retry late).
func TestRefreshRetryAfterGraceRevokes(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	tok := f.login(t)
	lost, err := f.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	u.Clock.Advance(time.Minute)
	if _, err := f.refresh(tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("retry past the grace window = %v, want invalid_grant", err)
	}
	if _, err := f.refresh(lost.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("the lost successor after a late retry = %v, want invalid_grant (family revoked)", err)
	}
}

// A repeated refresh gets the successor only for scopes the successor
// carries: the first refresh narrowed them, so a repeat asking for the
// token's full scopes is refused (400, not a second successor), and a
// repeat of the same narrow request gets the same successor.
func TestRefreshRetryMayNotWidenScopes(t *testing.T) {
	u := startUsher(t, nil)
	u.newUser(t, "jane@example.com")
	f := newFlow(t, u, false)
	tok := f.login(t)
	narrow, err := postRefresh(f, u.URL, tok.RefreshToken, "openid", "offline_access")
	if err != nil || narrow.status != http.StatusOK {
		t.Fatalf("narrowing refresh: %+v %v", narrow, err)
	}
	wide, err := postRefresh(f, u.URL, tok.RefreshToken)
	if err != nil || wide.status != http.StatusBadRequest || wide.err != "invalid_scope" {
		t.Fatalf("repeat asking for more than the successor has: %+v %v, want 400 invalid_scope", wide, err)
	}
	same, err := postRefresh(f, u.URL, tok.RefreshToken, "openid", "offline_access")
	if err != nil || same.status != http.StatusOK || same.refreshToken != narrow.refreshToken {
		t.Fatalf("repeat of the narrow refresh: %+v %v, want the same successor", same, err)
	}
	if _, err := f.refresh(narrow.refreshToken); err != nil {
		t.Fatalf("the successor after the refused repeat: %v", err)
	}
}
