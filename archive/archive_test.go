package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/maildir"
	"github.com/letterbox-mail/letterbox/mbox"
	"github.com/letterbox-mail/letterbox/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "lb.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// corpusDir returns ../shared/corpus/<sub>: skipped without it, failed under CI=true.
func corpusDir(t *testing.T, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus", sub)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared corpus missing at %s (required under CI=true)", dir)
		}
		t.Skipf("shared corpus not found at %s", dir)
	}
	return dir
}

// digests lists the SHA-256 of every stored raw message, sorted, with its read state.
func digests(t *testing.T, s *store.Store) []string {
	t.Helper()
	ctx := context.Background()
	entries, err := s.Index(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		raw, err := s.Raw(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		read := "unread"
		if e.Read {
			read = "read"
		}
		out = append(out, sha256Hex(raw)+" "+read)
	}
	sort.Strings(out)
	return out
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// recorder is a Progress that keeps what it was told.
type recorder struct {
	stored  int
	skipped []string
	done    map[string]string
}

func (r *recorder) Stored(string) { r.stored++ }
func (r *recorder) Skipped(p string, err error) {
	r.skipped = append(r.skipped, p+": "+err.Error())
}
func (r *recorder) Done(p string, n int, kind string) {
	if r.done == nil {
		r.done = map[string]string{}
	}
	r.done[p] = kind + " " + strings.Repeat("x", n)
}

func TestRoundTripCorpusAndTestdataIsByteIdentical(t *testing.T) {
	ctx := context.Background()
	sources := []string{corpusDir(t, "messages"), corpusDir(t, "generated"), filepath.Join("..", "testdata")}
	var want []string // the source files' digests
	for _, dir := range sources[:2] {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			want = append(want, sha256Hex(b))
		}
	}
	if len(want) < 200 {
		t.Fatalf("only %d corpus files", len(want))
	}

	a := openStore(t)
	rec := &recorder{}
	stats, err := Ingest(ctx, sources, a, IngestOptions{Progress: rec})
	if err != nil {
		t.Fatal(err)
	}
	// testdata: multipart.eml, crlf-no-final-eol.eml, 2 in quoting.mbox, 2 in the Maildir.
	if stats.Skipped != 0 || stats.Messages != len(want)+6 || rec.stored != stats.Messages {
		t.Fatalf("stats %+v (want %d messages), skipped: %q", stats, len(want)+6, rec.skipped)
	}
	got := digests(t, a)
	for _, w := range want {
		if !slices.Contains(got, w+" unread") {
			t.Fatalf("a corpus file is not stored byte for byte (sha256 %s)", w)
		}
	}
	if !slices.Contains(got, sha256Hex([]byte("From: erin@example.com\nTo: frank@example.com\nSubject: seen and replied\n\nin cur/ with :2,RS\n"))+" read") {
		t.Error("the Maildir message with the S flag is not stored read")
	}

	for _, format := range []Format{FormatMbox, FormatMaildir, FormatEML} {
		t.Run(string(format), func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "export")
			if format == FormatMbox {
				dest += ".mbox"
			}
			n, err := Export(ctx, a, store.Filter{}, format, dest, ExportOptions{})
			if err != nil || n != stats.Messages {
				t.Fatalf("Export = %d, %v; want %d", n, err, stats.Messages)
			}
			if raceEnabled && format != FormatMbox {
				// Under the race detector (parsing twenty times slower) the Maildir and .eml
				// exports are compared file by file; ingesting them is the path already taken
				// above. Without it, every format is ingested again.
				if files := exportedDigests(t, format, dest); !slices.Equal(files, bytesOnly(got)) {
					t.Fatalf("%s export: the files are not the stored messages", format)
				}
				return
			}
			b := openStore(t)
			st, err := Ingest(ctx, []string{dest}, b, IngestOptions{})
			if err != nil || st.Skipped != 0 || st.Messages != n {
				t.Fatalf("re-ingest: %+v, %v", st, err)
			}
			back := digests(t, b)
			if format != FormatMaildir {
				// Only Maildir carries the read state; compare the bytes alone.
				for i := range back {
					back[i] = strings.Fields(back[i])[0] + " "
				}
				sort.Strings(back)
				all := slices.Clone(got)
				for i := range all {
					all[i] = strings.Fields(all[i])[0] + " "
				}
				sort.Strings(all)
				if !slices.Equal(back, all) {
					t.Fatalf("%s round trip changed messages", format)
				}
				return
			}
			if !slices.Equal(back, got) {
				t.Fatalf("maildir round trip changed messages or read state")
			}
		})
	}
}

func TestIngestTestdataMessages(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	dir := filepath.Join("..", "testdata", "archive")
	if _, err := Ingest(ctx, []string{filepath.Join(dir, "quoting.mbox"), filepath.Join(dir, "Maildir")}, s, IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, _ := s.Index(ctx, store.Filter{})
	if len(entries) != 4 {
		t.Fatalf("%d messages", len(entries))
	}
	raws := map[string]string{} // by subject
	for _, e := range entries {
		raw, _ := s.Raw(ctx, e.ID)
		m, _ := s.Message(ctx, e.ID)
		raws[m.Subject] = string(raw)
	}
	if r := raws["quoting"]; !strings.Contains(r, "\n\nFrom the start of a line, quoted once\n>From a line that had one > already\nFromage is not a separator\n") ||
		strings.HasSuffix(r, "\n\n") {
		t.Errorf("first mbox message %q", r)
	}
	if r := raws["second, without a final newline"]; !strings.HasSuffix(r, "\n\nlast line") {
		t.Errorf("second mbox message %q", r)
	}
	// Received times: the mbox separators and the Maildir names.
	want := []time.Time{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2024, 1, 2, 3, 4, 5, 1000, time.UTC),
		time.Date(2024, 1, 3, 3, 4, 5, 2000, time.UTC), time.Date(2024, 1, 3, 4, 5, 6, 0, time.UTC)}
	var created []time.Time
	for _, e := range entries {
		created = append(created, e.Created)
	}
	sort.Slice(created, func(i, j int) bool { return created[i].Before(created[j]) })
	for i := range want {
		if !created[i].Equal(want[i]) {
			t.Errorf("received times %v, want %v", created, want)
			break
		}
	}
	res, _ := s.Search(ctx, store.Filter{Query: store.Query{Terms: []store.Term{{Field: "subject", Value: "quoting"}}}}, store.Page{})
	m, _ := s.Message(ctx, res.Messages[0].ID)
	if m.ReturnPath != "alice@example.com" {
		t.Errorf("ReturnPath from the separator: %q", m.ReturnPath)
	}
}

// TestIngestMaildirPlusPlusFolders: a Dovecot-style Maildir root brings its ".Sent" and
// ".Archive.2024" folders along, found directly or in a directory walk; a hidden directory
// that is not a Maildir is not read.
func TestIngestMaildirPlusPlusFolders(t *testing.T) {
	ctx := context.Background()
	top := t.TempDir()
	root := filepath.Join(top, "Maildir")
	for folder, subject := range map[string]string{"": "inbox", ".Sent": "sent", ".Archive.2024": "archived"} {
		dir := filepath.Join(root, folder)
		if err := maildir.Create(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := maildir.Deliver(dir, []byte("Subject: "+subject+"\n\nx\n"), "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, ".notes"), 0o700)
	os.WriteFile(filepath.Join(root, ".notes", "x.eml"), []byte("Subject: not mail of the Maildir\n\nx\n"), 0o600)
	for _, path := range []string{root, top} {
		s := openStore(t)
		rec := &recorder{}
		stats, err := Ingest(ctx, []string{path}, s, IngestOptions{Progress: rec})
		if err != nil || stats.Messages != 3 || stats.Skipped != 0 {
			t.Fatalf("ingest %s: %+v %v, skipped %q", path, stats, err, rec.skipped)
		}
		res, _ := s.Search(ctx, store.Filter{}, store.Page{})
		var subjects []string
		for _, m := range res.Messages {
			subjects = append(subjects, m.Subject)
		}
		sort.Strings(subjects)
		if !slices.Equal(subjects, []string{"archived", "inbox", "sent"}) {
			t.Errorf("ingest %s: subjects %q", path, subjects)
		}
		if rec.done[filepath.Join(root, ".Sent")] != "maildir x" {
			t.Errorf("ingest %s: folders reported %q", path, rec.done)
		}
	}
}

func TestIngestSkipsWhatItCannotReadAndGoesOn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.eml")
	os.WriteFile(good, []byte("Subject: fine\n\nbody\n"), 0o600)
	notMbox := filepath.Join(dir, "broken.mbox")
	os.WriteFile(notMbox, []byte("Subject: no separator\n\nbody\n"), 0o600)
	empty := filepath.Join(dir, "empty.eml")
	os.WriteFile(empty, nil, 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not mail"), 0o600)
	os.WriteFile(filepath.Join(dir, ".hidden.eml"), []byte("Subject: hidden\n\n"), 0o600)
	unreadable := filepath.Join(dir, "unreadable.eml")
	os.WriteFile(unreadable, []byte("Subject: x\n\n"), 0o000)
	canRead := func() bool { f, err := os.Open(unreadable); f.Close(); return err == nil }()

	s := openStore(t)
	rec := &recorder{}
	stats, err := Ingest(ctx, []string{filepath.Join(dir, "missing.eml"), dir, good}, s, IngestOptions{Progress: rec})
	if err != nil {
		t.Fatal(err)
	}
	wantSkipped := 2 // missing, broken.mbox
	wantStored := 3  // good.eml twice (in the walk, and named), empty.eml (stored as it is, like an empty DATA)
	if canRead {
		wantStored++ // running as root: the mode does not stop it
	} else {
		wantSkipped++
	}
	if stats.Messages != wantStored || stats.Skipped != wantSkipped {
		t.Fatalf("stats %+v, want %d stored %d skipped; skipped %q", stats, wantStored, wantSkipped, rec.skipped)
	}
	joined := strings.Join(rec.skipped, "\n")
	for _, want := range []string{"missing.eml: ", "broken.mbox: after 0 messages: mbox: input does not start"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q in %q", want, joined)
		}
	}
}

func TestExportQueryAndMboxSeparators(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	add := func(subject string) {
		raw := "From: Ann <ann@example.com>\r\nSubject: " + subject + "\r\n\r\nFrom me\r\n"
		if _, err := s.Add(ctx, store.Envelope{MailFrom: "bounce@example.com", Recipients: []string{"x@example.com"}}, strings.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
	}
	add("invoice one")
	add("newsletter")
	add("invoice two")
	q, _ := store.ParseQuery("subject:invoice")
	dest := filepath.Join(t.TempDir(), "out.mbox")
	n, err := Export(ctx, s, store.Filter{Query: q}, FormatMbox, dest, ExportOptions{})
	if err != nil || n != 2 {
		t.Fatalf("Export = %d, %v", n, err)
	}
	f, _ := os.Open(dest)
	defer f.Close()
	r := mbox.NewReader(f, mbox.MboxRD)
	var subjects []string
	for {
		m, err := r.Next()
		if err != nil {
			break
		}
		if m.Sender != "bounce@example.com" {
			t.Errorf("separator sender %q, want the Return-Path", m.Sender)
		}
		if !strings.HasSuffix(string(m.Raw), "\r\n\r\nFrom me\r\n") {
			t.Errorf("body %q", m.Raw)
		}
		for _, line := range strings.Split(string(m.Raw), "\r\n") {
			if v, ok := strings.CutPrefix(line, "Subject: "); ok {
				subjects = append(subjects, v)
			}
		}
	}
	if !slices.Equal(subjects, []string{"invoice one", "invoice two"}) {
		t.Errorf("subjects %q (oldest first)", subjects)
	}
	if _, err := Export(ctx, s, store.Filter{}, FormatMbox, dest, ExportOptions{}); !errors.Is(err, os.ErrExist) {
		t.Errorf("overwrote an existing file: %v", err)
	}
	if _, err := ParseFormat("zip"); err == nil {
		t.Error("zip accepted")
	}
}

func TestSenderOf(t *testing.T) {
	for raw, want := range map[string]string{
		"Return-Path: <a@b.c>\r\nFrom: x@y.z\r\n\r\n": "a@b.c",
		"Return-Path: <>\nFrom: X <x@y.z>\n\nbody":    "x@y.z",
		"Subject: none\n\n":                           "",
	} {
		if got := SenderOf([]byte(raw)); got != want {
			t.Errorf("SenderOf(%q) = %q, want %q", raw, got, want)
		}
	}
}

// exportedDigests lists the sorted SHA-256 of the message files of a Maildir or .eml export.
func exportedDigests(t *testing.T, format Format, dest string) []string {
	t.Helper()
	var paths []string
	if format == FormatMaildir {
		list, err := maildir.List(dest)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			paths = append(paths, m.Path)
		}
	} else {
		paths, _ = filepath.Glob(filepath.Join(dest, "*.eml"))
	}
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sha256Hex(b))
	}
	sort.Strings(out)
	return out
}

// bytesOnly drops the read state from digests' entries.
func bytesOnly(digests []string) []string {
	out := make([]string, len(digests))
	for i, d := range digests {
		out[i] = strings.Fields(d)[0]
	}
	sort.Strings(out)
	return out
}
