package storagetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testDeviceAuthorizations(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", deviceRoundTrip},
		{"Missing", deviceMissing},
		{"MissingClient", deviceMissingClient},
		{"Invalid", deviceInvalid},
		{"UserCodeConflict", deviceUserCodeConflict},
		{"DeviceCodeConflict", deviceCodeConflict},
		{"Expiry", deviceExpiry},
		{"ApproveOnce", deviceApproveOnce},
		{"DenyOnce", deviceDenyOnce},
		{"ApproveConcurrent", deviceApproveConcurrent},
		{"Poll", devicePoll},
		{"Claim", deviceClaim},
		{"ClaimConcurrent", deviceClaimConcurrent},
		{"Delete", deviceDelete},
		{"DeleteExpired", deviceDeleteExpired},
	})
}

// deviceTTL is how long the suite's device authorizations live.
const deviceTTL = 10 * time.Minute

// userCode returns a fresh normalized user code.
func userCode() string {
	return storage.NormalizeUserCode(strings.ReplaceAll(uniq("UC"), "-", ""))
}

func createDevice(t testing.TB, s storage.Tx, clientID string, mods ...func(*storage.DeviceAuthorization)) *storage.DeviceAuthorization {
	t.Helper()
	n := now()
	d := &storage.DeviceAuthorization{
		DeviceCodeHash: randomBytes(32),
		UserCode:       userCode(),
		ClientID:       clientID,
		Scopes:         []string{"openid", "profile", "offline_access"},
		CreatedAt:      n,
		ExpiresAt:      n.Add(deviceTTL),
	}
	return create(t, "CreateDeviceAuthorization", d, mods, s.CreateDeviceAuthorization)
}

func sameDevice(t testing.TB, got, want *storage.DeviceAuthorization) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	sameBytes(t, "DeviceCodeHash", got.DeviceCodeHash, want.DeviceCodeHash)
	eq(t, "UserCode", got.UserCode, want.UserCode)
	eq(t, "ClientID", got.ClientID, want.ClientID)
	sameStrings(t, "Scopes", got.Scopes, want.Scopes)
	eq(t, "Status", got.Status, want.Status)
	eq(t, "UserID", got.UserID, want.UserID)
	eq(t, "SessionID", got.SessionID, want.SessionID)
	sameTime(t, "AuthTime", got.AuthTime, want.AuthTime)
	sameStrings(t, "AMR", got.AMR, want.AMR)
	sameTime(t, "DecidedAt", got.DecidedAt, want.DecidedAt)
	sameTime(t, "PolledAt", got.PolledAt, want.PolledAt)
	eq(t, "Polls", got.Polls, want.Polls)
	sameTime(t, "ClaimedAt", got.ClaimedAt, want.ClaimedAt)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func deviceRoundTrip(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	fine := time.Date(2031, 7, 8, 9, 10, 11, 123456789, odd)
	d := createDevice(t, s, c.ID, func(d *storage.DeviceAuthorization) {
		d.CreatedAt, d.ExpiresAt = fine, fine.Add(deviceTTL)
	})
	if !strings.HasPrefix(d.ID, storage.PrefixDeviceAuthorization+"_") {
		t.Errorf("ID = %q, want prefix %s_", d.ID, storage.PrefixDeviceAuthorization)
	}
	eq(t, "Status after create", d.Status, storage.DeviceAuthPending)
	got, err := s.GetDeviceAuthorizationByUserCode(t.Context(), d.UserCode, fine)
	must(t, err, "GetDeviceAuthorizationByUserCode")
	sameDevice(t, got, d)
	got, err = s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode")
	sameDevice(t, got, d)

	// Without scopes, and with a CreatedAt filled in.
	bare := &storage.DeviceAuthorization{DeviceCodeHash: randomBytes(32), UserCode: userCode(), ClientID: c.ID, ExpiresAt: now().Add(deviceTTL)}
	must(t, s.CreateDeviceAuthorization(t.Context(), bare), "CreateDeviceAuthorization without scopes")
	if bare.CreatedAt.IsZero() {
		t.Error("CreateDeviceAuthorization did not set CreatedAt")
	}
	got, err = s.GetDeviceAuthorizationByDeviceCode(t.Context(), bare.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode")
	sameDevice(t, got, bare)
}

func deviceMissing(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	createDevice(t, s, c.ID)
	ctx, n := t.Context(), now()
	missing := storage.NewID(storage.PrefixDeviceAuthorization)
	_, err := s.GetDeviceAuthorizationByUserCode(ctx, userCode(), n)
	wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorizationByUserCode of an unknown code")
	_, err = s.GetDeviceAuthorizationByDeviceCode(ctx, randomBytes(32))
	wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorizationByDeviceCode of an unknown code")
	_, err = s.PollDeviceAuthorization(ctx, randomBytes(32), c.ID, n, time.Second, 2)
	wantErr(t, err, storage.ErrNotFound, "PollDeviceAuthorization of an unknown code")
	wantErr(t, s.ApproveDeviceAuthorization(ctx, missing, "user_x", "sess_x", n, []string{"pwd"}, n), storage.ErrNotFound, "ApproveDeviceAuthorization of an unknown ID")
	wantErr(t, s.DenyDeviceAuthorization(ctx, missing, "user_x", "sess_x", n), storage.ErrNotFound, "DenyDeviceAuthorization of an unknown ID")
	wantErr(t, s.ClaimDeviceAuthorization(ctx, missing, n), storage.ErrNotFound, "ClaimDeviceAuthorization of an unknown ID")
	wantErr(t, s.DeleteDeviceAuthorization(ctx, missing), storage.ErrNotFound, "DeleteDeviceAuthorization of an unknown ID")
}

func deviceMissingClient(t *testing.T, s storage.Storage) {
	n := now()
	d := &storage.DeviceAuthorization{DeviceCodeHash: randomBytes(32), UserCode: userCode(), ClientID: uniq("no-such-client"), CreatedAt: n, ExpiresAt: n.Add(deviceTTL)}
	if err := s.CreateDeviceAuthorization(t.Context(), d); err == nil {
		t.Error("CreateDeviceAuthorization for a missing client succeeded, want an error (foreign key)")
	}
}

func deviceInvalid(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	n := now()
	for name, d := range map[string]*storage.DeviceAuthorization{
		"without a device code hash": {UserCode: userCode(), ClientID: c.ID, ExpiresAt: n.Add(deviceTTL)},
		"without a user code":        {DeviceCodeHash: randomBytes(32), ClientID: c.ID, ExpiresAt: n.Add(deviceTTL)},
		"without an expiry":          {DeviceCodeHash: randomBytes(32), UserCode: userCode(), ClientID: c.ID},
	} {
		wantErr(t, s.CreateDeviceAuthorization(t.Context(), d), storage.ErrInvalid, "CreateDeviceAuthorization "+name)
	}
}

func deviceUserCodeConflict(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	a := createDevice(t, s, c.ID)
	// While a holds the code, nobody else gets it.
	b := &storage.DeviceAuthorization{DeviceCodeHash: randomBytes(32), UserCode: a.UserCode, ClientID: c.ID,
		CreatedAt: a.ExpiresAt.Add(-time.Microsecond), ExpiresAt: a.ExpiresAt.Add(deviceTTL)}
	wantErr(t, s.CreateDeviceAuthorization(t.Context(), b), storage.ErrConflict, "CreateDeviceAuthorization with a user code held by a live authorization")
	got, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), a.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode of the holder")
	sameDevice(t, got, a)
	// Once a has expired, the code is free again and a is gone.
	b.ID, b.CreatedAt = "", a.ExpiresAt
	must(t, s.CreateDeviceAuthorization(t.Context(), b), "CreateDeviceAuthorization with a user code of an expired authorization")
	_, err = s.GetDeviceAuthorizationByDeviceCode(t.Context(), a.DeviceCodeHash)
	wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorizationByDeviceCode of the expired holder replaced")
	got, err = s.GetDeviceAuthorizationByUserCode(t.Context(), b.UserCode, b.CreatedAt)
	must(t, err, "GetDeviceAuthorizationByUserCode of the new holder")
	eq(t, "holder of the user code", got.ID, b.ID)
}

func deviceCodeConflict(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	a := createDevice(t, s, c.ID)
	n := now()
	b := &storage.DeviceAuthorization{DeviceCodeHash: a.DeviceCodeHash, UserCode: userCode(), ClientID: c.ID, CreatedAt: n, ExpiresAt: n.Add(deviceTTL)}
	wantErr(t, s.CreateDeviceAuthorization(t.Context(), b), storage.ErrConflict, "CreateDeviceAuthorization with a device code hash already stored")
}

func deviceExpiry(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	d := createDevice(t, s, c.ID)
	u := createUser(t, s)
	if _, err := s.GetDeviceAuthorizationByUserCode(t.Context(), d.UserCode, d.ExpiresAt.Add(-time.Second)); err != nil {
		t.Errorf("GetDeviceAuthorizationByUserCode a second before ExpiresAt: %v", err)
	}
	// Like a session, an authorization is over at ExpiresAt itself.
	for _, at := range []time.Time{d.ExpiresAt, d.ExpiresAt.Add(time.Microsecond), d.ExpiresAt.Add(time.Hour)} {
		late := " (" + at.Sub(d.ExpiresAt).String() + " late)"
		_, err := s.GetDeviceAuthorizationByUserCode(t.Context(), d.UserCode, at)
		wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorizationByUserCode after ExpiresAt"+late)
		wantErr(t, s.ApproveDeviceAuthorization(t.Context(), d.ID, u.ID, "sess_x", at, []string{"pwd"}, at), storage.ErrNotFound, "ApproveDeviceAuthorization after ExpiresAt"+late)
		wantErr(t, s.DenyDeviceAuthorization(t.Context(), d.ID, u.ID, "sess_x", at), storage.ErrNotFound, "DenyDeviceAuthorization after ExpiresAt"+late)
	}
	// The poller still finds it, to be told it expired.
	got, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode after ExpiresAt")
	eq(t, "Status after expiry", got.Status, storage.DeviceAuthPending)
	polled, err := s.PollDeviceAuthorization(t.Context(), d.DeviceCodeHash, c.ID, d.ExpiresAt.Add(time.Minute), 5*time.Second, 2)
	must(t, err, "PollDeviceAuthorization after ExpiresAt")
	eq(t, "polled ID", polled.ID, d.ID)
}

func deviceApproveOnce(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	u := createUser(t, s)
	ss := createSession(t, s, u.ID)
	d := createDevice(t, s, c.ID)
	other := createDevice(t, s, c.ID)
	at := d.CreatedAt.Add(time.Minute).In(odd)
	authTime := time.Date(2030, 5, 6, 7, 8, 9, 987654321, odd)
	amr := []string{"pwd", "otp"}
	must(t, s.ApproveDeviceAuthorization(t.Context(), d.ID, u.ID, ss.ID, authTime, amr, at), "ApproveDeviceAuthorization")

	got, err := s.GetDeviceAuthorizationByUserCode(t.Context(), d.UserCode, d.CreatedAt)
	must(t, err, "GetDeviceAuthorizationByUserCode")
	want := *d
	want.Status, want.UserID, want.SessionID, want.AuthTime, want.AMR, want.DecidedAt = storage.DeviceAuthApproved, u.ID, ss.ID, authTime, amr, at
	sameDevice(t, got, &want)

	wantErr(t, s.ApproveDeviceAuthorization(t.Context(), d.ID, "user_other", "sess_other", at, []string{"pwd"}, at.Add(time.Second)), storage.ErrConflict, "second ApproveDeviceAuthorization")
	wantErr(t, s.DenyDeviceAuthorization(t.Context(), d.ID, "user_other", "sess_other", at.Add(time.Second)), storage.ErrConflict, "DenyDeviceAuthorization after approval")
	got, err = s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode")
	sameDevice(t, got, &want) // the first answer stays

	o, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), other.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode of another authorization")
	sameDevice(t, o, other)
}

func deviceDenyOnce(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	u := createUser(t, s)
	d := createDevice(t, s, c.ID)
	at := d.CreatedAt.Add(time.Minute)
	must(t, s.DenyDeviceAuthorization(t.Context(), d.ID, u.ID, "sess_1", at), "DenyDeviceAuthorization")
	got, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode")
	want := *d
	want.Status, want.UserID, want.SessionID, want.DecidedAt = storage.DeviceAuthDenied, u.ID, "sess_1", at
	sameDevice(t, got, &want)
	wantErr(t, s.DenyDeviceAuthorization(t.Context(), d.ID, u.ID, "sess_1", at.Add(time.Second)), storage.ErrConflict, "second DenyDeviceAuthorization")
	wantErr(t, s.ApproveDeviceAuthorization(t.Context(), d.ID, u.ID, "sess_1", at, []string{"pwd"}, at.Add(time.Second)), storage.ErrConflict, "ApproveDeviceAuthorization after denial")
	wantErr(t, s.ClaimDeviceAuthorization(t.Context(), d.ID, at.Add(time.Second)), storage.ErrConflict, "ClaimDeviceAuthorization of a denied authorization")
	got, err = s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode")
	sameDevice(t, got, &want)
}

func deviceApproveConcurrent(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	d := createDevice(t, s, c.ID)
	at := d.CreatedAt.Add(time.Second)
	users := make([]string, 10)
	for i := range users {
		users[i] = uniq("user")
	}
	errs := race(len(users), func(i int) error {
		if i%2 == 1 {
			return s.DenyDeviceAuthorization(t.Context(), d.ID, users[i], "sess_"+users[i], at)
		}
		return s.ApproveDeviceAuthorization(t.Context(), d.ID, users[i], "sess_"+users[i], at, []string{"pwd"}, at)
	})
	w := oneWinner(t, "ApproveDeviceAuthorization / DenyDeviceAuthorization", errs)
	if w < 0 {
		return
	}
	got, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode")
	eq(t, "UserID of the answer that stayed", got.UserID, users[w])
	wantStatus := storage.DeviceAuthApproved
	if w%2 == 1 {
		wantStatus = storage.DeviceAuthDenied
	}
	eq(t, "Status of the answer that stayed", got.Status, wantStatus)
}

func devicePoll(t *testing.T, s storage.Storage) {
	c, other := createClient(t, s), createClient(t, s)
	d := createDevice(t, s, c.ID)
	ctx := t.Context()
	const interval, burst = 5 * time.Second, 2
	first := d.CreatedAt.Add(interval).In(odd)
	got, err := s.PollDeviceAuthorization(ctx, d.DeviceCodeHash, c.ID, first, interval, burst)
	must(t, err, "first PollDeviceAuthorization")
	want := *d
	want.PolledAt, want.Polls = first, 1
	sameDevice(t, got, &want)

	// Up to burst polls in a window are answered and counted.
	got, err = s.PollDeviceAuthorization(ctx, d.DeviceCodeHash, c.ID, first.Add(time.Second), interval, burst)
	must(t, err, "second PollDeviceAuthorization in the window")
	want.Polls = 2
	sameDevice(t, got, &want)

	// One more: not recorded, reported with the authorization.
	got, err = s.PollDeviceAuthorization(ctx, d.DeviceCodeHash, c.ID, first.Add(interval-time.Microsecond), interval, burst)
	wantErr(t, err, storage.ErrConflict, "PollDeviceAuthorization beyond the burst")
	if got == nil {
		t.Fatal("PollDeviceAuthorization beyond the burst returned no authorization")
	}
	sameDevice(t, got, &want)

	// Another client's poll is as if the code did not exist, and records nothing.
	_, err = s.PollDeviceAuthorization(ctx, d.DeviceCodeHash, other.ID, first.Add(time.Hour), interval, burst)
	wantErr(t, err, storage.ErrNotFound, "PollDeviceAuthorization by another client")

	// A window is over interval after it started.
	second := first.Add(interval)
	got, err = s.PollDeviceAuthorization(ctx, d.DeviceCodeHash, c.ID, second, interval, burst)
	must(t, err, "PollDeviceAuthorization in the next window")
	want.PolledAt, want.Polls = second, 1
	sameDevice(t, got, &want)

	// Of concurrent polls in a new window, burst are answered.
	third := second.Add(interval)
	errs := race(8, func(int) error {
		_, err := s.PollDeviceAuthorization(ctx, d.DeviceCodeHash, c.ID, third, interval, burst)
		return err
	})
	answered := 0
	for i, err := range errs {
		switch {
		case err == nil:
			answered++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("concurrent poll %d: %v, want nil or %v", i, err, storage.ErrConflict)
		}
	}
	eq(t, "concurrent polls answered", answered, burst)
}

func deviceClaim(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	u := createUser(t, s)
	d := createDevice(t, s, c.ID)
	at := d.CreatedAt.Add(time.Minute)
	wantErr(t, s.ClaimDeviceAuthorization(t.Context(), d.ID, at), storage.ErrConflict, "ClaimDeviceAuthorization of a pending authorization")
	must(t, s.ApproveDeviceAuthorization(t.Context(), d.ID, u.ID, "sess_1", at, []string{"pwd"}, at), "ApproveDeviceAuthorization")
	claimed := at.Add(5 * time.Second)
	must(t, s.ClaimDeviceAuthorization(t.Context(), d.ID, claimed), "ClaimDeviceAuthorization")
	wantErr(t, s.ClaimDeviceAuthorization(t.Context(), d.ID, claimed.Add(time.Second)), storage.ErrConflict, "second ClaimDeviceAuthorization")
	got, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash)
	must(t, err, "GetDeviceAuthorizationByDeviceCode")
	sameTime(t, "ClaimedAt (the first claim stays)", got.ClaimedAt, claimed)
	eq(t, "Status after the claim", got.Status, storage.DeviceAuthApproved)
}

func deviceClaimConcurrent(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	u := createUser(t, s)
	d := createDevice(t, s, c.ID)
	at := d.CreatedAt.Add(time.Minute)
	must(t, s.ApproveDeviceAuthorization(t.Context(), d.ID, u.ID, "sess_1", at, []string{"pwd"}, at), "ApproveDeviceAuthorization")
	errs := race(10, func(int) error { return s.ClaimDeviceAuthorization(t.Context(), d.ID, at.Add(time.Second)) })
	oneWinner(t, "ClaimDeviceAuthorization", errs)
}

func deviceDelete(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	d := createDevice(t, s, c.ID)
	keep := createDevice(t, s, c.ID)
	must(t, s.DeleteDeviceAuthorization(t.Context(), d.ID), "DeleteDeviceAuthorization")
	_, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash)
	wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorizationByDeviceCode after DeleteDeviceAuthorization")
	_, err = s.GetDeviceAuthorizationByUserCode(t.Context(), d.UserCode, d.CreatedAt)
	wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorizationByUserCode after DeleteDeviceAuthorization")
	wantErr(t, s.DeleteDeviceAuthorization(t.Context(), d.ID), storage.ErrNotFound, "second DeleteDeviceAuthorization")
	if _, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), keep.DeviceCodeHash); err != nil {
		t.Errorf("GetDeviceAuthorizationByDeviceCode of another authorization: %v", err)
	}
	// Deleting the client takes its device authorizations along.
	must(t, s.DeleteClient(t.Context(), c.ID), "DeleteClient")
	_, err = s.GetDeviceAuthorizationByDeviceCode(t.Context(), keep.DeviceCodeHash)
	wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorizationByDeviceCode after its client was deleted")
}

// DeleteExpired purges device authorizations with ExpiresAt <= now, answered
// or not, and leaves the rest.
func deviceDeleteExpired(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	u := createUser(t, s)
	n := now()
	exp := func(d time.Duration) func(*storage.DeviceAuthorization) {
		return func(x *storage.DeviceAuthorization) { x.CreatedAt, x.ExpiresAt = n.Add(-time.Hour), n.Add(d) }
	}
	approved := createDevice(t, s, c.ID, exp(-time.Second))
	must(t, s.ApproveDeviceAuthorization(t.Context(), approved.ID, u.ID, "sess_1", approved.CreatedAt, []string{"pwd"}, approved.CreatedAt), "ApproveDeviceAuthorization")
	gone := map[string]*storage.DeviceAuthorization{
		"approved, expired a second ago": approved,
		"pending, expired a minute ago":  createDevice(t, s, c.ID, exp(-time.Minute)),
		"pending, expiring right now":    createDevice(t, s, c.ID, exp(0)),
	}
	kept := map[string]*storage.DeviceAuthorization{
		"expiring in a microsecond": createDevice(t, s, c.ID, exp(time.Microsecond)),
		"expiring in ten minutes":   createDevice(t, s, c.ID, exp(10*time.Minute)),
	}
	got, err := s.DeleteExpired(t.Context(), n)
	must(t, err, "DeleteExpired")
	eq(t, "DeleteExpired", got, storage.CleanupCounts{DeviceAuthorizations: 3})
	for name, d := range gone {
		_, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash)
		wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorizationByDeviceCode of one "+name)
	}
	for name, d := range kept {
		if _, err := s.GetDeviceAuthorizationByDeviceCode(t.Context(), d.DeviceCodeHash); err != nil {
			t.Errorf("GetDeviceAuthorizationByDeviceCode of one %s: %v", name, err)
		}
	}
}
