package federation_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/usher-id/usher/federation"
	"github.com/usher-id/usher/internal/oidctest"
	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

const callback = "http://127.0.0.1:9/sso/callback"

// upstream is a second Usher acting as the enterprise's OpenID Connect
// provider, with a user and a client for the Usher under test.
type upstream struct {
	u      *ushertest.Usher
	conn   *storage.Connection
	secret string
	user   *storage.User
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := ushertest.Start(t, ushertest.Options{})
	user, err := u.Users.Create(context.Background(), users.NewUser{Email: "ada@acme.example", Password: "a long upstream password",
		FirstName: "Ada", LastName: "Lovelace", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &storage.Client{Name: "Usher downstream", RedirectURIs: []string{callback}}
	secret, err := u.Clients.Create(context.Background(), c, false)
	if err != nil {
		t.Fatal(err)
	}
	conn := &storage.Connection{ID: "conn_acme", Slug: "acme", Type: storage.ConnectionOIDC, Issuer: u.URL, ClientID: c.ID,
		ClientSecret: []byte(secret), UpdatedAt: time.Now()}
	return &upstream{u: u, conn: conn, secret: secret, user: user}
}

func connectors() *federation.Connectors {
	return &federation.Connectors{RedirectURI: callback, OpenSecret: func(c *storage.Connection) (string, error) { return string(c.ClientSecret), nil }}
}

// signIn sends a browser through the upstream and returns the callback's
// query.
func (up *upstream) signIn(t *testing.T, conn federation.Connector, r federation.Round) map[string][]string {
	t.Helper()
	authURL, err := conn.AuthURL(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	loc := oidctest.NewBrowser(t, up.u.URL).Authorize(authURL, "ada@acme.example", "a long upstream password")
	if loc.Query().Get("state") != r.State {
		t.Fatalf("the upstream returned state %q, want %q", loc.Query().Get("state"), r.State)
	}
	return loc.Query()
}

func TestOIDCUpstreamSignIn(t *testing.T) {
	up := startUpstream(t)
	ctx := context.Background()
	conn, err := connectors().For(ctx, up.conn)
	if err != nil {
		t.Fatal(err)
	}
	r := federation.NewRound()
	q := up.signIn(t, conn, r)
	id, err := conn.Finish(ctx, r, q)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != up.user.ID || id.Email != "ada@acme.example" || !id.EmailVerified || id.FirstName != "Ada" || id.LastName != "Lovelace" {
		t.Fatalf("identity %+v", id)
	}
	if len(id.AMR) == 0 || id.AccessToken == "" {
		t.Fatalf("amr %v, access token %q", id.AMR, id.AccessToken)
	}
	// The code is single-use upstream: a replayed callback is refused.
	if _, err := conn.Finish(ctx, r, q); !errors.Is(err, federation.ErrRefused) {
		t.Fatalf("replayed callback: %v", err)
	}
}

func TestOIDCUpstreamRefusals(t *testing.T) {
	up := startUpstream(t)
	ctx := context.Background()
	conn, err := connectors().For(ctx, up.conn)
	if err != nil {
		t.Fatal(err)
	}

	// Another round's nonce: the ID token does not belong to this round.
	r := federation.NewRound()
	q := up.signIn(t, conn, r)
	other := r
	other.Nonce = federation.NewRound().Nonce
	if _, err := conn.Finish(ctx, other, q); !errors.Is(err, federation.ErrRefused) {
		t.Fatalf("wrong nonce: %v", err)
	}

	// Another PKCE verifier: the upstream refuses the code.
	r = federation.NewRound()
	q = up.signIn(t, conn, r)
	other = r
	other.Verifier = federation.NewRound().Verifier
	if _, err := conn.Finish(ctx, other, q); !errors.Is(err, federation.ErrRefused) {
		t.Fatalf("wrong verifier: %v", err)
	}

	// The upstream's own error.
	if _, err := conn.Finish(ctx, r, map[string][]string{"error": {"access_denied"}, "state": {r.State}}); !errors.Is(err, federation.ErrRefused) {
		t.Fatalf("upstream error: %v", err)
	}
	if _, err := conn.Finish(ctx, r, map[string][]string{"state": {r.State}}); !errors.Is(err, federation.ErrRefused) {
		t.Fatalf("no code: %v", err)
	}
}

func TestOIDCUpstreamDownOrSlow(t *testing.T) {
	// Nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	c := &storage.Connection{ID: "conn_down", Type: storage.ConnectionOIDC, Issuer: down, ClientID: "x", ClientSecret: []byte("y")}
	if _, err := connectors().For(context.Background(), c); !errors.Is(err, federation.ErrUnreachable) {
		t.Fatalf("an upstream that is down: %v", err)
	}

	// Answers slower than the client waits.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	cs := connectors()
	cs.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond}
	c = &storage.Connection{ID: "conn_slow", Type: storage.ConnectionOIDC, Issuer: slow.URL, ClientID: "x", ClientSecret: []byte("y")}
	if _, err := cs.For(context.Background(), c); !errors.Is(err, federation.ErrUnreachable) {
		t.Fatalf("a slow upstream: %v", err)
	}

	// A type Usher does not know.
	if _, err := connectors().For(context.Background(), &storage.Connection{ID: "conn_x", Type: "ldap"}); !errors.Is(err, federation.ErrUnsupported) {
		t.Fatalf("an unknown type: %v", err)
	}
}
