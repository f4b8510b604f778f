package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testSignInFlows(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", flowRoundTrip},
		{"Expired", flowExpired},
		{"UpdateOnlyFromItsStep", flowUpdateFromStep},
		{"ConcurrentUpdatesOneWins", flowConcurrentUpdates},
		{"DeleteExpired", flowDeleteExpired},
		{"RotateSessionToken", sessionRotateToken},
	})
}

func flowFixture() *storage.SignInFlow {
	n := now()
	return &storage.SignInFlow{BrowserHash: randomBytes(32), Step: "identify", CreatedAt: n, UpdatedAt: n, ExpiresAt: n.Add(30 * time.Minute)}
}

func sameFlow(t testing.TB, got, want *storage.SignInFlow) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	sameBytes(t, "BrowserHash", got.BrowserHash, want.BrowserHash)
	eq(t, "AuthRequestID", got.AuthRequestID, want.AuthRequestID)
	eq(t, "Next", got.Next, want.Next)
	eq(t, "Step", got.Step, want.Step)
	eq(t, "Email", got.Email, want.Email)
	eq(t, "UserID", got.UserID, want.UserID)
	eq(t, "Factor", got.Factor, want.Factor)
	sameStrings(t, "AMR", got.AMR, want.AMR)
	eq(t, "SessionID", got.SessionID, want.SessionID)
	sameTime(t, "AuthTime", got.AuthTime, want.AuthTime)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func flowRoundTrip(t *testing.T, s storage.Storage) {
	f := flowFixture()
	f.AuthRequestID, f.Next = storage.NewID(storage.PrefixAuthRequest), "/device?user_code=BCDF-GHJK"
	must(t, s.CreateSignInFlow(t.Context(), f), "CreateSignInFlow")
	if f.ID == "" {
		t.Fatal("CreateSignInFlow assigned no ID")
	}
	got, err := s.GetSignInFlow(t.Context(), f.ID, f.CreatedAt)
	must(t, err, "GetSignInFlow")
	sameFlow(t, got, f)

	f.Step, f.Email, f.UserID, f.Factor, f.AMR = "consent", "ada@example.com", storage.NewID(storage.PrefixUser), "password", []string{"pwd", "otp"}
	f.SessionID, f.AuthTime, f.UpdatedAt = storage.NewID(storage.PrefixSession), f.CreatedAt.Add(time.Minute), f.CreatedAt.Add(time.Minute)
	must(t, s.UpdateSignInFlow(t.Context(), f, "identify"), "UpdateSignInFlow")
	got, err = s.GetSignInFlow(t.Context(), f.ID, f.UpdatedAt)
	must(t, err, "GetSignInFlow after the update")
	sameFlow(t, got, f)

	_, err = s.GetSignInFlow(t.Context(), storage.NewID(storage.PrefixSignInFlow), f.CreatedAt)
	wantErr(t, err, storage.ErrNotFound, "GetSignInFlow of an unknown ID")
	bad := flowFixture()
	bad.BrowserHash = nil
	wantErr(t, s.CreateSignInFlow(t.Context(), bad), storage.ErrInvalid, "CreateSignInFlow without a browser hash")
}

func flowExpired(t *testing.T, s storage.Storage) {
	f := flowFixture()
	must(t, s.CreateSignInFlow(t.Context(), f), "CreateSignInFlow")
	_, err := s.GetSignInFlow(t.Context(), f.ID, f.ExpiresAt)
	wantErr(t, err, storage.ErrNotFound, "GetSignInFlow at its expiry")
	f.Step, f.UpdatedAt = "first_factor", f.ExpiresAt
	wantErr(t, s.UpdateSignInFlow(t.Context(), f, "identify"), storage.ErrConflict, "UpdateSignInFlow at its expiry")
}

func flowUpdateFromStep(t *testing.T, s storage.Storage) {
	f := flowFixture()
	must(t, s.CreateSignInFlow(t.Context(), f), "CreateSignInFlow")
	f.Step = "first_factor"
	wantErr(t, s.UpdateSignInFlow(t.Context(), f, "consent"), storage.ErrConflict, "UpdateSignInFlow from a step it is not at")
	must(t, s.UpdateSignInFlow(t.Context(), f, "identify"), "UpdateSignInFlow from its step")
	wantErr(t, s.UpdateSignInFlow(t.Context(), f, "identify"), storage.ErrConflict, "UpdateSignInFlow from the step it left")
	missing := flowFixture()
	missing.ID = storage.NewID(storage.PrefixSignInFlow)
	wantErr(t, s.UpdateSignInFlow(t.Context(), missing, "identify"), storage.ErrNotFound, "UpdateSignInFlow of an unknown flow")
}

func flowConcurrentUpdates(t *testing.T, s storage.Storage) {
	f := flowFixture()
	must(t, s.CreateSignInFlow(t.Context(), f), "CreateSignInFlow")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 8 {
		wg.Go(func() {
			g := *f
			g.Step, g.UserID = "consent", storage.NewID(storage.PrefixUser)
			g.Email = uniq("e") + string(rune('a'+i))
			if err := s.UpdateSignInFlow(t.Context(), &g, "identify"); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	eq(t, "updates that moved the flow on", won, 1)
}

func flowDeleteExpired(t *testing.T, s storage.Storage) {
	old, live := flowFixture(), flowFixture()
	old.ExpiresAt = old.CreatedAt.Add(time.Minute)
	must(t, s.CreateSignInFlow(t.Context(), old), "CreateSignInFlow")
	must(t, s.CreateSignInFlow(t.Context(), live), "CreateSignInFlow")
	got, err := s.DeleteExpired(t.Context(), old.ExpiresAt)
	must(t, err, "DeleteExpired")
	eq(t, "SignInFlows deleted", got.SignInFlows, int64(1))
	_, err = s.GetSignInFlow(t.Context(), live.ID, live.CreatedAt)
	must(t, err, "GetSignInFlow of the live flow after DeleteExpired")
}

func sessionRotateToken(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	ss := createSession(t, s, u.ID)
	fresh := randomBytes(32)
	must(t, s.RotateSessionToken(t.Context(), ss.ID, fresh), "RotateSessionToken")
	_, err := s.GetSessionByTokenHash(t.Context(), ss.TokenHash)
	wantErr(t, err, storage.ErrNotFound, "GetSessionByTokenHash of the old token")
	got, err := s.GetSessionByTokenHash(t.Context(), fresh)
	must(t, err, "GetSessionByTokenHash of the new token")
	eq(t, "ID", got.ID, ss.ID)
	must(t, s.RevokeSession(t.Context(), ss.ID, now()), "RevokeSession")
	wantErr(t, s.RotateSessionToken(t.Context(), ss.ID, randomBytes(32)), storage.ErrNotFound, "RotateSessionToken of a revoked session")
}
