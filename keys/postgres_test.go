package keys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres/pgtest"
)

// TestPostgresReplicasCreateOneCurrentKey starts four managers at once, each
// on its own connection pool, on an empty database.
func TestPostgresReplicasCreateOneCurrentKey(t *testing.T) {
	t.Parallel()
	for range 3 {
		url := pgtest.URL(t)
		openPostgres(t, url) // migrate once, before the race
		c := newClock()
		sealer := newSealer(t, masterKey(t))
		const replicas = 4
		stores := make([]keys.Store, replicas)
		for i := range stores {
			stores[i] = openPostgres(t, url)
		}
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			managers = make([]*keys.Manager, replicas)
			errs     = make([]error, replicas)
		)
		for i := range replicas {
			wg.Go(func() {
				<-start
				managers[i], errs[i] = keys.New(context.Background(), stores[i], sealer, testOptions(c, allAlgs...))
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: New: %v", i, err)
			}
		}
		recs := listKeys(t, stores[0])
		for _, alg := range allAlgs {
			if n := len(byState(recs, alg, storage.KeyCurrent)); n != 1 {
				t.Fatalf("%s: %d current keys after the race", alg, n)
			}
		}
		if len(recs) != len(allAlgs) {
			t.Fatalf("%d keys after the race, want %d", len(recs), len(allAlgs))
		}
		for _, alg := range allAlgs {
			want := byState(recs, alg, storage.KeyCurrent)[0].ID
			for i, m := range managers {
				maintain(t, m)
				tok := sign(t, m, c, alg, time.Hour)
				if kid := kidOf(t, tok); kid != want {
					t.Fatalf("%s: replica %d signs with %s, want %s", alg, i, kid, want)
				}
				mustVerify(t, fetchJWKS(t, managers[(i+1)%replicas]), tok, alg, c.Now())
			}
		}
	}
}

// TestPostgresRotationSeenByOtherReplica: A rotates at once; B keeps signing
// with the old key until its next Maintain, then with the new one; every
// token verifies against either replica's JWKS.
func TestPostgresRotationSeenByOtherReplica(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	sa, sb := openPostgres(t, url), openPostgres(t, url)
	c := newClock()
	sealer := newSealer(t, masterKey(t))
	opts := testOptions(c, allAlgs...)
	a := newManager(t, sa, sealer, opts)
	b := newManager(t, sb, sealer, opts)
	ctx := context.Background()
	var tokens []struct{ alg, tok string }
	add := func(alg, tok string) { tokens = append(tokens, struct{ alg, tok string }{alg, tok}) }
	rotated := map[string]string{}
	for _, alg := range allAlgs {
		old := currentKid(t, b, alg)
		add(alg, sign(t, a, c, alg, time.Hour))
		rec, err := a.Rotate(ctx, alg, true)
		if err != nil {
			t.Fatal(err)
		}
		rotated[alg] = rec.ID
		if currentKid(t, a, alg) != rec.ID {
			t.Fatalf("%s: A does not sign with its own rotation", alg)
		}
		stale := sign(t, b, c, alg, time.Hour)
		if kidOf(t, stale) != old {
			t.Fatalf("%s: B switched keys without reloading", alg)
		}
		add(alg, stale)
		add(alg, sign(t, a, c, alg, time.Hour))
	}
	c.Advance(opts.RefreshInterval)
	maintain(t, b)
	for _, alg := range allAlgs {
		tok := sign(t, b, c, alg, time.Hour)
		if kid := kidOf(t, tok); kid != rotated[alg] {
			t.Fatalf("%s: B signs with %s after Maintain, want %s", alg, kid, rotated[alg])
		}
		add(alg, tok)
	}
	for _, m := range []*keys.Manager{a, b} {
		set := fetchJWKS(t, m)
		for _, tk := range tokens {
			mustVerify(t, set, tk.tok, tk.alg, c.Now())
		}
	}
	if ea, eb := serve(a, "GET").Header().Get("ETag"), serve(b, "GET").Header().Get("ETag"); ea != eb {
		t.Fatalf("replicas publish different JWKS: %s %s", ea, eb)
	}
}

// TestPostgresRetireSeenByOtherReplica: A retires the current key; B's
// Maintain moves it to the replacement; the old key stays published.
func TestPostgresRetireSeenByOtherReplica(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	c := newClock()
	sealer := newSealer(t, masterKey(t))
	opts := testOptions(c, "ES256")
	a := newManager(t, openPostgres(t, url), sealer, opts)
	b := newManager(t, openPostgres(t, url), sealer, opts)
	old := currentKid(t, b, "ES256")
	tok := sign(t, b, c, "ES256", time.Hour)
	if err := a.Retire(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	maintain(t, b)
	if kid := currentKid(t, b, "ES256"); kid == old || kid != currentKid(t, a, "ES256") {
		t.Fatalf("B signs with %s; A with %s; retired %s", kid, currentKid(t, a, "ES256"), old)
	}
	mustVerify(t, fetchJWKS(t, b), tok, "ES256", c.Now())
}

func TestPostgresRunPicksUpRotation(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	testRunPicksUpRotation(t, openPostgres(t, url), openPostgres(t, url))
}

// TestPostgresConcurrentScheduledRotation: two replicas with one clock run
// Maintain at the same moments through a scheduled rotation. There is
// never more than one current key, and both end on the same key.
func TestPostgresConcurrentScheduledRotation(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	sa, sb := openPostgres(t, url), openPostgres(t, url)
	c := newClock()
	sealer := newSealer(t, masterKey(t))
	opts := testOptions(c, "ES256", "EdDSA")
	a := newManager(t, sa, sealer, opts)
	b := newManager(t, sb, sealer, opts)
	both := func() {
		t.Helper()
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() { errA = a.Maintain(context.Background()) })
		wg.Go(func() { errB = b.Maintain(context.Background()) })
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("Maintain: %v / %v", errA, errB)
		}
	}
	var tokens []struct{ alg, tok string }
	steps := []time.Duration{
		opts.RotationPeriod - publishAhead(opts), // next keys due
		opts.RotationPeriod,                      // promotion due
		opts.RotationPeriod + time.Minute,
		opts.RotationPeriod + 2*time.Minute,
	}
	for _, d := range steps {
		c.Set(epoch.Add(d))
		both()
		for _, alg := range []string{"ES256", "EdDSA"} {
			recs := listKeys(t, sa)
			if n := len(byState(recs, alg, storage.KeyCurrent)); n != 1 {
				t.Fatalf("at +%v: %s has %d current keys", d, alg, n)
			}
			for _, m := range []*keys.Manager{a, b} {
				tokens = append(tokens, struct{ alg, tok string }{alg, sign(t, m, c, alg, time.Hour)})
			}
		}
	}
	both()
	recs := listKeys(t, sa)
	for _, alg := range []string{"ES256", "EdDSA"} {
		if currentKid(t, a, alg) != currentKid(t, b, alg) {
			t.Fatalf("%s: replicas disagree after Maintain", alg)
		}
		if cur := byState(recs, alg, storage.KeyCurrent)[0]; cur.ID != currentKid(t, a, alg) {
			t.Fatalf("%s: replicas sign with %s, store says %s", alg, currentKid(t, a, alg), cur.ID)
		}
		// One next key per algorithm, so two replicas due together rotate once.
		if n := len(byState(recs, alg, storage.KeyRetired)) + 1; n != 2 {
			t.Fatalf("%s: %d keys created over one scheduled rotation by two replicas, want 2", alg, n)
		}
	}
	for _, m := range []*keys.Manager{a, b} {
		set := fetchJWKS(t, m)
		for _, tk := range tokens {
			mustVerify(t, set, tk.tok, tk.alg, c.Now())
		}
	}
}

func TestPostgresWrongMasterKey(t *testing.T) {
	t.Parallel()
	testWrongMasterKey(t, openPostgres(t, pgtest.URL(t)))
}

func TestPostgresRewrap(t *testing.T) {
	t.Parallel()
	testRewrap(t, openPostgres(t, pgtest.URL(t)))
}

func TestPostgresSecretConcurrentFirstCalls(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	first := openPostgres(t, url)
	testSecretConcurrentFirstCalls(t, []keys.Store{first, openPostgres(t, url), openPostgres(t, url)})
}
