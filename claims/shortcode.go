package claims

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// source is what a shortcode's first two segments name.
type source uint8

const (
	srcUnknown source = iota
	srcUserID
	srcUserExternalID
	srcUserFirstName
	srcUserLastName
	srcUserFullName
	srcUserUsername
	srcUserPrimaryEmail
	srcUserPrimaryPhone
	srcUserEmailVerified
	srcUserPhoneVerified
	srcUserImageURL
	srcUserCreatedAt
	srcUserUpdatedAt
	srcUserTwoFactor
	srcUserPublicMetadata
	srcUserUnsafeMetadata
	srcOrgID
	srcOrgName
	srcOrgSlug
	srcOrgRole
	srcOrgPublicMetadata
	srcMembershipPublicMetadata
	srcMembershipPermissions
)

// shortcode describes one name of the language.
type shortcode struct {
	src source
	// container is true when the value is an object or array, so a longer
	// path may reach into it.
	container bool
}

// shortcodes are the names a path's first two segments may have.
var shortcodes = map[string]shortcode{
	"user.id":                        {src: srcUserID},
	"user.external_id":               {src: srcUserExternalID},
	"user.first_name":                {src: srcUserFirstName},
	"user.last_name":                 {src: srcUserLastName},
	"user.full_name":                 {src: srcUserFullName},
	"user.username":                  {src: srcUserUsername},
	"user.primary_email_address":     {src: srcUserPrimaryEmail},
	"user.primary_phone_number":      {src: srcUserPrimaryPhone},
	"user.email_verified":            {src: srcUserEmailVerified},
	"user.phone_number_verified":     {src: srcUserPhoneVerified},
	"user.image_url":                 {src: srcUserImageURL},
	"user.created_at":                {src: srcUserCreatedAt},
	"user.updated_at":                {src: srcUserUpdatedAt},
	"user.two_factor_enabled":        {src: srcUserTwoFactor},
	"user.public_metadata":           {src: srcUserPublicMetadata, container: true},
	"user.unsafe_metadata":           {src: srcUserUnsafeMetadata, container: true},
	"org.id":                         {src: srcOrgID},
	"org.name":                       {src: srcOrgName},
	"org.slug":                       {src: srcOrgSlug},
	"org.role":                       {src: srcOrgRole},
	"org.public_metadata":            {src: srcOrgPublicMetadata, container: true},
	"org_membership.public_metadata": {src: srcMembershipPublicMetadata, container: true},
	"org_membership.permissions":     {src: srcMembershipPermissions, container: true},

	// Aliases from older Clerk examples.
	"user.has_verified_email":    {src: srcUserEmailVerified},
	"user.has_verified_phone":    {src: srcUserPhoneVerified},
	"user.primary_phone_address": {src: srcUserPrimaryPhone},
}

// suggestions name the shortcode meant by a few common mistakes; a
// warning about the mistake mentions it.
var suggestions = map[string]string{
	"user.email":                   "user.primary_email_address",
	"user.email_address":           "user.primary_email_address",
	"user.primary_email":           "user.primary_email_address",
	"user.phone_number":            "user.primary_phone_number",
	"user.name":                    "user.full_name",
	"user.firstName":               "user.first_name",
	"user.lastName":                "user.last_name",
	"user.fullName":                "user.full_name",
	"user.imageUrl":                "user.image_url",
	"user.profile_image_url":       "user.image_url",
	"user.publicMetadata":          "user.public_metadata",
	"user.unsafeMetadata":          "user.unsafe_metadata",
	"user.primaryEmailAddress":     "user.primary_email_address",
	"user.externalId":              "user.external_id",
	"org.publicMetadata":           "org.public_metadata",
	"org_membership.permission":    "org_membership.permissions",
	"org_membership.role":          "org.role",
	"organization.id":              "org.id",
	"organization.slug":            "org.slug",
	"organization.name":            "org.name",
	"organization.role":            "org.role",
	"organization.public_metadata": "org.public_metadata",
}

// operand is one side of a ||: a path or a literal.
type operand struct {
	literal bool
	value   any      // the literal: string, json.Number or bool
	src     source   // the path's shortcode; srcUnknown renders null
	rest    []string // the segments after the shortcode, walked in its value
	text    string   // the path as written, for messages
}

// expr is the inside of one {{ }}.
type expr struct {
	operands []operand
}

// part is a piece of an interpolated string: text, or a shortcode.
type part struct {
	text string
	expr *expr
}

// shortcodeIssues collects what parsing a string found.
type shortcodeIssues struct {
	errs     []string // refusals
	warnings []string
}

// parseString splits s into text and shortcodes. It reports whether s
// holds any shortcode at all, and whether s is exactly one shortcode.
func parseString(s string, iss *shortcodeIssues) (parts []part, hasCode, whole bool) {
	i := 0
	for {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			if i < len(s) {
				parts = append(parts, part{text: s[i:]})
			}
			break
		}
		if j > 0 {
			parts = append(parts, part{text: s[i : i+j]})
		}
		start := i + j + 2
		end := closing(s, start)
		if end < 0 {
			iss.errs = append(iss.errs, fmt.Sprintf("malformed shortcode %s: no closing }}", quote(shorten(s[i+j:]))))
			return nil, true, false
		}
		hasCode = true
		e, err := parseExpr(s[start:end], iss)
		if err != nil {
			iss.errs = append(iss.errs, fmt.Sprintf("malformed shortcode %s: %v", quote(shorten(s[i+j:end+2])), err))
		} else {
			parts = append(parts, part{expr: e})
		}
		i = end + 2
	}
	whole = hasCode && len(parts) == 1 && parts[0].expr != nil
	return parts, hasCode, whole
}

// closing returns the index of the }} that ends the shortcode whose body
// starts at start, skipping quoted literals, or -1.
func closing(s string, start int) int {
	inQuote := false
	for k := start; k < len(s); k++ {
		c := s[k]
		if inQuote {
			switch c {
			case '\\':
				k++
			case '\'':
				inQuote = false
			}
			continue
		}
		switch {
		case c == '\'':
			inQuote = true
		case c == '}' && k+1 < len(s) && s[k+1] == '}':
			return k
		}
	}
	return -1
}

// looksLikeShortcode reports whether s holds a {{ followed later by }}.
func looksLikeShortcode(s string) bool {
	i := strings.Index(s, "{{")
	return i >= 0 && strings.Contains(s[i+2:], "}}")
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseExpr parses the body of a shortcode.
func parseExpr(body string, iss *shortcodeIssues) (*expr, error) {
	p := exprParser{s: body}
	p.skipSpace()
	if p.eof() {
		return nil, errors.New("empty shortcode")
	}
	e := &expr{}
	for {
		op, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !op.literal {
			if err := resolve(&op, iss); err != nil {
				return nil, err
			}
		}
		e.operands = append(e.operands, op)
		p.skipSpace()
		if p.eof() {
			return e, nil
		}
		if !strings.HasPrefix(p.s[p.i:], "||") {
			return nil, fmt.Errorf("expected || or }} after %s, found %s", op.describe(), quote(shorten(p.s[p.i:])))
		}
		p.i += 2
		p.skipSpace()
		if p.eof() {
			return nil, errors.New("|| must be followed by a value")
		}
	}
}

type exprParser struct {
	s string
	i int
}

func (p *exprParser) eof() bool { return p.i >= len(p.s) }

func (p *exprParser) skipSpace() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *exprParser) operand() (operand, error) {
	c := p.s[p.i]
	switch {
	case c == '\'':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == '|':
		return operand{}, errors.New("|| needs a value on each side")
	}
	start := p.i
	for p.i < len(p.s) && isPathByte(p.s[p.i]) {
		p.i++
	}
	word := p.s[start:p.i]
	if word == "" {
		return operand{}, fmt.Errorf("unexpected %s", quote(shorten(p.s[p.i:])))
	}
	switch word {
	case "true":
		return operand{literal: true, value: true}, nil
	case "false":
		return operand{literal: true, value: false}, nil
	}
	segs := strings.Split(word, ".")
	for _, s := range segs {
		if s == "" {
			return operand{}, fmt.Errorf("path %s has an empty segment", quote(word))
		}
	}
	return operand{text: word, rest: segs}, nil
}

// isPathByte reports whether c may appear in a path. Bytes of multi-byte
// UTF-8 characters all may.
func isPathByte(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '|', '\'', '{', '}':
		return false
	}
	return true
}

func (p *exprParser) str() (operand, error) {
	start := p.i
	p.i++ // the opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\'':
			p.i++
			return operand{literal: true, value: b.String(), text: p.s[start:p.i]}, nil
		case c == '\\' && p.i+1 < len(p.s) && (p.s[p.i+1] == '\'' || p.s[p.i+1] == '\\'):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return operand{}, fmt.Errorf("string %s is not closed with '", quote(shorten(p.s[start:])))
}

func (p *exprParser) number() (operand, error) {
	start := p.i
	for p.i < len(p.s) && strings.IndexByte("0123456789+-.eE", p.s[p.i]) >= 0 {
		p.i++
	}
	lit := p.s[start:p.i]
	if !isJSONNumber(lit) || (p.i < len(p.s) && isPathByte(p.s[p.i])) {
		end := p.i
		for end < len(p.s) && isPathByte(p.s[end]) {
			end++
		}
		return operand{}, fmt.Errorf("%s is not a number (paths start with user, org or org_membership)", quote(p.s[start:end]))
	}
	return operand{literal: true, value: json.Number(lit), text: lit}, nil
}

// isJSONNumber reports whether s is a number as JSON writes one.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// resolve finds the shortcode a path names. Naming private metadata is an
// error; naming nothing known is a warning.
func resolve(op *operand, iss *shortcodeIssues) error {
	segs := op.rest
	if len(segs) >= 2 && segs[0] == "user" && (segs[1] == "private_metadata" || segs[1] == "privateMetadata") {
		return fmt.Errorf("%s names private metadata, which never reaches a token (use user.public_metadata)", op.text)
	}
	op.rest = nil
	if len(segs) >= 2 {
		head := segs[0] + "." + segs[1]
		if sc, ok := shortcodes[head]; ok && (len(segs) == 2 || sc.container) {
			op.src = sc.src
			op.rest = segs[2:]
			if len(op.rest) == 0 {
				op.rest = nil
			}
			return nil
		}
		if s, ok := suggestions[head]; ok {
			iss.warnings = append(iss.warnings, fmt.Sprintf("{{%s}} names nothing Usher knows and renders as null; did you mean %s?", op.text, s))
			return nil
		}
	}
	iss.warnings = append(iss.warnings, fmt.Sprintf("{{%s}} names nothing Usher knows and renders as null", op.text))
	return nil
}

func (op operand) describe() string {
	if op.text != "" {
		return op.text
	}
	b, _ := json.Marshal(op.value)
	return string(b)
}

// quote writes s in double quotes for a message.
func quote(s string) string { return `"` + s + `"` }

// shorten keeps messages short when a template holds a long string.
func shorten(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 character
		cut--
	}
	return s[:cut] + "…"
}
