package main

import (
	"os"
	"strings"
	"testing"

	"github.com/usher-id/usher/config"
)

// The README's configuration reference must list every setting with its
// environment variable and default, and open with the two set-up commands.
func TestREADMEMatchesSettings(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range config.Settings() {
		def := "`" + s.Default + "`"
		if s.Default == "" {
			def = "none"
		}
		row := "| `" + s.Key + "` | `" + s.Env + "` | " + s.Kind + " | " + def + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the row %s", row)
		}
	}
	block := readme[strings.Index(readme, "```sh\n")+6:]
	block = block[:strings.Index(block, "```")]
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "go run ./cmd/usher serve") || !strings.HasPrefix(lines[1], "go test ./...") {
		t.Errorf("the README's first commands are %q, want the run and test commands", lines)
	}
}
