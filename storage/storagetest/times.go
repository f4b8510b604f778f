package storagetest

import (
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

// Backends keep times as UTC with microsecond precision; whatever zone and
// nanoseconds go in, t.UTC().Truncate(time.Microsecond) comes out.
func testTimes(t *testing.T, open Open) {
	// 2031-07-08 09:10:11.123456789 at +05:30; the last three digits go.
	fine := time.Date(2031, 7, 8, 9, 10, 11, 123456789, odd)
	// Before 1970 and before 2000, where epoch arithmetic goes negative.
	old := time.Date(1969, 12, 31, 23, 59, 59, 999999999, odd)

	runCases(t, open, []testCase{
		{"UserCreate", func(t *testing.T, s storage.Storage) {
			u := createUser(t, s, func(u *storage.User) {
				u.LockedUntil = fine
				u.LastSignInAt = old
				u.LastActiveAt = fine.Add(time.Nanosecond)
			})
			got := reload(t, s, u.ID)
			sameTime(t, "LockedUntil", got.LockedUntil, fine)
			sameTime(t, "LastSignInAt", got.LastSignInAt, old)
			sameTime(t, "LastActiveAt", got.LastActiveAt, fine)
			if !got.LockedUntil.Equal(time.Date(2031, 7, 8, 3, 40, 11, 123456000, time.UTC)) {
				t.Errorf("LockedUntil = %v, want 2031-07-08 03:40:11.123456 UTC", got.LockedUntil)
			}
			sameTime(t, "CreatedAt", got.CreatedAt, u.CreatedAt)
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
			}
		}},
		{"UserUpdate", func(t *testing.T, s storage.Storage) {
			u := createUser(t, s)
			u.LockedUntil = old
			u.LastSignInAt = fine
			u.LastActiveAt = fine
			must(t, s.UpdateUser(t.Context(), u), "UpdateUser")
			got := reload(t, s, u.ID)
			sameTime(t, "LockedUntil", got.LockedUntil, old)
			sameTime(t, "LastSignInAt", got.LastSignInAt, fine)
			sameTime(t, "LastActiveAt", got.LastActiveAt, fine)
		}},
		{"ZeroStaysZero", func(t *testing.T, s storage.Storage) {
			u := createUser(t, s)
			got := reload(t, s, u.ID)
			for name, v := range map[string]time.Time{
				"LockedUntil": got.LockedUntil, "LastSignInAt": got.LastSignInAt, "LastActiveAt": got.LastActiveAt,
			} {
				if !v.IsZero() {
					t.Errorf("%s = %v, want zero", name, v)
				}
			}
			// Set, then cleared again.
			got.LastSignInAt = fine
			must(t, s.UpdateUser(t.Context(), got), "UpdateUser")
			got.LastSignInAt = time.Time{}
			must(t, s.UpdateUser(t.Context(), got), "UpdateUser")
			again := reload(t, s, u.ID)
			if !again.LastSignInAt.IsZero() {
				t.Errorf("LastSignInAt = %v after clearing, want zero", again.LastSignInAt)
			}
		}},
		{"Session", func(t *testing.T, s storage.Storage) {
			u := createUser(t, s)
			ss := createSession(t, s, u.ID, func(ss *storage.Session) {
				ss.AuthTime = fine.Add(-time.Hour)
				ss.CreatedAt = fine.Add(-time.Hour)
				ss.LastActiveAt = fine
				ss.ExpiresAt = fine.Add(24 * time.Hour)
			})
			got, err := s.GetSession(t.Context(), ss.ID)
			must(t, err, "GetSession")
			sameSession(t, got, ss)
		}},
		{"RefreshToken", func(t *testing.T, s storage.Storage) {
			u, c := createUser(t, s), createClient(t, s)
			rt := createRefreshToken(t, s, u.ID, c.ID, func(rt *storage.RefreshToken) {
				rt.AuthTime = old
				rt.CreatedAt = fine
				rt.ExpiresAt = fine.Add(time.Hour)
				rt.FamilyExpires = fine.Add(48 * time.Hour)
			})
			got, err := s.GetRefreshTokenByHash(t.Context(), rt.TokenHash)
			must(t, err, "GetRefreshTokenByHash")
			sameRefreshToken(t, got, rt)
		}},
	})
}
