package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage/sqlite"
)

// tokenKeysFixture is a key manager on its own database, with a clock the
// test moves.
type tokenKeysFixture struct {
	m    *keys.Manager
	now  time.Time
	path string
}

func newTokenKeysFixture(t *testing.T) *tokenKeysFixture {
	t.Helper()
	f := &tokenKeysFixture{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), path: filepath.Join(t.TempDir(), "usher.db")}
	f.m = f.replica(t)
	return f
}

// replica is another key manager on the fixture's database and clock: a
// second replica. Its waits for a new key to be published pass at once.
func (f *tokenKeysFixture) replica(t *testing.T) *keys.Manager {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, f.path, sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sealer, err := keys.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.New(ctx, db, sealer, keys.Options{Algorithms: []string{"ES256"}, Now: func() time.Time { return f.now },
		Wait: func(_ context.Context, d time.Duration) error { f.now = f.now.Add(d); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *tokenKeysFixture) sign(t *testing.T, payload string) string {
	t.Helper()
	tok, err := f.m.Sign("ES256", []byte(payload), f.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func verifyWith(a *accessTokenKeys, tok string) ([]byte, error) {
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		return nil, err
	}
	return a.VerifySignature(context.Background(), jws)
}

func TestAccessTokenKeysRemembersOnlyTheExactToken(t *testing.T) {
	f := newTokenKeysFixture(t)
	a := newAccessTokenKeys(f.m, func() time.Time { return f.now })
	tok := f.sign(t, `{"sub":"u1"}`)
	for range 2 {
		got, err := verifyWith(a, tok)
		if err != nil || string(got) != `{"sub":"u1"}` {
			t.Fatalf("verify = %q, %v", got, err)
		}
	}
	if len(a.verified) != 1 {
		t.Fatalf("%d tokens remembered, want 1", len(a.verified))
	}

	parts := strings.Split(tok, ".")
	other := strings.Split(f.sign(t, `{"sub":"u2"}`), ".")
	forgeries := map[string]string{
		"another payload under the remembered signature": parts[0] + "." + other[1] + "." + parts[2],
		"another signature on the remembered payload":    parts[0] + "." + parts[1] + "." + other[2],
	}
	for name, forged := range forgeries {
		if _, err := verifyWith(a, forged); err == nil {
			t.Errorf("%s verified", name)
		}
	}

	// A key of the attacker's, announced with a published kid.
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := f.m.PublicKeys()[0].KeyID
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"sub":"u1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifySignature(context.Background(), jws); err == nil {
		t.Error("a token signed by an unpublished key verified under a published kid")
	}
}

func TestAccessTokenKeysForgetsUnpublishedKeys(t *testing.T) {
	f := newTokenKeysFixture(t)
	// The memory's clock stands still, so its verdict stays fresh: only the
	// key leaving the JWKS can make the token fail.
	start := f.now
	a := newAccessTokenKeys(f.m, func() time.Time { return start })
	tok := f.sign(t, `{"sub":"u1"}`)
	if _, err := verifyWith(a, tok); err != nil {
		t.Fatal(err)
	}
	kid := f.m.PublicKeys()[0].KeyID
	ctx := context.Background()
	if err := f.m.Retire(ctx, kid); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyWith(a, tok); err != nil {
		t.Fatalf("a retired key still published no longer verifies: %v", err)
	}
	// After retention the key leaves the JWKS.
	f.now = f.now.Add(30 * 24 * time.Hour)
	if err := f.m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range f.m.PublicKeys() {
		if k.KeyID == kid {
			t.Fatal("the retired key is still published after retention")
		}
	}
	if _, err := verifyWith(a, tok); err == nil {
		t.Fatal("a token of a key no longer published verified")
	}
}

// A revoked key's tokens are refused at /userinfo and /introspect on every
// replica once it has polled, though each replica verified and remembered
// them before; the memory forgets them.
func TestAccessTokenKeysRefuseARevokedKeyOnEveryReplica(t *testing.T) {
	f := newTokenKeysFixture(t)
	replicas := []*keys.Manager{f.m, f.replica(t)}
	start := f.now
	verifiers := make([]*accessTokenKeys, len(replicas))
	for i, m := range replicas {
		verifiers[i] = newAccessTokenKeys(m, func() time.Time { return start })
	}
	tok := f.sign(t, `{"sub":"u1"}`)
	for _, a := range verifiers {
		if _, err := verifyWith(a, tok); err != nil {
			t.Fatal(err)
		}
	}
	kid := f.m.PublicKeys()[0].KeyID
	ctx := context.Background()
	if err := f.m.Revoke(ctx, kid); err != nil {
		t.Fatal(err)
	}
	if err := replicas[1].Poll(ctx); err != nil {
		t.Fatal(err)
	}
	for i, a := range verifiers {
		if _, err := verifyWith(a, tok); !errors.Is(err, errUnknownKey) {
			t.Fatalf("replica %d: a token of the revoked key: %v, want errUnknownKey", i, err)
		}
		if len(a.verified) != 0 {
			t.Fatalf("replica %d still remembers %d tokens of the revoked key", i, len(a.verified))
		}
		// The replacement key signs, and its tokens verify.
		if _, err := verifyWith(a, f.sign(t, `{"sub":"u2"}`)); err != nil {
			t.Fatalf("replica %d: a token of the replacement key: %v", i, err)
		}
	}
}

func TestAccessTokenKeysMemoryIsBounded(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := newAccessTokenKeys(nil, func() time.Time { return now })
	for i := range verifiedMax + 10 {
		a.remember(sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), verifiedToken{until: now.Add(verifiedTTL)}, now)
	}
	if n := len(a.verified); n > verifiedMax || n < verifiedMax/2 {
		t.Fatalf("%d remembered, want between %d and %d", n, verifiedMax/2, verifiedMax)
	}
	// A full memory drops its expired entries before any live one.
	for i := 0; len(a.verified) < verifiedMax; i++ {
		a.remember(sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16), 1}), verifiedToken{until: now.Add(verifiedTTL)}, now)
	}
	later := now.Add(verifiedTTL)
	a.remember(sha256.Sum256([]byte("new")), verifiedToken{until: later.Add(verifiedTTL)}, later)
	if len(a.verified) != 1 {
		t.Fatalf("%d remembered after a full memory of expired entries, want only the new one", len(a.verified))
	}
}
