// Package claims is Usher's JWT template language: it parses and validates
// templates, renders them for a user, merges custom session claims into a
// token, and ships presets for the databases developers point tokens at.
//
// The language is the one Clerk's JWT templates use, so a template pasted
// from Clerk renders the same claims. A template is a JSON object. String
// values, at any depth, may hold shortcodes:
//
//	shortcode = "{{" expr "}}"
//	expr      = operand { "||" operand }            (whitespace allowed around each)
//	operand   = path | string | number | "true" | "false"
//	path      = segment { "." segment }             e.g. user.public_metadata.addresses.Home
//	segment   = 1*( any character but whitespace "." "|" "'" "{" "}" )
//	string    = "'" { any character but "'" and "\" | "\'" | "\\" } "'"
//	number    = a JSON number: -1, 30, 2.5e3
//
// A value that is exactly one shortcode keeps the JSON type of what it
// names (string, number, bool, null, object, array). Shortcodes inside a
// longer string are interpolated as text: null prints as "null", numbers in
// their JSON form, objects and arrays as compact JSON. An expression with
// fallbacks, {{ a || b || 'x' }}, is the first operand that is neither null
// nor false, else the value of the last operand. A path that names nothing
// is null; dot paths reach into metadata at any depth (and into arrays by
// index). Keys are never interpolated, and non-string values pass through
// unchanged. Private metadata never reaches a token: a template naming it
// is refused.
//
// Parse does the work once; a *Template is immutable and safe for
// concurrent use, and Render never fails on data.
package claims

import (
	"errors"
	"strings"
)

// Reserved are the claims Usher always sets; templates may not set them.
var Reserved = []string{"azp", "exp", "iat", "iss", "jti", "nbf", "sub"}

// Limits of a template.
const (
	// MaxSize is the largest template accepted, in bytes of JSON.
	MaxSize = 64 << 10
	// MaxDepth is the deepest nesting of objects and arrays accepted; the
	// template object itself is level 1.
	MaxDepth = 32
	// SizeWarning is the estimated rendered size of custom claims above
	// which Parse warns (Clerk's advice for session tokens: under 1.2 KB).
	SizeWarning = 1200
)

// ErrNotParsed is returned by Render for a Template that did not come
// from Parse.
var ErrNotParsed = errors.New("claims: template was not parsed")

// Problem is one reason a template was refused, or one warning.
type Problem struct {
	// Path is the JSON path of the value, like $.claims.role or
	// $.claims["https://hasura.io/jwt/claims"].x-hasura-user-id.
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ValidationError lists every problem of a template at once.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("claims: template refused: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Path)
		b.WriteString(": ")
		b.WriteString(p.Message)
	}
	return b.String()
}

func isReserved(name string) bool {
	for _, r := range Reserved {
		if r == name {
			return true
		}
	}
	return false
}
