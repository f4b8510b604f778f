package keys_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
)

func TestNewCreatesOneCurrentKeyPerAlgorithm(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, allAlgs...))

	if got := m.DefaultAlgorithm(); got != "RS256" {
		t.Fatalf("DefaultAlgorithm = %s, want the first configured, RS256", got)
	}
	recs := listKeys(t, store)
	if len(recs) != 3 {
		t.Fatalf("%d keys stored, want 3", len(recs))
	}
	set := fetchJWKS(t, m)
	for _, alg := range allAlgs {
		cur := byState(recs, alg, storage.KeyCurrent)
		if len(cur) != 1 {
			t.Fatalf("%s: %d current keys", alg, len(cur))
		}
		r := cur[0]
		if !r.CreatedAt.Equal(epoch) || !r.ActivatedAt.Equal(epoch) {
			t.Errorf("%s: created %v activated %v, want the injected clock %v", alg, r.CreatedAt, r.ActivatedAt, epoch)
		}
		k, err := m.Current(alg)
		if err != nil {
			t.Fatalf("Current(%s): %v", alg, err)
		}
		if k.ID() != r.ID || string(k.SignatureAlgorithm()) != alg {
			t.Errorf("Current(%s) = %s/%s, want %s/%s", alg, k.ID(), k.SignatureAlgorithm(), r.ID, alg)
		}
		if !strings.HasPrefix(k.ID(), storage.PrefixSigningKey) {
			t.Errorf("kid %s lacks the %q prefix", k.ID(), storage.PrefixSigningKey)
		}
		if bytes.Contains(r.PrivateKeyEncrypted, []byte("PRIVATE")) || len(r.PrivateKeyEncrypted) < 32 {
			t.Errorf("%s: the stored private key does not look sealed", alg)
		}
		if !hasKid(set, r.ID) {
			t.Errorf("%s: kid %s is not in the JWKS", alg, r.ID)
		}
		switch priv := k.Key().(type) {
		case *rsa.PrivateKey:
			if alg != "RS256" || priv.N.BitLen() != 2048 {
				t.Errorf("%s: RSA key of %d bits", alg, priv.N.BitLen())
			}
		case *ecdsa.PrivateKey:
			if alg != "ES256" || priv.Curve != elliptic.P256() {
				t.Errorf("%s: ECDSA key on %v", alg, priv.Curve.Params().Name)
			}
		case ed25519.PrivateKey:
			if alg != "EdDSA" {
				t.Errorf("%s: Ed25519 key", alg)
			}
		default:
			t.Errorf("%s: private key is a %T", alg, priv)
		}
	}
	if len(set.Keys) != 3 {
		t.Fatalf("JWKS has %d keys, want 3", len(set.Keys))
	}
}

func TestDefaultAlgorithmIsRS256(t *testing.T) {
	t.Parallel()
	store := openSQLite(t)
	m := newManager(t, store, newSealer(t, masterKey(t)), keys.Options{Now: newClock().Now})
	if got := m.DefaultAlgorithm(); got != "RS256" {
		t.Fatalf("DefaultAlgorithm = %s", got)
	}
	k, err := m.Current("RS256")
	if err != nil {
		t.Fatal(err)
	}
	if bits := k.Key().(*rsa.PrivateKey).N.BitLen(); bits != 2048 {
		t.Fatalf("default RSA key has %d bits, want 2048", bits)
	}
	for _, alg := range []string{"ES256", "EdDSA"} {
		if _, err := m.Current(alg); !errors.Is(err, keys.ErrNoActiveKey) {
			t.Errorf("Current(%s) without configuring it: err = %v", alg, err)
		}
	}
	if n := len(listKeys(t, store)); n != 1 {
		t.Fatalf("%d keys stored, want 1", n)
	}
}

func TestNewReusesExistingKeys(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	sealer := newSealer(t, masterKey(t))
	a := newManager(t, store, sealer, testOptions(c, allAlgs...))
	c.Advance(time.Hour)
	b := newManager(t, store, sealer, testOptions(c, allAlgs...))
	for _, alg := range allAlgs {
		if ka, kb := currentKid(t, a, alg), currentKid(t, b, alg); ka != kb {
			t.Errorf("%s: second manager signs with %s, first with %s", alg, kb, ka)
		}
		tok := sign(t, b, c, alg, time.Hour)
		mustVerify(t, fetchJWKS(t, a), tok, alg, c.Now())
	}
	if n := len(listKeys(t, store)); n != 3 {
		t.Fatalf("%d keys stored after a second New, want 3", n)
	}
}

func TestSignVerifiesWithJWKS(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, allAlgs...))
	set := fetchJWKS(t, m)
	for _, alg := range allAlgs {
		tok := sign(t, m, c, alg, 30*time.Minute)
		if strings.Count(tok, ".") != 2 {
			t.Fatalf("%s: %q is not a compact JWS", alg, tok)
		}
		if kid := mustVerify(t, set, tok, alg, c.Now()); kid != currentKid(t, m, alg) {
			t.Errorf("%s: token kid %s, current %s", alg, kid, currentKid(t, m, alg))
		}
		// A consumer insisting on another algorithm refuses it.
		other := "ES256"
		if alg == other {
			other = "RS256"
		}
		if _, err := verify(set, tok, other, c.Now()); err == nil {
			t.Errorf("%s token accepted as %s", alg, other)
		}
		// A tampered payload does not verify.
		parts := strings.Split(tok, ".")
		parts[1] = parts[1][:len(parts[1])-2] + "AA"
		if _, err := verify(set, strings.Join(parts, "."), alg, c.Now()); err == nil {
			t.Errorf("%s: tampered token verifies", alg)
		}
	}
}

func TestSignLifetimeTooLong(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	opts := testOptions(c, "ES256")
	m := newManager(t, store, newSealer(t, masterKey(t)), opts)
	now := c.Now()
	limit := now.Add(opts.MaxTokenLifetime)
	if _, err := m.Sign("ES256", claims(now, limit), limit); err != nil {
		t.Fatalf("Sign at exactly MaxTokenLifetime: %v", err)
	}
	_, err := m.Sign("ES256", claims(now, limit.Add(time.Second)), limit.Add(time.Second))
	if !errors.Is(err, keys.ErrLifetimeTooLong) {
		t.Fatalf("Sign one second beyond MaxTokenLifetime: err = %v, want ErrLifetimeTooLong", err)
	}
	// The limit follows the injected clock.
	c.Advance(time.Minute)
	if _, err := m.Sign("ES256", claims(now, limit.Add(time.Second)), limit.Add(time.Second)); err != nil {
		t.Fatalf("Sign within the limit after the clock moved: %v", err)
	}
}

func TestSignNoActiveKey(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "EdDSA"))
	exp := c.Now().Add(time.Minute)
	for _, alg := range []string{"RS256", "ES256", "HS256", "none", ""} {
		if _, err := m.Sign(alg, claims(c.Now(), exp), exp); !errors.Is(err, keys.ErrNoActiveKey) {
			t.Errorf("Sign(%q): err = %v, want ErrNoActiveKey", alg, err)
		}
		if _, err := m.Current(alg); !errors.Is(err, keys.ErrNoActiveKey) {
			t.Errorf("Current(%q): err = %v, want ErrNoActiveKey", alg, err)
		}
	}
}

func TestUnknownAlgorithmInOptions(t *testing.T) {
	t.Parallel()
	store := openSQLite(t)
	sealer := newSealer(t, masterKey(t))
	for _, algs := range [][]string{{"HS256"}, {"none"}, {"PS256"}, {"RS256", "es256"}, {""}} {
		_, err := keys.New(context.Background(), store, sealer, keys.Options{Algorithms: algs})
		wantErr(t, err, "unknown signing algorithm")
	}
	if n := len(listKeys(t, store)); n != 0 {
		t.Fatalf("%d keys created despite the bad options", n)
	}
}

func TestWrongMasterKey(t *testing.T) {
	t.Parallel()
	testWrongMasterKey(t, openSQLite(t))
}

func testWrongMasterKey(t *testing.T, store keys.Store) {
	c := newClock()
	ka := masterKey(t)
	newManager(t, store, newSealer(t, ka), testOptions(c, allAlgs...))
	before := listKeys(t, store)

	c.Advance(time.Minute)
	_, err := keys.New(context.Background(), store, newSealer(t, masterKey(t)), testOptions(c, allAlgs...))
	wantErr(t, err, "cannot decrypt signing keys: the master key does not match")
	if !errors.Is(err, keys.ErrMasterKeyMismatch) {
		t.Errorf("err = %v, want it to wrap ErrMasterKeyMismatch", err)
	}
	if errors.Is(err, keys.ErrDamaged) {
		t.Errorf("a wrong master key is reported as damage: %v", err)
	}
	// Nothing was regenerated or changed.
	after := listKeys(t, store)
	if fingerprint(before) != fingerprint(after) {
		t.Fatalf("keys changed after a failed start:\nbefore %s\nafter  %s", fingerprint(before), fingerprint(after))
	}
	// The right key still works.
	newManager(t, store, newSealer(t, ka), testOptions(c, allAlgs...))
}

func fingerprint(recs []*storage.SigningKey) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%s:%s:%x;", r.ID, r.State, r.PrivateKeyEncrypted)
	}
	return b.String()
}

func TestDamagedPrivateKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"TruncatedHalf", func(b []byte) []byte { return b[:len(b)/2] }},
		{"TruncatedShort", func(b []byte) []byte { return b[:5] }},
		{"LastByteFlipped", func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-1] ^= 1; return b }},
		{"WrongVersion", func(b []byte) []byte { b = bytes.Clone(b); b[0] = 9; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, c := openSQLite(t), newClock()
			sealer := newSealer(t, masterKey(t))
			m := newManager(t, store, sealer, testOptions(c, "ES256", "EdDSA"))
			kid := currentKid(t, m, "EdDSA")
			r := getKey(t, store, kid)
			r.PrivateKeyEncrypted = tc.damage(r.PrivateKeyEncrypted)
			if err := store.UpdateSigningKey(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			_, err := keys.New(context.Background(), store, sealer, testOptions(c, "ES256", "EdDSA"))
			wantErr(t, err, kid, "is damaged")
			if errors.Is(err, keys.ErrMasterKeyMismatch) {
				t.Fatalf("damage reported as a wrong master key: %v", err)
			}
		})
	}
}

// A private key moved to another row does not open there: the seal is
// bound to the kid.
func TestPrivateKeyBoundToItsRow(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	sealer := newSealer(t, masterKey(t))
	m := newManager(t, store, sealer, testOptions(c, "ES256", "EdDSA"))
	es := getKey(t, store, currentKid(t, m, "ES256"))
	ed := getKey(t, store, currentKid(t, m, "EdDSA"))
	ed.PrivateKeyEncrypted = es.PrivateKeyEncrypted
	if err := store.UpdateSigningKey(context.Background(), ed); err != nil {
		t.Fatal(err)
	}
	_, err := keys.New(context.Background(), store, sealer, testOptions(c, "ES256", "EdDSA"))
	wantErr(t, err, ed.ID, "is damaged")
}

func TestDamagedNextKey(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	sealer := newSealer(t, masterKey(t))
	m := newManager(t, store, sealer, testOptions(c, "EdDSA"))
	next, err := m.Rotate(context.Background(), "EdDSA", false)
	if err != nil {
		t.Fatal(err)
	}
	next.PrivateKeyEncrypted = next.PrivateKeyEncrypted[:40]
	if err := store.UpdateSigningKey(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	_, err = keys.New(context.Background(), store, sealer, testOptions(c, "EdDSA"))
	wantErr(t, err, next.ID, "is damaged")
}

func TestDamagedPublicJWK(t *testing.T) {
	t.Parallel()
	privateJWK := func(t *testing.T) json.RawMessage {
		_, priv, _ := ed25519.GenerateKey(nil)
		b, err := jose.JSONWebKey{Key: priv, KeyID: "x", Algorithm: "EdDSA", Use: "sig"}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		jwk  func(t *testing.T, kid string) json.RawMessage
	}{
		{"NotJSON", func(*testing.T, string) json.RawMessage { return json.RawMessage(`{"kty":"OKP","crv":`) }},
		{"NoKeyMaterial", func(*testing.T, string) json.RawMessage { return json.RawMessage(`{"kty":"RSA","kid":"x"}`) }},
		{"PrivateKeyInPublicColumn", func(t *testing.T, kid string) json.RawMessage {
			return bytes.Replace(privateJWK(t), []byte(`"kid":"x"`), []byte(`"kid":"`+kid+`"`), 1)
		}},
		{"OtherKid", func(*testing.T, string) json.RawMessage {
			_, priv, _ := ed25519.GenerateKey(nil)
			b, _ := jose.JSONWebKey{Key: priv.Public(), KeyID: "key_other", Algorithm: "EdDSA", Use: "sig"}.MarshalJSON()
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, c := openSQLite(t), newClock()
			sealer := newSealer(t, masterKey(t))
			newManager(t, store, sealer, testOptions(c, "EdDSA"))
			kid := storage.NewID(storage.PrefixSigningKey)
			now := c.Now()
			bad := &storage.SigningKey{
				ID: kid, Algorithm: "EdDSA", State: storage.KeyRetired,
				PrivateKeyEncrypted: sealer.Seal([]byte("unused"), []byte(kid)),
				PublicKeyJWK:        tc.jwk(t, kid),
				CreatedAt:           now.Add(-time.Hour), ActivatedAt: now.Add(-time.Hour),
				RetiredAt: now, DeleteAfter: now.Add(time.Hour),
			}
			if err := store.CreateSigningKey(context.Background(), bad); err != nil {
				t.Fatal(err)
			}
			_, err := keys.New(context.Background(), store, sealer, testOptions(c, "EdDSA"))
			wantErr(t, err, kid, "is damaged")
		})
	}
}

// Signing uses the keys in memory: with the database gone, signing and the
// JWKS go on; only maintenance fails.
func TestSigningDoesNotReadStore(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, allAlgs...))
	set := fetchJWKS(t, m)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Maintain(context.Background()); err == nil {
		t.Fatal("Maintain on a closed store: no error")
	}
	for _, alg := range allAlgs {
		mustVerify(t, set, sign(t, m, c, alg, time.Hour), alg, c.Now())
	}
	if w := serve(m, "GET"); w.Code != 200 || w.Body.Len() == 0 {
		t.Fatalf("JWKS after the store closed: %d", w.Code)
	}
}

func TestMaintainWithoutChangesKeepsKeys(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "ES256", "EdDSA"))
	before := fingerprint(listKeys(t, store))
	etag := serve(m, "GET").Header().Get("ETag")
	for range 5 {
		c.Advance(time.Hour)
		maintain(t, m)
	}
	if after := fingerprint(listKeys(t, store)); after != before {
		t.Fatalf("keys changed by Maintain without a reason:\n%s\n%s", before, after)
	}
	if got := serve(m, "GET").Header().Get("ETag"); got != etag {
		t.Fatalf("ETag changed from %s to %s without a key change", etag, got)
	}
}

func TestScheduledRotation(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	opts := keys.Options{
		Algorithms:       allAlgs,
		RotationPeriod:   48 * time.Hour,
		JWKSMaxAge:       15 * time.Minute,
		RefreshInterval:  30 * time.Second,
		MaxTokenLifetime: 24 * time.Hour,
		Now:              c.Now,
	}
	ahead := publishAhead(opts)
	m := newManager(t, store, newSealer(t, masterKey(t)), opts)
	t0 := c.Now()
	first := map[string]string{}
	for _, alg := range allAlgs {
		first[alg] = currentKid(t, m, alg)
	}
	before := map[string]string{} // alg -> token signed with the first key

	// One second before the next key is due: nothing changes.
	c.Set(t0.Add(opts.RotationPeriod - ahead - time.Second))
	maintain(t, m)
	if n := len(listKeys(t, store)); n != 3 {
		t.Fatalf("%d keys before the next keys are due, want 3", n)
	}

	// Due: a next key per algorithm, published, not signing.
	c.Set(t0.Add(opts.RotationPeriod - ahead))
	maintain(t, m)
	created := c.Now()
	recs := listKeys(t, store)
	set := fetchJWKS(t, m)
	next := map[string]string{}
	for _, alg := range allAlgs {
		n := byState(recs, alg, storage.KeyNext)
		if len(n) != 1 {
			t.Fatalf("%s: %d next keys, want 1", alg, len(n))
		}
		next[alg] = n[0].ID
		if !hasKid(set, n[0].ID) {
			t.Errorf("%s: next key %s is not published", alg, n[0].ID)
		}
		if !n[0].ActivatedAt.IsZero() {
			t.Errorf("%s: next key has ActivatedAt %v", alg, n[0].ActivatedAt)
		}
		tok := sign(t, m, c, alg, time.Hour)
		if kid := mustVerify(t, set, tok, alg, c.Now()); kid != first[alg] {
			t.Errorf("%s: signed with %s while the next key is not yet due, want %s", alg, kid, first[alg])
		}
		before[alg] = tok
	}

	// Published for one second less than the JWKS cache lifetime plus the
	// refresh interval: still not signing.
	c.Set(created.Add(ahead - time.Second))
	maintain(t, m)
	for _, alg := range allAlgs {
		if kid := currentKid(t, m, alg); kid != first[alg] {
			t.Fatalf("%s: next key promoted after %v, before publishAhead %v", alg, ahead-time.Second, ahead)
		}
	}

	// Published long enough: it signs; the old key is retired but published.
	c.Set(created.Add(ahead))
	maintain(t, m)
	set = fetchJWKS(t, m)
	recs = listKeys(t, store)
	for _, alg := range allAlgs {
		if kid := currentKid(t, m, alg); kid != next[alg] {
			t.Fatalf("%s: current %s after publishAhead, want the next key %s", alg, kid, next[alg])
		}
		old := getKey(t, store, first[alg])
		if old.State != storage.KeyRetired || !old.RetiredAt.Equal(c.Now()) || !old.DeleteAfter.Equal(c.Now().Add(retention(opts))) {
			t.Errorf("%s: old key state %s retired %v delete after %v", alg, old.State, old.RetiredAt, old.DeleteAfter)
		}
		if cur := getKey(t, store, next[alg]); !cur.ActivatedAt.Equal(c.Now()) {
			t.Errorf("%s: new key activated %v, want %v", alg, cur.ActivatedAt, c.Now())
		}
		if len(byState(recs, alg, storage.KeyCurrent)) != 1 {
			t.Errorf("%s: not exactly one current key", alg)
		}
		mustVerify(t, set, before[alg], alg, c.Now())
		if kid := mustVerify(t, set, sign(t, m, c, alg, time.Hour), alg, c.Now()); kid != next[alg] {
			t.Errorf("%s: new token kid %s", alg, kid)
		}
	}
	if len(set.Keys) != 6 {
		t.Fatalf("JWKS has %d keys after rotation, want 6 (3 current, 3 retired)", len(set.Keys))
	}

	// The next rotation follows from the new key's activation.
	activated := c.Now()
	c.Set(activated.Add(opts.RotationPeriod - ahead - time.Second))
	maintain(t, m)
	if n := len(byState(listKeys(t, store), "RS256", storage.KeyNext)); n != 0 {
		t.Fatalf("a next key created %v after activation", opts.RotationPeriod-ahead-time.Second)
	}
	c.Set(activated.Add(opts.RotationPeriod - ahead))
	maintain(t, m)
	if n := len(byState(listKeys(t, store), "RS256", storage.KeyNext)); n != 1 {
		t.Fatalf("%d next keys when the second rotation is due", n)
	}
}

// TestRotationOverManyPeriods walks the clock through several rotation
// periods in steps, signing at every step, and checks at every step that
// every unexpired token verifies against the JWKS, that a key signs only
// after it has been published for publishAhead, and that the JWKS stays
// small.
func TestRotationOverManyPeriods(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	opts := keys.Options{
		Algorithms:       allAlgs,
		RotationPeriod:   48 * time.Hour,
		JWKSMaxAge:       15 * time.Minute,
		RefreshInterval:  30 * time.Second,
		MaxTokenLifetime: 24 * time.Hour,
		Now:              c.Now,
	}
	m := newManager(t, store, newSealer(t, masterKey(t)), opts)
	type token struct {
		alg, jws string
		exp      time.Time
	}
	var live []token
	firstSeen := map[string]time.Time{}
	used := map[string]bool{}
	const step = 2 * time.Hour
	for i := range int(4 * opts.RotationPeriod / step) {
		if i > 0 {
			c.Advance(step)
			maintain(t, m)
		}
		now := c.Now()
		set := fetchJWKS(t, m)
		for _, k := range set.Keys {
			if _, ok := firstSeen[k.KeyID]; !ok {
				firstSeen[k.KeyID] = now
			}
		}
		if len(set.Keys) > 3*len(allAlgs) {
			t.Fatalf("step %d: JWKS has %d keys", i, len(set.Keys))
		}
		for _, alg := range allAlgs {
			tok := sign(t, m, c, alg, opts.MaxTokenLifetime)
			kid := kidOf(t, tok)
			if i > 0 && now.Sub(firstSeen[kid]) < publishAhead(opts) {
				t.Fatalf("step %d: %s signed with %s, published only %v ago", i, alg, kid, now.Sub(firstSeen[kid]))
			}
			used[kid] = true
			live = append(live, token{alg, tok, now.Add(opts.MaxTokenLifetime)})
		}
		live = slices.DeleteFunc(live, func(tk token) bool { return !now.Before(tk.exp) })
		for _, tk := range live {
			if _, err := verify(set, tk.jws, tk.alg, now); err != nil {
				t.Fatalf("step %d (%v): a token expiring at %v does not verify: %v", i, now.Sub(epoch), tk.exp, err)
			}
		}
		recs := listKeys(t, store)
		for _, alg := range allAlgs {
			if n := len(byState(recs, alg, storage.KeyCurrent)); n != 1 {
				t.Fatalf("step %d: %s has %d current keys", i, alg, n)
			}
		}
	}
	// Three full rotations at least, per algorithm.
	if len(used) < 3*4 {
		t.Fatalf("only %d keys signed over four rotation periods", len(used))
	}
}

// TestRetiredKeyKeptUntilLastTokenExpires follows one key from retirement to
// deletion, with a second manager that sees the retirement one refresh
// interval late and signs with the old key meanwhile.
func TestRetiredKeyKeptUntilLastTokenExpires(t *testing.T) {
	t.Parallel()
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			store, c := openSQLite(t), newClock()
			opts := testOptions(c, alg)
			sealer := newSealer(t, masterKey(t))
			a := newManager(t, store, sealer, opts)
			b := newManager(t, store, sealer, opts)
			old := currentKid(t, a, alg)
			tokBefore := sign(t, a, c, alg, opts.MaxTokenLifetime)

			c.Advance(10 * time.Minute)
			rec, err := a.Rotate(context.Background(), alg, true)
			if err != nil {
				t.Fatal(err)
			}
			retired := c.Now()
			deleteAfter := retired.Add(opts.MaxTokenLifetime + opts.RefreshInterval + 5*time.Minute)
			r := getKey(t, store, old)
			if r.State != storage.KeyRetired || !r.RetiredAt.Equal(retired) || !r.DeleteAfter.Equal(deleteAfter) {
				t.Fatalf("retired key: state %s retired %v delete after %v, want retired %v delete after %v",
					r.State, r.RetiredAt, r.DeleteAfter, retired, deleteAfter)
			}

			// b has not reloaded yet: for one refresh interval it still
			// signs with the retired key, for the longest lifetime.
			c.Advance(opts.RefreshInterval)
			tokStale := sign(t, b, c, alg, opts.MaxTokenLifetime)
			if kid := kidOf(t, tokStale); kid != old {
				t.Fatalf("b signed with %s before reloading, want %s", kid, old)
			}
			staleExp := c.Now().Add(opts.MaxTokenLifetime)
			maintain(t, b)
			tokAfter := sign(t, b, c, alg, opts.MaxTokenLifetime)
			if kid := kidOf(t, tokAfter); kid != rec.ID {
				t.Fatalf("b signs with %s after Maintain, want %s", kid, rec.ID)
			}
			for _, m := range []*keys.Manager{a, b} {
				set := fetchJWKS(t, m)
				for _, tok := range []string{tokBefore, tokStale, tokAfter, sign(t, a, c, alg, time.Minute)} {
					mustVerify(t, set, tok, alg, c.Now())
				}
			}

			// Just before DeleteAfter: still published, and the stale
			// token is still valid and verifies.
			c.Set(deleteAfter.Add(-time.Second))
			maintain(t, a)
			maintain(t, b)
			if !staleExp.Before(deleteAfter) {
				t.Fatalf("the last token of the retired key expires at %v, after DeleteAfter %v", staleExp, deleteAfter)
			}
			for _, m := range []*keys.Manager{a, b} {
				set := fetchJWKS(t, m)
				if !hasKid(set, old) {
					t.Fatalf("retired key left the JWKS 1s before DeleteAfter")
				}
				mustVerify(t, set, tokStale, alg, staleExp.Add(-time.Second))
			}

			// At DeleteAfter: gone from the store and from both JWKS.
			c.Set(deleteAfter)
			maintain(t, a)
			if !keyGone(t, store, old) {
				t.Fatal("retired key still stored after DeleteAfter")
			}
			maintain(t, b)
			for _, m := range []*keys.Manager{a, b} {
				set := fetchJWKS(t, m)
				if hasKid(set, old) {
					t.Fatal("retired key still published after DeleteAfter")
				}
				if len(set.Keys) != 1 {
					t.Fatalf("JWKS has %v", jwksKids(set))
				}
				mustVerify(t, set, sign(t, m, c, alg, time.Hour), alg, c.Now())
			}
		})
	}
}

func TestRemovedAlgorithmIsRetired(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	sealer := newSealer(t, masterKey(t))
	optsRS := testOptions(c, "RS256")
	rs := newManager(t, store, sealer, optsRS)
	rsKid := currentKid(t, rs, "RS256")
	next, err := rs.Rotate(context.Background(), "RS256", false)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, rs, c, "RS256", optsRS.MaxTokenLifetime)

	c.Advance(time.Minute)
	es := newManager(t, store, sealer, testOptions(c, "ES256"))
	if _, err := es.Current("RS256"); !errors.Is(err, keys.ErrNoActiveKey) {
		t.Fatalf("RS256 still current on a manager configured with ES256 only: %v", err)
	}
	now := c.Now()
	r := getKey(t, store, rsKid)
	if r.State != storage.KeyRetired || !r.DeleteAfter.Equal(now.Add(retention(optsRS))) {
		t.Fatalf("RS256 key: state %s delete after %v", r.State, r.DeleteAfter)
	}
	n := getKey(t, store, next.ID)
	if n.State != storage.KeyRetired || n.DeleteAfter.After(now) {
		t.Fatalf("RS256 next key (never signed): state %s delete after %v, want retired at once", n.State, n.DeleteAfter)
	}
	set := fetchJWKS(t, es)
	mustVerify(t, set, tok, "RS256", now)
	mustVerify(t, set, sign(t, es, c, "ES256", time.Hour), "ES256", now)

	// The unused next key goes at the next maintenance; the retired
	// current key stays until its DeleteAfter.
	maintain(t, es)
	if !keyGone(t, store, next.ID) {
		t.Fatal("retired next key not deleted")
	}
	c.Set(r.DeleteAfter.Add(-time.Second))
	maintain(t, es)
	if !hasKid(fetchJWKS(t, es), rsKid) {
		t.Fatal("retired RS256 key left the JWKS before DeleteAfter")
	}
	c.Set(r.DeleteAfter)
	maintain(t, es)
	set = fetchJWKS(t, es)
	if hasKid(set, rsKid) || len(set.Keys) != 1 {
		t.Fatalf("JWKS after DeleteAfter: %v", jwksKids(set))
	}
}

// Signing, JWKS requests and rotations at once: for the race detector, and
// every token verifies afterwards.
func TestConcurrentSignDuringRotation(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "ES256", "EdDSA"))
	ctx := context.Background()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens = map[string][]string{}
		stop   = make(chan struct{})
		errs   = make(chan error, 8)
	)
	for g := range 4 {
		alg := []string{"ES256", "EdDSA"}[g%2]
		wg.Go(func() {
			for range 200 {
				select {
				case <-stop:
					return
				default:
				}
				exp := c.Now().Add(time.Minute)
				tok, err := m.Sign(alg, claims(c.Now(), exp), exp)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				tokens[alg] = append(tokens[alg], tok)
				mu.Unlock()
				if w := serve(m, "GET"); w.Code != 200 {
					errs <- fmt.Errorf("JWKS status %d", w.Code)
					return
				}
				_ = m.PublicKeys()
			}
		})
	}
	for i := range 6 {
		alg := []string{"ES256", "EdDSA"}[i%2]
		if _, err := m.Rotate(ctx, alg, i%4 < 2); err != nil {
			t.Error(err)
		}
		maintain(t, m)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	set := fetchJWKS(t, m)
	for alg, toks := range tokens {
		for _, tok := range toks {
			mustVerify(t, set, tok, alg, c.Now())
		}
	}
}

// logRecorder is a slog handler keeping messages, for Run's error report.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }
func (l *logRecorder) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.msgs, msg)
}

func TestRunStopsWhenContextCancelled(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	opts := testOptions(c, "EdDSA")
	opts.RefreshInterval = 10 * time.Millisecond
	m := newManager(t, store, newSealer(t, masterKey(t)), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestRunPicksUpRotation(t *testing.T) {
	t.Parallel()
	store := openSQLite(t)
	testRunPicksUpRotation(t, store, store)
}

func testRunPicksUpRotation(t *testing.T, storeA, storeB keys.Store) {
	c := newClock()
	sealer := newSealer(t, masterKey(t))
	opts := testOptions(c, "ES256")
	opts.RefreshInterval = 10 * time.Millisecond
	a := newManager(t, storeA, sealer, opts)
	b := newManager(t, storeB, sealer, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	defer func() {
		cancel()
		<-done
	}()
	rec, err := a.Rotate(context.Background(), "ES256", true)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other manager to sign with the rotated key", func() bool {
		k, err := b.Current("ES256")
		return err == nil && k.ID() == rec.ID
	})
	mustVerify(t, fetchJWKS(t, a), sign(t, b, c, "ES256", time.Hour), "ES256", c.Now())
}

func TestRunLogsFailedMaintenanceAndKeepsSigning(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	logs := &logRecorder{}
	opts := testOptions(c, "EdDSA")
	opts.RefreshInterval = 10 * time.Millisecond
	opts.Log = slog.New(logs)
	m := newManager(t, store, newSealer(t, masterKey(t)), opts)
	set := fetchJWKS(t, m)
	_ = store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	waitFor(t, "the failed maintenance to be logged", func() bool { return logs.has("signing key maintenance failed") })
	mustVerify(t, set, sign(t, m, c, "EdDSA", time.Hour), "EdDSA", c.Now())
	cancel()
	<-done
}

// A sealed value opens only for its purpose and under its master key.
func TestSealOpen(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "ES256"))
	sealed := m.Seal([]byte("shared secret"), "template:db")
	if bytes.Contains(sealed, []byte("shared secret")) {
		t.Fatal("the sealed value holds the plaintext")
	}
	got, err := m.Open(sealed, "template:db")
	if err != nil || string(got) != "shared secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := m.Open(sealed, "template:other"); err == nil {
		t.Fatal("a sealed value opened for another purpose")
	}
	other := newManager(t, openSQLite(t), newSealer(t, masterKey(t)), testOptions(c, "ES256"))
	if _, err := other.Open(sealed, "template:db"); err == nil {
		t.Fatal("a sealed value opened under another master key")
	}
}
