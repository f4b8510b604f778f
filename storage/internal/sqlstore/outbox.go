package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

// AppendEvent implements storage.Outbox.
func (s *Store) AppendEvent(ctx context.Context, e *storage.Event) error {
	if e.Type == "" {
		return fmt.Errorf("%w: event type is empty", storage.ErrInvalid)
	}
	if !json.Valid(e.Payload) {
		return fmt.Errorf("%w: event payload is not JSON", storage.ErrInvalid)
	}
	if e.ID == "" {
		e.ID = storage.NewID(storage.PrefixEvent)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	_, err := s.exec(ctx, `INSERT INTO events (id, type, payload, created_at, dispatched_at) VALUES ($1, $2, $3, $4, $5)`,
		e.ID, e.Type, string(e.Payload), s.t(e.CreatedAt), s.t(e.DispatchedAt))
	return err
}

// PendingEvents implements storage.Outbox.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]*storage.Event, error) {
	limit = storage.Page{Limit: limit}.Normalize().Limit
	var out []*storage.Event
	err := s.queryAll(ctx, `SELECT id, type, payload, created_at, dispatched_at FROM events
		WHERE dispatched_at IS NULL ORDER BY created_at, id LIMIT $1`, []any{limit}, func(r Rows) error {
		e := new(storage.Event)
		out = append(out, e)
		return r.Scan(&e.ID, &e.Type, raw(&e.Payload), tm(&e.CreatedAt), tm(&e.DispatchedAt))
	})
	return out, err
}

// MarkEventDispatched implements storage.Outbox.
func (s *Store) MarkEventDispatched(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, `UPDATE events SET dispatched_at = $2 WHERE id = $1`, id, s.t(at))
}
