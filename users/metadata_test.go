package users_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

func TestMergeJSON(t *testing.T) {
	tests := []struct {
		name, dst, patch, want string
	}{
		{"into nothing", ``, `{"b":1,"a":{"c":null,"d":2}}`, `{"a":{"d":2},"b":1}`},
		{"into null", `null`, `{"a":1}`, `{"a":1}`},
		{"empty patch", `{"a":1}`, `{}`, `{"a":1}`},
		{"top level", `{"a":1,"b":2}`, `{"b":3,"c":4}`, `{"a":1,"b":3,"c":4}`},
		{"three levels deep",
			`{"a":{"b":{"c":1,"d":2},"e":3},"f":4}`,
			`{"a":{"b":{"c":10,"x":{"y":true}}}}`,
			`{"a":{"b":{"c":10,"d":2,"x":{"y":true}},"e":3},"f":4}`},
		{"null deletes at every depth",
			`{"a":{"b":{"c":1,"d":2},"e":3},"f":4,"g":5}`,
			`{"a":{"b":{"d":null},"e":null},"f":null}`,
			`{"a":{"b":{"c":1}},"g":5}`},
		{"null for a missing key", `{"a":1}`, `{"b":null,"c":{"d":null}}`, `{"a":1,"c":{}}`},
		{"null deletes a whole object", `{"a":{"b":{"c":1}},"z":0}`, `{"a":null}`, `{"z":0}`},
		{"arrays are replaced, not merged",
			`{"l":[1,2,3],"o":{"p":[{"q":1},{"r":2}]}}`,
			`{"l":[4],"o":{"p":[{"s":null}]}}`,
			`{"l":[4],"o":{"p":[{"s":null}]}}`},
		{"an object replaces a scalar and a scalar an object", `{"a":1,"b":{"c":1}}`, `{"a":{"x":1},"b":"s"}`, `{"a":{"x":1},"b":"s"}`},
		{"an object replaces an array", `{"a":[1]}`, `{"a":{"x":null,"y":[]}}`, `{"a":{"y":[]}}`},
		{"numbers kept as written", `{"big":12345678901234567890}`, `{"f":1.50,"e":1e3}`, `{"big":12345678901234567890,"e":1e3,"f":1.50}`},
		{"keys sorted, no HTML escaping", `{}`, `{"z":"<&>","a":"é","m":false}`, `{"a":"é","m":false,"z":"<&>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := users.MergeJSON(json.RawMessage(tt.dst), json.RawMessage(tt.patch))
			if err != nil || string(got) != tt.want {
				t.Fatalf("MergeJSON(%s, %s) = %s, %v; want %s", tt.dst, tt.patch, got, err, tt.want)
			}
		})
	}
	for _, bad := range [][2]string{{`{}`, `[1]`}, {`{}`, `"x"`}, {`{}`, `null`}, {`{}`, `{"a":`}, {`{}`, `{} {}`}, {`{}`, ``}, {`[1]`, `{}`}, {`{"a"}`, `{}`}} {
		if got, err := users.MergeJSON(json.RawMessage(bad[0]), json.RawMessage(bad[1])); err == nil {
			t.Errorf("MergeJSON(%s, %s) = %s, want an error", bad[0], bad[1], got)
		}
	}
}

func TestUpdateMetadataMerge(t *testing.T) {
	s, db, c := newService(t)
	ctx := t.Context()
	created, err := s.Create(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.UpdateMetadata(ctx, created.ID, users.MetadataUpdate{
		Public:  json.RawMessage(`{"plan":"pro","limits":{"seats":5,"projects":{"max":3,"archived":1}},"tags":["a","b"]}`),
		Private: json.RawMessage(`{"stripe":{"customer":"cus_1"}}`),
		Unsafe:  json.RawMessage(`{"theme":"dark"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(u.PublicMetadata) != `{"limits":{"projects":{"archived":1,"max":3},"seats":5},"plan":"pro","tags":["a","b"]}` {
		t.Fatalf("public metadata after the first update = %s", u.PublicMetadata)
	}
	before, err := db.GetUser(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}

	// Only public metadata given: the others stay as they are.
	u, err = s.UpdateMetadata(ctx, created.ID, users.MetadataUpdate{
		Public: json.RawMessage(`{"limits":{"projects":{"archived":null,"max":10}},"tags":["c"],"plan":null,"trial":true}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	const wantPublic = `{"limits":{"projects":{"max":10},"seats":5},"tags":["c"],"trial":true}`
	after, err := db.GetUser(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(u.PublicMetadata) != wantPublic || string(after.PublicMetadata) != wantPublic {
		t.Fatalf("public metadata = %s returned, %s stored; want %s", u.PublicMetadata, after.PublicMetadata, wantPublic)
	}
	if string(after.PrivateMetadata) != `{"stripe":{"customer":"cus_1"}}` || string(after.UnsafeMetadata) != `{"theme":"dark"}` {
		t.Fatalf("private %s, unsafe %s changed though not given", after.PrivateMetadata, after.UnsafeMetadata)
	}
	if after.UpdatedAt.Before(before.UpdatedAt) {
		t.Fatalf("updated_at went back from %v to %v", before.UpdatedAt, after.UpdatedAt)
	}
	// Nothing but the metadata and updated_at changed.
	same := *after
	same.PublicMetadata, same.UpdatedAt = before.PublicMetadata, before.UpdatedAt
	if !reflect.DeepEqual(&same, before) {
		t.Fatalf("the update changed more than the metadata:\nbefore %+v\nafter  %+v", before, after)
	}

	// A user.updated event for each update, carrying public and unsafe
	// metadata but never private.
	// The service's clock is stopped, so the events' order is not known:
	// the last one is the one showing the last metadata.
	evs := pending(t, db)
	if n := countEvents(evs); len(evs) != 3 || n[users.EventUserCreated] != 1 || n[users.EventUserUpdated] != 2 {
		t.Fatalf("pending events = %v, want user.created and two user.updated", n)
	}
	var last *storage.Event
	for _, e := range evs {
		if strings.Contains(string(e.Payload), `"trial":true`) {
			last = e
		}
	}
	if last == nil {
		t.Fatal("no event shows the second update")
	}
	var p struct {
		ID             string          `json:"id"`
		PublicMetadata json.RawMessage `json:"public_metadata"`
		UnsafeMetadata json.RawMessage `json:"unsafe_metadata"`
		UpdatedAt      int64           `json:"updated_at"`
	}
	if err := json.Unmarshal(last.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.ID != created.ID || string(p.PublicMetadata) != wantPublic || string(p.UnsafeMetadata) != `{"theme":"dark"}` || p.UpdatedAt != after.UpdatedAt.UnixMilli() {
		t.Fatalf("user.updated payload = %s", last.Payload)
	}
	if strings.Contains(string(last.Payload), "cus_1") || strings.Contains(string(last.Payload), "private_metadata") {
		t.Fatalf("user.updated payload shows private metadata: %s", last.Payload)
	}
	if !last.CreatedAt.Equal(c.Now()) {
		t.Fatalf("event created at %v, want the service's clock %v", last.CreatedAt, c.Now())
	}
}

func TestUpdateMetadataReplace(t *testing.T) {
	s, db, _ := newService(t)
	ctx := t.Context()
	created, err := s.Create(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateMetadata(ctx, created.ID, users.MetadataUpdate{
		Public:  json.RawMessage(`{"a":{"b":1,"c":2},"d":3}`),
		Private: json.RawMessage(`{"keep":"me"}`),
		Unsafe:  json.RawMessage(`{"x":1}`),
	}); err != nil {
		t.Fatal(err)
	}
	u, err := s.UpdateMetadata(ctx, created.ID, users.MetadataUpdate{
		Public:  json.RawMessage(` { "a" : { "z" : null } } `),
		Unsafe:  json.RawMessage(`{}`),
		Replace: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.GetUser(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*storage.User{u, stored} {
		// Replacing keeps nulls: they delete nothing, they are the value.
		if string(got.PublicMetadata) != `{"a":{"z":null}}` || string(got.UnsafeMetadata) != `{}` || string(got.PrivateMetadata) != `{"keep":"me"}` {
			t.Fatalf("after replacing: public %s, unsafe %s, private %s", got.PublicMetadata, got.UnsafeMetadata, got.PrivateMetadata)
		}
	}
	if n := countEvents(pending(t, db)); n[users.EventUserUpdated] != 2 {
		t.Fatalf("pending events = %v, want a user.updated for each update", n)
	}

	// An update that gives nothing changes nothing.
	u, err = s.UpdateMetadata(ctx, created.ID, users.MetadataUpdate{Replace: true})
	if err != nil || u.ID != created.ID || !u.UpdatedAt.Equal(stored.UpdatedAt) || len(pending(t, db)) != 3 {
		t.Fatalf("empty update = %+v, %v (%d events)", u, err, len(pending(t, db)))
	}
}

func TestUpdateMetadataRefuses(t *testing.T) {
	s, db, _ := newService(t)
	ctx := t.Context()
	created, err := s.Create(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	// 8 KiB exactly fits: `{"k":"` + value + `"}`.
	full := `{"k":"` + strings.Repeat("x", users.MaxMetadataSize-8) + `"}`
	if u, err := s.UpdateMetadata(ctx, created.ID, users.MetadataUpdate{Private: json.RawMessage(full)}); err != nil || len(u.PrivateMetadata) != users.MaxMetadataSize {
		t.Fatalf("metadata of exactly %d bytes: %v", users.MaxMetadataSize, err)
	}
	before, err := db.GetUser(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	eventsBefore := len(pending(t, db))

	big := `{"k":"` + strings.Repeat("x", users.MaxMetadataSize-7) + `"}`
	tests := []struct {
		name  string
		m     users.MetadataUpdate
		field string
	}{
		{"array", users.MetadataUpdate{Public: json.RawMessage(`[1,2]`)}, "public_metadata"},
		{"string", users.MetadataUpdate{Private: json.RawMessage(`"x"`)}, "private_metadata"},
		{"null", users.MetadataUpdate{Unsafe: json.RawMessage(`null`)}, "unsafe_metadata"},
		{"null to replace", users.MetadataUpdate{Unsafe: json.RawMessage(`null`), Replace: true}, "unsafe_metadata"},
		{"empty", users.MetadataUpdate{Public: json.RawMessage{}}, "public_metadata"},
		{"malformed", users.MetadataUpdate{Public: json.RawMessage(`{"a":`)}, "public_metadata"},
		{"two values", users.MetadataUpdate{Public: json.RawMessage(`{} {}`)}, "public_metadata"},
		{"one bad among good", users.MetadataUpdate{Public: json.RawMessage(`{"a":1}`), Unsafe: json.RawMessage(`1`)}, "unsafe_metadata"},
		{"too big to replace", users.MetadataUpdate{Unsafe: json.RawMessage(big), Replace: true}, "unsafe_metadata"},
		{"too big to merge into", users.MetadataUpdate{Public: json.RawMessage(`{"a":1}`), Private: json.RawMessage(`{"more":1}`)}, "private_metadata"},
		{"too big once merged", users.MetadataUpdate{Private: json.RawMessage(`{"k":null,"a":"` + strings.Repeat("y", users.MaxMetadataSize) + `"}`)}, "private_metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateMetadata(ctx, created.ID, tt.m)
			var ve *users.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("UpdateMetadata = %v, want a ValidationError for %s", err, tt.field)
			}
		})
	}
	after, err := db.GetUser(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) || len(pending(t, db)) != eventsBefore {
		t.Fatalf("refused updates changed the user or appended events:\nbefore %+v\nafter  %+v", before, after)
	}

	// Merging into a full object still works when the result fits.
	if u, err := s.UpdateMetadata(ctx, created.ID, users.MetadataUpdate{Private: json.RawMessage(`{"k":"short","a":1}`)}); err != nil || string(u.PrivateMetadata) != `{"a":1,"k":"short"}` {
		t.Fatalf("shrinking merge = %v", err)
	}

	_, err = s.UpdateMetadata(ctx, "user_nobody", users.MetadataUpdate{Public: json.RawMessage(`{"a":1}`)})
	if !errors.Is(err, users.ErrNotFound) || !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("UpdateMetadata of an unknown user = %v, want ErrNotFound", err)
	}
	if _, err = s.UpdateMetadata(ctx, "user_nobody", users.MetadataUpdate{}); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("empty UpdateMetadata of an unknown user = %v, want ErrNotFound", err)
	}
}

// countEvents counts events by type.
func countEvents(evs []*storage.Event) map[string]int {
	n := map[string]int{}
	for _, e := range evs {
		n[e.Type]++
	}
	return n
}

// One update may replace one object and merge into another, in one
// transaction.
func TestUpdateMetadataPerField(t *testing.T) {
	s, db, _ := newService(t)
	ctx := t.Context()
	created, err := s.Create(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateMetadata(ctx, created.ID, users.MetadataUpdate{
		Public: json.RawMessage(`{"a":1,"b":2}`), Unsafe: json.RawMessage(`{"x":1,"y":2}`)}); err != nil {
		t.Fatal(err)
	}
	u, err := s.UpdateMetadata(ctx, created.ID, users.MetadataUpdate{
		Public: json.RawMessage(`{"c":3}`), ReplacePublic: true,
		Unsafe: json.RawMessage(`{"y":null,"z":3}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(u.PublicMetadata) != `{"c":3}` || string(u.UnsafeMetadata) != `{"x":1,"z":3}` {
		t.Fatalf("public %s (replaced), unsafe %s (merged)", u.PublicMetadata, u.UnsafeMetadata)
	}
	if n := countEvents(pending(t, db)); n[users.EventUserUpdated] != 2 {
		t.Fatalf("events %v: one user.updated per update", n)
	}
}
