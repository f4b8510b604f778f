// Package storagetest is the one conformance suite every storage backend must pass.
//
// A backend's test calls Run with a function that opens a fresh, empty,
// migrated store:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t testing.TB) storage.Storage {
//			s := openTestStore(t) // registers t.Cleanup(s.Close)
//			return s
//		})
//	}
//
// The suite checks behaviour through the storage interfaces only, so a
// failure names a difference from the contract written in package storage.
package storagetest

import (
	"testing"

	"github.com/usher-id/usher/storage"
)

// Open returns a fresh, empty, migrated store for one test; the opener
// registers its own cleanup.
type Open func(t testing.TB) storage.Storage

// Run runs every conformance subtest. Each subtest opens its own store.
func Run(t *testing.T, open Open) {
	areas := []struct {
		name string
		run  func(*testing.T, Open)
	}{
		{"Meta", testMeta},
		{"Users", testUsers},
		{"Emails", testEmails},
		{"Times", testTimes},
		{"Sessions", testSessions},
		{"SignInFlows", testSignInFlows},
		{"Clients", testClients},
		{"AuthRequests", testAuthRequests},
		{"RefreshTokens", testRefreshTokens},
		{"AccessTokens", testAccessTokens},
		{"DeviceAuthorizations", testDeviceAuthorizations},
		{"Consents", testConsents},
		{"EmailChallenges", testEmailChallenges},
		{"RateLimits", testRateLimits},
		{"JWTTemplates", testJWTTemplates},
		{"SigningKeys", testSigningKeys},
		{"Secrets", testSecrets},
		{"Outbox", testOutbox},
		{"Connections", testConnections},
		{"ExternalIdentities", testExternalIdentities},
		{"UpstreamLogins", testUpstreamLogins},
		{"Invalid", testInvalid},
		{"InTx", testInTx},
		{"DeleteExpired", testDeleteExpired},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) { a.run(t, open) })
	}
}

// testCase is one subtest of an area.
type testCase struct {
	name string
	fn   func(t *testing.T, s storage.Storage)
}

// runCases runs each case as a subtest against its own fresh store.
func runCases(t *testing.T, open Open, cases []testCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

func testMeta(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"Ping", func(t *testing.T, s storage.Storage) {
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
		}},
		{"SchemaUpToDate", func(t *testing.T, s storage.Storage) {
			st, err := s.SchemaStatus(t.Context())
			if err != nil {
				t.Fatalf("SchemaStatus: %v", err)
			}
			if st.Current < 1 || !st.UpToDate() || len(st.Pending) != 0 {
				t.Errorf("SchemaStatus = %+v, want a migrated store (Current >= 1, Current == Latest, no Pending)", st)
			}
		}},
		{"Describe", func(t *testing.T, s storage.Storage) {
			if s.Describe() == "" {
				t.Error("Describe() is empty")
			}
		}},
	})
}
