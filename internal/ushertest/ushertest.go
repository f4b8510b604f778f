// Package ushertest starts a whole Usher for tests and benchmarks: real
// storage (SQLite in a temporary folder unless given one), signing keys,
// clients, users, browser sessions, the hosted pages and the OpenID Connect
// provider behind an httptest server, with a clock the test can move
// forward.
package ushertest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/session"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/sqlite"
	"github.com/usher-id/usher/users"
	"github.com/usher-id/usher/web"
)

// Options choose what differs between runs; the zero value is a fresh
// SQLite database, RS256 keys and the server's own URL as issuer.
type Options struct {
	Store  storage.Storage // nil for a new SQLite database
	Issuer string          // "" for the test server's URL
	Keys   keys.Options
	// Mail is where the hosted pages send their emails; nil for an
	// in-memory mailbox, served at /dev/mail as in development.
	Mail mail.Sender
	// Pages adjusts the pages' options before they start.
	Pages func(*web.Options)
	// TrustedProxies are the trusted load balancers: a test that trusts
	// 127.0.0.1/32 can name the client address with X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Provider adjusts the provider's options before it starts.
	Provider func(*provider.Options)
}

// Usher is a running instance.
type Usher struct {
	URL      string
	Clock    *Clock
	Provider *provider.Provider
	Store    storage.Storage
	Clients  *clients.Service
	Users    *users.Service
	Keys     *keys.Manager
	Sessions *session.Manager
	Pages    *web.Handler
	Mailbox  *mail.Mailbox // the mailbox, when Options.Mail was nil
}

// FastHashes are argon2id settings cheap enough for tests.
var FastHashes = users.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Start starts an Usher that stops when tb ends.
func Start(tb testing.TB, opts Options) *Usher {
	tb.Helper()
	ctx := context.Background()
	store := opts.Store
	if store == nil {
		db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "usher.db"), sqlite.Options{Migrate: true})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		store = db
	}
	sealer, err := keys.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	km, err := keys.New(ctx, store, sealer, opts.Keys)
	if err != nil {
		tb.Fatal(err)
	}
	hmacKey, err := km.Secret(ctx, "clients.secret_hmac_key", 32)
	if err != nil {
		tb.Fatal(err)
	}
	secrets, err := clients.NewSecrets(hmacKey)
	if err != nil {
		tb.Fatal(err)
	}
	u := &Usher{Clock: &Clock{}, Store: store, Keys: km, Clients: clients.NewService(store, secrets),
		Users: users.NewService(store, users.NewHasher(FastHashes, 0), time.Now)}
	srv := httptest.NewServer(nil)
	tb.Cleanup(srv.Close)
	u.URL = srv.URL
	issuer := opts.Issuer
	if issuer == "" {
		issuer = srv.URL
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sessionKey, err := km.Secret(ctx, "session.key", 32)
	if err != nil {
		tb.Fatal(err)
	}
	u.Sessions, err = session.New(session.Options{Issuer: issuer, Store: store, Key: sessionKey, Now: u.Clock.Now, Log: log,
		TrustedProxies: opts.TrustedProxies})
	if err != nil {
		tb.Fatal(err)
	}
	codeKey, err := km.Secret(ctx, "web.code_hmac_key", 32)
	if err != nil {
		tb.Fatal(err)
	}
	sender := opts.Mail
	if sender == nil {
		u.Mailbox = mail.NewMailbox(log)
		sender = u.Mailbox
	}
	wo := web.Options{Issuer: issuer, Store: store, Users: u.Users, Sessions: u.Sessions, Mail: sender, CodeKey: codeKey, SealToken: km.Seal,
		Brand: web.Brand{ProductName: "Usher", PrimaryColor: "#4f46e5"}, SignUp: true, Now: u.Clock.Now, Log: log}
	if box, ok := sender.(*mail.Mailbox); ok {
		wo.Mailbox = box // served at /dev/mail, as in development
	}
	if opts.Pages != nil {
		opts.Pages(&wo)
	}
	u.Pages, err = web.New(wo)
	if err != nil {
		tb.Fatal(err)
	}
	po := provider.Options{Issuer: issuer, Store: store, Keys: km, Clients: u.Clients,
		Sessions: u.Sessions, Interaction: u.Pages, Log: log, Now: u.Clock.Now}
	if opts.Provider != nil {
		opts.Provider(&po)
	}
	u.Provider, err = provider.New(ctx, po)
	if err != nil {
		tb.Fatal(err)
	}
	u.Pages.UseProvider(u.Provider)
	mux := http.NewServeMux()
	u.Pages.Routes(mux)
	mux.Handle("/", u.Provider)
	srv.Config.Handler = mux
	return u
}

// Clock is real time plus an offset a test can advance, to step past
// grace windows and lifetimes without sleeping.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
