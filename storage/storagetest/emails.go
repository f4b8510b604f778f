package storagetest

import (
	"strings"
	"testing"

	"github.com/usher-id/usher/storage"
)

func testEmails(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"Add", emailAdd},
		{"AddTakenAddress", emailAddTaken},
		{"AddToMissingUser", emailAddMissingUser},
		{"SetVerified", emailSetVerified},
		{"SetPrimary", emailSetPrimary},
		{"DeletePrimaryConflicts", emailDeletePrimary},
		{"DeleteOther", emailDeleteOther},
		{"WrongUser", emailWrongUser},
		{"UnknownEmail", emailUnknown},
	})
}

// userWithTwoEmails returns a user whose first address is primary.
func userWithTwoEmails(t *testing.T, s storage.Storage) (u *storage.User, primary, other storage.EmailAddress) {
	t.Helper()
	a, b := uniq("primary")+"@example.com", uniq("other")+"@example.com"
	u = createUser(t, s, func(u *storage.User) {
		u.Emails = []storage.EmailAddress{{Email: a, Primary: true}, {Email: b}}
	})
	return u, emailByAddress(t, u, a), emailByAddress(t, u, b)
}

func reload(t *testing.T, s storage.Storage, id string) *storage.User {
	t.Helper()
	u, err := s.GetUser(t.Context(), id)
	must(t, err, "GetUser")
	return u
}

func emailAdd(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	e := &storage.EmailAddress{Email: "Added." + uniq("x") + "@Example.com", Verified: true}
	must(t, s.AddEmail(t.Context(), u.ID, e), "AddEmail")
	if !strings.HasPrefix(e.ID, storage.PrefixEmail+"_") {
		t.Errorf("AddEmail: ID = %q, want prefix %s_", e.ID, storage.PrefixEmail)
	}
	if e.CreatedAt.IsZero() {
		t.Error("AddEmail: CreatedAt is zero")
	}

	got := reload(t, s, u.ID)
	want := append([]storage.EmailAddress{u.Emails[0]}, *e)
	want[1].Primary = false // the user already has a primary address
	sameEmails(t, got.Emails, want)

	byMail, err := s.GetUserByEmail(t.Context(), strings.ToLower(e.Email))
	must(t, err, "GetUserByEmail(added address)")
	eq(t, "owner of the added address", byMail.ID, u.ID)
}

func emailAddTaken(t *testing.T, s storage.Storage) {
	owner := createUser(t, s)
	u := createUser(t, s)
	taken := strings.ToUpper(owner.Emails[0].Email)
	for _, uid := range []string{u.ID, owner.ID} {
		err := s.AddEmail(t.Context(), uid, &storage.EmailAddress{Email: taken})
		wantErr(t, err, storage.ErrConflict, "AddEmail of an address already taken, to user "+uid)
	}
	eq(t, "addresses of the other user", len(reload(t, s, u.ID).Emails), 1)
	eq(t, "addresses of the owner", len(reload(t, s, owner.ID).Emails), 1)
}

func emailAddMissingUser(t *testing.T, s storage.Storage) {
	addr := uniq("orphan") + "@example.com"
	err := s.AddEmail(t.Context(), storage.NewID(storage.PrefixUser), &storage.EmailAddress{Email: addr})
	if err == nil {
		t.Error("AddEmail to a missing user succeeded, want an error")
	}
	_, err = s.GetUserByEmail(t.Context(), addr)
	wantErr(t, err, storage.ErrNotFound, "GetUserByEmail of an address added to a missing user")
}

func emailSetVerified(t *testing.T, s storage.Storage) {
	u, primary, other := userWithTwoEmails(t, s)
	must(t, s.SetEmailVerified(t.Context(), u.ID, other.ID, true), "SetEmailVerified(true)")
	got := reload(t, s, u.ID)
	eq(t, "Verified of the changed address", emailByAddress(t, got, other.Email).Verified, true)
	eq(t, "Verified of the untouched address", emailByAddress(t, got, primary.Email).Verified, false)

	must(t, s.SetEmailVerified(t.Context(), u.ID, other.ID, false), "SetEmailVerified(false)")
	got = reload(t, s, u.ID)
	eq(t, "Verified after SetEmailVerified(false)", emailByAddress(t, got, other.Email).Verified, false)
}

func emailSetPrimary(t *testing.T, s storage.Storage) {
	u, primary, other := userWithTwoEmails(t, s)
	third := &storage.EmailAddress{Email: uniq("third") + "@example.com"}
	must(t, s.AddEmail(t.Context(), u.ID, third), "AddEmail")

	for _, next := range []storage.EmailAddress{other, *third, primary, primary} {
		must(t, s.SetPrimaryEmail(t.Context(), u.ID, next.ID), "SetPrimaryEmail("+next.Email+")")
		got := reload(t, s, u.ID)
		if n := primaries(got); n != 1 {
			t.Errorf("after SetPrimaryEmail(%s): %d primary addresses, want 1: %+v", next.Email, n, got.Emails)
		}
		if p := got.PrimaryEmail(); p.ID != next.ID {
			t.Errorf("after SetPrimaryEmail(%s): PrimaryEmail() = %s, want %s", next.Email, p.Email, next.Email)
		}
	}
}

func emailDeletePrimary(t *testing.T, s storage.Storage) {
	u, primary, _ := userWithTwoEmails(t, s)
	wantErr(t, s.DeleteEmail(t.Context(), u.ID, primary.ID), storage.ErrConflict, "DeleteEmail of the primary address")
	got := reload(t, s, u.ID)
	eq(t, "addresses after the refused delete", len(got.Emails), 2)
	eq(t, "primary after the refused delete", got.PrimaryEmail().ID, primary.ID)

	// The only address is primary too.
	solo := createUser(t, s)
	wantErr(t, s.DeleteEmail(t.Context(), solo.ID, solo.Emails[0].ID), storage.ErrConflict, "DeleteEmail of the only address")
}

func emailDeleteOther(t *testing.T, s storage.Storage) {
	u, primary, other := userWithTwoEmails(t, s)
	must(t, s.DeleteEmail(t.Context(), u.ID, other.ID), "DeleteEmail")
	got := reload(t, s, u.ID)
	sameEmails(t, got.Emails, []storage.EmailAddress{primary})
	_, err := s.GetUserByEmail(t.Context(), other.Email)
	wantErr(t, err, storage.ErrNotFound, "GetUserByEmail of the deleted address")
	wantErr(t, s.DeleteEmail(t.Context(), u.ID, other.ID), storage.ErrNotFound, "second DeleteEmail")

	// The address is free again.
	must(t, s.AddEmail(t.Context(), createUser(t, s).ID, &storage.EmailAddress{Email: other.Email}), "AddEmail of a deleted address")
}

func emailWrongUser(t *testing.T, s storage.Storage) {
	u, primary, other := userWithTwoEmails(t, s)
	stranger := createUser(t, s)
	ctx := t.Context()

	wantErr(t, s.SetEmailVerified(ctx, stranger.ID, other.ID, true), storage.ErrNotFound, "SetEmailVerified with another user's email ID")
	wantErr(t, s.SetPrimaryEmail(ctx, stranger.ID, other.ID), storage.ErrNotFound, "SetPrimaryEmail with another user's email ID")
	wantErr(t, s.DeleteEmail(ctx, stranger.ID, other.ID), storage.ErrNotFound, "DeleteEmail with another user's email ID")

	got := reload(t, s, u.ID)
	sameEmails(t, got.Emails, []storage.EmailAddress{primary, other})
	st := reload(t, s, stranger.ID)
	sameEmails(t, st.Emails, stranger.Emails)
	if st.PrimaryEmail().ID != stranger.Emails[0].ID {
		t.Errorf("stranger's primary = %+v, want %+v", st.PrimaryEmail(), stranger.Emails[0])
	}
}

func emailUnknown(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	missing := storage.NewID(storage.PrefixEmail)
	ctx := t.Context()
	wantErr(t, s.SetEmailVerified(ctx, u.ID, missing, true), storage.ErrNotFound, "SetEmailVerified of an unknown email")
	wantErr(t, s.SetPrimaryEmail(ctx, u.ID, missing), storage.ErrNotFound, "SetPrimaryEmail of an unknown email")
	wantErr(t, s.DeleteEmail(ctx, u.ID, missing), storage.ErrNotFound, "DeleteEmail of an unknown email")
	got := reload(t, s, u.ID)
	if got.PrimaryEmail().ID != u.Emails[0].ID {
		t.Errorf("primary after SetPrimaryEmail of an unknown email = %+v, want %+v", got.PrimaryEmail(), u.Emails[0])
	}
}
