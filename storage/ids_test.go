package storage

import (
	"strings"
	"testing"
)

func TestNewIDShapeAndUniqueness(t *testing.T) {
	seen := make(map[string]bool)
	for range 10000 {
		id := NewID(PrefixUser)
		rest, ok := strings.CutPrefix(id, "user_")
		if !ok || len(rest) != 26 {
			t.Fatalf("NewID = %q, want user_ and 26 characters", id)
		}
		if strings.Trim(rest, crockford) != "" {
			t.Fatalf("NewID = %q has characters outside the alphabet", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestPageNormalize(t *testing.T) {
	tests := []struct{ in, want Page }{
		{Page{}, Page{Limit: 50}},
		{Page{Limit: 1000, Offset: -3}, Page{Limit: 500}},
		{Page{Limit: 10, Offset: 20}, Page{Limit: 10, Offset: 20}},
	}
	for _, tt := range tests {
		if got := tt.in.Normalize(); got != tt.want {
			t.Errorf("%+v.Normalize() = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
