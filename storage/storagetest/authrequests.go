package storagetest

import (
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testAuthRequests(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", authRoundTrip},
		{"Missing", authMissing},
		{"MissingClient", authMissingClient},
		{"Expired", authExpired},
		{"Complete", authComplete},
		{"Delete", authDelete},
		{"SaveCodeNotDone", authSaveCodeNotDone},
		{"ClaimCode", authClaim},
		{"ClaimTwice", authClaimTwice},
		{"ClaimExpired", authClaimExpired},
		{"ClaimUnknown", authClaimUnknown},
		{"DuplicateCode", authDuplicateCode},
		{"ClaimConcurrent", authClaimConcurrent},
	})
}

func fullAuthRequest(r *storage.AuthRequest) {
	r.RedirectURI = "https://app.example.com/cb?from=a&x=%20y"
	r.State = "af0ifjsldkj"
	r.Nonce = "n-0S6_WzA2Mj"
	r.Scopes = []string{"openid", "profile", "email", "offline_access"}
	r.ResponseMode = "form_post"
	r.CodeChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	r.CodeChallengeMethod = "S256"
	r.Prompt = []string{"login", "consent"}
	r.MaxAge = 300
	r.LoginHint = "jane@example.com"
	r.HintSubject = "user_expected"
	r.UILocales = []string{"fr-CA", "fr", "en"}
	r.ACRValues = []string{"urn:mace:incommon:iap:silver"}
}

func authRoundTrip(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	for _, tc := range []struct {
		name string
		mod  func(*storage.AuthRequest)
	}{
		{"Full", fullAuthRequest},
		{"Minimal", func(*storage.AuthRequest) {}},
		{"MaxAgeZero", func(r *storage.AuthRequest) { r.MaxAge = 0 }},
		// Several requests without a code may coexist.
		{"AnotherMinimal", func(*storage.AuthRequest) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := createAuthRequest(t, s, c.ID, tc.mod)
			got, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
			must(t, err, "GetAuthRequest")
			sameAuthRequest(t, got, r)
		})
	}
}

func authMissing(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	createAuthRequest(t, s, c.ID)
	ctx := t.Context()
	missing := storage.NewID(storage.PrefixAuthRequest)
	n := now()
	_, err := s.GetAuthRequest(ctx, missing, n)
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequest of an unknown ID")
	u := createUser(t, s)
	wantErr(t, s.CompleteAuthRequest(ctx, missing, u.ID, "", n, []string{"pwd"}), storage.ErrNotFound, "CompleteAuthRequest of an unknown ID")
	wantErr(t, s.SaveAuthCode(ctx, missing, randomBytes(32), n.Add(time.Minute)), storage.ErrNotFound, "SaveAuthCode of an unknown ID")
	wantErr(t, s.DeleteAuthRequest(ctx, missing), storage.ErrNotFound, "DeleteAuthRequest of an unknown ID")
}

func authMissingClient(t *testing.T, s storage.Storage) {
	r := authRequestFixture(uniq("no-such-client"))
	if err := s.CreateAuthRequest(t.Context(), r); err == nil {
		t.Error("CreateAuthRequest for a missing client succeeded, want an error (foreign key)")
	}
}

func authExpired(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	r := createAuthRequest(t, s, c.ID)
	if _, err := s.GetAuthRequest(t.Context(), r.ID, r.ExpiresAt.Add(-time.Second)); err != nil {
		t.Errorf("GetAuthRequest a second before ExpiresAt: %v", err)
	}
	// Like Session.Active, a request is over at ExpiresAt itself.
	for _, at := range []time.Time{r.ExpiresAt, r.ExpiresAt.Add(time.Microsecond), r.ExpiresAt.Add(time.Hour)} {
		_, err := s.GetAuthRequest(t.Context(), r.ID, at)
		wantErr(t, err, storage.ErrNotFound, "GetAuthRequest after ExpiresAt ("+at.Sub(r.ExpiresAt).String()+" late)")
	}
}

// completedRequest returns a done request of a fresh user and session.
func completedRequest(t *testing.T, s storage.Storage) (*storage.AuthRequest, *storage.User, *storage.Session) {
	t.Helper()
	c := createClient(t, s)
	u := createUser(t, s)
	ss := createSession(t, s, u.ID)
	r := createAuthRequest(t, s, c.ID, fullAuthRequest)
	must(t, s.CompleteAuthRequest(t.Context(), r.ID, u.ID, ss.ID, ss.AuthTime, ss.AMR), "CompleteAuthRequest")
	r.UserID, r.SessionID, r.AuthTime, r.AMR, r.Done = u.ID, ss.ID, ss.AuthTime, ss.AMR, true
	return r, u, ss
}

// codeTTL is how long the suite's codes live; requests live ten minutes.
const codeTTL = time.Minute

// saveCode attaches a new code to a done request, as r now reads: the code
// hash set and the expiry shortened to the code's.
func saveCode(t *testing.T, s storage.Storage, r *storage.AuthRequest) []byte {
	t.Helper()
	code := randomBytes(32)
	expires := r.CreatedAt.Add(codeTTL)
	must(t, s.SaveAuthCode(t.Context(), r.ID, code, expires), "SaveAuthCode")
	r.CodeHash, r.ExpiresAt = code, expires
	return code
}

func authComplete(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	u := createUser(t, s)
	ss := createSession(t, s, u.ID)
	r := createAuthRequest(t, s, c.ID, fullAuthRequest)
	other := createAuthRequest(t, s, c.ID)
	authTime := time.Date(2030, 5, 6, 7, 8, 9, 987654321, odd)
	amr := []string{"pwd", "otp"}
	must(t, s.CompleteAuthRequest(t.Context(), r.ID, u.ID, ss.ID, authTime, amr), "CompleteAuthRequest")

	got, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
	must(t, err, "GetAuthRequest")
	want := *r
	want.UserID, want.SessionID, want.AuthTime, want.AMR, want.Done = u.ID, ss.ID, authTime, amr, true
	sameAuthRequest(t, got, &want)

	o, err := s.GetAuthRequest(t.Context(), other.ID, other.CreatedAt)
	must(t, err, "GetAuthRequest of another request")
	sameAuthRequest(t, o, other)

	// Completed once: nobody can overwrite who completed it.
	intruder := createUser(t, s)
	wantErr(t, s.CompleteAuthRequest(t.Context(), r.ID, intruder.ID, "", authTime, amr), storage.ErrNotFound, "second CompleteAuthRequest")
	got, err = s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
	must(t, err, "GetAuthRequest after the refused completion")
	eq(t, "UserID after the refused completion", got.UserID, u.ID)
}

func authDelete(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	r := createAuthRequest(t, s, c.ID)
	keep := createAuthRequest(t, s, c.ID)
	must(t, s.DeleteAuthRequest(t.Context(), r.ID), "DeleteAuthRequest")
	_, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequest after DeleteAuthRequest")
	wantErr(t, s.DeleteAuthRequest(t.Context(), r.ID), storage.ErrNotFound, "second DeleteAuthRequest")
	if _, err := s.GetAuthRequest(t.Context(), keep.ID, keep.CreatedAt); err != nil {
		t.Errorf("GetAuthRequest of another request: %v", err)
	}
}

func authSaveCodeNotDone(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	r := createAuthRequest(t, s, c.ID)
	code := randomBytes(32)
	wantErr(t, s.SaveAuthCode(t.Context(), r.ID, code, r.CreatedAt.Add(codeTTL)), storage.ErrConflict, "SaveAuthCode of a request that is not done")
	got, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
	must(t, err, "GetAuthRequest")
	sameAuthRequest(t, got, r) // no code, expiry unchanged
	_, err = s.ClaimAuthCode(t.Context(), code, r.CreatedAt)
	wantErr(t, err, storage.ErrNotFound, "ClaimAuthCode of a code refused by SaveAuthCode")
}

func authClaim(t *testing.T, s storage.Storage) {
	r, _, _ := completedRequest(t, s)
	code := saveCode(t, s, r)

	saved, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
	must(t, err, "GetAuthRequest after SaveAuthCode")
	sameAuthRequest(t, saved, r)

	at := r.CreatedAt.Add(30 * time.Second).In(odd).Add(321 * time.Nanosecond)
	got, err := s.ClaimAuthCode(t.Context(), code, at)
	must(t, err, "ClaimAuthCode")
	if got == nil {
		t.Fatal("ClaimAuthCode returned no request")
	}
	eq(t, "claimed ID", got.ID, r.ID)
	eq(t, "claimed ClientID", got.ClientID, r.ClientID)
	eq(t, "claimed UserID", got.UserID, r.UserID)
	eq(t, "claimed SessionID", got.SessionID, r.SessionID)
	eq(t, "claimed Nonce", got.Nonce, r.Nonce)
	eq(t, "claimed CodeChallenge", got.CodeChallenge, r.CodeChallenge)
	sameStrings(t, "claimed Scopes", got.Scopes, r.Scopes)
	sameStrings(t, "claimed AMR", got.AMR, r.AMR)
	sameTime(t, "claimed AuthTime", got.AuthTime, r.AuthTime)
	eq(t, "claimed Done", got.Done, true)

	after, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
	must(t, err, "GetAuthRequest after ClaimAuthCode")
	want := *r
	want.CodeUsedAt = at
	want.ExpiresAt = at.Add(storage.CodeReplayWindow) // kept to recognise replays
	sameAuthRequest(t, after, &want)
}

func authClaimTwice(t *testing.T, s storage.Storage) {
	r, _, _ := completedRequest(t, s)
	code := saveCode(t, s, r)
	first := r.CreatedAt.Add(time.Second)
	_, err := s.ClaimAuthCode(t.Context(), code, first)
	must(t, err, "first ClaimAuthCode")

	got, err := s.ClaimAuthCode(t.Context(), code, first.Add(time.Second))
	wantErr(t, err, storage.ErrConflict, "second ClaimAuthCode")
	if got == nil {
		t.Fatal("second ClaimAuthCode returned no request with ErrConflict; the caller needs it to revoke what was issued")
	}
	eq(t, "second claim ID", got.ID, r.ID)
	eq(t, "second claim UserID", got.UserID, r.UserID)
	eq(t, "second claim ClientID", got.ClientID, r.ClientID)

	// The first use time stays.
	after, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
	must(t, err, "GetAuthRequest")
	sameTime(t, "CodeUsedAt after the second claim", after.CodeUsedAt, first)

	// Long after the code itself would have expired, a replay is still
	// recognised as one.
	later := first.Add(storage.CodeReplayWindow - time.Minute)
	_, err = s.ClaimAuthCode(t.Context(), code, later)
	wantErr(t, err, storage.ErrConflict, "ClaimAuthCode hours after the first use")
	n, err := s.DeleteExpired(t.Context(), later)
	must(t, err, "DeleteExpired")
	eq(t, "auth requests deleted inside the replay window", n.AuthRequests, int64(0))
}

func authClaimExpired(t *testing.T, s storage.Storage) {
	r, _, _ := completedRequest(t, s)
	code := saveCode(t, s, r)
	_, err := s.ClaimAuthCode(t.Context(), code, r.ExpiresAt.Add(time.Second))
	wantErr(t, err, storage.ErrNotFound, "ClaimAuthCode after ExpiresAt")
	after, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
	must(t, err, "GetAuthRequest")
	sameTime(t, "CodeUsedAt after the expired claim", after.CodeUsedAt, time.Time{})
}

func authClaimUnknown(t *testing.T, s storage.Storage) {
	r, _, _ := completedRequest(t, s)
	saveCode(t, s, r)
	c := createClient(t, s)
	createAuthRequest(t, s, c.ID) // a request without a code
	for name, h := range map[string][]byte{"unknown": randomBytes(32), "empty": {}, "nil": nil} {
		_, err := s.ClaimAuthCode(t.Context(), h, r.CreatedAt)
		wantErr(t, err, storage.ErrNotFound, "ClaimAuthCode of an "+name+" code")
	}
}

func authDuplicateCode(t *testing.T, s storage.Storage) {
	a, _, _ := completedRequest(t, s)
	b, _, _ := completedRequest(t, s)
	code := saveCode(t, s, a)
	wantErr(t, s.SaveAuthCode(t.Context(), b.ID, code, b.CreatedAt.Add(codeTTL)), storage.ErrConflict, "SaveAuthCode of a code hash already saved for another request")
	got, err := s.ClaimAuthCode(t.Context(), code, a.CreatedAt)
	must(t, err, "ClaimAuthCode")
	eq(t, "request of the claimed code", got.ID, a.ID)
}

func authClaimConcurrent(t *testing.T, s storage.Storage) {
	r, _, _ := completedRequest(t, s)
	code := saveCode(t, s, r)
	at := r.CreatedAt.Add(time.Second)
	got := make([]*storage.AuthRequest, 10)
	errs := race(10, func(i int) error {
		var err error
		got[i], err = s.ClaimAuthCode(t.Context(), code, at)
		return err
	})
	oneWinner(t, "ClaimAuthCode", errs)
	for i, g := range got {
		if errs[i] == nil || errorsIsAny(errs[i], storage.ErrConflict) {
			if g == nil || g.ID != r.ID {
				t.Errorf("claim %d (err %v) returned request %+v, want %s", i, errs[i], g, r.ID)
			}
		}
	}
}
