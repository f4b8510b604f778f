package users

import (
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// breachedCount is how many passwords breached.txt.gz holds: those of
// zxcvbn's 30,000 that are 8 to 128 characters long.
const breachedCount = 11611

func TestBreachedList(t *testing.T) {
	list := breachedList()
	if len(list) < breachedCount {
		t.Fatalf("the list has %d passwords, want at least %d", len(list), breachedCount)
	}
	if !slices.IsSorted(list) {
		t.Fatal("the list is not sorted, so binary search misses entries")
	}
	for i, pw := range list {
		if i > 0 && list[i-1] == pw {
			t.Errorf("%q is listed twice", pw)
		}
		if pw != strings.ToLower(pw) {
			t.Errorf("%q is not in lower case, so it can never match", pw)
		}
		if n := utf8.RuneCountInString(pw); n < MinPasswordLength || n > MaxPasswordLength {
			t.Errorf("%q has %d characters: the length rule refuses it anyway", pw, n)
		}
	}
	if p := &breachedList()[0]; p != &list[0] {
		t.Error("the list is decompressed again on each use")
	}
}

func TestValidatePasswordRefusesBreached(t *testing.T) {
	for _, pw := range []string{"password123", "iloveyou1", "qwertyuiop", "PassWord123", "QWERTYUIOP", "1qaz2wsx3edc", "trustno1"} {
		err := ValidatePassword(pw)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "password" || ve.Message != msgBreachedPassword {
			t.Errorf("ValidatePassword(%q) = %v, want the breached-password message", pw, err)
		}
	}
	if !strings.Contains(msgBreachedPassword, "data breaches") || !strings.Contains(msgBreachedPassword, "unrelated words") {
		t.Errorf("the message does not say why, nor what to do instead: %q", msgBreachedPassword)
	}

	for _, pw := range []string{
		"correct horse battery staple",
		"tangerine orbit velvet cascade",
		"password123 but with more words",
		rand.Text(), // 26 random characters
	} {
		if err := ValidatePassword(pw); err != nil {
			t.Errorf("ValidatePassword(%q) = %v, want nil", pw, err)
		}
	}
}

func BenchmarkValidatePassword(b *testing.B) {
	breachedList() // the first use decompresses the list; measure the check
	for _, bm := range []struct{ name, pw string }{
		{"common", "Password123"},
		{"passphrase", "tangerine orbit velvet cascade"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = ValidatePassword(bm.pw)
			}
		})
	}
}

// The one-time cost of the first check.
func BenchmarkDecodeBreached(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if len(decodeBreached()) < breachedCount {
			b.Fatal("short list")
		}
	}
}
