package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/store"
)

// corpusDirs returns the shared corpus's message directories: the test is skipped without
// them, and fails under CI=true.
func corpusDirs(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..", "..", "shared", "corpus")
	if _, err := os.Stat(root); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared corpus missing at %s (required under CI=true)", root)
		}
		t.Skipf("shared corpus not found at %s", root)
	}
	return []string{filepath.Join(root, "messages"), filepath.Join(root, "generated")}
}

// storedDigests opens a database (its letterbox process has exited) and returns the sorted
// SHA-256 of every raw message.
func storedDigests(t *testing.T, db string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.Index(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		raw, err := st.Raw(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		out = append(out, hex.EncodeToString(sum[:]))
	}
	slices.Sort(out)
	return out
}

// letterbox runs the letterbox command in a child process and returns its exit status and stderr.
func letterbox(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return runChild(t, os.Args[0], "", nil, args...)
}

// TestIngestExportRoundTripOverTheCorpus runs the commands over the whole corpus (package
// archive's test does the same in-process); under the race detector, which makes the child
// processes' parsing some twenty times slower, over every tenth file.
func TestIngestExportRoundTripOverTheCorpus(t *testing.T) {
	dirs := corpusDirs(t)
	tmp := t.TempDir()
	a := filepath.Join(tmp, "a.db")
	var want []string
	if raceEnabled {
		sample := filepath.Join(tmp, "sample")
		os.Mkdir(sample, 0o700)
		for _, d := range dirs {
			files, _ := filepath.Glob(filepath.Join(d, "*.eml"))
			for i := 0; i < len(files); i += 10 {
				b, _ := os.ReadFile(files[i])
				os.WriteFile(filepath.Join(sample, filepath.Base(d)+"-"+filepath.Base(files[i])), b, 0o600)
			}
		}
		dirs = []string{sample}
	}
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.eml"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			sum := sha256.Sum256(b)
			want = append(want, hex.EncodeToString(sum[:]))
		}
	}
	slices.Sort(want)

	code, stderr := letterbox(t, append(append([]string{"ingest"}, dirs...), "--db", a)...)
	if code != 0 {
		t.Fatalf("ingest: exit %d\n%s", code, stderr)
	}
	// Not a terminal: plain lines, one per file, and a summary.
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != len(want)+1 || strings.Contains(stderr, "\r") ||
		!regexp.MustCompile(`^ingested .*\.eml: 1 message$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^ingested \d+ messages in .* \(\d+/s\)$`).MatchString(lines[len(lines)-1]) {
		t.Errorf("ingest output (%d lines): %q ... %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if got := storedDigests(t, a); !slices.Equal(got, want) {
		t.Fatalf("ingest did not store the %d corpus files byte for byte (%d stored)", len(want), len(got))
	}
	for _, format := range []string{"mbox", "maildir", "eml"} {
		dest := filepath.Join(tmp, "export-"+format)
		if code, stderr := letterbox(t, "export", "--db", a, "--format", format, dest); code != 0 {
			t.Fatalf("export %s: exit %d %s", format, code, stderr)
		}
		b := filepath.Join(tmp, "b-"+format+".db")
		if code, stderr := letterbox(t, "ingest", "--db", b, dest); code != 0 {
			t.Fatalf("ingest of the %s export: exit %d %s", format, code, stderr)
		}
		if got := storedDigests(t, b); !slices.Equal(got, want) {
			t.Errorf("%s round trip: %d messages, not the same bytes", format, len(got))
		}
	}
}

func TestIngestReportsAndSkipsWhatItCannotRead(t *testing.T) {
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good.eml")
	os.WriteFile(good, []byte("From: a@example.com\nTo: b@example.com\nSubject: fine\n\nbody\n"), 0o600)
	broken := filepath.Join(tmp, "broken.mbox")
	os.WriteFile(broken, []byte("this is not an mbox\n"), 0o600)
	db := filepath.Join(tmp, "lb.db")
	code, stderr := letterbox(t, "ingest", "--db", db, filepath.Join(tmp, "missing.eml"), broken, good, "../../testdata/archive")
	if code != 1 {
		t.Errorf("exit %d, want 1 (something was skipped)", code)
	}
	for _, want := range []string{"skipped " + filepath.Join(tmp, "missing.eml") + ": ", "skipped " + broken + ": after 0 messages", "ingested " + good + ": 1 message", "; 2 skipped"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no %q in:\n%s", want, stderr)
		}
	}
	// good.eml, crlf-no-final-eol.eml, two in quoting.mbox, two in the Maildir.
	if got := storedDigests(t, db); len(got) != 6 {
		t.Errorf("%d messages stored, want 6", len(got))
	}
}

func TestIngestProgressBarOnATerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("script(1) not installed (required under CI=true)")
		}
		t.Skip("script(1) not installed: no pseudo-terminal to run under")
	}
	db := filepath.Join(t.TempDir(), "lb.db")
	cmd := exec.Command(script, "-qec", os.Args[0]+" ingest --db "+db+" ../../testdata", "/dev/null")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "\ringested ") || !regexp.MustCompile(`ingested \d+ messages? +\d+/s`).MatchString(s) || strings.Contains(s, ": 1 message\r\n") {
		t.Errorf("no progress bar on a terminal:\n%q", s)
	}
	if !regexp.MustCompile(`ingested 6 messages in .*\(\d+/s\)`).MatchString(s) {
		t.Errorf("no summary line:\n%q", s)
	}
}

func TestExportQueryAndIngestOverSMTP(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src.db")
	if code, stderr := letterbox(t, "ingest", "--db", src, "../../testdata/archive"); code != 0 {
		t.Fatalf("ingest: %d %s", code, stderr)
	}
	out := filepath.Join(tmp, "q.mbox")
	if code, stderr := letterbox(t, "export", "--db", src, "--query", "subject:quoting", out); code != 0 {
		t.Fatalf("export --query: %d %s", code, stderr)
	}
	b, _ := os.ReadFile(out)
	if strings.Count(string(b), "\nFrom ")+1 != 1 || !strings.Contains(string(b), "Subject: quoting") || !strings.Contains(string(b), "\n>From the start of a line") {
		t.Errorf("export --query wrote:\n%s", b)
	}
	if code, stderr := letterbox(t, "export", "--db", src, out); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("export over an existing file: %d %q", code, stderr)
	}
	if code, stderr := letterbox(t, "export", "--db", src, "--format", "zip", out+"2"); code != 2 || !strings.Contains(stderr, "use mbox, maildir or eml") {
		t.Errorf("--format zip: %d %q", code, stderr)
	}
	if code, _ := letterbox(t, "export", "--db", filepath.Join(tmp, "none.db"), out+"3"); code != 1 {
		t.Errorf("export of a missing database: %d", code)
	}

	// Over SMTP into a running catcher.
	srv := startProcess(t, "--db", filepath.Join(tmp, "running.db"))
	if code, stderr := letterbox(t, "ingest", "--smtp-addr", srv.addrs["smtp"], out); code != 0 {
		t.Fatalf("ingest --smtp-addr: %d %s", code, stderr)
	}
	got := messages(t, srv.addrs["http"])
	if len(got) != 1 || got[0].Subject != "quoting" || strings.Join(got[0].Envelope.Recipients, ",") != "bob@example.com" || got[0].Envelope.MailFrom != "alice@example.com" {
		t.Errorf("over SMTP: %+v", got)
	}
}
