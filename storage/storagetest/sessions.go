package storagetest

import (
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testSessions(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", sessionRoundTrip},
		{"Missing", sessionMissing},
		{"DuplicateTokenHash", sessionDuplicateHash},
		{"MissingUser", sessionMissingUser},
		{"Touch", sessionTouch},
		{"Revoke", sessionRevoke},
		{"RevokeUserSessions", sessionRevokeUser},
		{"ListNewestActivityFirst", sessionList},
		{"DeletedWithUser", sessionDeletedWithUser},
	})
}

func sessionRoundTrip(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	ss := createSession(t, s, u.ID, func(ss *storage.Session) {
		ss.AMR = []string{"pwd", "otp", "mfa"}
		ss.IPAddress = "2001:db8::1"
	})
	createSession(t, s, u.ID) // another one, to be told apart

	got, err := s.GetSession(t.Context(), ss.ID)
	must(t, err, "GetSession")
	sameSession(t, got, ss)

	byHash, err := s.GetSessionByTokenHash(t.Context(), ss.TokenHash)
	must(t, err, "GetSessionByTokenHash")
	sameSession(t, byHash, ss)

	if !got.Active(ss.LastActiveAt) {
		t.Error("a new session is not Active")
	}
	if got.Active(ss.ExpiresAt) || got.Active(ss.ExpiresAt.Add(time.Second)) {
		t.Error("a session is Active at or after ExpiresAt")
	}
}

func sessionMissing(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	ss := createSession(t, s, u.ID)
	ctx := t.Context()
	missing := storage.NewID(storage.PrefixSession)

	_, err := s.GetSession(ctx, missing)
	wantErr(t, err, storage.ErrNotFound, "GetSession of an unknown ID")
	_, err = s.GetSessionByTokenHash(ctx, randomBytes(32))
	wantErr(t, err, storage.ErrNotFound, "GetSessionByTokenHash of an unknown hash")
	_, err = s.GetSessionByTokenHash(ctx, ss.TokenHash[:31])
	wantErr(t, err, storage.ErrNotFound, "GetSessionByTokenHash of a prefix of a hash")
	_, err = s.GetSessionByTokenHash(ctx, nil)
	wantErr(t, err, storage.ErrNotFound, "GetSessionByTokenHash(nil)")
	n := now()
	wantErr(t, s.TouchSession(ctx, missing, n, n.Add(time.Hour)), storage.ErrNotFound, "TouchSession of an unknown ID")
	wantErr(t, s.RevokeSession(ctx, missing, n), storage.ErrNotFound, "RevokeSession of an unknown ID")
}

func sessionDuplicateHash(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	first := createSession(t, s, u.ID)
	dup := sessionFixture(u.ID)
	dup.TokenHash = append([]byte(nil), first.TokenHash...)
	wantErr(t, s.CreateSession(t.Context(), dup), storage.ErrConflict, "CreateSession with a taken token hash")
	got, err := s.GetSessionByTokenHash(t.Context(), first.TokenHash)
	must(t, err, "GetSessionByTokenHash")
	eq(t, "owner of the hash", got.ID, first.ID)

	again := sessionFixture(u.ID)
	again.ID = first.ID
	wantErr(t, s.CreateSession(t.Context(), again), storage.ErrConflict, "CreateSession with a taken ID")
}

func sessionMissingUser(t *testing.T, s storage.Storage) {
	ss := sessionFixture(storage.NewID(storage.PrefixUser))
	if err := s.CreateSession(t.Context(), ss); err == nil {
		t.Error("CreateSession for a missing user succeeded, want an error (foreign key)")
	}
}

func sessionTouch(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	ss := createSession(t, s, u.ID)
	other := createSession(t, s, u.ID)
	active := ss.LastActiveAt.Add(90 * time.Minute).In(odd).Add(789 * time.Nanosecond)
	expires := active.Add(48 * time.Hour)
	must(t, s.TouchSession(t.Context(), ss.ID, active, expires), "TouchSession")

	got, err := s.GetSession(t.Context(), ss.ID)
	must(t, err, "GetSession")
	want := *ss
	want.LastActiveAt, want.ExpiresAt = active, expires
	sameSession(t, got, &want)

	o, err := s.GetSession(t.Context(), other.ID)
	must(t, err, "GetSession of the other session")
	sameSession(t, o, other)
}

func sessionRevoke(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	ss := createSession(t, s, u.ID)
	other := createSession(t, s, u.ID)
	at := ss.CreatedAt.Add(time.Minute)
	must(t, s.RevokeSession(t.Context(), ss.ID, at), "RevokeSession")

	got, err := s.GetSession(t.Context(), ss.ID)
	must(t, err, "GetSession after RevokeSession (revoked sessions are still readable)")
	sameTime(t, "RevokedAt", got.RevokedAt, at)
	if got.Active(at) || got.Active(at.Add(time.Second)) {
		t.Error("revoked session is Active")
	}
	byHash, err := s.GetSessionByTokenHash(t.Context(), ss.TokenHash)
	must(t, err, "GetSessionByTokenHash after RevokeSession")
	sameTime(t, "RevokedAt by hash", byHash.RevokedAt, at)

	o, err := s.GetSession(t.Context(), other.ID)
	must(t, err, "GetSession of the other session")
	sameTime(t, "RevokedAt of the other session", o.RevokedAt, time.Time{})
}

func sessionRevokeUser(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	stranger := createUser(t, s)
	n := now()
	earlier := n.Add(-time.Hour)

	current := createSession(t, s, u.ID)
	a := createSession(t, s, u.ID)
	b := createSession(t, s, u.ID)
	old := createSession(t, s, u.ID, func(ss *storage.Session) { ss.RevokedAt = earlier })
	theirs := createSession(t, s, stranger.ID)

	count, err := s.RevokeUserSessions(t.Context(), u.ID, current.ID, n)
	must(t, err, "RevokeUserSessions")
	eq(t, "RevokeUserSessions count", count, int64(2))

	check := func(ss *storage.Session, want time.Time) {
		t.Helper()
		got, err := s.GetSession(t.Context(), ss.ID)
		must(t, err, "GetSession")
		sameTime(t, "RevokedAt of "+ss.ID, got.RevokedAt, want)
	}
	check(current, time.Time{})
	check(a, n)
	check(b, n)
	check(old, earlier) // already revoked: left as it was
	check(theirs, time.Time{})

	// Without an exception the current one goes too.
	later := n.Add(time.Minute)
	count, err = s.RevokeUserSessions(t.Context(), u.ID, "", later)
	must(t, err, "RevokeUserSessions without exception")
	eq(t, "RevokeUserSessions count without exception", count, int64(1))
	check(current, later)
	check(a, n)
	check(theirs, time.Time{})

	count, err = s.RevokeUserSessions(t.Context(), u.ID, "", later)
	must(t, err, "RevokeUserSessions again")
	eq(t, "RevokeUserSessions count with nothing left", count, int64(0))
}

func sessionList(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	stranger := createUser(t, s)
	n := now()
	at := func(d time.Duration) func(*storage.Session) {
		return func(ss *storage.Session) { ss.LastActiveAt = n.Add(d) }
	}
	mid := createSession(t, s, u.ID, at(-2*time.Hour))
	oldest := createSession(t, s, u.ID, at(-3*time.Hour))
	newest := createSession(t, s, u.ID, at(-time.Hour))
	createSession(t, s, stranger.ID, at(-30*time.Minute))

	got, err := s.ListUserSessions(t.Context(), u.ID)
	must(t, err, "ListUserSessions")
	sameOrder(t, "ListUserSessions", ids(got, sessionIDOf), []string{newest.ID, mid.ID, oldest.ID})
	if len(got) == 3 {
		sameSession(t, got[0], newest)
	}

	// Touching the oldest moves it to the front.
	must(t, s.TouchSession(t.Context(), oldest.ID, n, n.Add(time.Hour)), "TouchSession")
	got, err = s.ListUserSessions(t.Context(), u.ID)
	must(t, err, "ListUserSessions")
	sameOrder(t, "ListUserSessions after TouchSession", ids(got, sessionIDOf), []string{oldest.ID, newest.ID, mid.ID})

	none, err := s.ListUserSessions(t.Context(), storage.NewID(storage.PrefixUser))
	must(t, err, "ListUserSessions of an unknown user")
	if len(none) != 0 {
		t.Errorf("ListUserSessions of an unknown user = %d sessions, want none", len(none))
	}
}

func sessionDeletedWithUser(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	keep := createUser(t, s)
	a := createSession(t, s, u.ID)
	b := createSession(t, s, u.ID)
	k := createSession(t, s, keep.ID)
	must(t, s.DeleteUser(t.Context(), u.ID), "DeleteUser")

	for _, ss := range []*storage.Session{a, b} {
		_, err := s.GetSession(t.Context(), ss.ID)
		wantErr(t, err, storage.ErrNotFound, "GetSession of a deleted user's session")
		_, err = s.GetSessionByTokenHash(t.Context(), ss.TokenHash)
		wantErr(t, err, storage.ErrNotFound, "GetSessionByTokenHash of a deleted user's session")
	}
	if _, err := s.GetSession(t.Context(), k.ID); err != nil {
		t.Errorf("GetSession of another user's session: %v", err)
	}
	list, err := s.ListUserSessions(t.Context(), u.ID)
	must(t, err, "ListUserSessions of a deleted user")
	if len(list) != 0 {
		t.Errorf("ListUserSessions of a deleted user = %d sessions, want none", len(list))
	}
}
