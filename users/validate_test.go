package users

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateEmail(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com" // 254
	tests := []struct {
		in, want string
		wantErr  string // "" means valid
	}{
		{"ada@example.com", "ada@example.com", ""},
		{"  ada@example.com\n", "ada@example.com", ""},
		{"Ada.Lovelace@Example.COM", "Ada.Lovelace@example.com", ""},
		{"ada+usher@example.com", "ada+usher@example.com", ""},
		{"ada@localhost", "ada@localhost", ""},
		{"josé@exämple.org", "josé@exämple.org", ""},
		{long, long, ""},
		{long + "m", "", "use at most 254 characters"},
		{"", "", "enter an email address"},
		{"   ", "", "enter an email address"},
		{"ada", "", "enter an address like name@example.com"},
		{"ada@", "", "enter an address like name@example.com"},
		{"@example.com", "", "enter an address like name@example.com"},
		{"ada@@example.com", "", "enter an address like name@example.com"},
		{"ada lovelace@example.com", "", "enter an address like name@example.com"},
		{"Ada <ada@example.com>", "", "enter an address like name@example.com"},
		{"<ada@example.com>", "", "enter an address like name@example.com"},
		{"ada@example.com (Ada)", "", "enter an address like name@example.com"},
		{`"ada lovelace"@example.com`, "", "enter an address like name@example.com"},
		{"ada@example.com, bob@example.com", "", "enter an address like name@example.com"},
		{"ada@exa\x00mple.com", "", "enter an address like name@example.com"},
		{"ada@example.com\r\nBcc: eve@example.com", "", "enter an address like name@example.com"},
	}
	for _, tt := range tests {
		got, err := ValidateEmail(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("ValidateEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "email" || ve.Message != tt.wantErr || got != "" {
			t.Errorf("ValidateEmail(%q) = %q, %v; want email: %s", tt.in, got, err, tt.wantErr)
		}
	}
}

func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", "Ada <ada@example.com>", `"a b"@c`, "a@[127.0.0.1]", "@", "", "a@b.c\x00", "josé@exämple.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ValidateEmail(in)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "email" || got != "" {
				t.Fatalf("ValidateEmail(%q) = %q, %v; want a *ValidationError for email", in, got, err)
			}
			return
		}
		if len(got) > MaxEmailLength || !utf8.ValidString(got) || !strings.Contains(got, "@") {
			t.Fatalf("ValidateEmail(%q) accepted %q", in, got)
		}
		again, err := ValidateEmail(got)
		if err != nil || again != got {
			t.Fatalf("ValidateEmail is not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}

func TestValidateUsername(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"", true},
		{"ada", false},
		{"ada_", true},
		{"Ada.Lovelace-1815", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"ada@example.com", false},
		{"ada lovelace", false},
		{"adä_", false},
	} {
		err := validateUsername(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("validateUsername(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
