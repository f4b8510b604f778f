package storagetest

import (
	"testing"

	"github.com/usher-id/usher/storage"
)

func testConsents(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"SaveGetReplace", consentSaveGet},
		{"DeleteAndList", consentDeleteList},
		{"GoesWithUserAndClient", consentCascade},
	})
}

func consentSaveGet(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, c := createUser(t, s), createClient(t, s)
	_, err := s.GetConsent(ctx, u.ID, c.ID)
	wantErr(t, err, storage.ErrNotFound, "GetConsent before any consent")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"openid", "email"}}), "SaveConsent")
	got, err := s.GetConsent(ctx, u.ID, c.ID)
	must(t, err, "GetConsent")
	sameStrings(t, "Scopes", got.Scopes, []string{"openid", "email"})
	created := got.CreatedAt
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"openid", "email", "profile"}}), "second SaveConsent")
	got, err = s.GetConsent(ctx, u.ID, c.ID)
	must(t, err, "GetConsent after replacing")
	sameStrings(t, "Scopes after replacing", got.Scopes, []string{"openid", "email", "profile"})
	sameTime(t, "CreatedAt after replacing", got.CreatedAt, created)
	wantErr(t, s.SaveConsent(ctx, &storage.Consent{UserID: u.ID}), storage.ErrInvalid, "SaveConsent without a client")
}

func consentDeleteList(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, c1, c2 := createUser(t, s), createClient(t, s), createClient(t, s)
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: u.ID, ClientID: c1.ID, Scopes: []string{"openid"}}), "SaveConsent 1")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: u.ID, ClientID: c2.ID, Scopes: []string{"openid"}}), "SaveConsent 2")
	list, err := s.ListUserConsents(ctx, u.ID)
	must(t, err, "ListUserConsents")
	eq(t, "consents listed", len(list), 2)
	must(t, s.DeleteConsent(ctx, u.ID, c1.ID), "DeleteConsent")
	wantErr(t, s.DeleteConsent(ctx, u.ID, c1.ID), storage.ErrNotFound, "second DeleteConsent")
	list, err = s.ListUserConsents(ctx, u.ID)
	must(t, err, "ListUserConsents after delete")
	if len(list) != 1 || list[0].ClientID != c2.ID {
		t.Fatalf("consents after delete = %v", list)
	}
}

func consentCascade(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, c := createUser(t, s), createClient(t, s)
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"openid"}}), "SaveConsent")
	must(t, s.DeleteClient(ctx, c.ID), "DeleteClient")
	_, err := s.GetConsent(ctx, u.ID, c.ID)
	wantErr(t, err, storage.ErrNotFound, "GetConsent after the client was deleted")
}
