package storagetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testUsers(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"CreateFillsIDsAndTimes", userCreateFills},
		{"RoundTrip", userRoundTrip},
		{"FirstEmailBecomesPrimary", userFirstEmailPrimary},
		{"MarkedPrimaryKept", userMarkedPrimaryKept},
		{"NoEmails", userNoEmails},
		{"NilMetadataReadsAsEmptyObject", userNilMetadata},
		{"GetByEmail", userGetByEmail},
		{"GetByUsername", userGetByUsername},
		{"GetMissing", userGetMissing},
		{"DuplicateEmail", userDuplicateEmail},
		{"DuplicateUsername", userDuplicateUsername},
		{"EmptyUsernamesDoNotConflict", userEmptyUsernames},
		{"Update", userUpdate},
		{"UpdateMissing", userUpdateMissing},
		{"UpdateUsernameConflict", userUpdateUsernameConflict},
		{"Delete", userDelete},
		{"DeleteMissing", userDeleteMissing},
		{"ListNewestFirst", userListNewestFirst},
		{"ListPages", userListPages},
		{"Count", userCount},
		{"ReserveAttemptCountsToMax", userReserveAttemptCountsToMax},
		{"ReserveAttemptWhileLocked", userReserveAttemptWhileLocked},
		{"ReserveAttemptUnbounded", userReserveAttemptUnbounded},
		{"ReserveAttemptMissing", userReserveAttemptMissing},
		{"ReserveAttemptInTx", userReserveAttemptInTx},
		{"ReserveAttemptConcurrent", userReserveAttemptConcurrent},
	})
}

func userCreateFills(t *testing.T, s storage.Storage) {
	before := time.Now()
	u := createUser(t, s, func(u *storage.User) {
		u.Emails = append(u.Emails, storage.EmailAddress{Email: uniq("second") + "@example.com"})
	})
	after := time.Now()

	rest, ok := strings.CutPrefix(u.ID, storage.PrefixUser+"_")
	if !ok || len(rest) != 26 {
		t.Errorf("ID = %q, want %s_ and 26 characters", u.ID, storage.PrefixUser)
	}
	for _, tm := range []struct {
		name string
		v    time.Time
	}{{"CreatedAt", u.CreatedAt}, {"UpdatedAt", u.UpdatedAt}} {
		if tm.v.Before(before.Add(-time.Second)) || tm.v.After(after.Add(time.Second)) {
			t.Errorf("%s = %v, want between %v and %v", tm.name, tm.v, before, after)
		}
	}
	seen := map[string]bool{}
	for _, e := range u.Emails {
		if !strings.HasPrefix(e.ID, storage.PrefixEmail+"_") {
			t.Errorf("email %s: ID = %q, want prefix %s_", e.Email, e.ID, storage.PrefixEmail)
		}
		if seen[e.ID] {
			t.Errorf("email ID %q given twice", e.ID)
		}
		seen[e.ID] = true
		if e.CreatedAt.IsZero() {
			t.Errorf("email %s: CreatedAt is zero after CreateUser", e.Email)
		}
	}

	// A second user gets another ID.
	v := createUser(t, s)
	if v.ID == u.ID {
		t.Errorf("two users got the same ID %q", u.ID)
	}
}

func userRoundTrip(t *testing.T, s storage.Storage) {
	u := &storage.User{
		Username:     "jane_" + uniq("doe"),
		FirstName:    "Jane",
		LastName:     "Doe-Ñúñez",
		ImageURL:     "https://img.example.com/jane.png",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Emails: []storage.EmailAddress{
			{Email: "Jane." + uniq("rt") + "@Example.com", Verified: true},
			{Email: uniq("work") + "@example.org"},
		},
		PublicMetadata:  json.RawMessage(`{"plan": "pro", "seats": 5, "tags": ["a", "b"], "nested": {"z": null, "a": true}}`),
		PrivateMetadata: json.RawMessage(`{"stripe_id":"cus_123","score":1.5}`),
		UnsafeMetadata:  json.RawMessage(`{"theme":"dark","emoji":"🦀 ✓"}`),
		Banned:          true,
		LockedUntil:     time.Now().Add(time.Hour),
		FailedAttempts:  4,
		LastSignInAt:    time.Now().Add(-time.Hour),
		LastActiveAt:    time.Now().Add(-time.Minute),
	}
	must(t, s.CreateUser(t.Context(), u), "CreateUser")
	want := *u
	want.Emails[0].Primary = true // the first becomes primary

	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	sameUser(t, got, &want)
	if p := got.PrimaryEmail(); p.ID != u.Emails[0].ID {
		t.Errorf("PrimaryEmail() = %+v, want %s", p, u.Emails[0].Email)
	}
}

func userFirstEmailPrimary(t *testing.T, s storage.Storage) {
	first, second := uniq("first")+"@example.com", uniq("second")+"@example.com"
	u := createUser(t, s, func(u *storage.User) {
		u.Emails = []storage.EmailAddress{{Email: first}, {Email: second}}
	})
	if !emailByAddress(t, u, first).Primary || emailByAddress(t, u, second).Primary {
		t.Errorf("after CreateUser, Emails = %+v, want only %s primary", u.Emails, first)
	}
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	if !emailByAddress(t, got, first).Primary || emailByAddress(t, got, second).Primary || primaries(got) != 1 {
		t.Errorf("stored Emails = %+v, want only %s primary", got.Emails, first)
	}
}

func userMarkedPrimaryKept(t *testing.T, s storage.Storage) {
	first, second := uniq("first")+"@example.com", uniq("second")+"@example.com"
	u := createUser(t, s, func(u *storage.User) {
		u.Emails = []storage.EmailAddress{{Email: first}, {Email: second, Primary: true}}
	})
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	if emailByAddress(t, got, first).Primary || !emailByAddress(t, got, second).Primary || primaries(got) != 1 {
		t.Errorf("stored Emails = %+v, want only %s primary", got.Emails, second)
	}
}

func userNoEmails(t *testing.T, s storage.Storage) {
	u := createUser(t, s, func(u *storage.User) {
		u.Emails = nil
		u.Username = uniq("noemail")
	})
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	if len(got.Emails) != 0 {
		t.Errorf("Emails = %+v, want none", got.Emails)
	}
	if p := got.PrimaryEmail(); p != (storage.EmailAddress{}) {
		t.Errorf("PrimaryEmail() = %+v, want zero", p)
	}
}

func userNilMetadata(t *testing.T, s storage.Storage) {
	u := createUser(t, s) // the fixture has no metadata
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	sameJSON(t, "PublicMetadata", got.PublicMetadata, []byte(`{}`))
	sameJSON(t, "PrivateMetadata", got.PrivateMetadata, []byte(`{}`))
	sameJSON(t, "UnsafeMetadata", got.UnsafeMetadata, []byte(`{}`))

	// Setting metadata back to nil through UpdateUser also reads as {}.
	got.PublicMetadata = json.RawMessage(`{"a":1}`)
	must(t, s.UpdateUser(t.Context(), got), "UpdateUser")
	got.PublicMetadata = nil
	must(t, s.UpdateUser(t.Context(), got), "UpdateUser")
	again, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	sameJSON(t, "PublicMetadata after update to nil", again.PublicMetadata, []byte(`{}`))
}

func userGetByEmail(t *testing.T, s storage.Storage) {
	n := uniq("jane")
	primary, other := "Jane."+n+"@Example.com", "jane."+n+"@work.example"
	u := createUser(t, s, func(u *storage.User) {
		u.Emails = []storage.EmailAddress{{Email: primary}, {Email: other}}
	})
	createUser(t, s) // someone else

	for _, q := range []string{
		primary,
		strings.ToLower(primary),
		strings.ToUpper(primary),
		"  " + strings.ToUpper(primary[:1]) + primary[1:] + " ",
		other,
		"\tJANE." + strings.ToUpper(n) + "@WORK.EXAMPLE\n",
	} {
		got, err := s.GetUserByEmail(t.Context(), q)
		if err != nil {
			t.Errorf("GetUserByEmail(%q): %v", q, err)
			continue
		}
		if got.ID != u.ID {
			t.Errorf("GetUserByEmail(%q) = user %s, want %s", q, got.ID, u.ID)
		}
		if len(got.Emails) != 2 {
			t.Errorf("GetUserByEmail(%q).Emails = %+v, want both addresses", q, got.Emails)
		}
	}
	for _, q := range []string{"nobody@example.com", "", "jane." + n + "@example.co"} {
		_, err := s.GetUserByEmail(t.Context(), q)
		wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("GetUserByEmail(%q)", q))
	}
}

func userGetByUsername(t *testing.T, s storage.Storage) {
	name := "Jane_" + uniq("User")
	u := createUser(t, s, func(u *storage.User) { u.Username = name })
	createUser(t, s) // a user without username
	createUser(t, s, func(u *storage.User) { u.Username = uniq("other") })

	for _, q := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
		got, err := s.GetUserByUsername(t.Context(), q)
		if err != nil {
			t.Errorf("GetUserByUsername(%q): %v", q, err)
			continue
		}
		if got.ID != u.ID || got.Username != name {
			t.Errorf("GetUserByUsername(%q) = %s %q, want %s %q", q, got.ID, got.Username, u.ID, name)
		}
		if len(got.Emails) != 1 {
			t.Errorf("GetUserByUsername(%q).Emails = %+v, want the address", q, got.Emails)
		}
	}
	for _, q := range []string{"", "nobody", name + "x"} {
		_, err := s.GetUserByUsername(t.Context(), q)
		wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("GetUserByUsername(%q)", q))
	}
}

func userGetMissing(t *testing.T, s storage.Storage) {
	createUser(t, s)
	for _, id := range []string{storage.NewID(storage.PrefixUser), ""} {
		_, err := s.GetUser(t.Context(), id)
		wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("GetUser(%q)", id))
	}
}

func userDuplicateEmail(t *testing.T, s storage.Storage) {
	addr := "Taken." + uniq("dup") + "@Example.com"
	createUser(t, s, func(u *storage.User) { u.Emails = []storage.EmailAddress{{Email: addr}} })

	cases := []struct {
		name   string
		emails []storage.EmailAddress
	}{
		{"SameAddress", []storage.EmailAddress{{Email: addr}}},
		{"OtherCase", []storage.EmailAddress{{Email: strings.ToLower(addr)}}},
		{"AsSecondAddress", []storage.EmailAddress{{Email: uniq("fresh") + "@example.com"}, {Email: strings.ToUpper(addr)}}},
		{"TwiceInOneUser", func() []storage.EmailAddress {
			a := uniq("twice") + "@example.com"
			return []storage.EmailAddress{{Email: a}, {Email: strings.ToUpper(a)}}
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, err := s.CountUsers(t.Context())
			must(t, err, "CountUsers")
			name := uniq("dupuser")
			err = s.CreateUser(t.Context(), &storage.User{Username: name, Emails: c.emails})
			wantErr(t, err, storage.ErrConflict, "CreateUser with a taken address")

			// Nothing of the failed user may remain.
			after, err := s.CountUsers(t.Context())
			must(t, err, "CountUsers")
			if after != before {
				t.Errorf("CountUsers = %d after the failed create, want %d", after, before)
			}
			_, err = s.GetUserByUsername(t.Context(), name)
			wantErr(t, err, storage.ErrNotFound, "GetUserByUsername of the failed user")
			for _, e := range c.emails {
				if storage.NormalizeEmail(e.Email) == storage.NormalizeEmail(addr) {
					continue
				}
				_, err = s.GetUserByEmail(t.Context(), e.Email)
				wantErr(t, err, storage.ErrNotFound, "GetUserByEmail of the failed user's address "+e.Email)
			}
		})
	}
}

func userDuplicateUsername(t *testing.T, s storage.Storage) {
	name := "Jane_" + uniq("Dup")
	first := createUser(t, s, func(u *storage.User) { u.Username = name })
	for _, other := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
		u := userFixture()
		u.Username = other
		wantErr(t, s.CreateUser(t.Context(), u), storage.ErrConflict, fmt.Sprintf("CreateUser with username %q", other))
		_, err := s.GetUserByEmail(t.Context(), u.Emails[0].Email)
		wantErr(t, err, storage.ErrNotFound, "GetUserByEmail of the failed user")
	}
	got, err := s.GetUserByUsername(t.Context(), name)
	must(t, err, "GetUserByUsername")
	eq(t, "owner of the username", got.ID, first.ID)
}

func userEmptyUsernames(t *testing.T, s storage.Storage) {
	for i := range 3 {
		u := userFixture()
		u.Username = ""
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Errorf("CreateUser %d without username: %v", i, err)
		}
	}
	n, err := s.CountUsers(t.Context())
	must(t, err, "CountUsers")
	eq(t, "CountUsers", n, 3)
}

func userUpdate(t *testing.T, s storage.Storage) {
	u := createUser(t, s, func(u *storage.User) { u.Username = uniq("before") })
	orig, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	time.Sleep(2 * time.Millisecond) // let the clock move past CreatedAt

	upd := *orig
	upd.Emails = nil                                            // not written by UpdateUser
	upd.CreatedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) // not written either
	upd.Username = "After_" + uniq("x")
	upd.FirstName = "Janet"
	upd.LastName = "Roe"
	upd.ImageURL = "https://img.example.com/janet.png"
	upd.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3c2FsdA$bmV3aGFzaA"
	upd.PublicMetadata = json.RawMessage(`{"plan":"team"}`)
	upd.PrivateMetadata = json.RawMessage(`{"k":[1,2,3]}`)
	upd.UnsafeMetadata = json.RawMessage(`{"x":{"y":"z"}}`)
	upd.Banned = true
	upd.LockedUntil = time.Now().Add(15 * time.Minute)
	upd.FailedAttempts = 7
	upd.LastSignInAt = time.Now()
	upd.LastActiveAt = time.Now()
	must(t, s.UpdateUser(t.Context(), &upd), "UpdateUser")

	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	want := upd
	want.Emails = orig.Emails
	want.CreatedAt = orig.CreatedAt
	want.UpdatedAt = got.UpdatedAt // checked below
	sameUser(t, got, &want)
	if !got.UpdatedAt.After(orig.UpdatedAt) {
		t.Errorf("UpdatedAt = %v after UpdateUser, want later than %v", got.UpdatedAt, orig.UpdatedAt)
	}
	if time.Since(got.UpdatedAt) > time.Minute || time.Until(got.UpdatedAt) > time.Minute {
		t.Errorf("UpdatedAt = %v, want about now", got.UpdatedAt)
	}

	// The old username is free again; the new one is found.
	_, err = s.GetUserByUsername(t.Context(), u.Username)
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername(old name)")
	if _, err := s.GetUserByUsername(t.Context(), upd.Username); err != nil {
		t.Errorf("GetUserByUsername(new name): %v", err)
	}

	// Clearing the optional fields clears them.
	got.Banned = false
	got.LockedUntil = time.Time{}
	got.FailedAttempts = 0
	got.Username = ""
	must(t, s.UpdateUser(t.Context(), got), "UpdateUser clearing")
	cleared, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	eq(t, "Banned", cleared.Banned, false)
	sameTime(t, "LockedUntil", cleared.LockedUntil, time.Time{})
	eq(t, "FailedAttempts", cleared.FailedAttempts, 0)
	eq(t, "Username", cleared.Username, "")
}

func userUpdateMissing(t *testing.T, s storage.Storage) {
	u := userFixture()
	u.ID = storage.NewID(storage.PrefixUser)
	u.CreatedAt = now()
	wantErr(t, s.UpdateUser(t.Context(), u), storage.ErrNotFound, "UpdateUser of a missing user")
	_, err := s.GetUser(t.Context(), u.ID)
	wantErr(t, err, storage.ErrNotFound, "GetUser after UpdateUser of a missing user")
}

func userUpdateUsernameConflict(t *testing.T, s storage.Storage) {
	name := "Taken_" + uniq("x")
	createUser(t, s, func(u *storage.User) { u.Username = name })
	u := createUser(t, s, func(u *storage.User) { u.Username = uniq("mine") })
	upd := *u
	upd.Username = strings.ToLower(name)
	wantErr(t, s.UpdateUser(t.Context(), &upd), storage.ErrConflict, "UpdateUser to a taken username")
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	eq(t, "Username after the failed update", got.Username, u.Username)
}

func userDelete(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	keep := createUser(t, s)
	addr := u.Emails[0].Email
	must(t, s.DeleteUser(t.Context(), u.ID), "DeleteUser")

	_, err := s.GetUser(t.Context(), u.ID)
	wantErr(t, err, storage.ErrNotFound, "GetUser after DeleteUser")
	_, err = s.GetUserByEmail(t.Context(), addr)
	wantErr(t, err, storage.ErrNotFound, "GetUserByEmail after DeleteUser")
	wantErr(t, s.DeleteUser(t.Context(), u.ID), storage.ErrNotFound, "second DeleteUser")
	if _, err := s.GetUser(t.Context(), keep.ID); err != nil {
		t.Errorf("GetUser of another user after DeleteUser: %v", err)
	}

	// The address is free for someone else.
	createUser(t, s, func(v *storage.User) { v.Emails = []storage.EmailAddress{{Email: addr}} })
}

func userDeleteMissing(t *testing.T, s storage.Storage) {
	createUser(t, s)
	wantErr(t, s.DeleteUser(t.Context(), storage.NewID(storage.PrefixUser)), storage.ErrNotFound, "DeleteUser of a missing user")
	n, err := s.CountUsers(t.Context())
	must(t, err, "CountUsers")
	eq(t, "CountUsers", n, 1)
}

// createUsers creates n users one after the other and returns them in
// creation order.
func createUsers(t *testing.T, s storage.Storage, n int) []*storage.User {
	t.Helper()
	us := make([]*storage.User, n)
	for i := range us {
		us[i] = createUser(t, s)
	}
	return us
}

func userListNewestFirst(t *testing.T, s storage.Storage) {
	us := createUsers(t, s, 5)
	got, err := s.ListUsers(t.Context(), storage.Page{})
	must(t, err, "ListUsers")
	sameOrder(t, "ListUsers", ids(got, userIDOf), reverse(ids(us, userIDOf)))
	for _, g := range got {
		for _, u := range us {
			if u.ID == g.ID && g.FirstName != u.FirstName {
				t.Errorf("ListUsers: user %s FirstName = %q, want %q", g.ID, g.FirstName, u.FirstName)
			}
		}
	}
}

func userListPages(t *testing.T, s storage.Storage) {
	us := createUsers(t, s, 7)
	want := reverse(ids(us, userIDOf))

	var all []string
	seen := map[string]bool{}
	for off := 0; off < 9; off += 3 {
		page, err := s.ListUsers(t.Context(), storage.Page{Limit: 3, Offset: off})
		must(t, err, "ListUsers")
		wantLen := min(3, max(0, len(us)-off))
		if len(page) != wantLen {
			t.Errorf("ListUsers(Limit 3, Offset %d) returned %d users, want %d", off, len(page), wantLen)
		}
		for _, u := range page {
			if seen[u.ID] {
				t.Errorf("ListUsers: user %s on more than one page", u.ID)
			}
			seen[u.ID] = true
			all = append(all, u.ID)
		}
	}
	sameOrder(t, "ListUsers pages", all, want)

	past, err := s.ListUsers(t.Context(), storage.Page{Limit: 10, Offset: 7})
	must(t, err, "ListUsers past the end")
	if len(past) != 0 {
		t.Errorf("ListUsers(Offset 7) = %d users, want none", len(past))
	}
	one, err := s.ListUsers(t.Context(), storage.Page{Limit: 1, Offset: 2})
	must(t, err, "ListUsers")
	sameOrder(t, "ListUsers(Limit 1, Offset 2)", ids(one, userIDOf), want[2:3])
}

func userCount(t *testing.T, s storage.Storage) {
	n, err := s.CountUsers(t.Context())
	must(t, err, "CountUsers")
	eq(t, "CountUsers of an empty store", n, 0)
	us := createUsers(t, s, 4)
	n, err = s.CountUsers(t.Context())
	must(t, err, "CountUsers")
	eq(t, "CountUsers", n, 4)
	must(t, s.DeleteUser(t.Context(), us[1].ID), "DeleteUser")
	n, err = s.CountUsers(t.Context())
	must(t, err, "CountUsers")
	eq(t, "CountUsers after a delete", n, 3)
}

// failedAttempts reads the user's FailedAttempts.
func failedAttempts(t *testing.T, s storage.Storage, id string) int {
	t.Helper()
	u, err := s.GetUser(t.Context(), id)
	must(t, err, "GetUser")
	return u.FailedAttempts
}

func userReserveAttemptCountsToMax(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	at := now()
	for want := 1; want <= 3; want++ {
		n, err := s.ReserveAttempt(t.Context(), u.ID, 3, at)
		must(t, err, fmt.Sprintf("ReserveAttempt %d", want))
		eq(t, "count", n, want)
	}
	_, err := s.ReserveAttempt(t.Context(), u.ID, 3, at)
	wantErr(t, err, storage.ErrConflict, "ReserveAttempt beyond max")
	eq(t, "FailedAttempts", failedAttempts(t, s, u.ID), 3)
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "GetUser")
	sameTime(t, "UpdatedAt", got.UpdatedAt, u.UpdatedAt)

	// A larger bound, or a cleared count, makes room again.
	n, err := s.ReserveAttempt(t.Context(), u.ID, 4, at)
	must(t, err, "ReserveAttempt with a larger max")
	eq(t, "count", n, 4)
	got.FailedAttempts = 0
	must(t, s.UpdateUser(t.Context(), got), "UpdateUser")
	n, err = s.ReserveAttempt(t.Context(), u.ID, 3, at)
	must(t, err, "ReserveAttempt after clearing")
	eq(t, "count", n, 1)
}

func userReserveAttemptWhileLocked(t *testing.T, s storage.Storage) {
	at := now()
	u := createUser(t, s, func(u *storage.User) {
		u.LockedUntil = at.Add(time.Minute)
		u.FailedAttempts = 2
	})
	_, err := s.ReserveAttempt(t.Context(), u.ID, 10, at)
	wantErr(t, err, storage.ErrConflict, "ReserveAttempt while locked")
	_, err = s.ReserveAttempt(t.Context(), u.ID, 0, at.Add(time.Minute-time.Microsecond))
	wantErr(t, err, storage.ErrConflict, "ReserveAttempt without a bound while locked")
	eq(t, "FailedAttempts", failedAttempts(t, s, u.ID), 2)

	// The lock is over at LockedUntil itself.
	n, err := s.ReserveAttempt(t.Context(), u.ID, 10, at.Add(time.Minute))
	must(t, err, "ReserveAttempt when the lock ends")
	eq(t, "count", n, 3)
}

func userReserveAttemptUnbounded(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	for want := 1; want <= 5; want++ {
		n, err := s.ReserveAttempt(t.Context(), u.ID, 0, now())
		must(t, err, "ReserveAttempt with max 0")
		eq(t, "count", n, want)
	}
}

func userReserveAttemptMissing(t *testing.T, s storage.Storage) {
	createUser(t, s)
	_, err := s.ReserveAttempt(t.Context(), storage.NewID(storage.PrefixUser), 10, now())
	wantErr(t, err, storage.ErrNotFound, "ReserveAttempt of a missing user")
	u := createUser(t, s)
	_, err = s.ReserveAttempt(t.Context(), u.ID, 10, time.Time{})
	wantErr(t, err, storage.ErrInvalid, "ReserveAttempt without a time")
}

func userReserveAttemptInTx(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	errRollback := errors.New("roll back")
	err := s.InTx(t.Context(), func(tx storage.Tx) error {
		n, err := tx.ReserveAttempt(t.Context(), u.ID, 10, now())
		if err != nil {
			return err
		}
		eq(t, "count in the transaction", n, 1)
		return errRollback
	})
	wantErr(t, err, errRollback, "InTx")
	eq(t, "FailedAttempts after rollback", failedAttempts(t, s, u.ID), 0)
}

// However many callers reserve at once, exactly max get a place.
func userReserveAttemptConcurrent(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	const callers, limit = 30, 7
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]bool{}
	refused := 0
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			n, err := s.ReserveAttempt(t.Context(), u.ID, limit, now())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				if counts[n] {
					t.Errorf("two callers got place %d", n)
				}
				counts[n] = true
			case errors.Is(err, storage.ErrConflict):
				refused++
			default:
				t.Errorf("ReserveAttempt: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	eq(t, "places given", len(counts), limit)
	eq(t, "callers refused", refused, callers-limit)
	eq(t, "FailedAttempts", failedAttempts(t, s, u.ID), limit)
}
