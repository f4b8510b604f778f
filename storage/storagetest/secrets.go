package storagetest

import (
	"sync"
	"testing"

	"github.com/usher-id/usher/storage"
)

func testSecrets(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", secretRoundTrip},
		{"CreateTwiceConflicts", secretConflict},
		{"ConcurrentCreateOneWins", secretConcurrent},
		{"UpdateAndList", secretUpdateList},
		{"Invalid", secretInvalid},
	})
}

func secretRoundTrip(t *testing.T, s storage.Storage) {
	x := &storage.Secret{Name: "oidc.crypto_key", ValueEncrypted: randomBytes(61)}
	must(t, s.CreateSecret(t.Context(), x), "CreateSecret")
	got, err := s.GetSecret(t.Context(), x.Name)
	must(t, err, "GetSecret")
	sameBytes(t, "ValueEncrypted", got.ValueEncrypted, x.ValueEncrypted)
	sameTime(t, "CreatedAt", got.CreatedAt, x.CreatedAt)
	if got.CreatedAt.IsZero() {
		t.Error("CreatedAt is zero")
	}
	_, err = s.GetSecret(t.Context(), "no.such.secret")
	wantErr(t, err, storage.ErrNotFound, "GetSecret of an unknown name")
}

func secretConflict(t *testing.T, s storage.Storage) {
	first := &storage.Secret{Name: "k", ValueEncrypted: randomBytes(40)}
	must(t, s.CreateSecret(t.Context(), first), "CreateSecret")
	wantErr(t, s.CreateSecret(t.Context(), &storage.Secret{Name: "k", ValueEncrypted: randomBytes(40)}), storage.ErrConflict, "second CreateSecret of one name")
	got, err := s.GetSecret(t.Context(), "k")
	must(t, err, "GetSecret")
	sameBytes(t, "ValueEncrypted after the refused create", got.ValueEncrypted, first.ValueEncrypted)
}

// Replicas starting together each try to create the secret: one wins, the
// others get ErrConflict and read the winner's value.
func secretConcurrent(t *testing.T, s storage.Storage) {
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateSecret(t.Context(), &storage.Secret{Name: "race", ValueEncrypted: randomBytes(40)})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			wantErr(t, err, storage.ErrConflict, "a losing CreateSecret")
		}
	}
	eq(t, "creates that succeeded", won, 1)
}

func secretUpdateList(t *testing.T, s storage.Storage) {
	for _, name := range []string{"b", "a", "c"} {
		must(t, s.CreateSecret(t.Context(), &storage.Secret{Name: name, ValueEncrypted: randomBytes(40)}), "CreateSecret "+name)
	}
	v := randomBytes(50)
	must(t, s.UpdateSecret(t.Context(), &storage.Secret{Name: "b", ValueEncrypted: v}), "UpdateSecret")
	wantErr(t, s.UpdateSecret(t.Context(), &storage.Secret{Name: "zz", ValueEncrypted: v}), storage.ErrNotFound, "UpdateSecret of an unknown name")
	list, err := s.ListSecrets(t.Context())
	must(t, err, "ListSecrets")
	var names []string
	for _, x := range list {
		names = append(names, x.Name)
		if x.Name == "b" {
			sameBytes(t, "updated value", x.ValueEncrypted, v)
		}
	}
	sameOrder(t, "ListSecrets", names, []string{"a", "b", "c"})
}

func secretInvalid(t *testing.T, s storage.Storage) {
	wantErr(t, s.CreateSecret(t.Context(), &storage.Secret{Name: "", ValueEncrypted: randomBytes(8)}), storage.ErrInvalid, "CreateSecret without a name")
	wantErr(t, s.CreateSecret(t.Context(), &storage.Secret{Name: "x"}), storage.ErrInvalid, "CreateSecret without a value")
}
