package keys_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres/pgtest"
)

// The attacks these tests replay, from a security review: an immediate
// rotation made one replica sign with a key that the other replica's JWKS
// lacked until its next refresh (up to keys.refresh_interval, 30s), so
// relying parties that fetched that JWKS refused the tokens; and a leaked
// key could not be taken out of the JWKS at all.

// twoReplicas are two managers on one database, sharing a clock, as two
// replicas behind a load balancer. A waits through hook when it waits for
// a new key to be published.
type twoReplicas struct {
	c    *clock
	a, b *keys.Manager
	sa   keys.Store
}

func newTwoReplicas(t *testing.T, sa, sb keys.Store, hook func(d time.Duration)) *twoReplicas {
	t.Helper()
	r := &twoReplicas{c: newClock(), sa: sa}
	sealer := newSealer(t, masterKey(t))
	optsA := testOptions(r.c, "ES256")
	optsA.Wait = func(ctx context.Context, d time.Duration) error {
		hook(d)
		r.c.Advance(d)
		return ctx.Err()
	}
	r.a = newManager(t, sa, sealer, optsA)
	r.b = newManager(t, sb, sealer, testOptions(r.c, "ES256"))
	return r
}

// everyTokenVerifiesEverywhere signs a token on each replica and verifies it
// against each replica's JWKS, as a relying party behind the load balancer
// would: no replica may sign with a key another one does not publish.
func (r *twoReplicas) everyTokenVerifiesEverywhere(t *testing.T, when string) {
	t.Helper()
	for _, signer := range []*keys.Manager{r.a, r.b} {
		tok := sign(t, signer, r.c, "ES256", time.Hour)
		for _, jwks := range []*keys.Manager{r.a, r.b} {
			if kid, err := verify(fetchJWKS(t, jwks), tok, "ES256", r.c.Now()); err != nil {
				t.Fatalf("%s: a token signed with %s does not verify against a replica's JWKS: %v", when, kid, err)
			}
		}
	}
}

func poll(t *testing.T, m *keys.Manager) {
	t.Helper()
	if err := m.Poll(context.Background()); err != nil {
		t.Fatalf("Poll: %v", err)
	}
}

// testReplacementPublishedFirst runs each operation that makes a new key
// current on demand on replica A, and checks at every step that neither
// replica signs with a key the other one does not publish. Before the fix
// A signed with the new key at once, and the first check after the
// operation failed on B's JWKS.
func testReplacementPublishedFirst(t *testing.T, open func(t *testing.T) (keys.Store, keys.Store)) {
	ops := []struct {
		name   string
		run    func(m *keys.Manager, old string) error
		revoke bool
	}{
		{"rotate immediately", func(m *keys.Manager, _ string) error {
			_, err := m.Rotate(context.Background(), "ES256", true)
			return err
		}, false},
		{"retire the current key", func(m *keys.Manager, old string) error { return m.Retire(context.Background(), old) }, false},
		{"revoke the current key", func(m *keys.Manager, old string) error { return m.Revoke(context.Background(), old) }, true},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			sa, sb := open(t)
			var r *twoReplicas
			waited := false
			var newKid string
			r = newTwoReplicas(t, sa, sb, func(time.Duration) {
				waited = true
				next := byState(listKeys(t, r.sa), "ES256", storage.KeyNext)
				if len(next) != 1 {
					t.Fatalf("while A waits: %d next keys, want the new one", len(next))
				}
				newKid = next[0].ID
				if currentKid(t, r.a, "ES256") == newKid {
					t.Fatal("A signs with the new key before every replica publishes it")
				}
				r.everyTokenVerifiesEverywhere(t, "while A waits, before B polls")
				poll(t, r.b)
				if !hasKid(fetchJWKS(t, r.b), newKid) {
					t.Fatal("B does not publish the new key after one poll")
				}
				if currentKid(t, r.b, "ES256") == newKid {
					t.Fatal("B signs with the new key before A made it current")
				}
				r.everyTokenVerifiesEverywhere(t, "while A waits, after B polled")
			})
			old := currentKid(t, r.a, "ES256")
			oldToken := sign(t, r.b, r.c, "ES256", time.Hour)
			if err := op.run(r.a, old); err != nil {
				t.Fatal(err)
			}
			if !waited {
				t.Fatal("the new key became current without waiting for the replicas to publish it")
			}
			if kid := currentKid(t, r.a, "ES256"); kid != newKid {
				t.Fatalf("A signs with %s, want the new key %s", kid, newKid)
			}
			if !op.revoke {
				// B has not polled since A promoted the key: B still signs
				// with the old one, which both still publish.
				r.everyTokenVerifiesEverywhere(t, "after the operation, before B polls")
			}
			poll(t, r.b)
			if kid := currentKid(t, r.b, "ES256"); kid != newKid {
				t.Fatalf("B signs with %s after polling, want %s", kid, newKid)
			}
			r.everyTokenVerifiesEverywhere(t, "after B polled")
			for name, m := range map[string]*keys.Manager{"A": r.a, "B": r.b} {
				set := fetchJWKS(t, m)
				if published := hasKid(set, old); published == op.revoke {
					t.Fatalf("%s publishes the old key: %v", name, published)
				}
				_, err := verify(set, oldToken, "ES256", r.c.Now())
				if (err == nil) == op.revoke {
					t.Fatalf("%s: a token of the old key verifies: %v", name, err == nil)
				}
			}
		})
	}
}

func TestReplacementPublishedFirst(t *testing.T) {
	t.Parallel()
	testReplacementPublishedFirst(t, func(t *testing.T) (keys.Store, keys.Store) {
		path := filepath.Join(t.TempDir(), "usher.db")
		return openSQLiteAt(t, path), openSQLiteAt(t, path)
	})
}

func TestPostgresReplacementPublishedFirst(t *testing.T) {
	t.Parallel()
	testReplacementPublishedFirst(t, func(t *testing.T) (keys.Store, keys.Store) {
		url := pgtest.URL(t)
		return openPostgres(t, url), openPostgres(t, url)
	})
}

// testRunPropagates: replica B only runs Run, polling every 10ms of real
// time while the injected clock stands still, so nothing but the version
// poll can make it see A's changes (its maintenance is 30s away). A's
// immediate rotation waits until B publishes the new key; A's revocation
// leaves B's JWKS within a poll.
func testRunPropagates(t *testing.T, sa, sb keys.Store) {
	c := newClock()
	sealer := newSealer(t, masterKey(t))
	optsB := testOptions(c, "ES256")
	optsB.PollInterval = 10 * time.Millisecond
	b := newManager(t, sb, sealer, optsB)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	defer func() {
		cancel()
		<-done
	}()

	optsA := testOptions(c, "ES256")
	optsA.Wait = func(ctx context.Context, d time.Duration) error {
		next := byState(listKeys(t, sa), "ES256", storage.KeyNext)[0].ID
		waitFor(t, "B to publish the new key", func() bool { return hasKid(fetchJWKS(t, b), next) })
		if currentKid(t, b, "ES256") == next {
			t.Fatal("B signs with the new key before it is current")
		}
		return nil
	}
	a := newManager(t, sa, sealer, optsA)
	old := currentKid(t, a, "ES256")
	oldToken := sign(t, b, c, "ES256", time.Hour)
	rec, err := a.Rotate(context.Background(), "ES256", true)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to sign with the rotated key", func() bool { return currentKid(t, b, "ES256") == rec.ID })
	mustVerify(t, fetchJWKS(t, a), sign(t, b, c, "ES256", time.Hour), "ES256", c.Now())
	mustVerify(t, fetchJWKS(t, b), oldToken, "ES256", c.Now())

	if err := a.Revoke(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to stop publishing the revoked key", func() bool { return !hasKid(fetchJWKS(t, b), old) })
	if _, err := verify(fetchJWKS(t, b), oldToken, "ES256", c.Now()); err == nil {
		t.Fatal("a token of the revoked key verifies against B's JWKS")
	}
}

func TestRunPropagates(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "usher.db")
	testRunPropagates(t, openSQLiteAt(t, path), openSQLiteAt(t, path))
}

func TestPostgresRunPropagates(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	testRunPropagates(t, openPostgres(t, url), openPostgres(t, url))
}

// Revoking a key that signs nothing removes it at once, with no wait.
func TestRevokeNextKey(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	opts := testOptions(c, "ES256")
	opts.Wait = func(context.Context, time.Duration) error {
		t.Fatal("revoking a key that does not sign waited for a replacement")
		return nil
	}
	m := newManager(t, store, newSealer(t, masterKey(t)), opts)
	ctx := context.Background()
	next, err := m.Rotate(ctx, "ES256", false)
	if err != nil {
		t.Fatal(err)
	}
	cur := currentKid(t, m, "ES256")
	if err := m.Revoke(ctx, next.ID); err != nil {
		t.Fatal(err)
	}
	if hasKid(fetchJWKS(t, m), next.ID) || !keyGone(t, store, next.ID) {
		t.Fatalf("%s is still there after Revoke", next.ID)
	}
	if currentKid(t, m, "ES256") != cur {
		t.Fatal("revoking the next key changed the current key")
	}
	err = m.Revoke(ctx, "key_nonexistent")
	if !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("Revoke of an unknown kid = %v, want ErrUnknownKey", err)
	}
}

// A retired key still published (its tokens not yet expired) leaves the
// JWKS when revoked, and its tokens stop verifying.
func TestRevokeRetiredKey(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "ES256"))
	ctx := context.Background()
	old := currentKid(t, m, "ES256")
	tok := sign(t, m, c, "ES256", time.Hour)
	if err := m.Retire(ctx, old); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, fetchJWKS(t, m), tok, "ES256", c.Now())
	if err := m.Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(fetchJWKS(t, m), tok, "ES256", c.Now()); err == nil {
		t.Fatal("a token of the revoked retired key verifies")
	}
	if currentKid(t, m, "ES256") == old {
		t.Fatal("the revoked key signs")
	}
}
