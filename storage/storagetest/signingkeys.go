package storagetest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testSigningKeys(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", keyRoundTrip},
		{"Missing", keyMissing},
		{"DuplicateID", keyDuplicateID},
		{"ListOldestFirst", keyList},
		{"Update", keyUpdate},
		{"Delete", keyDelete},
		{"OneCurrentPerAlgorithm", keyOneCurrent},
		{"CurrentConcurrent", keyCurrentConcurrent},
		{"Version", keyVersion},
	})
}

func next(k *storage.SigningKey) { k.State = storage.KeyNext }

func current(k *storage.SigningKey) {
	k.State = storage.KeyCurrent
	k.ActivatedAt = k.CreatedAt
}

func keyRoundTrip(t *testing.T, s storage.Storage) {
	n := now()
	for _, tc := range []struct {
		name string
		mod  func(*storage.SigningKey)
	}{
		{"Next", next},
		{"Current", current},
		{"Retired", func(k *storage.SigningKey) {
			k.Algorithm = "ES256"
			k.PublicKeyJWK = json.RawMessage(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`)
			k.State = storage.KeyRetired
			k.CreatedAt = n.Add(-72 * time.Hour)
			k.ActivatedAt = time.Date(2030, 1, 1, 1, 1, 1, 111111111, odd)
			k.RetiredAt = n.Add(-time.Hour)
			k.DeleteAfter = n.Add(23 * time.Hour)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := createSigningKey(t, s, tc.mod)
			got, err := s.GetSigningKey(t.Context(), k.ID)
			must(t, err, "GetSigningKey")
			sameSigningKey(t, got, k)
		})
	}
}

func keyMissing(t *testing.T, s storage.Storage) {
	createSigningKey(t, s)
	k := signingKeyFixture()
	_, err := s.GetSigningKey(t.Context(), k.ID)
	wantErr(t, err, storage.ErrNotFound, "GetSigningKey of an unknown ID")
	wantErr(t, s.UpdateSigningKey(t.Context(), k), storage.ErrNotFound, "UpdateSigningKey of an unknown ID")
	wantErr(t, s.DeleteSigningKey(t.Context(), k.ID), storage.ErrNotFound, "DeleteSigningKey of an unknown ID")
}

func keyDuplicateID(t *testing.T, s storage.Storage) {
	k := createSigningKey(t, s)
	dup := signingKeyFixture()
	dup.ID = k.ID
	wantErr(t, s.CreateSigningKey(t.Context(), dup), storage.ErrConflict, "CreateSigningKey with a taken ID")
	got, err := s.GetSigningKey(t.Context(), k.ID)
	must(t, err, "GetSigningKey")
	sameBytes(t, "PrivateKeyEncrypted after the refused create", got.PrivateKeyEncrypted, k.PrivateKeyEncrypted)
}

func keyList(t *testing.T, s storage.Storage) {
	empty, err := s.ListSigningKeys(t.Context())
	must(t, err, "ListSigningKeys")
	if len(empty) != 0 {
		t.Errorf("ListSigningKeys of an empty store = %d keys, want none", len(empty))
	}

	// Created out of age order: the list follows CreatedAt, not insertion.
	n := now()
	age := func(d time.Duration) func(*storage.SigningKey) {
		return func(k *storage.SigningKey) { k.CreatedAt = n.Add(-d) }
	}
	keys := []*storage.SigningKey{
		createSigningKey(t, s, age(time.Hour)),
		createSigningKey(t, s, age(3*time.Hour), current),
		createSigningKey(t, s, age(2*time.Hour), func(k *storage.SigningKey) { k.State = storage.KeyRetired }),
	}
	// Should a backend set CreatedAt itself, the order is that of creation.
	want := slices.Clone(keys)
	slices.SortStableFunc(want, func(a, b *storage.SigningKey) int { return a.CreatedAt.Compare(b.CreatedAt) })

	got, err := s.ListSigningKeys(t.Context())
	must(t, err, "ListSigningKeys")
	sameOrder(t, "ListSigningKeys", ids(got, keyIDOf), ids(want, keyIDOf))
	for _, g := range got {
		i := slices.IndexFunc(keys, func(k *storage.SigningKey) bool { return k.ID == g.ID })
		if i >= 0 {
			sameSigningKey(t, g, keys[i])
		}
	}
}

func keyUpdate(t *testing.T, s storage.Storage) {
	k := createSigningKey(t, s, next)
	other := createSigningKey(t, s)
	n := now()

	// next -> current
	k.State = storage.KeyCurrent
	k.ActivatedAt = n.In(odd).Add(1)
	must(t, s.UpdateSigningKey(t.Context(), k), "UpdateSigningKey to current")
	got, err := s.GetSigningKey(t.Context(), k.ID)
	must(t, err, "GetSigningKey")
	sameSigningKey(t, got, k)

	// current -> retired, with a re-encrypted private key
	k.State = storage.KeyRetired
	k.RetiredAt = n.Add(time.Hour)
	k.DeleteAfter = n.Add(25 * time.Hour)
	k.PrivateKeyEncrypted = randomBytes(80)
	must(t, s.UpdateSigningKey(t.Context(), k), "UpdateSigningKey to retired")
	got, err = s.GetSigningKey(t.Context(), k.ID)
	must(t, err, "GetSigningKey")
	sameSigningKey(t, got, k)

	o, err := s.GetSigningKey(t.Context(), other.ID)
	must(t, err, "GetSigningKey of another key")
	sameSigningKey(t, o, other)
}

func keyDelete(t *testing.T, s storage.Storage) {
	k := createSigningKey(t, s)
	keep := createSigningKey(t, s)
	must(t, s.DeleteSigningKey(t.Context(), k.ID), "DeleteSigningKey")
	_, err := s.GetSigningKey(t.Context(), k.ID)
	wantErr(t, err, storage.ErrNotFound, "GetSigningKey after DeleteSigningKey")
	wantErr(t, s.DeleteSigningKey(t.Context(), k.ID), storage.ErrNotFound, "second DeleteSigningKey")
	list, err := s.ListSigningKeys(t.Context())
	must(t, err, "ListSigningKeys")
	sameOrder(t, "ListSigningKeys after a delete", ids(list, keyIDOf), []string{keep.ID})
}

func keyOneCurrent(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	rsa := createSigningKey(t, s, current)

	second := signingKeyFixture()
	current(second)
	wantErr(t, s.CreateSigningKey(ctx, second), storage.ErrConflict, "CreateSigningKey of a second current RS256 key")
	_, err := s.GetSigningKey(ctx, second.ID)
	wantErr(t, err, storage.ErrNotFound, "GetSigningKey of the refused key")

	// One next key per algorithm, any number of retired ones.
	nextKey := createSigningKey(t, s, next)
	second = signingKeyFixture()
	next(second)
	wantErr(t, s.CreateSigningKey(ctx, second), storage.ErrConflict, "CreateSigningKey of a second next RS256 key")
	createSigningKey(t, s, next, func(k *storage.SigningKey) { k.Algorithm = "ES256" })
	createSigningKey(t, s)
	createSigningKey(t, s)

	// Promoting a next key while another is current.
	promoted := *nextKey
	current(&promoted)
	wantErr(t, s.UpdateSigningKey(ctx, &promoted), storage.ErrConflict, "UpdateSigningKey promoting a second current RS256 key")
	got, err := s.GetSigningKey(ctx, nextKey.ID)
	must(t, err, "GetSigningKey")
	eq(t, "State of the refused promotion", got.State, storage.KeyNext)

	// A current key of another algorithm is fine.
	createSigningKey(t, s, current, func(k *storage.SigningKey) { k.Algorithm = "ES256" })
	createSigningKey(t, s, current, func(k *storage.SigningKey) { k.Algorithm = "EdDSA" })

	// Updating the current key while it stays current is fine.
	rsa.PrivateKeyEncrypted = randomBytes(64)
	must(t, s.UpdateSigningKey(ctx, rsa), "UpdateSigningKey of the current key, staying current")

	// Retire the old one, then the promotion goes through.
	rsa.State = storage.KeyRetired
	rsa.RetiredAt = now()
	must(t, s.UpdateSigningKey(ctx, rsa), "UpdateSigningKey retiring the current key")
	must(t, s.UpdateSigningKey(ctx, &promoted), "UpdateSigningKey promoting after the retirement")

	list, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	currents := map[string]int{}
	for _, k := range list {
		if k.State == storage.KeyCurrent {
			currents[k.Algorithm]++
		}
	}
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		eq(t, "current "+alg+" keys", currents[alg], 1)
	}
}

func keyCurrentConcurrent(t *testing.T, s storage.Storage) {
	keys := make([]*storage.SigningKey, 10)
	for i := range keys {
		keys[i] = signingKeyFixture()
		current(keys[i])
	}
	errs := race(len(keys), func(i int) error { return s.CreateSigningKey(t.Context(), keys[i]) })
	w := oneWinner(t, "CreateSigningKey of a current RS256 key", errs)

	list, err := s.ListSigningKeys(t.Context())
	must(t, err, "ListSigningKeys")
	if len(list) != 1 {
		t.Fatalf("ListSigningKeys = %d keys after the race, want 1", len(list))
	}
	if w >= 0 {
		eq(t, "the stored key", list[0].ID, keys[w].ID)
	}
}

// keyVersion: every change to the keys raises the version, and only a
// change that is kept does: replicas reload on it, so a missed raise is a
// replica signing or publishing stale keys.
func keyVersion(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	version := func() int64 {
		t.Helper()
		v, err := s.SigningKeysVersion(ctx)
		must(t, err, "SigningKeysVersion")
		return v
	}
	raised := func(what string, before int64) int64 {
		t.Helper()
		v := version()
		if v <= before {
			t.Fatalf("SigningKeysVersion after %s = %d, want more than %d", what, v, before)
		}
		return v
	}
	same := func(what string, before int64) {
		t.Helper()
		if v := version(); v != before {
			t.Fatalf("SigningKeysVersion after %s = %d, want %d unchanged", what, v, before)
		}
	}

	v := version()
	k := createSigningKey(t, s, current)
	v = raised("CreateSigningKey", v)
	k.PrivateKeyEncrypted = randomBytes(64)
	must(t, s.UpdateSigningKey(ctx, k), "UpdateSigningKey")
	v = raised("UpdateSigningKey", v)

	dup := signingKeyFixture()
	current(dup)
	wantErr(t, s.CreateSigningKey(ctx, dup), storage.ErrConflict, "CreateSigningKey of a second current key")
	same("a refused CreateSigningKey", v)
	missing := signingKeyFixture()
	wantErr(t, s.UpdateSigningKey(ctx, missing), storage.ErrNotFound, "UpdateSigningKey of an unknown ID")
	wantErr(t, s.DeleteSigningKey(ctx, missing.ID), storage.ErrNotFound, "DeleteSigningKey of an unknown ID")
	same("changes of unknown keys", v)

	rollback := errors.New("roll back")
	err := s.InTx(ctx, func(tx storage.Tx) error {
		must(t, tx.DeleteSigningKey(ctx, k.ID), "DeleteSigningKey in a transaction")
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("InTx = %v, want the rollback error", err)
	}
	same("a rolled-back delete", v)

	must(t, s.DeleteSigningKey(ctx, k.ID), "DeleteSigningKey")
	raised("DeleteSigningKey", v)
}
