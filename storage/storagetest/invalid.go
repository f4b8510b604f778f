package storagetest

import (
	"encoding/json"
	"testing"

	"github.com/usher-id/usher/storage"
)

// Records that break a rule written in package storage are refused with
// ErrInvalid, and nothing of them is stored.
func testInvalid(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"MetadataNotAnObject", invalidMetadata},
		{"TwoPrimaryEmails", invalidTwoPrimaries},
		{"SigningKeyState", invalidKeyState},
		{"EventPayloadNotJSON", invalidEventPayload},
	})
}

// notObjects are JSON values, or not even that, that metadata cannot be.
var notObjects = map[string]json.RawMessage{
	"array":     json.RawMessage(`[1,2]`),
	"string":    json.RawMessage(`"x"`),
	"malformed": json.RawMessage(`{"a":`),
}

func invalidMetadata(t *testing.T, s storage.Storage) {
	for name, md := range notObjects {
		u := userFixture()
		u.PublicMetadata = md
		wantErr(t, s.CreateUser(t.Context(), u), storage.ErrInvalid, "CreateUser with "+name+" PublicMetadata")
		_, err := s.GetUserByEmail(t.Context(), u.Emails[0].Email)
		wantErr(t, err, storage.ErrNotFound, "GetUserByEmail of the refused user")
	}
	n, err := s.CountUsers(t.Context())
	must(t, err, "CountUsers")
	eq(t, "CountUsers after refused creates", n, 0)

	u := createUser(t, s, func(u *storage.User) { u.PrivateMetadata = json.RawMessage(`{"keep":true}`) })
	for name, md := range notObjects {
		upd := *reload(t, s, u.ID)
		upd.PrivateMetadata = md
		wantErr(t, s.UpdateUser(t.Context(), &upd), storage.ErrInvalid, "UpdateUser with "+name+" PrivateMetadata")
	}
	sameJSON(t, "PrivateMetadata after refused updates", reload(t, s, u.ID).PrivateMetadata, []byte(`{"keep":true}`))
}

func invalidTwoPrimaries(t *testing.T, s storage.Storage) {
	u := userFixture()
	u.Emails = []storage.EmailAddress{
		{Email: uniq("a") + "@example.com", Primary: true},
		{Email: uniq("b") + "@example.com", Primary: true},
	}
	err := s.CreateUser(t.Context(), u)
	if !errorsIsAny(err, storage.ErrInvalid, storage.ErrConflict) {
		t.Errorf("CreateUser with two primary emails: err = %v, want %v (or %v)", err, storage.ErrInvalid, storage.ErrConflict)
	}
	n, err := s.CountUsers(t.Context())
	must(t, err, "CountUsers")
	eq(t, "CountUsers after the refused create", n, 0)
}

func invalidKeyState(t *testing.T, s storage.Storage) {
	k := signingKeyFixture()
	k.State = "active"
	wantErr(t, s.CreateSigningKey(t.Context(), k), storage.ErrInvalid, "CreateSigningKey with state \"active\"")
	_, err := s.GetSigningKey(t.Context(), k.ID)
	wantErr(t, err, storage.ErrNotFound, "GetSigningKey of the refused key")

	ok := createSigningKey(t, s)
	upd := *ok
	upd.State = ""
	wantErr(t, s.UpdateSigningKey(t.Context(), &upd), storage.ErrInvalid, "UpdateSigningKey with an empty state")
	got, err := s.GetSigningKey(t.Context(), ok.ID)
	must(t, err, "GetSigningKey")
	eq(t, "State after the refused update", got.State, storage.KeyRetired)
}

func invalidEventPayload(t *testing.T, s storage.Storage) {
	e := eventFixture(now())
	e.Payload = json.RawMessage(`{"a":`)
	wantErr(t, s.AppendEvent(t.Context(), e), storage.ErrInvalid, "AppendEvent with a payload that is not JSON")
	pending, err := s.PendingEvents(t.Context(), 10)
	must(t, err, "PendingEvents")
	eq(t, "pending events after the refused append", len(pending), 0)
}
