package storagetest

import (
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

// DeleteExpired removes sessions and authorization requests with ExpiresAt
// <= now, and refresh tokens with ExpiresAt <= now or FamilyExpires <= now.
func testDeleteExpired(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"Empty", func(t *testing.T, s storage.Storage) {
			got, err := s.DeleteExpired(t.Context(), now())
			must(t, err, "DeleteExpired")
			eq(t, "DeleteExpired of an empty store", got, storage.CleanupCounts{})
		}},
		{"Sessions", cleanupSessions},
		{"AuthRequests", cleanupAuthRequests},
		{"RefreshTokens", cleanupRefreshTokens},
		{"AllKinds", cleanupAll},
	})
}

func cleanupSessions(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	n := now()
	exp := func(d time.Duration) func(*storage.Session) {
		return func(ss *storage.Session) {
			ss.CreatedAt, ss.LastActiveAt, ss.AuthTime = n.Add(-48*time.Hour), n.Add(-48*time.Hour), n.Add(-48*time.Hour)
			ss.ExpiresAt = n.Add(d)
		}
	}
	gone := map[string]*storage.Session{
		"expired an hour ago": createSession(t, s, u.ID, exp(-time.Hour)),
		"expiring right now":  createSession(t, s, u.ID, exp(0)),
	}
	kept := map[string]*storage.Session{
		"expiring in a microsecond": createSession(t, s, u.ID, exp(time.Microsecond)),
		"expiring in an hour":       createSession(t, s, u.ID, exp(time.Hour)),
	}

	got, err := s.DeleteExpired(t.Context(), n)
	must(t, err, "DeleteExpired")
	eq(t, "DeleteExpired", got, storage.CleanupCounts{Sessions: 2})
	for name, ss := range gone {
		_, err := s.GetSession(t.Context(), ss.ID)
		wantErr(t, err, storage.ErrNotFound, "GetSession of a session "+name)
	}
	for name, ss := range kept {
		if _, err := s.GetSession(t.Context(), ss.ID); err != nil {
			t.Errorf("GetSession of a session %s: %v", name, err)
		}
	}

	again, err := s.DeleteExpired(t.Context(), n)
	must(t, err, "DeleteExpired again")
	eq(t, "DeleteExpired again", again, storage.CleanupCounts{})
}

func cleanupAuthRequests(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	n := now()
	exp := func(d time.Duration) func(*storage.AuthRequest) {
		return func(r *storage.AuthRequest) {
			r.CreatedAt = n.Add(-time.Hour)
			r.ExpiresAt = n.Add(d)
		}
	}
	gone := map[string]*storage.AuthRequest{
		"expired a minute ago": createAuthRequest(t, s, c.ID, exp(-time.Minute)),
		"expiring right now":   createAuthRequest(t, s, c.ID, exp(0)),
	}
	kept := map[string]*storage.AuthRequest{
		"expiring in a microsecond": createAuthRequest(t, s, c.ID, exp(time.Microsecond)),
		"expiring in ten minutes":   createAuthRequest(t, s, c.ID, exp(10*time.Minute)),
	}

	got, err := s.DeleteExpired(t.Context(), n)
	must(t, err, "DeleteExpired")
	eq(t, "DeleteExpired", got, storage.CleanupCounts{AuthRequests: 2})
	// Asked at CreatedAt, so that only deletion can hide them.
	for name, r := range gone {
		_, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
		wantErr(t, err, storage.ErrNotFound, "GetAuthRequest of a request "+name)
	}
	for name, r := range kept {
		if _, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt); err != nil {
			t.Errorf("GetAuthRequest of a request %s: %v", name, err)
		}
	}
}

func cleanupRefreshTokens(t *testing.T, s storage.Storage) {
	u, c := createUser(t, s), createClient(t, s)
	n := now()
	exp := func(idle, family time.Duration) func(*storage.RefreshToken) {
		return func(rt *storage.RefreshToken) {
			rt.CreatedAt, rt.AuthTime = n.Add(-60*24*time.Hour), n.Add(-60*24*time.Hour)
			rt.ExpiresAt = n.Add(idle)
			rt.FamilyExpires = n.Add(family)
		}
	}
	gone := map[string]*storage.RefreshToken{
		"idle-expired":            createRefreshToken(t, s, u.ID, c.ID, exp(-time.Hour, time.Hour)),
		"family-expired":          createRefreshToken(t, s, u.ID, c.ID, exp(time.Hour, -time.Hour)),
		"idle-expiring right now": createRefreshToken(t, s, u.ID, c.ID, exp(0, time.Hour)),
		"family-expiring now":     createRefreshToken(t, s, u.ID, c.ID, exp(time.Hour, 0)),
	}
	kept := map[string]*storage.RefreshToken{
		"live":                   createRefreshToken(t, s, u.ID, c.ID, exp(time.Hour, 24*time.Hour)),
		"expiring in a microsec": createRefreshToken(t, s, u.ID, c.ID, exp(time.Microsecond, time.Microsecond)),
	}

	got, err := s.DeleteExpired(t.Context(), n)
	must(t, err, "DeleteExpired")
	eq(t, "DeleteExpired", got, storage.CleanupCounts{RefreshTokens: 4})
	for name, rt := range gone {
		_, err := s.GetRefreshTokenByHash(t.Context(), rt.TokenHash)
		wantErr(t, err, storage.ErrNotFound, "GetRefreshTokenByHash of a token "+name)
	}
	for name, rt := range kept {
		if _, err := s.GetRefreshTokenByHash(t.Context(), rt.TokenHash); err != nil {
			t.Errorf("GetRefreshTokenByHash of a token %s: %v", name, err)
		}
	}
}

func cleanupAll(t *testing.T, s storage.Storage) {
	u, c := createUser(t, s), createClient(t, s)
	n := now()
	past := n.Add(-time.Minute)
	for range 3 {
		createSession(t, s, u.ID, func(ss *storage.Session) { ss.ExpiresAt = past })
	}
	live := createSession(t, s, u.ID)
	for range 2 {
		createAuthRequest(t, s, c.ID, func(r *storage.AuthRequest) { r.CreatedAt, r.ExpiresAt = past.Add(-time.Hour), past })
	}
	for range 4 {
		createRefreshToken(t, s, u.ID, c.ID, func(rt *storage.RefreshToken) { rt.ExpiresAt = past })
	}

	got, err := s.DeleteExpired(t.Context(), n)
	must(t, err, "DeleteExpired")
	eq(t, "DeleteExpired", got, storage.CleanupCounts{Sessions: 3, AuthRequests: 2, RefreshTokens: 4})
	list, err := s.ListUserSessions(t.Context(), u.ID)
	must(t, err, "ListUserSessions")
	sameOrder(t, "sessions left", ids(list, sessionIDOf), []string{live.ID})
	// Users, clients and the rest are not touched.
	reload(t, s, u.ID)
	if _, err := s.GetClient(t.Context(), c.ID); err != nil {
		t.Errorf("GetClient after DeleteExpired: %v", err)
	}
}
