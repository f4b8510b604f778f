package claims

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/usher-id/usher/storage"
)

// Context is what shortcodes read.
type Context struct {
	User *storage.User
	// Org and OrgMembership are nil until organizations exist (or when the
	// session has no active organization): their shortcodes render null.
	Org           *Org
	OrgMembership *OrgMembership
}

// Org is the session's active organization.
type Org struct {
	ID, Name, Slug string
	Role           string // the member's role in it, like org:admin
	PublicMetadata json.RawMessage
}

// OrgMembership is the user's membership of the active organization.
type OrgMembership struct {
	PublicMetadata json.RawMessage
	Permissions    []string // like org:article:publish
}

// Render returns the claims for c. It never fails on data: what a
// shortcode names but c lacks is null. The error is ErrNotParsed, for a
// Template that did not come from Parse.
//
// Values are strings, bools, nil, json.Number (numbers from the template
// and from metadata, as written), int64 (user.created_at and
// user.updated_at), map[string]any and []any; each call returns new maps
// and slices, so the caller may change them.
func (t *Template) Render(c Context) (map[string]any, error) {
	if t == nil || t.root == nil {
		return nil, ErrNotParsed
	}
	r := renderer{c: c}
	out := make(map[string]any, len(t.root.keys))
	for i, k := range t.root.keys {
		out[k] = r.node(t.root.elems[i])
	}
	return out, nil
}

// metaSlot indexes the per-render cache of decoded metadata.
type metaSlot uint8

const (
	slotUserPublic metaSlot = iota
	slotUserUnsafe
	slotOrgPublic
	slotMembershipPublic
	slotCount
)

type renderer struct {
	c Context
	// meta holds metadata decoded during this render; handed records that
	// part of it is already in the output, so a second use is a copy.
	meta    [slotCount]any
	decoded [slotCount]bool
	handed  [slotCount]bool
}

func (r *renderer) node(n *node) any {
	switch n.kind {
	case kindObject:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = r.node(n.elems[i])
		}
		return m
	case kindArray:
		a := make([]any, len(n.elems))
		for i, e := range n.elems {
			a[i] = r.node(e)
		}
		return a
	case kindWhole:
		return r.eval(n.expr, false)
	case kindInterp:
		var b strings.Builder
		for _, p := range n.parts {
			if p.expr == nil {
				b.WriteString(p.text)
				continue
			}
			writeText(&b, r.eval(p.expr, true))
		}
		return b.String()
	default:
		return n.value
	}
}

// eval is the first operand that is neither null nor false, else the
// last operand's value. forText says the value only becomes text, so
// metadata need not be copied.
func (r *renderer) eval(e *expr, forText bool) any {
	var v any
	for _, op := range e.operands {
		v = r.operand(op, forText)
		if v != nil && v != false {
			return v
		}
	}
	return v
}

func (r *renderer) operand(op operand, forText bool) any {
	if op.literal {
		return op.value
	}
	u, org, m := r.c.User, r.c.Org, r.c.OrgMembership
	switch op.src {
	case srcUserPublicMetadata, srcUserUnsafeMetadata, srcOrgPublicMetadata, srcMembershipPublicMetadata:
		return r.metadata(op, forText)
	case srcMembershipPermissions:
		if m == nil {
			return nil
		}
		perms := make([]any, len(m.Permissions))
		for i, p := range m.Permissions {
			perms[i] = p
		}
		return walk(perms, op.rest)
	case srcUserEmailVerified:
		return u != nil && u.PrimaryEmail().Verified
	case srcUserPhoneVerified, srcUserTwoFactor:
		return false
	}
	switch op.src {
	case srcUserID, srcUserFirstName, srcUserLastName, srcUserFullName, srcUserUsername,
		srcUserPrimaryEmail, srcUserImageURL, srcUserCreatedAt, srcUserUpdatedAt:
		if u == nil {
			return nil
		}
	case srcOrgID, srcOrgName, srcOrgSlug, srcOrgRole:
		if org == nil {
			return nil
		}
	}
	switch op.src {
	case srcUserID:
		return orNull(u.ID)
	case srcUserFirstName:
		return orNull(u.FirstName)
	case srcUserLastName:
		return orNull(u.LastName)
	case srcUserFullName:
		return orNull(strings.TrimSpace(u.FirstName + " " + u.LastName))
	case srcUserUsername:
		return orNull(u.Username)
	case srcUserPrimaryEmail:
		return orNull(u.PrimaryEmail().Email)
	case srcUserImageURL:
		return orNull(u.ImageURL)
	case srcUserCreatedAt:
		return unix(u.CreatedAt)
	case srcUserUpdatedAt:
		return unix(u.UpdatedAt)
	case srcOrgID:
		return orNull(org.ID)
	case srcOrgName:
		return orNull(org.Name)
	case srcOrgSlug:
		return orNull(org.Slug)
	case srcOrgRole:
		return orNull(org.Role)
	}
	// srcUnknown, srcUserExternalID, srcUserPrimaryPhone: nothing yet.
	return nil
}

// metadata resolves a path into one of the metadata objects.
func (r *renderer) metadata(op operand, forText bool) any {
	var slot metaSlot
	var raw json.RawMessage
	switch op.src {
	case srcUserPublicMetadata, srcUserUnsafeMetadata:
		if r.c.User == nil {
			return nil
		}
		slot, raw = slotUserPublic, r.c.User.PublicMetadata
		if op.src == srcUserUnsafeMetadata {
			slot, raw = slotUserUnsafe, r.c.User.UnsafeMetadata
		}
	case srcOrgPublicMetadata:
		if r.c.Org == nil {
			return nil
		}
		slot, raw = slotOrgPublic, r.c.Org.PublicMetadata
	default:
		if r.c.OrgMembership == nil {
			return nil
		}
		slot, raw = slotMembershipPublic, r.c.OrgMembership.PublicMetadata
	}
	if !r.decoded[slot] {
		r.meta[slot] = decodeMetadata(raw)
		r.decoded[slot] = true
	}
	v := walk(r.meta[slot], op.rest)
	if forText || !isContainer(v) {
		return v
	}
	if r.handed[slot] {
		return clone(v)
	}
	r.handed[slot] = true
	return v
}

// decodeMetadata decodes a metadata object; nil, empty or broken
// metadata is {}.
func decodeMetadata(raw json.RawMessage) any {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return map[string]any{}
	}
	return v
}

// walk follows path into v: object keys, and array indexes in decimal.
// Anything it cannot follow is null.
func walk(v any, path []string) any {
	for _, seg := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) || seg != strconv.Itoa(i) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = clone(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = clone(e)
		}
		return a
	}
	return v
}

// orNull is s, or nil when s is empty: Clerk's string|null.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// unix is t in Unix seconds, or nil for the zero time.
func unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// writeText writes v as interpolation shows it: strings as they are, null
// as null, numbers and bools in JSON form, objects and arrays as compact
// JSON.
func writeText(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		b.WriteString(x)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		b.WriteString(string(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			b.WriteString("null")
			return
		}
		b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
}

// typical is the user whose rendered claims Parse measures: plausible
// lengths for every field, metadata empty (its size is the developer's to
// know).
var typical = Context{
	User: &storage.User{
		ID:        "user_2abcdefghijklmnopqrstuvwxyz",
		Username:  "alexandra.smith",
		FirstName: "Alexandra",
		LastName:  "Smith-Johnson",
		ImageURL:  "https://id.example.com/avatars/user_2abcdefghijklmnopqrstuvwxyz/3f9a1c2b.png",
		Emails: []storage.EmailAddress{
			{ID: "idn_2abcdefghijklmnopqrstuvwxyz", Email: "alexandra.smith@example.com", Verified: true, Primary: true},
		},
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		UpdatedAt: time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC),
	},
	Org: &Org{ID: "org_2abcdefghijklmnopqrstuvwxyz", Name: "Example Corporation", Slug: "example-corporation", Role: "org:admin"},
	OrgMembership: &OrgMembership{
		Permissions: []string{"org:sys_memberships:read", "org:sys_profile:manage", "org:article:publish"},
	},
}

// estimateSize is the size in bytes of t's claims rendered as JSON for a
// typical user.
func estimateSize(t *Template) int {
	out, err := t.Render(typical)
	if err != nil {
		return 0
	}
	b, err := json.Marshal(out)
	if err != nil {
		return 0
	}
	return len(b)
}
