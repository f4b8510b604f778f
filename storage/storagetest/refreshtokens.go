package storagetest

import (
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testRefreshTokens(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", rtRoundTrip},
		{"Missing", rtMissing},
		{"DuplicateHash", rtDuplicateHash},
		{"MissingUserOrClient", rtMissingRefs},
		{"Rotate", rtRotate},
		{"RotateTwice", rtRotateTwice},
		{"RotateRevoked", rtRotateRevoked},
		{"RotateConcurrent", rtRotateConcurrent},
		{"RevokeFamily", rtRevokeFamily},
		{"RevokeByUser", rtRevokeByUser},
		{"RevokeByAuthRequest", rtRevokeByAuthRequest},
		{"DeletedWithUser", rtDeletedWithUser},
	})
}

// rtEnv is a user and a client for tokens to belong to.
func rtEnv(t *testing.T, s storage.Storage) (*storage.User, *storage.Client) {
	t.Helper()
	return createUser(t, s), createClient(t, s)
}

func getRT(t *testing.T, s storage.Storage, rt *storage.RefreshToken) *storage.RefreshToken {
	t.Helper()
	got, err := s.GetRefreshTokenByHash(t.Context(), rt.TokenHash)
	must(t, err, "GetRefreshTokenByHash")
	return got
}

func rtRoundTrip(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	ss := createSession(t, s, u.ID)
	r := createAuthRequest(t, s, c.ID)
	for _, tc := range []struct {
		name string
		mod  func(*storage.RefreshToken)
	}{
		{"Full", func(rt *storage.RefreshToken) {
			rt.SessionID = ss.ID
			rt.AuthRequestID = r.ID
			rt.Scopes = []string{"openid", "profile", "offline_access"}
			rt.Audience = []string{c.ID, "https://api.example.com"}
			rt.AMR = []string{"pwd", "otp"}
		}},
		{"Minimal", func(rt *storage.RefreshToken) {
			rt.Scopes, rt.Audience, rt.AMR, rt.AuthTime = nil, nil, nil, time.Time{}
		}},
		{"RotatedAndRevoked", func(rt *storage.RefreshToken) {
			rt.RotatedAt = rt.CreatedAt.Add(time.Minute)
			rt.ReplacedBy = storage.NewID(storage.PrefixRefreshToken)
			rt.RevokedAt = rt.CreatedAt.Add(2 * time.Minute)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := createRefreshToken(t, s, u.ID, c.ID, tc.mod)
			sameRefreshToken(t, getRT(t, s, rt), rt)
		})
	}
}

func rtMissing(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	rt := createRefreshToken(t, s, u.ID, c.ID)
	for name, h := range map[string][]byte{"unknown": randomBytes(32), "prefix": rt.TokenHash[:16], "nil": nil} {
		_, err := s.GetRefreshTokenByHash(t.Context(), h)
		wantErr(t, err, storage.ErrNotFound, "GetRefreshTokenByHash of an "+name+" hash")
	}
	err := s.MarkRefreshTokenRotated(t.Context(), storage.NewID(storage.PrefixRefreshToken), rt.ID, now())
	if !errorsIsAny(err, storage.ErrNotFound, storage.ErrConflict) {
		t.Errorf("MarkRefreshTokenRotated of an unknown ID: err = %v, want %v or %v", err, storage.ErrNotFound, storage.ErrConflict)
	}
}

func rtDuplicateHash(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	rt := createRefreshToken(t, s, u.ID, c.ID)
	dup := refreshTokenFixture(u.ID, c.ID)
	dup.TokenHash = append([]byte(nil), rt.TokenHash...)
	wantErr(t, s.CreateRefreshToken(t.Context(), dup), storage.ErrConflict, "CreateRefreshToken with a taken hash")
	eq(t, "owner of the hash", getRT(t, s, rt).ID, rt.ID)
}

func rtMissingRefs(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	if err := s.CreateRefreshToken(t.Context(), refreshTokenFixture(storage.NewID(storage.PrefixUser), c.ID)); err == nil {
		t.Error("CreateRefreshToken for a missing user succeeded, want an error (foreign key)")
	}
	if err := s.CreateRefreshToken(t.Context(), refreshTokenFixture(u.ID, uniq("no-such-client"))); err == nil {
		t.Error("CreateRefreshToken for a missing client succeeded, want an error (foreign key)")
	}
}

func rtRotate(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	rt := createRefreshToken(t, s, u.ID, c.ID)
	sibling := createRefreshToken(t, s, u.ID, c.ID, func(x *storage.RefreshToken) { x.FamilyID = rt.FamilyID })
	next := storage.NewID(storage.PrefixRefreshToken)
	at := rt.CreatedAt.Add(time.Hour).In(odd).Add(999 * time.Nanosecond)
	must(t, s.MarkRefreshTokenRotated(t.Context(), rt.ID, next, at), "MarkRefreshTokenRotated")

	want := *rt
	want.RotatedAt, want.ReplacedBy = at, next
	sameRefreshToken(t, getRT(t, s, rt), &want)
	sameRefreshToken(t, getRT(t, s, sibling), sibling)
}

func rtRotateTwice(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	rt := createRefreshToken(t, s, u.ID, c.ID)
	first := storage.NewID(storage.PrefixRefreshToken)
	at := rt.CreatedAt.Add(time.Minute)
	must(t, s.MarkRefreshTokenRotated(t.Context(), rt.ID, first, at), "first MarkRefreshTokenRotated")
	wantErr(t, s.MarkRefreshTokenRotated(t.Context(), rt.ID, storage.NewID(storage.PrefixRefreshToken), at.Add(time.Minute)),
		storage.ErrConflict, "second MarkRefreshTokenRotated")
	got := getRT(t, s, rt)
	eq(t, "ReplacedBy after the second rotation", got.ReplacedBy, first)
	sameTime(t, "RotatedAt after the second rotation", got.RotatedAt, at)
}

func rtRotateRevoked(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	rt := createRefreshToken(t, s, u.ID, c.ID)
	n, err := s.RevokeRefreshTokenFamily(t.Context(), rt.FamilyID, rt.CreatedAt.Add(time.Minute))
	must(t, err, "RevokeRefreshTokenFamily")
	eq(t, "RevokeRefreshTokenFamily count", n, int64(1))
	wantErr(t, s.MarkRefreshTokenRotated(t.Context(), rt.ID, storage.NewID(storage.PrefixRefreshToken), rt.CreatedAt.Add(2*time.Minute)),
		storage.ErrConflict, "MarkRefreshTokenRotated of a revoked token")
	got := getRT(t, s, rt)
	sameTime(t, "RotatedAt of the revoked token", got.RotatedAt, time.Time{})
	eq(t, "ReplacedBy of the revoked token", got.ReplacedBy, "")

	// Also when created revoked.
	dead := createRefreshToken(t, s, u.ID, c.ID, func(x *storage.RefreshToken) { x.RevokedAt = x.CreatedAt })
	wantErr(t, s.MarkRefreshTokenRotated(t.Context(), dead.ID, storage.NewID(storage.PrefixRefreshToken), now()),
		storage.ErrConflict, "MarkRefreshTokenRotated of a token created revoked")
}

func rtRotateConcurrent(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	rt := createRefreshToken(t, s, u.ID, c.ID)
	at := rt.CreatedAt.Add(time.Minute)
	next := make([]string, 10)
	for i := range next {
		next[i] = storage.NewID(storage.PrefixRefreshToken)
	}
	errs := race(10, func(i int) error {
		return s.MarkRefreshTokenRotated(t.Context(), rt.ID, next[i], at)
	})
	if w := oneWinner(t, "MarkRefreshTokenRotated", errs); w >= 0 {
		eq(t, "ReplacedBy", getRT(t, s, rt).ReplacedBy, next[w])
	}
}

func rtRevokeFamily(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	n := now()
	earlier := n.Add(-time.Hour)
	first := createRefreshToken(t, s, u.ID, c.ID, func(x *storage.RefreshToken) {
		x.RotatedAt = n.Add(-30 * time.Minute)
		x.ReplacedBy = storage.NewID(storage.PrefixRefreshToken)
	})
	fam := func(x *storage.RefreshToken) { x.FamilyID = first.FamilyID }
	second := createRefreshToken(t, s, u.ID, c.ID, fam)
	gone := createRefreshToken(t, s, u.ID, c.ID, fam, func(x *storage.RefreshToken) { x.RevokedAt = earlier })
	stranger := createRefreshToken(t, s, u.ID, c.ID)

	count, err := s.RevokeRefreshTokenFamily(t.Context(), first.FamilyID, n)
	must(t, err, "RevokeRefreshTokenFamily")
	eq(t, "RevokeRefreshTokenFamily count", count, int64(2))
	sameTime(t, "RevokedAt of the rotated token", getRT(t, s, first).RevokedAt, n)
	sameTime(t, "RevokedAt of the live token", getRT(t, s, second).RevokedAt, n)
	sameTime(t, "RevokedAt of the token revoked before", getRT(t, s, gone).RevokedAt, earlier)
	sameTime(t, "RevokedAt of another family's token", getRT(t, s, stranger).RevokedAt, time.Time{})

	count, err = s.RevokeRefreshTokenFamily(t.Context(), first.FamilyID, n.Add(time.Minute))
	must(t, err, "RevokeRefreshTokenFamily again")
	eq(t, "RevokeRefreshTokenFamily count with nothing left", count, int64(0))
	sameTime(t, "RevokedAt after revoking again", getRT(t, s, second).RevokedAt, n)

	count, err = s.RevokeRefreshTokenFamily(t.Context(), storage.NewID(storage.PrefixTokenFamily), n)
	must(t, err, "RevokeRefreshTokenFamily of an unknown family")
	eq(t, "RevokeRefreshTokenFamily count of an unknown family", count, int64(0))
}

func rtRevokeByUser(t *testing.T, s storage.Storage) {
	u, c1 := rtEnv(t, s)
	c2 := createClient(t, s)
	other := createUser(t, s)
	a := createRefreshToken(t, s, u.ID, c1.ID)
	b := createRefreshToken(t, s, u.ID, c1.ID)
	d := createRefreshToken(t, s, u.ID, c2.ID)
	theirs := createRefreshToken(t, s, other.ID, c1.ID)
	n := now()

	count, err := s.RevokeRefreshTokens(t.Context(), u.ID, c1.ID, n)
	must(t, err, "RevokeRefreshTokens(user, client)")
	eq(t, "RevokeRefreshTokens(user, client) count", count, int64(2))
	sameTime(t, "RevokedAt of a revoked token", getRT(t, s, a).RevokedAt, n)
	sameTime(t, "RevokedAt of a revoked token", getRT(t, s, b).RevokedAt, n)
	sameTime(t, "RevokedAt of the user's token for another client", getRT(t, s, d).RevokedAt, time.Time{})
	sameTime(t, "RevokedAt of another user's token", getRT(t, s, theirs).RevokedAt, time.Time{})

	later := n.Add(time.Minute)
	count, err = s.RevokeRefreshTokens(t.Context(), u.ID, "", later)
	must(t, err, "RevokeRefreshTokens(user, all clients)")
	eq(t, "RevokeRefreshTokens(user, all clients) count (only tokens not yet revoked)", count, int64(1))
	sameTime(t, "RevokedAt of the last token", getRT(t, s, d).RevokedAt, later)
	sameTime(t, "RevokedAt of a token revoked before", getRT(t, s, a).RevokedAt, n)
	sameTime(t, "RevokedAt of another user's token", getRT(t, s, theirs).RevokedAt, time.Time{})
}

func rtRevokeByAuthRequest(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	r1 := createAuthRequest(t, s, c.ID)
	r2 := createAuthRequest(t, s, c.ID)
	from := func(id string) func(*storage.RefreshToken) {
		return func(x *storage.RefreshToken) { x.AuthRequestID = id }
	}
	a := createRefreshToken(t, s, u.ID, c.ID, from(r1.ID))
	b := createRefreshToken(t, s, u.ID, c.ID, from(r1.ID))
	// A successor of a, issued by rotation rather than by the code grant:
	// the grant's tokens include it (RFC 6749 section 4.1.2: revoke all
	// tokens issued based on the code).
	aNext := createRefreshToken(t, s, u.ID, c.ID, func(x *storage.RefreshToken) { x.FamilyID = a.FamilyID })
	must(t, s.MarkRefreshTokenRotated(t.Context(), a.ID, aNext.ID, now()), "MarkRefreshTokenRotated")
	o := createRefreshToken(t, s, u.ID, c.ID, from(r2.ID))
	none := createRefreshToken(t, s, u.ID, c.ID) // not from a code grant
	n := now()

	count, err := s.RevokeRefreshTokensByAuthRequest(t.Context(), "", n)
	must(t, err, "RevokeRefreshTokensByAuthRequest(\"\")")
	eq(t, "RevokeRefreshTokensByAuthRequest(\"\") count: tokens without a code grant are not one grant", count, int64(0))

	count, err = s.RevokeRefreshTokensByAuthRequest(t.Context(), r1.ID, n)
	must(t, err, "RevokeRefreshTokensByAuthRequest")
	eq(t, "RevokeRefreshTokensByAuthRequest count", count, int64(3))
	sameTime(t, "RevokedAt of a token from the grant", getRT(t, s, a).RevokedAt, n)
	sameTime(t, "RevokedAt of a token from the grant", getRT(t, s, b).RevokedAt, n)
	sameTime(t, "RevokedAt of the rotated successor of a token from the grant", getRT(t, s, aNext).RevokedAt, n)
	sameTime(t, "RevokedAt of a token from another grant", getRT(t, s, o).RevokedAt, time.Time{})
	sameTime(t, "RevokedAt of a token from no grant", getRT(t, s, none).RevokedAt, time.Time{})
}

func rtDeletedWithUser(t *testing.T, s storage.Storage) {
	u, c := rtEnv(t, s)
	keep := createUser(t, s)
	rt := createRefreshToken(t, s, u.ID, c.ID)
	k := createRefreshToken(t, s, keep.ID, c.ID)
	must(t, s.DeleteUser(t.Context(), u.ID), "DeleteUser")
	_, err := s.GetRefreshTokenByHash(t.Context(), rt.TokenHash)
	wantErr(t, err, storage.ErrNotFound, "GetRefreshTokenByHash of a deleted user's token")
	if _, err := s.GetRefreshTokenByHash(t.Context(), k.TokenHash); err != nil {
		t.Errorf("GetRefreshTokenByHash of another user's token: %v", err)
	}
}
