package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

// timeCol scans a time stored as microseconds (SQLite) or a timestamp
// (PostgreSQL); NULL is the zero time.
type timeCol struct{ dst *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = time.Time{}
	case int64:
		*c.dst = time.UnixMicro(v).UTC()
	case time.Time:
		*c.dst = v.UTC()
	default:
		return fmt.Errorf("sqlstore: cannot scan %T as a time", src)
	}
	return nil
}

func tm(dst *time.Time) timeCol { return timeCol{dst} }

// listCol scans a JSON array of strings; an empty array is nil.
type listCol struct{ dst *[]string }

func (c listCol) Scan(src any) error {
	b, err := textBytes(src)
	if err != nil {
		return err
	}
	var v []string
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("sqlstore: list column: %w", err)
		}
	}
	if len(v) == 0 {
		v = nil
	}
	*c.dst = v
	return nil
}

func list(dst *[]string) listCol { return listCol{dst} }

// listArg encodes a list for a JSON text column.
func listArg(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

// jsonCol scans raw JSON text; an empty column is nil.
type jsonCol struct{ dst *json.RawMessage }

func (c jsonCol) Scan(src any) error {
	b, err := textBytes(src)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		*c.dst = nil
		return nil
	}
	*c.dst = json.RawMessage(bytes.Clone(b))
	return nil
}

func raw(dst *json.RawMessage) jsonCol { return jsonCol{dst} }

func textBytes(src any) ([]byte, error) {
	switch v := src.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	default:
		return nil, fmt.Errorf("sqlstore: cannot scan %T as text", src)
	}
}

// objectArg checks that v is a JSON object (nil means {}) and returns it as
// text for a metadata column.
func objectArg(field string, v json.RawMessage) (string, error) {
	t := bytes.TrimSpace(v)
	if len(t) == 0 {
		return "{}", nil
	}
	if t[0] != '{' || !json.Valid(t) {
		return "", fmt.Errorf("%w: %s must be a JSON object", storage.ErrInvalid, field)
	}
	return string(t), nil
}

// seconds converts between durations and whole-second columns.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

type durationCol struct{ dst *time.Duration }

func (c durationCol) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("sqlstore: cannot scan %T as seconds", src)
	}
	*c.dst = time.Duration(v) * time.Second
	return nil
}

func dur(dst *time.Duration) durationCol { return durationCol{dst} }
