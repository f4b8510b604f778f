package storagetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/usher-id/usher/storage"
)

func testInTx(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"Commit", txCommit},
		{"Rollback", txRollback},
		{"StoreErrorsPassThrough", txStoreErrors},
		{"ConcurrentUpdates", txConcurrentUpdates},
	})
}

// User and event in one transaction: both visible afterwards, and the
// transaction reads its own writes.
func txCommit(t *testing.T, s storage.Storage) {
	u := userFixture()
	var e *storage.Event
	calls := 0
	err := s.InTx(t.Context(), func(tx storage.Tx) error {
		calls++
		if err := tx.CreateUser(t.Context(), u); err != nil {
			return err
		}
		got, err := tx.GetUser(t.Context(), u.ID)
		if err != nil {
			return fmt.Errorf("GetUser inside the transaction: %w", err)
		}
		if got.ID != u.ID {
			return fmt.Errorf("GetUser inside the transaction = %s, want %s", got.ID, u.ID)
		}
		e = eventFixture(now())
		e.Payload = json.RawMessage(fmt.Sprintf(`{"user_id":%q}`, u.ID))
		return tx.AppendEvent(t.Context(), e)
	})
	must(t, err, "InTx")
	if calls < 1 {
		t.Fatalf("InTx called fn %d times", calls)
	}

	got, err := s.GetUserByEmail(t.Context(), u.Emails[0].Email)
	must(t, err, "GetUserByEmail after the commit")
	eq(t, "committed user", got.ID, u.ID)
	pending, err := s.PendingEvents(t.Context(), 10)
	must(t, err, "PendingEvents after the commit")
	sameOrder(t, "PendingEvents after the commit", ids(pending, eventIDOf), []string{e.ID})
}

func txRollback(t *testing.T, s storage.Storage) {
	keep := createUser(t, s)
	errBoom := errors.New("boom")
	u := userFixture()
	err := s.InTx(t.Context(), func(tx storage.Tx) error {
		if err := tx.CreateUser(t.Context(), u); err != nil {
			return err
		}
		if err := tx.AppendEvent(t.Context(), eventFixture(now())); err != nil {
			return err
		}
		k := *keep
		k.FirstName = "Changed"
		if err := tx.UpdateUser(t.Context(), &k); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v, want the error fn returned (errors.Is %v)", err, errBoom)
	}

	_, err = s.GetUserByEmail(t.Context(), u.Emails[0].Email)
	wantErr(t, err, storage.ErrNotFound, "GetUserByEmail of a user created in a rolled back transaction")
	if u.ID != "" {
		_, err = s.GetUser(t.Context(), u.ID)
		wantErr(t, err, storage.ErrNotFound, "GetUser of a user created in a rolled back transaction")
	}
	n, err := s.CountUsers(t.Context())
	must(t, err, "CountUsers")
	eq(t, "CountUsers after the rollback", n, 1)
	pending, err := s.PendingEvents(t.Context(), 10)
	must(t, err, "PendingEvents")
	eq(t, "pending events after the rollback", len(pending), 0)
	got := reload(t, s, keep.ID)
	eq(t, "FirstName after the rolled back update", got.FirstName, keep.FirstName)
}

// Errors of the store inside fn reach the caller of InTx intact.
func txStoreErrors(t *testing.T, s storage.Storage) {
	taken := createUser(t, s)
	err := s.InTx(t.Context(), func(tx storage.Tx) error {
		return tx.CreateUser(t.Context(), &storage.User{Emails: []storage.EmailAddress{{Email: taken.Emails[0].Email}}})
	})
	wantErr(t, err, storage.ErrConflict, "InTx returning CreateUser's conflict")

	err = s.InTx(t.Context(), func(tx storage.Tx) error {
		_, err := tx.GetUser(t.Context(), storage.NewID(storage.PrefixUser))
		return err
	})
	wantErr(t, err, storage.ErrNotFound, "InTx returning GetUser's not found")

	// The store still works after failed transactions.
	createUser(t, s)
}

// No lost update: each transaction reads the counter and writes it back
// plus one; the database must serialize them (retrying fn if need be).
func txConcurrentUpdates(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	const n = 20
	errs := race(n, func(int) error {
		return s.InTx(t.Context(), func(tx storage.Tx) error {
			got, err := tx.GetUser(t.Context(), u.ID)
			if err != nil {
				return err
			}
			got.FailedAttempts++
			return tx.UpdateUser(t.Context(), got)
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("InTx %d: %v", i, err)
		}
	}
	got := reload(t, s, u.ID)
	eq(t, "FailedAttempts after concurrent increments", got.FailedAttempts, n)
}
