package storagetest

import (
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testAccessTokens(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", accessTokenRoundTrip},
		{"Revoke", accessTokenRevoke},
		{"RevokeByUserAndFamily", accessTokenRevokeMany},
		{"Invalid", accessTokenInvalid},
	})
}

func accessTokenFixture(mods ...func(*storage.AccessToken)) *storage.AccessToken {
	n := now()
	t := &storage.AccessToken{ClientID: uniq("client"), UserID: uniq("user"), SessionID: uniq("sess"), FamilyID: uniq("rtf"), AuthRequestID: uniq("authreq"),
		Scopes: []string{"openid", "email"}, Audience: []string{"api"}, CreatedAt: n, ExpiresAt: n.Add(time.Hour)}
	for _, m := range mods {
		m(t)
	}
	return t
}

func accessTokenRoundTrip(t *testing.T, s storage.Storage) {
	at := accessTokenFixture()
	must(t, s.CreateAccessToken(t.Context(), at), "CreateAccessToken")
	if at.ID == "" {
		t.Fatal("CreateAccessToken did not set an ID")
	}
	got, err := s.GetAccessToken(t.Context(), at.ID)
	must(t, err, "GetAccessToken")
	eq(t, "ClientID", got.ClientID, at.ClientID)
	eq(t, "UserID", got.UserID, at.UserID)
	eq(t, "SessionID", got.SessionID, at.SessionID)
	eq(t, "FamilyID", got.FamilyID, at.FamilyID)
	eq(t, "AuthRequestID", got.AuthRequestID, at.AuthRequestID)
	sameStrings(t, "Scopes", got.Scopes, at.Scopes)
	sameStrings(t, "Audience", got.Audience, at.Audience)
	sameTime(t, "ExpiresAt", got.ExpiresAt, at.ExpiresAt)
	if !got.RevokedAt.IsZero() || !got.Active(at.CreatedAt) || got.Active(at.ExpiresAt) {
		t.Errorf("a fresh token: RevokedAt %v, Active before expiry %v, at expiry %v", got.RevokedAt, got.Active(at.CreatedAt), got.Active(at.ExpiresAt))
	}
	_, err = s.GetAccessToken(t.Context(), "at_missing")
	wantErr(t, err, storage.ErrNotFound, "GetAccessToken of an unknown ID")
}

func accessTokenRevoke(t *testing.T, s storage.Storage) {
	at := accessTokenFixture()
	must(t, s.CreateAccessToken(t.Context(), at), "CreateAccessToken")
	first := now()
	must(t, s.RevokeAccessToken(t.Context(), at.ID, first), "RevokeAccessToken")
	must(t, s.RevokeAccessToken(t.Context(), at.ID, first.Add(time.Hour)), "second RevokeAccessToken")
	got, err := s.GetAccessToken(t.Context(), at.ID)
	must(t, err, "GetAccessToken")
	sameTime(t, "RevokedAt (the first revocation stays)", got.RevokedAt, first)
	if got.Active(first) {
		t.Error("a revoked token is active")
	}
	wantErr(t, s.RevokeAccessToken(t.Context(), "at_missing", first), storage.ErrNotFound, "RevokeAccessToken of an unknown ID")
}

func accessTokenRevokeMany(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	a1 := accessTokenFixture(func(a *storage.AccessToken) { a.UserID, a.ClientID, a.FamilyID = "u1", "c1", "f1" })
	a2 := accessTokenFixture(func(a *storage.AccessToken) { a.UserID, a.ClientID, a.FamilyID = "u1", "c2", "f2" })
	a3 := accessTokenFixture(func(a *storage.AccessToken) { a.UserID, a.ClientID, a.FamilyID = "u2", "c1", "f1" })
	a4 := accessTokenFixture(func(a *storage.AccessToken) { a.UserID, a.ClientID, a.FamilyID = "", "c1", "" })
	for _, a := range []*storage.AccessToken{a1, a2, a3, a4} {
		must(t, s.CreateAccessToken(ctx, a), "CreateAccessToken")
	}
	n, err := s.RevokeAccessTokenFamily(ctx, "f1", now())
	must(t, err, "RevokeAccessTokenFamily")
	eq(t, "tokens revoked in family f1", n, int64(2))
	n, err = s.RevokeAccessTokenFamily(ctx, "", now())
	must(t, err, "RevokeAccessTokenFamily of no family")
	eq(t, "tokens revoked for an empty family", n, int64(0))
	n, err = s.RevokeAccessTokens(ctx, "u1", "", now())
	must(t, err, "RevokeAccessTokens")
	eq(t, "further tokens revoked for u1", n, int64(1))
	got, err := s.GetAccessToken(ctx, a4.ID)
	must(t, err, "GetAccessToken")
	if !got.RevokedAt.IsZero() {
		t.Error("a client-credentials token was revoked with a user's tokens")
	}

	b1 := accessTokenFixture(func(a *storage.AccessToken) { a.AuthRequestID = "authreq_x" })
	b2 := accessTokenFixture(func(a *storage.AccessToken) { a.AuthRequestID = "authreq_x" })
	b3 := accessTokenFixture(func(a *storage.AccessToken) { a.AuthRequestID = "authreq_y" })
	for _, a := range []*storage.AccessToken{b1, b2, b3} {
		must(t, s.CreateAccessToken(ctx, a), "CreateAccessToken")
	}
	n, err = s.RevokeAccessTokensByAuthRequest(ctx, "authreq_x", now())
	must(t, err, "RevokeAccessTokensByAuthRequest")
	eq(t, "tokens revoked for one code grant", n, int64(2))
	n, err = s.RevokeAccessTokensByAuthRequest(ctx, "", now())
	must(t, err, "RevokeAccessTokensByAuthRequest of no request")
	eq(t, "tokens revoked for an empty request id", n, int64(0))
}

func accessTokenInvalid(t *testing.T, s storage.Storage) {
	wantErr(t, s.CreateAccessToken(t.Context(), accessTokenFixture(func(a *storage.AccessToken) { a.ClientID = "" })), storage.ErrInvalid, "CreateAccessToken without a client")
	wantErr(t, s.CreateAccessToken(t.Context(), accessTokenFixture(func(a *storage.AccessToken) { a.ExpiresAt = time.Time{} })), storage.ErrInvalid, "CreateAccessToken without an expiry")
}
