package storagetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testOutbox(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"PendingOldestFirst", outboxPending},
		{"Dispatch", outboxDispatch},
		{"PayloadRoundTrip", outboxPayload},
		{"DispatchMissing", outboxDispatchMissing},
	})
}

func eventFixture(created time.Time) *storage.Event {
	return &storage.Event{
		ID:        storage.NewID(storage.PrefixEvent),
		Type:      "user.created",
		Payload:   json.RawMessage(fmt.Sprintf(`{"n":%q}`, uniq("evt"))),
		CreatedAt: created,
	}
}

func appendEvent(t testing.TB, s storage.Tx, e *storage.Event) *storage.Event {
	t.Helper()
	if err := s.AppendEvent(t.Context(), e); err != nil {
		t.Fatalf("AppendEvent: %v", err)
	}
	return e
}

// eventsOldestFirst sorts events as PendingEvents must return them.
func eventsOldestFirst(es []*storage.Event) []*storage.Event {
	es = slices.Clone(es)
	slices.SortStableFunc(es, func(a, b *storage.Event) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return es
}

func outboxPending(t *testing.T, s storage.Storage) {
	none, err := s.PendingEvents(t.Context(), 10)
	must(t, err, "PendingEvents")
	if len(none) != 0 {
		t.Errorf("PendingEvents of an empty store = %d events, want none", len(none))
	}

	// Appended out of age order: the list follows CreatedAt. Should a
	// backend set CreatedAt itself, the order is that of appending.
	n := now()
	var es []*storage.Event
	for _, d := range []time.Duration{3, 5, 1, 4, 2} {
		es = append(es, appendEvent(t, s, eventFixture(n.Add(-d*time.Minute))))
	}
	want := ids(eventsOldestFirst(es), eventIDOf)

	all, err := s.PendingEvents(t.Context(), 100)
	must(t, err, "PendingEvents")
	sameOrder(t, "PendingEvents", ids(all, eventIDOf), want)
	for _, e := range all {
		if !e.DispatchedAt.IsZero() {
			t.Errorf("pending event %s has DispatchedAt %v", e.ID, e.DispatchedAt)
		}
	}

	first, err := s.PendingEvents(t.Context(), 2)
	must(t, err, "PendingEvents(2)")
	sameOrder(t, "PendingEvents(2)", ids(first, eventIDOf), want[:2])
}

func outboxDispatch(t *testing.T, s storage.Storage) {
	n := now()
	var es []*storage.Event
	for i := range 4 {
		es = append(es, appendEvent(t, s, eventFixture(n.Add(time.Duration(i)*time.Second))))
	}
	want := ids(eventsOldestFirst(es), eventIDOf)

	must(t, s.MarkEventDispatched(t.Context(), want[0], n.Add(time.Minute)), "MarkEventDispatched")
	must(t, s.MarkEventDispatched(t.Context(), want[2], n.Add(time.Minute)), "MarkEventDispatched")
	got, err := s.PendingEvents(t.Context(), 10)
	must(t, err, "PendingEvents")
	sameOrder(t, "PendingEvents after dispatching two", ids(got, eventIDOf), []string{want[1], want[3]})

	one, err := s.PendingEvents(t.Context(), 1)
	must(t, err, "PendingEvents(1)")
	sameOrder(t, "PendingEvents(1) after dispatching two", ids(one, eventIDOf), want[1:2])
}

func outboxPayload(t *testing.T, s storage.Storage) {
	payloads := []string{
		`{"user_id": "user_01", "emails": ["a@example.com"], "n": 3, "ok": true, "z": null, "nested": {"b": 2, "a": 1}}`,
		`{"text":"héllo \"quoted\" \\ \u00e9 🦀"}`,
		`{}`,
	}
	n := now()
	var es []*storage.Event
	for i, p := range payloads {
		e := eventFixture(n.Add(time.Duration(i) * time.Second))
		e.Type = fmt.Sprintf("test.payload%d", i)
		e.Payload = json.RawMessage(p)
		es = append(es, appendEvent(t, s, e))
	}
	got, err := s.PendingEvents(t.Context(), 10)
	must(t, err, "PendingEvents")
	if len(got) != len(es) {
		t.Fatalf("PendingEvents = %d events, want %d", len(got), len(es))
	}
	for _, g := range got {
		i := slices.IndexFunc(es, func(e *storage.Event) bool { return e.ID == g.ID })
		if i < 0 {
			t.Errorf("PendingEvents returned unknown event %s", g.ID)
			continue
		}
		eq(t, "Type", g.Type, es[i].Type)
		sameJSON(t, "Payload of "+es[i].Type, g.Payload, es[i].Payload)
		sameTime(t, "CreatedAt of "+es[i].Type, g.CreatedAt, es[i].CreatedAt)
	}
}

func outboxDispatchMissing(t *testing.T, s storage.Storage) {
	e := appendEvent(t, s, eventFixture(now()))
	wantErr(t, s.MarkEventDispatched(t.Context(), storage.NewID(storage.PrefixEvent), now()), storage.ErrNotFound, "MarkEventDispatched of an unknown ID")
	got, err := s.PendingEvents(t.Context(), 10)
	must(t, err, "PendingEvents")
	sameOrder(t, "PendingEvents", ids(got, eventIDOf), []string{e.ID})
}
