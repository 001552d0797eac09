package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBenchFill: bench fill fills a catcher of its own by tenths, reads its memory, searches it
// (each search matching one message in twenty), stops it, reports the database size, restarts it
// and searches again.
func TestBenchFill(t *testing.T) {
	text := benchFill(t)
	checkFill(t, text)
	if mean := meanSize(t, text); mean < 6000 {
		t.Errorf("the natural mix averages %d bytes, want the mix's (about 13 KB)", mean)
	}
}

// TestBenchFillSized: with --load 4k or --size, the fill's messages are about that size, and
// its searches still match one message in twenty.
func TestBenchFillSized(t *testing.T) {
	for _, c := range []struct {
		args     []string
		min, max int
	}{
		{[]string{"--load", "4k"}, 3600, 4600},
		{[]string{"--size", "8000"}, 7000, 9000},
	} {
		text := benchFill(t, c.args...)
		checkFill(t, text)
		if mean := meanSize(t, text); mean < c.min || mean > c.max {
			t.Errorf("%v: messages average %d bytes, want %d to %d", c.args, mean, c.min, c.max)
		}
	}
}

// benchFill runs bench fill of 60 messages with extra flags and returns its output.
func benchFill(t *testing.T, extra ...string) string {
	t.Helper()
	// bench fill starts its catcher from its own executable, which in tests is this binary:
	// with childEnv, it runs as letterbox (TestMain).
	t.Setenv(childEnv, "1")
	var out, errs bytes.Buffer
	args := append([]string{"bench", "fill", "--messages", "60", "--clients", "4", "--idle", "10ms"}, extra...)
	if code := run(context.Background(), args, &out, &errs, func(string) string { return "" }); code != 0 {
		t.Fatalf("%v: exit %d; stderr:\n%s\nstdout:\n%s", extra, code, errs.String(), out.String())
	}
	return out.String()
}

// meanSize reads the average message size bench fill reports.
func meanSize(t *testing.T, text string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^60 messages, (\d+) bytes on average`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no average size in:\n%s", text)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// checkFill checks the figures a fill of 60 messages reports.
func checkFill(t *testing.T, text string) {
	t.Helper()
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
		`database: \d+ bytes of it in free pages, \d+ bytes a message in use`,
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
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--messages", "15"}, "multiple of 10"},
		{[]string{"--load", "lorem"}, "bench fill has mix, 4k and 100k"},
		{[]string{"--size", "100"}, "--size must be at least 512"},
	} {
		var errs bytes.Buffer
		if code := run(context.Background(), append([]string{"bench", "fill"}, c.args...), io.Discard, &errs, func(string) string { return "" }); code == 0 || !strings.Contains(errs.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errs.String(), c.want)
		}
	}
}

// sqliteFreeBytes reads the freelist's page count and the page size from the file's header.
func TestSQLiteFreeBytes(t *testing.T) {
	dir := t.TempDir()
	h := make([]byte, 4096)
	copy(h, "SQLite format 3\x00")
	binary.BigEndian.PutUint16(h[16:], 1) // 65536
	binary.BigEndian.PutUint32(h[36:], 3)
	db := filepath.Join(dir, "a.db")
	if err := os.WriteFile(db, h, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, ok := sqliteFreeBytes(db); !ok || n != 3*65536 {
		t.Errorf("free %d %v, want %d", n, ok, 3*65536)
	}
	binary.BigEndian.PutUint16(h[16:], 4096)
	os.WriteFile(db, h, 0o600)
	if n, ok := sqliteFreeBytes(db); !ok || n != 3*4096 {
		t.Errorf("free %d %v, want %d", n, ok, 3*4096)
	}
	other := filepath.Join(dir, "b.db")
	os.WriteFile(other, []byte("not a database, though long enough to hold a header of a hundred bytes......................"), 0o600)
	if _, ok := sqliteFreeBytes(other); ok {
		t.Error("a file that is not SQLite read as one")
	}
}
