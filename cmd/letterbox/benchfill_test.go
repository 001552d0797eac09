package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
)

// TestBenchFill: bench fill fills a catcher of its own by tenths, reads its memory, searches it
// (each search matching one message in twenty), stops it, reports the database size, restarts it
// and searches again.
func TestBenchFill(t *testing.T) {
	// bench fill starts its catcher from its own executable, which in tests is this binary:
	// with childEnv, it runs as letterbox (TestMain).
	t.Setenv(childEnv, "1")
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"bench", "fill", "--messages", "60", "--clients", "4", "--idle", "10ms"}, &out, &errs, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errs.String(), out.String())
	}
	text := out.String()
	tenths := regexp.MustCompile(`(?m)^ +\d+-\d+ +\d+ +[\d.]+ ms `).FindAllString(text, -1)
	if len(tenths) != 10 {
		t.Errorf("%d lines of tenths, want 10:\n%s", len(tenths), text)
	}
	for _, want := range []string{
		`fill: 60 messages in `,
		`after the fill: idle RSS [\d.]+ MB`,
		`after the fill: search "to:customer7@example.com" +3 matches`,
		`after the fill: search "Globex" +3 matches`,
		`database: \d+ bytes after a clean stop, \d+ bytes a message \(raw mail: `,
		`after a restart: idle RSS [\d.]+ MB`,
		`after a restart: search "to:customer7@example.com" +3 matches`,
		`after a restart: search "Globex" +3 matches`,
		`after a restart: RSS [\d.]+ MB after the searches`,
	} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestBenchFillBadFlags(t *testing.T) {
	var errs bytes.Buffer
	if code := run(context.Background(), []string{"bench", "fill", "--messages", "15"}, io.Discard, &errs, func(string) string { return "" }); code == 0 || !strings.Contains(errs.String(), "multiple of 10") {
		t.Errorf("exit %d, stderr %q", code, errs.String())
	}
}
