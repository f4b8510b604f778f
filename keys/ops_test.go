package keys_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/sqlite"
)

func TestRotateCreatesPublishedNextKey(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	opts := testOptions(c, "ES256", "EdDSA")
	m := newManager(t, store, newSealer(t, masterKey(t)), opts)
	ctx := context.Background()
	old := currentKid(t, m, "ES256")
	c.Advance(time.Hour)

	next, err := m.Rotate(ctx, "ES256", false)
	if err != nil {
		t.Fatal(err)
	}
	if next.State != storage.KeyNext || next.Algorithm != "ES256" || !next.CreatedAt.Equal(c.Now()) {
		t.Fatalf("Rotate returned %s %s created %v", next.State, next.Algorithm, next.CreatedAt)
	}
	if !hasKid(fetchJWKS(t, m), next.ID) {
		t.Fatal("next key not published at once")
	}
	if kid := kidOf(t, sign(t, m, c, "ES256", time.Hour)); kid != old {
		t.Fatalf("signs with %s right after Rotate, want the old key %s", kid, old)
	}
	again, err := m.Rotate(ctx, "ES256", false)
	if err != nil || again.ID != next.ID {
		t.Fatalf("second Rotate: %v, %v; want the same next key %s", again, err, next.ID)
	}
	if n := len(byState(listKeys(t, store), "ES256", storage.KeyNext)); n != 1 {
		t.Fatalf("%d next keys", n)
	}
	if kid := currentKid(t, m, "EdDSA"); kid == "" {
		t.Fatal("other algorithm lost its key")
	}

	c.Set(next.CreatedAt.Add(publishAhead(opts) - time.Second))
	maintain(t, m)
	if currentKid(t, m, "ES256") != old {
		t.Fatal("next key promoted before publishAhead")
	}
	c.Set(next.CreatedAt.Add(publishAhead(opts)))
	maintain(t, m)
	if currentKid(t, m, "ES256") != next.ID {
		t.Fatal("next key not promoted at publishAhead")
	}
	if r := getKey(t, store, old); r.State != storage.KeyRetired {
		t.Fatalf("old key is %s", r.State)
	}
}

func TestRotateImmediately(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	opts := testOptions(c, allAlgs...)
	m := newManager(t, store, newSealer(t, masterKey(t)), opts)
	for _, alg := range allAlgs {
		old := currentKid(t, m, alg)
		tokOld := sign(t, m, c, alg, time.Hour)
		rec, err := m.Rotate(context.Background(), alg, true)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != storage.KeyCurrent || rec.ID == old || !rec.ActivatedAt.Equal(c.Now()) {
			t.Fatalf("%s: Rotate returned %s %s activated %v", alg, rec.ID, rec.State, rec.ActivatedAt)
		}
		set := fetchJWKS(t, m)
		if kid := mustVerify(t, set, sign(t, m, c, alg, time.Hour), alg, c.Now()); kid != rec.ID {
			t.Fatalf("%s: signs with %s after an immediate rotation, want %s", alg, kid, rec.ID)
		}
		mustVerify(t, set, tokOld, alg, c.Now())
		r := getKey(t, store, old)
		if r.State != storage.KeyRetired || !r.DeleteAfter.Equal(c.Now().Add(retention(opts))) {
			t.Fatalf("%s: old key %s delete after %v", alg, r.State, r.DeleteAfter)
		}
	}
}

func TestRotateImmediatelyPromotesExistingNext(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "EdDSA"))
	next, err := m.Rotate(context.Background(), "EdDSA", false)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := m.Rotate(context.Background(), "EdDSA", true)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != next.ID || currentKid(t, m, "EdDSA") != next.ID {
		t.Fatalf("immediate rotation made %s current, want the published next key %s", rec.ID, next.ID)
	}
	if n := len(listKeys(t, store)); n != 2 {
		t.Fatalf("%d keys, want 2", n)
	}
}

func TestRotateUnconfiguredAlgorithm(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "EdDSA"))
	for _, alg := range []string{"RS256", "HS256", ""} {
		for _, now := range []bool{false, true} {
			if _, err := m.Rotate(context.Background(), alg, now); err == nil {
				t.Errorf("Rotate(%q, %v): no error", alg, now)
			}
		}
	}
	if n := len(listKeys(t, store)); n != 1 {
		t.Fatalf("%d keys, want 1", n)
	}
}

func TestRetireCurrentPromotesReplacement(t *testing.T) {
	t.Parallel()
	for _, withNext := range []bool{false, true} {
		name := "NoNextKey"
		if withNext {
			name = "WithNextKey"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store, c := openSQLite(t), newClock()
			opts := testOptions(c, "ES256", "EdDSA")
			m := newManager(t, store, newSealer(t, masterKey(t)), opts)
			ctx := context.Background()
			old := currentKid(t, m, "ES256")
			tokOld := sign(t, m, c, "ES256", opts.MaxTokenLifetime)
			var next *storage.SigningKey
			if withNext {
				var err error
				if next, err = m.Rotate(ctx, "ES256", false); err != nil {
					t.Fatal(err)
				}
			}
			c.Advance(time.Minute)
			if err := m.Retire(ctx, old); err != nil {
				t.Fatalf("Retire: %v", err)
			}
			cur := currentKid(t, m, "ES256")
			if cur == old {
				t.Fatal("the retired key still signs")
			}
			if withNext && cur != next.ID {
				t.Fatalf("replacement %s, want the next key %s", cur, next.ID)
			}
			r := getKey(t, store, old)
			if r.State != storage.KeyRetired || !r.RetiredAt.Equal(c.Now()) || !r.DeleteAfter.Equal(c.Now().Add(retention(opts))) {
				t.Fatalf("retired key: %s retired %v delete after %v", r.State, r.RetiredAt, r.DeleteAfter)
			}
			recs := listKeys(t, store)
			if n := len(byState(recs, "ES256", storage.KeyCurrent)); n != 1 {
				t.Fatalf("%d current keys", n)
			}
			set := fetchJWKS(t, m)
			if !hasKid(set, old) {
				t.Fatal("retired key left the JWKS at once")
			}
			mustVerify(t, set, tokOld, "ES256", c.Now())
			if kid := mustVerify(t, set, sign(t, m, c, "ES256", time.Hour), "ES256", c.Now()); kid != cur {
				t.Fatalf("new token signed by %s", kid)
			}
			// Still published until DeleteAfter.
			c.Set(r.DeleteAfter.Add(-time.Second))
			maintain(t, m)
			if !hasKid(fetchJWKS(t, m), old) {
				t.Fatal("retired key left the JWKS before DeleteAfter")
			}
			c.Set(r.DeleteAfter)
			maintain(t, m)
			if hasKid(fetchJWKS(t, m), old) {
				t.Fatal("retired key still published at DeleteAfter")
			}
		})
	}
}

func TestRetireNextKey(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "EdDSA"))
	ctx := context.Background()
	cur := currentKid(t, m, "EdDSA")
	next, err := m.Rotate(ctx, "EdDSA", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Retire(ctx, next.ID); err != nil {
		t.Fatal(err)
	}
	if r := getKey(t, store, next.ID); r.State != storage.KeyRetired || r.DeleteAfter.After(c.Now()) {
		t.Fatalf("retired next key: %s delete after %v", r.State, r.DeleteAfter)
	}
	if currentKid(t, m, "EdDSA") != cur {
		t.Fatal("retiring the next key changed the current one")
	}
	maintain(t, m)
	if !keyGone(t, store, next.ID) || hasKid(fetchJWKS(t, m), next.ID) {
		t.Fatal("retired next key still there after Maintain")
	}
	if n := len(listKeys(t, store)); n != 1 {
		t.Fatalf("%d keys, want 1", n)
	}
}

func TestRetireErrors(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "EdDSA"))
	ctx := context.Background()
	old := currentKid(t, m, "EdDSA")
	if err := m.Retire(ctx, old); err != nil {
		t.Fatal(err)
	}
	before := fingerprint(listKeys(t, store))
	wantErr(t, m.Retire(ctx, old), old, "already retired")
	wantErr(t, m.Retire(ctx, "key_doesnotexist"), "key_doesnotexist", "no signing key")
	wantErr(t, m.Retire(ctx, ""), "no signing key")
	if after := fingerprint(listKeys(t, store)); after != before {
		t.Fatal("a failed Retire changed the keys")
	}
}

// hookStore is real storage that runs a hook once, right after the first
// GetSigningKey, to put another replica's change in a precise place.
type hookStore struct {
	*sqlite.DB
	mu   sync.Mutex
	hook func()
}

func (h *hookStore) GetSigningKey(ctx context.Context, id string) (*storage.SigningKey, error) {
	r, err := h.DB.GetSigningKey(ctx, id)
	h.mu.Lock()
	hook := h.hook
	h.hook = nil
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	return r, err
}

// Replica A retires a next key while replica B promotes it (B's Rotate with
// immediately, or B's scheduled Maintain). Whatever wins, a key that B
// signed with must stay published until B's tokens expire.
func TestRetireNextRacingPromotion(t *testing.T) {
	t.Parallel()
	db, c := openSQLite(t), newClock()
	store := &hookStore{DB: db}
	sealer := newSealer(t, masterKey(t))
	opts := testOptions(c, "ES256")
	a := newManager(t, store, sealer, opts)
	b := newManager(t, db, sealer, opts)
	ctx := context.Background()
	next, err := a.Rotate(ctx, "ES256", false)
	if err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	store.hook = func() {
		if _, err := b.Rotate(ctx, "ES256", true); err != nil {
			t.Errorf("b.Rotate: %v", err)
		}
	}
	store.mu.Unlock()
	if err := a.Retire(ctx, next.ID); err == nil || !strings.Contains(err.Error(), "changed state while being retired") {
		t.Fatalf("a.Retire of a key b promoted meanwhile = %v, want a conflict", err)
	}

	tokB := sign(t, b, c, "ES256", opts.MaxTokenLifetime)
	if kidOf(t, tokB) != next.ID {
		t.Fatalf("b signs with %s, want %s", kidOf(t, tokB), next.ID)
	}
	c.Advance(time.Second)
	maintain(t, a)
	maintain(t, b)
	for _, m := range []*keys.Manager{a, b} {
		if _, err := verify(fetchJWKS(t, m), tokB, "ES256", c.Now()); err != nil {
			t.Fatalf("a token b signed a second ago no longer verifies: %v (key %s: gone %v)",
				err, next.ID, keyGone(t, db, next.ID))
		}
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	ka := masterKey(t)
	m := newManager(t, store, newSealer(t, ka), testOptions(c, "EdDSA"))
	ctx := context.Background()
	v1, err := m.Secret(ctx, "code-key", 32)
	if err != nil || len(v1) != 32 {
		t.Fatalf("Secret: %x, %v", v1, err)
	}
	if bytes.Equal(v1, make([]byte, 32)) {
		t.Fatal("secret is all zero")
	}
	v2, err := m.Secret(ctx, "code-key", 32)
	if err != nil || !bytes.Equal(v1, v2) {
		t.Fatalf("second call: %x, %v; want %x", v2, err, v1)
	}
	m2 := newManager(t, store, newSealer(t, ka), testOptions(c, "EdDSA"))
	if v3, err := m2.Secret(ctx, "code-key", 32); err != nil || !bytes.Equal(v1, v3) {
		t.Fatalf("second manager: %x, %v; want %x", v3, err, v1)
	}
	other, err := m.Secret(ctx, "other", 32)
	if err != nil || bytes.Equal(other, v1) {
		t.Fatalf("another name: %x, %v", other, err)
	}
	rec, err := store.GetSecret(ctx, "code-key")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rec.ValueEncrypted, v1) {
		t.Fatal("the secret is stored in the clear")
	}
	_, err = m.Secret(ctx, "code-key", 16)
	wantErr(t, err, "code-key", "32 bytes")
	if n, _ := store.ListSecrets(ctx); len(n) != 2 {
		t.Fatalf("%d secrets stored, want 2", len(n))
	}
}

func TestSecretErrors(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	ka := masterKey(t)
	m := newManager(t, store, newSealer(t, ka), testOptions(c, "EdDSA"))
	ctx := context.Background()
	if _, err := m.Secret(ctx, "a", 32); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Secret(ctx, "b", 32); err != nil {
		t.Fatal(err)
	}

	// Sealed under another master key.
	sealerB := newSealer(t, masterKey(t))
	raw, err := store.GetSecret(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	other := &storage.Secret{Name: "c", ValueEncrypted: sealerB.Seal(make([]byte, 32), []byte("secret:c"))}
	if err := store.CreateSecret(ctx, other); err != nil {
		t.Fatal(err)
	}
	_, err = m.Secret(ctx, "c", 32)
	wantErr(t, err, "the master key does not match")
	if !errors.Is(err, keys.ErrMasterKeyMismatch) {
		t.Fatalf("err = %v, want ErrMasterKeyMismatch", err)
	}

	// a's sealed value moved to b: bound to its name, it does not open.
	b, _ := store.GetSecret(ctx, "b")
	b.ValueEncrypted = raw.ValueEncrypted
	if err := store.UpdateSecret(ctx, b); err != nil {
		t.Fatal(err)
	}
	_, err = m.Secret(ctx, "b", 32)
	wantErr(t, err, "is damaged")
	if !errors.Is(err, keys.ErrDamaged) {
		t.Fatalf("err = %v, want ErrDamaged", err)
	}

	// Truncated.
	raw.ValueEncrypted = raw.ValueEncrypted[:20]
	if err := store.UpdateSecret(ctx, raw); err != nil {
		t.Fatal(err)
	}
	_, err = m.Secret(ctx, "a", 32)
	wantErr(t, err, "is damaged")
}

func TestSecretConcurrentFirstCalls(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "usher.db")
	first := openSQLiteAt(t, path)
	stores := []keys.Store{first, openSQLiteAt(t, path), openSQLiteAt(t, path)}
	testSecretConcurrentFirstCalls(t, stores)
}

func testSecretConcurrentFirstCalls(t *testing.T, stores []keys.Store) {
	c := newClock()
	ka := masterKey(t)
	var managers []*keys.Manager
	for _, s := range stores {
		managers = append(managers, newManager(t, s, newSealer(t, ka), testOptions(c, "EdDSA")))
	}
	for round := range 3 {
		name := "secret-" + string(rune('a'+round))
		const perManager = 4
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			got   = make([][]byte, len(managers)*perManager)
			errs  = make([]error, len(got))
		)
		for i := range got {
			m := managers[i%len(managers)]
			wg.Go(func() {
				<-start
				got[i], errs[i] = m.Secret(context.Background(), name, 32)
			})
		}
		close(start)
		wg.Wait()
		for i := range got {
			if errs[i] != nil {
				t.Fatalf("%s, caller %d: %v", name, i, errs[i])
			}
			if !bytes.Equal(got[i], got[0]) {
				t.Fatalf("%s: caller %d got %x, caller 0 got %x", name, i, got[i], got[0])
			}
		}
		for _, m := range managers {
			if v, err := m.Secret(context.Background(), name, 32); err != nil || !bytes.Equal(v, got[0]) {
				t.Fatalf("%s read back: %x, %v", name, v, err)
			}
		}
	}
}

func TestRewrap(t *testing.T) {
	t.Parallel()
	testRewrap(t, openSQLite(t))
}

func testRewrap(t *testing.T, store interface {
	keys.Store
	keys.RewrapStore
}) {
	c := newClock()
	ctx := context.Background()
	ka, kb := masterKey(t), masterKey(t)
	opts := testOptions(c, allAlgs...)
	m := newManager(t, store, newSealer(t, ka), opts)
	// Keys in every state: 3 current, one retired, one next.
	if _, err := m.Rotate(ctx, "ES256", true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx, "EdDSA", false); err != nil {
		t.Fatal(err)
	}
	secretA, err := m.Secret(ctx, "code-key", 32)
	if err != nil {
		t.Fatal(err)
	}
	secretB, err := m.Secret(ctx, "cookie-key", 64)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, alg := range allAlgs {
		tokens[alg] = sign(t, m, c, alg, time.Hour)
	}
	// A JWT template's own key, and a template without one.
	tplSecret := []byte("a template's shared secret, 32 bytes or more")
	if err := store.CreateJWTTemplate(ctx, &storage.JWTTemplate{Name: "db", Claims: []byte(`{}`), Lifetime: time.Minute, Algorithm: "HS256",
		CustomKey: m.Seal(tplSecret, keys.TemplateKeyPurpose("db"))}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateJWTTemplate(ctx, &storage.JWTTemplate{Name: "plain", Claims: []byte(`{}`), Lifetime: time.Minute, Algorithm: "RS256"}); err != nil {
		t.Fatal(err)
	}
	connSecret := []byte("an upstream client secret")
	conn := &storage.Connection{ID: storage.NewID(storage.PrefixConnection), Slug: "acme", Type: storage.ConnectionOIDC}
	conn.ClientSecret = m.Seal(connSecret, keys.ConnectionSecretPurpose(conn.ID))
	if err := store.CreateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	before := listKeys(t, store)

	// During the change of master key: the new key seals, the old opens.
	sAB := newSealer(t, kb, ka)
	newManager(t, store, sAB, opts)
	n, err := keys.Rewrap(ctx, store, sAB)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if n != len(before)+4 {
		t.Fatalf("Rewrap re-sealed %d, want %d keys + 2 secrets + 1 template key + 1 connection secret", n, len(before))
	}
	after := listKeys(t, store)
	if len(after) != len(before) {
		t.Fatalf("Rewrap changed the number of keys: %d -> %d", len(before), len(after))
	}
	for i, r := range after {
		b := before[i]
		if r.ID != b.ID || r.State != b.State || !r.ActivatedAt.Equal(b.ActivatedAt) || !r.RetiredAt.Equal(b.RetiredAt) ||
			!r.DeleteAfter.Equal(b.DeleteAfter) || string(r.PublicKeyJWK) != string(b.PublicKeyJWK) {
			t.Errorf("Rewrap changed more than the sealed private key of %s", r.ID)
		}
		if bytes.Equal(r.PrivateKeyEncrypted, b.PrivateKeyEncrypted) {
			t.Errorf("%s not re-sealed", r.ID)
		}
	}

	// The old key is no longer needed.
	mb := newManager(t, store, newSealer(t, kb), opts)
	if v, err := mb.Secret(ctx, "code-key", 32); err != nil || !bytes.Equal(v, secretA) {
		t.Fatalf("Secret after rewrap: %x, %v; want %x", v, err, secretA)
	}
	if v, err := mb.Secret(ctx, "cookie-key", 64); err != nil || !bytes.Equal(v, secretB) {
		t.Fatalf("Secret after rewrap: %x, %v; want %x", v, err, secretB)
	}
	tpl, err := store.GetJWTTemplateByName(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := mb.Open(tpl.CustomKey, keys.TemplateKeyPurpose("db")); err != nil || !bytes.Equal(v, tplSecret) {
		t.Fatalf("template key after rewrap: %q, %v", v, err)
	}
	gotConn, err := store.GetConnection(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := mb.Open(gotConn.ClientSecret, keys.ConnectionSecretPurpose(conn.ID)); err != nil || !bytes.Equal(v, connSecret) {
		t.Fatalf("connection secret after rewrap: %q, %v", v, err)
	}
	set := fetchJWKS(t, mb)
	for _, alg := range allAlgs {
		if currentKid(t, mb, alg) != currentKid(t, m, alg) {
			t.Errorf("%s: current key changed by rewrap", alg)
		}
		mustVerify(t, set, tokens[alg], alg, c.Now())
		mustVerify(t, fetchJWKS(t, m), sign(t, mb, c, alg, time.Hour), alg, c.Now())
	}

	if n, err := keys.Rewrap(ctx, store, sAB); err != nil || n != 0 {
		t.Fatalf("second Rewrap: %d, %v; want 0", n, err)
	}
	if n, err := keys.Rewrap(ctx, store, newSealer(t, kb)); err != nil || n != 0 {
		t.Fatalf("Rewrap with only the new key: %d, %v; want 0", n, err)
	}

	// The old master key alone no longer opens anything.
	_, err = keys.New(ctx, store, newSealer(t, ka), opts)
	wantErr(t, err, "the master key does not match")
	// A master key that never sealed anything: Rewrap refuses, changes nothing.
	n, err = keys.Rewrap(ctx, store, newSealer(t, masterKey(t), masterKey(t)))
	if !errors.Is(err, keys.ErrMasterKeyMismatch) || n != 0 {
		t.Fatalf("Rewrap with unrelated keys: %d, %v; want 0 and ErrMasterKeyMismatch", n, err)
	}
	if fingerprint(listKeys(t, store)) != fingerprint(after) {
		t.Fatal("a failed Rewrap changed keys")
	}
}
