package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEComposeFile: the compose file README shows is docs/compose.yaml (without its comments).
func TestREADMEComposeFile(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile("../../docs/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "With Docker Compose")
	if !ok {
		t.Fatal("README has no compose example")
	}
	_, block, _ := strings.Cut(after, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	var lines []string
	for _, l := range strings.Split(string(file), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if got, want := strings.TrimSpace(block), strings.TrimSpace(strings.Join(lines, "\n")); got != want {
		t.Errorf("README's compose example differs from docs/compose.yaml:\n%s\n---\n%s", got, want)
	}
}
