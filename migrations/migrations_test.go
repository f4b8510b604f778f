package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

// Both dialects must describe the same sequence of changes.
func TestDialectsHaveSameVersionsAndNames(t *testing.T) {
	lite, err := For(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := For(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 {
		t.Fatal("no migrations embedded")
	}
	if len(lite) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].Version != pg[i].Version || lite[i].Name != pg[i].Name {
			t.Errorf("migration %d: sqlite %04d_%s, postgres %04d_%s", i, lite[i].Version, lite[i].Name, pg[i].Version, pg[i].Name)
		}
		if strings.TrimSpace(lite[i].SQL) == "" || strings.TrimSpace(pg[i].SQL) == "" {
			t.Errorf("migration %04d_%s is empty in one dialect", lite[i].Version, lite[i].Name)
		}
	}
}

func TestLoadRejectsBadSets(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"bad name", fstest.MapFS{"d/1_init.sql": {Data: []byte("x")}}, "name must look like"},
		{"gap", fstest.MapFS{"d/0001_a.sql": {Data: []byte("x")}, "d/0003_c.sql": {Data: []byte("x")}}, "version 2 is missing"},
		{"duplicate", fstest.MapFS{"d/0001_a.sql": {Data: []byte("x")}, "d/0001_b.sql": {Data: []byte("x")}}, "version 1 used by"},
		{"zero", fstest.MapFS{"d/0000_a.sql": {Data: []byte("x")}}, "start at 0001"},
		{"missing dialect", fstest.MapFS{"e/0001_a.sql": {Data: []byte("x")}}, "unknown dialect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.files, "d")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("load = %v, want error containing %q", err, tt.want)
			}
		})
	}
}
