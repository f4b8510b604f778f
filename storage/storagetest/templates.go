package storagetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testJWTTemplates(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", templateRoundTrip},
		{"NilCustomKeyStaysNil", templateNilKey},
		{"Timestamps", templateTimes},
		{"Unknown", templateUnknown},
		{"DuplicateNameOnCreate", templateDuplicateCreate},
		{"ConcurrentCreateOneWins", templateConcurrent},
		{"Update", templateUpdate},
		{"DuplicateNameOnUpdate", templateDuplicateUpdate},
		{"Delete", templateDelete},
		{"ListByName", templateList},
		{"Invalid", templateInvalid},
	})
}

// templateClaims is written with odd spacing, keys out of order, a repeated
// key, escapes, non-ASCII text and numbers in forms a JSON database type
// would rewrite: it must come back byte for byte.
const templateClaims = "{ \"z\":1,\n\t\"aud\" : \"{{client.id}}\",  \"sub\":\"{{user.id}}\", \"n\": 2.50e0, \"big\": 12345678901234567890,\n" +
	"  \"meta\": {\"b\": [true, null, \"\\u00e9t\u00e9 \\\"q\\\" <&>\"], \"a\": {}}, \"z\":2 }"

// templateKey is a sealed key's shape: arbitrary bytes, zeros and 0xff included.
var templateKey = []byte{0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 0, 0}

func templateFixture() *storage.JWTTemplate {
	return &storage.JWTTemplate{
		Name:      uniq("tpl"),
		Claims:    json.RawMessage(`{"sub":"{{user.id}}"}`),
		Lifetime:  time.Minute,
		ClockSkew: 5 * time.Second,
		Algorithm: "RS256",
	}
}

func createTemplate(t testing.TB, s storage.Tx, mods ...func(*storage.JWTTemplate)) *storage.JWTTemplate {
	t.Helper()
	return create(t, "CreateJWTTemplate", templateFixture(), mods, s.CreateJWTTemplate)
}

func getTemplate(t testing.TB, s storage.Tx, id string) *storage.JWTTemplate {
	t.Helper()
	got, err := s.GetJWTTemplate(t.Context(), id)
	must(t, err, "GetJWTTemplate")
	return got
}

// sameTemplate compares every field; Claims and CustomKey byte for byte.
func sameTemplate(t testing.TB, got, want *storage.JWTTemplate) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "Name", got.Name, want.Name)
	eq(t, "Claims", string(got.Claims), string(want.Claims))
	eq(t, "Lifetime", got.Lifetime, want.Lifetime)
	eq(t, "ClockSkew", got.ClockSkew, want.ClockSkew)
	eq(t, "Algorithm", got.Algorithm, want.Algorithm)
	sameBytes(t, "CustomKey", got.CustomKey, want.CustomKey)
	if (got.CustomKey == nil) != (want.CustomKey == nil) {
		t.Errorf("CustomKey = %#v, want %#v", got.CustomKey, want.CustomKey)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func templateRoundTrip(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	tpl := createTemplate(t, s, func(x *storage.JWTTemplate) {
		x.Name = "Hasura — Ünïcode"
		x.Claims = json.RawMessage(templateClaims)
		x.Lifetime = 90 * 24 * time.Hour
		x.ClockSkew = 2 * time.Minute
		x.Algorithm = "HS256"
		x.CustomKey = templateKey
	})
	if !strings.HasPrefix(tpl.ID, storage.PrefixTemplate+"_") {
		t.Errorf("ID = %q, want prefix %q", tpl.ID, storage.PrefixTemplate+"_")
	}
	got := getTemplate(t, s, tpl.ID)
	sameTemplate(t, got, tpl)
	eq(t, "Claims", string(got.Claims), templateClaims)
	sameBytes(t, "CustomKey", got.CustomKey, templateKey)
	eq(t, "Lifetime", got.Lifetime, 90*24*time.Hour)
	eq(t, "ClockSkew", got.ClockSkew, 2*time.Minute)

	byName, err := s.GetJWTTemplateByName(ctx, "Hasura — Ünïcode")
	must(t, err, "GetJWTTemplateByName")
	sameTemplate(t, byName, tpl)

	// A caller-chosen ID is kept.
	own := createTemplate(t, s, func(x *storage.JWTTemplate) { x.ID = storage.NewID(storage.PrefixTemplate) })
	sameTemplate(t, getTemplate(t, s, own.ID), own)
}

func templateNilKey(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	tpl := createTemplate(t, s, func(x *storage.JWTTemplate) { x.CustomKey = nil; x.ClockSkew = 0; x.Algorithm = "EdDSA" })
	got := getTemplate(t, s, tpl.ID)
	if got.CustomKey != nil {
		t.Errorf("CustomKey = %#v, want nil", got.CustomKey)
	}
	eq(t, "ClockSkew", got.ClockSkew, 0)

	empty := createTemplate(t, s, func(x *storage.JWTTemplate) { x.CustomKey = []byte{} })
	if got := getTemplate(t, s, empty.ID); got.CustomKey != nil {
		t.Errorf("CustomKey stored empty = %#v, want nil", got.CustomKey)
	}

	// Set, then cleared again.
	got.CustomKey, got.Algorithm = templateKey, "RS256"
	must(t, s.UpdateJWTTemplate(ctx, got), "UpdateJWTTemplate setting a key")
	sameBytes(t, "CustomKey after setting", getTemplate(t, s, tpl.ID).CustomKey, templateKey)
	got.CustomKey = nil
	must(t, s.UpdateJWTTemplate(ctx, got), "UpdateJWTTemplate clearing the key")
	if k := getTemplate(t, s, tpl.ID).CustomKey; k != nil {
		t.Errorf("CustomKey after clearing = %#v, want nil", k)
	}

	// Nil claims are stored as an empty object.
	noClaims := createTemplate(t, s, func(x *storage.JWTTemplate) { x.Claims = nil })
	eq(t, "Claims stored nil", string(getTemplate(t, s, noClaims.ID).Claims), "{}")
}

func templateTimes(t *testing.T, s storage.Storage) {
	// Assigned when zero: UTC, microseconds, and what Create put in the record.
	tpl := createTemplate(t, s)
	if tpl.CreatedAt.IsZero() || tpl.UpdatedAt.IsZero() {
		t.Fatalf("CreateJWTTemplate left CreatedAt %v, UpdatedAt %v", tpl.CreatedAt, tpl.UpdatedAt)
	}
	got := getTemplate(t, s, tpl.ID)
	sameTime(t, "CreatedAt", got.CreatedAt, tpl.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, tpl.UpdatedAt)
	if got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("UpdatedAt %v is before CreatedAt %v", got.UpdatedAt, got.CreatedAt)
	}

	// Kept when given, in any zone and at any precision.
	created := time.Date(2031, 7, 8, 9, 10, 11, 123456789, odd)
	given := createTemplate(t, s, func(x *storage.JWTTemplate) {
		x.CreatedAt = created
		x.UpdatedAt = created.Add(time.Hour)
	})
	got = getTemplate(t, s, given.ID)
	sameTime(t, "given CreatedAt", got.CreatedAt, created)
	sameTime(t, "given UpdatedAt", got.UpdatedAt, created.Add(time.Hour))
}

func templateUnknown(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createTemplate(t, s, func(x *storage.JWTTemplate) { x.Name = "Hasura" })
	_, err := s.GetJWTTemplate(ctx, storage.NewID(storage.PrefixTemplate))
	wantErr(t, err, storage.ErrNotFound, "GetJWTTemplate of an unknown id")
	_, err = s.GetJWTTemplateByName(ctx, "no-such-template")
	wantErr(t, err, storage.ErrNotFound, "GetJWTTemplateByName of an unknown name")
	_, err = s.GetJWTTemplateByName(ctx, "hasura")
	wantErr(t, err, storage.ErrNotFound, "GetJWTTemplateByName in another case")
	x := templateFixture()
	x.ID = storage.NewID(storage.PrefixTemplate)
	wantErr(t, s.UpdateJWTTemplate(ctx, x), storage.ErrNotFound, "UpdateJWTTemplate of an unknown id")
	wantErr(t, s.DeleteJWTTemplate(ctx, x.ID), storage.ErrNotFound, "DeleteJWTTemplate of an unknown id")
}

func templateDuplicateCreate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	first := createTemplate(t, s, func(x *storage.JWTTemplate) { x.Name = "_session" })
	dup := templateFixture()
	dup.Name = "_session"
	dup.Claims = json.RawMessage(`{"other":true}`)
	wantErr(t, s.CreateJWTTemplate(ctx, dup), storage.ErrConflict, "CreateJWTTemplate of a taken name")
	got, err := s.GetJWTTemplateByName(ctx, "_session")
	must(t, err, "GetJWTTemplateByName")
	sameTemplate(t, got, first)
	list, err := s.ListJWTTemplates(ctx)
	must(t, err, "ListJWTTemplates")
	eq(t, "templates after the refused create", len(list), 1)

	// Names are case-sensitive: another case is another name.
	createTemplate(t, s, func(x *storage.JWTTemplate) { x.Name = "_Session" })

	// A taken ID is a conflict too.
	again := templateFixture()
	again.ID = first.ID
	wantErr(t, s.CreateJWTTemplate(ctx, again), storage.ErrConflict, "CreateJWTTemplate of a taken id")
}

// Replicas starting together each try to create Usher's own template: one
// wins, the others get ErrConflict and read the winner's.
func templateConcurrent(t *testing.T, s storage.Storage) {
	errs := race(8, func(int) error {
		x := templateFixture()
		x.Name = "_session"
		return s.CreateJWTTemplate(t.Context(), x)
	})
	oneWinner(t, "concurrent CreateJWTTemplate", errs)
	list, err := s.ListJWTTemplates(t.Context())
	must(t, err, "ListJWTTemplates")
	eq(t, "templates after the race", len(list), 1)
}

func templateUpdate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	tpl := createTemplate(t, s)
	oldName, created := tpl.Name, tpl.CreatedAt

	upd := *getTemplate(t, s, tpl.ID)
	upd.Name = uniq("renamed")
	upd.Claims = json.RawMessage(templateClaims)
	upd.Lifetime = 12 * time.Hour
	upd.ClockSkew = 0
	upd.Algorithm = "HS256"
	upd.CustomKey = templateKey
	upd.CreatedAt = created.Add(-48 * time.Hour) // ignored
	must(t, s.UpdateJWTTemplate(ctx, &upd), "UpdateJWTTemplate")
	if upd.UpdatedAt.IsZero() || upd.UpdatedAt.Before(created) {
		t.Errorf("UpdatedAt after update = %v, want set, not before CreatedAt %v", upd.UpdatedAt, created)
	}

	got := getTemplate(t, s, tpl.ID)
	want := upd
	want.CreatedAt = created
	sameTemplate(t, got, &want)

	_, err := s.GetJWTTemplateByName(ctx, oldName)
	wantErr(t, err, storage.ErrNotFound, "GetJWTTemplateByName of the old name")
	byName, err := s.GetJWTTemplateByName(ctx, upd.Name)
	must(t, err, "GetJWTTemplateByName of the new name")
	eq(t, "ID by new name", byName.ID, tpl.ID)

	// Keeping its own name is no conflict.
	must(t, s.UpdateJWTTemplate(ctx, got), "UpdateJWTTemplate keeping the name")
}

func templateDuplicateUpdate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	a := createTemplate(t, s)
	b := createTemplate(t, s)
	before := *getTemplate(t, s, b.ID)
	upd := before
	upd.Name = a.Name
	upd.Lifetime = time.Hour
	wantErr(t, s.UpdateJWTTemplate(ctx, &upd), storage.ErrConflict, "UpdateJWTTemplate to a taken name")
	sameTime(t, "UpdatedAt in the record after the refused update", upd.UpdatedAt, before.UpdatedAt)
	sameTemplate(t, getTemplate(t, s, b.ID), &before)
	sameTemplate(t, getTemplate(t, s, a.ID), a)
}

func templateDelete(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	tpl := createTemplate(t, s)
	keep := createTemplate(t, s)
	must(t, s.DeleteJWTTemplate(ctx, tpl.ID), "DeleteJWTTemplate")
	_, err := s.GetJWTTemplate(ctx, tpl.ID)
	wantErr(t, err, storage.ErrNotFound, "GetJWTTemplate after delete")
	_, err = s.GetJWTTemplateByName(ctx, tpl.Name)
	wantErr(t, err, storage.ErrNotFound, "GetJWTTemplateByName after delete")
	wantErr(t, s.DeleteJWTTemplate(ctx, tpl.ID), storage.ErrNotFound, "second DeleteJWTTemplate")
	getTemplate(t, s, keep.ID)

	// The name is free again.
	createTemplate(t, s, func(x *storage.JWTTemplate) { x.Name = tpl.Name })
}

func templateList(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	list, err := s.ListJWTTemplates(ctx)
	must(t, err, "ListJWTTemplates of none")
	eq(t, "templates in an empty store", len(list), 0)

	// Byte order: upper case, then "_", then lower case; a prefix first.
	for _, name := range []string{"b", "_session", "a-b", "Zeta", "a", "B", "_"} {
		createTemplate(t, s, func(x *storage.JWTTemplate) { x.Name = name })
	}
	list, err = s.ListJWTTemplates(ctx)
	must(t, err, "ListJWTTemplates")
	var names []string
	for _, x := range list {
		names = append(names, x.Name)
	}
	sameOrder(t, "ListJWTTemplates", names, []string{"B", "Zeta", "_", "_session", "a", "a-b", "b"})
}

func templateInvalid(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	bad := map[string]func(*storage.JWTTemplate){
		"no name":             func(x *storage.JWTTemplate) { x.Name = "" },
		"fractional lifetime": func(x *storage.JWTTemplate) { x.Lifetime = 1500 * time.Millisecond },
		"fractional skew":     func(x *storage.JWTTemplate) { x.ClockSkew = time.Second + time.Nanosecond },
	}
	for name, md := range notObjects {
		bad["claims "+name] = func(x *storage.JWTTemplate) { x.Claims = md }
	}
	for what, mod := range bad {
		x := templateFixture()
		mod(x)
		wantErr(t, s.CreateJWTTemplate(ctx, x), storage.ErrInvalid, "CreateJWTTemplate with "+what)
	}
	list, err := s.ListJWTTemplates(ctx)
	must(t, err, "ListJWTTemplates")
	eq(t, "templates after refused creates", len(list), 0)

	ok := createTemplate(t, s)
	for what, mod := range bad {
		upd := *getTemplate(t, s, ok.ID)
		mod(&upd)
		wantErr(t, s.UpdateJWTTemplate(ctx, &upd), storage.ErrInvalid, "UpdateJWTTemplate with "+what)
	}
	sameTemplate(t, getTemplate(t, s, ok.ID), ok)
}
