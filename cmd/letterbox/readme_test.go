package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/policy"
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

// TestREADMERulesExample: the rules file README shows loads as it is written.
func TestREADMERulesExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Fault injection")
	if !ok {
		t.Fatal("README has no fault injection section")
	}
	_, block, _ := strings.Cut(after, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	name := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(name, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := policy.LoadRulesFile(name)
	if err != nil || len(rules) != 6 {
		t.Fatalf("README's rules: %d, %v", len(rules), err)
	}
	_, curl, _ := strings.Cut(after, "/api/v1/chaos/rules -d '")
	curl, _, _ = strings.Cut(curl, "'")
	if _, err := policy.DecodeRules(strings.NewReader(curl)); err != nil {
		t.Errorf("README's PUT body: %v", err)
	}
}
