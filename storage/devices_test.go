package storage

import "testing"

func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK":    "BCDFGHJK",
		"bcdf-ghjk":    "BCDFGHJK",
		" bcdf ghjk\n": "BCDFGHJK",
		"bcdfghjk":     "BCDFGHJK",
		"123-456-789":  "123456789",
		"BCDF–GHJK":    "BCDFGHJK", // an en dash, as phones like to type
		"":             "",
		"ßé-ÉÜ":        "",
	} {
		if got := NormalizeUserCode(in); got != want {
			t.Errorf("NormalizeUserCode(%q) = %q, want %q", in, got, want)
		}
	}
}
