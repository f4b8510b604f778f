package users

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/usher-id/usher/storage"
)

// MaxMetadataSize bounds each of a user's metadata objects, in bytes of the
// JSON that is stored (Clerk allows 8 KB).
const MaxMetadataSize = 8 << 10

// MetadataUpdate changes a user's metadata. For each of Public, Private and
// Unsafe: nil leaves it alone; with Replace false the object is deep-merged
// (a key whose new value is null is deleted, at any depth; objects merge
// recursively; any other value replaces), with Replace true it replaces the
// whole object. ReplacePublic, ReplacePrivate and ReplaceUnsafe replace one
// object each, so one update may merge some and replace others.
type MetadataUpdate struct {
	Public, Private, Unsafe                      json.RawMessage
	Replace                                      bool
	ReplacePublic, ReplacePrivate, ReplaceUnsafe bool
}

// metadataField is one of the three metadata objects of a user.
type metadataField struct {
	name    string // as Clerk's API and ValidationError.Field name it
	given   json.RawMessage
	replace bool
	of      func(u *storage.User) *json.RawMessage
}

// UpdateMetadata applies m to the user's metadata and returns the user as
// stored, with a user.updated event, in one transaction. Each value given
// must be a JSON object and each object that results at most
// MaxMetadataSize bytes, or the error is a *ValidationError naming the
// field (public_metadata, private_metadata or unsafe_metadata) and nothing
// changes. Objects are stored compact, with their keys sorted. An unknown
// ID is ErrNotFound. An update that gives no value changes nothing and
// appends no event.
func (s *Service) UpdateMetadata(ctx context.Context, userID string, m MetadataUpdate) (*storage.User, error) {
	fields := []metadataField{
		{"public_metadata", m.Public, m.Replace || m.ReplacePublic, func(u *storage.User) *json.RawMessage { return &u.PublicMetadata }},
		{"private_metadata", m.Private, m.Replace || m.ReplacePrivate, func(u *storage.User) *json.RawMessage { return &u.PrivateMetadata }},
		{"unsafe_metadata", m.Unsafe, m.Replace || m.ReplaceUnsafe, func(u *storage.User) *json.RawMessage { return &u.UnsafeMetadata }},
	}
	// Checked, and replacements encoded, before the transaction; the
	// decoded patches are only read from, since InTx may run fn again.
	patches := make([]map[string]any, len(fields))
	replacements := make([]json.RawMessage, len(fields))
	given := false
	for i, f := range fields {
		if f.given == nil {
			continue
		}
		given = true
		obj, err := decodeObject(f.given)
		if err != nil {
			return nil, &ValidationError{Field: f.name, Message: "give a JSON object"}
		}
		patches[i] = obj
		if f.replace {
			if replacements[i], err = encodeMetadata(f.name, obj); err != nil {
				return nil, err
			}
		}
	}
	if !given {
		u, err := s.store.GetUser(ctx, userID)
		return u, metadataError(userID, err)
	}

	var updated *storage.User
	err := s.store.InTx(ctx, func(tx storage.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return err
		}
		for i, f := range fields {
			if patches[i] == nil {
				continue
			}
			dst := f.of(u)
			if f.replace {
				*dst = replacements[i]
				continue
			}
			cur, err := storedObject(*dst)
			if err != nil {
				return fmt.Errorf("stored %s: %w", f.name, err)
			}
			if *dst, err = encodeMetadata(f.name, mergeObject(cur, patches[i])); err != nil {
				return err
			}
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		payload, err := json.Marshal(NewPublic(u, s.now()))
		if err != nil {
			return err
		}
		if err := tx.AppendEvent(ctx, &storage.Event{Type: EventUserUpdated, Payload: payload, CreatedAt: s.now().UTC()}); err != nil {
			return err
		}
		updated = u
		return nil
	})
	if err != nil {
		return nil, metadataError(userID, err)
	}
	return updated, nil
}

// metadataError gives err the form UpdateMetadata returns.
func metadataError(userID string, err error) error {
	var ve *ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ve):
		return ve
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrNotFound, userID)
	}
	return fmt.Errorf("users: update metadata of %s: %w", userID, err)
}

// MergeJSON deep-merges patch into dst, as a JSON merge patch (RFC 7386)
// does: a key whose value in patch is null is deleted, at any depth;
// objects merge recursively; any other value, arrays included, replaces
// what dst held. Both must be JSON objects, though an empty or null dst
// counts as {}. The result is compact, with its keys sorted.
func MergeJSON(dst, patch json.RawMessage) (json.RawMessage, error) {
	cur, err := storedObject(dst)
	if err != nil {
		return nil, fmt.Errorf("users: merge: the target: %w", err)
	}
	p, err := decodeObject(patch)
	if err != nil {
		return nil, fmt.Errorf("users: merge: the patch: %w", err)
	}
	return encodeObject(mergeObject(cur, p))
}

// mergeObject merges patch into dst, which it changes and returns. The
// result shares no map with patch, and patch is left as it was.
func mergeObject(dst, patch map[string]any) map[string]any {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		p, ok := v.(map[string]any)
		if !ok {
			dst[k] = v // scalars and arrays are never changed, so may be shared
			continue
		}
		sub, ok := dst[k].(map[string]any)
		if !ok {
			sub = map[string]any{}
		}
		dst[k] = mergeObject(sub, p)
	}
	return dst
}

var errNotObject = errors.New("not a JSON object")

// decodeObject decodes a JSON object, keeping numbers as written.
func decodeObject(raw json.RawMessage) (map[string]any, error) {
	if !json.Valid(raw) {
		return nil, errNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return obj, nil
}

// storedObject decodes metadata as stored, where empty or null means {}.
func storedObject(raw json.RawMessage) (map[string]any, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return map[string]any{}, nil
	}
	return decodeObject(raw)
}

// encodeObject encodes obj compactly with its keys sorted, and without
// escaping <, > and &, which JSON does not require.
func encodeObject(obj map[string]any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// encodeMetadata encodes obj as the new value of the named field, which
// must fit in MaxMetadataSize.
func encodeMetadata(field string, obj map[string]any) (json.RawMessage, error) {
	b, err := encodeObject(obj)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMetadataSize {
		return nil, &ValidationError{Field: field, Message: fmt.Sprintf("use at most %d bytes of JSON (this would be %d)", MaxMetadataSize, len(b))}
	}
	return b, nil
}
