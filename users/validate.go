package users

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidationError is input a person must correct. Message is written for
// that person and names no internals.
type ValidationError struct {
	Field   string // email, password, username, first_name, last_name
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// MaxEmailLength is the longest address SMTP can carry (RFC 5321 path limit
// less its angle brackets).
const MaxEmailLength = 254

// ValidateEmail checks that email is a bare address (no display name, no
// comments, no angle brackets) with a domain, and returns it trimmed with
// its domain in lower case. The local part keeps its case; addresses are
// compared case-insensitively anyway (storage.NormalizeEmail).
func ValidateEmail(email string) (normalized string, err error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", &ValidationError{Field: "email", Message: "enter an email address"}
	}
	if len(email) > MaxEmailLength {
		return "", &ValidationError{Field: "email", Message: fmt.Sprintf("use at most %d characters", MaxEmailLength)}
	}
	invalid := &ValidationError{Field: "email", Message: "enter an address like name@example.com"}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return "", invalid
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return "", invalid
	}
	return email[:at+1] + strings.ToLower(email[at+1:]), nil
}

// Username bounds, in characters.
const (
	MinUsernameLength = 4
	MaxUsernameLength = 64
)

// validateUsername checks an optional username: empty, or 4 to 64 ASCII
// letters, digits, '_', '-' and '.' (never '@', so it cannot pass for an
// email address).
func validateUsername(username string) error {
	if username == "" {
		return nil
	}
	if n := len(username); n < MinUsernameLength || n > MaxUsernameLength {
		return &ValidationError{Field: "username", Message: fmt.Sprintf("use %d to %d characters", MinUsernameLength, MaxUsernameLength)}
	}
	for _, r := range username {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return &ValidationError{Field: "username", Message: "use only letters, digits, '_', '-' and '.'"}
		}
	}
	return nil
}

// MaxNameLength bounds first and last names, in characters.
const MaxNameLength = 256

// validateName checks an optional first or last name.
func validateName(field, name string) error {
	if !utf8.ValidString(name) {
		return &ValidationError{Field: field, Message: "is not valid text"}
	}
	if utf8.RuneCountInString(name) > MaxNameLength {
		return &ValidationError{Field: field, Message: fmt.Sprintf("use at most %d characters", MaxNameLength)}
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return &ValidationError{Field: field, Message: "must not contain control characters"}
	}
	return nil
}
