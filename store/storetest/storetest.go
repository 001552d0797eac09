// Package storetest is the conformance suite of letterbox's storage engines: every behaviour of
// the store.Engine contract, run against each engine (SQLite and PostgreSQL) with the same
// inputs and the same expected answers. An engine's test calls Run with a Factory.
package storetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// Opener opens the engine's database (the same one at each call) with opts; the suite closes
// what it opens.
type Opener func(opts store.Options) (store.Engine, error)

// Factory gives each test a fresh, empty database and the Opener of it.
type Factory func(t *testing.T) Opener

// suite is what each test gets.
type suite struct {
	*testing.T
	open Opener
}

// engine opens the database with opts (a logger added), closed when the test ends.
func (s suite) engine(opts store.Options) store.Engine {
	s.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{s.T}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if opts.Hostname == "" {
		opts.Hostname = "conformance.test"
	}
	e, err := s.open(opts)
	if err != nil {
		s.Fatalf("open: %v", err)
	}
	s.Cleanup(func() { e.Close() })
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// Run runs the whole suite against the engine f makes.
func Run(t *testing.T, f Factory) {
	for _, tc := range []struct {
		name string
		test func(suite)
	}{
		{"Corpus", testCorpus},
		{"Reads", testReads},
		{"Search", testSearch},
		{"SearchPagingAndMailboxes", testPaging},
		{"AddressSearch", testAddressSearch},
		{"ReadState", testReadState},
		{"Tags", testTags},
		{"Deletes", testDeletes},
		{"Retention", testRetention},
		{"Events", testEvents},
		{"Restart", testRestart},
		{"Migrations", testMigrations},
		{"UIDs", testUIDs},
		{"AutoRelay", testAutoRelay},
		{"RelayQueue", testRelayQueue},
		{"NoTraceAndProtocol", testNoTraceAndProtocol},
		{"Sessions", testSessions},
		{"SessionRetention", testSessionRetention},
		{"DeletedFlag", testDeletedFlag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.test(suite{T: t, open: f(t)})
		})
	}
}

func add(t testing.TB, e store.Engine, env store.Envelope, raw string) store.Summary {
	t.Helper()
	sum, err := e.Add(context.Background(), env, strings.NewReader(raw))
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	return sum
}

// corpusDir returns ../shared/corpus/<sub> from a package two levels below the repository
// root, skipping (or failing under CI=true) when it is missing.
func corpusDir(t testing.TB, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus", sub)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared corpus missing at %s (required under CI=true)", dir)
		}
		t.Skipf("shared corpus not found at %s: skipping", dir)
	}
	return dir
}

// testCorpus stores every message of the shared corpus (real and broken) and reads each back:
// byte for byte, parsed, and its parts.
func testCorpus(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	var files []string
	for _, sub := range []string{"messages", "generated"} {
		fs, _ := filepath.Glob(filepath.Join(corpusDir(s, sub), "*.eml"))
		files = append(files, fs...)
	}
	if len(files) < 100 {
		s.Fatalf("only %d corpus messages", len(files))
	}
	parts := 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			s.Fatal(err)
		}
		sum, err := e.Add(ctx, store.Envelope{MailFrom: "corpus@test", Recipients: []string{"rcpt@test"}}, bytes.NewReader(raw))
		if err != nil {
			s.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		got, err := e.Raw(ctx, sum.ID)
		if err != nil || !bytes.HasSuffix(got, raw) || !bytes.HasPrefix(got, []byte("Return-Path: <corpus@test>")) {
			s.Errorf("%s: raw not kept byte for byte after the trace fields (%d bytes back, %d sent, %v)", filepath.Base(file), len(got), len(raw), err)
			continue
		}
		m, err := e.Message(ctx, sum.ID)
		if err != nil {
			s.Errorf("%s: message: %v", filepath.Base(file), err)
			continue
		}
		if m.Subject != sum.Subject || m.UID != sum.UID {
			s.Errorf("%s: message %q uid %d, summary %q uid %d", filepath.Base(file), m.Subject, m.UID, sum.Subject, sum.UID)
		}
		for _, p := range append(slices.Clone(m.Attachments), m.Inline...) {
			parts++
			part, content, err := e.Part(ctx, sum.ID, p.PartID)
			if err != nil || int64(len(content)) != p.Size || part.Checksums != p.Checksums || part.Checksums != checksumsOf(content) {
				s.Errorf("%s: part %s: %d bytes of %d, checksums %+v, message says %+v, content's %+v, %v",
					filepath.Base(file), p.PartID, len(content), p.Size, part.Checksums, p.Checksums, checksumsOf(content), err)
			}
		}
	}
	st, err := e.Stats(ctx)
	if err != nil || st.Total != len(files) {
		s.Fatalf("stats after the corpus: %+v %v (want %d)", st, err, len(files))
	}
	if parts < 50 {
		s.Errorf("the corpus has %d attachments and inline parts: too few to check their reading", parts)
	}
}

// testReads checks what a stored message reads back as.
func testReads(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	recv := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	raw := "From: Ann <ann@example.com>\r\nTo: Bob <bob@example.org>, carl@example.org\r\nCc: dee@example.org\r\n" +
		"Reply-To: help@example.com\r\nSubject: =?utf-8?q?Caf=C3=A9?= menu\r\nDate: Tue, 30 Apr 2024 10:00:00 +0000\r\n" +
		"Message-ID: <menu-1@example.com>\r\nX-Tags: food, Weekly\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSoup of the day.\r\n" +
		"--b\r\nContent-Type: text/csv; name=menu.csv\r\nContent-Disposition: attachment; filename=menu.csv\r\n\r\nsoup,3\r\n--b--\r\n"
	sum := add(s, e, store.Envelope{MailFrom: "ann@example.com", Recipients: []string{"bob@example.org", "hidden@example.org"},
		Helo: "client.test", RemoteAddr: "192.0.2.1:4000", Username: "ann", Received: recv}, raw)
	if sum.UID <= 0 || sum.ID == "" || sum.Subject != "Café menu" || sum.From != (store.Address{Name: "Ann", Address: "ann@example.com"}) ||
		len(sum.To) != 2 || len(sum.Cc) != 1 || !slices.Equal(sum.Tags, []string{"Weekly", "food"}) || sum.Attachments != 1 ||
		!sum.Created.Equal(recv) || sum.MessageID != "menu-1@example.com" || sum.Username != "ann" || sum.Read {
		s.Fatalf("summary: %+v", sum)
	}
	if len(sum.Bcc) != 1 || sum.Bcc[0].Address != "hidden@example.org" {
		s.Errorf("envelope-only recipient in Bcc: %+v", sum.Bcc)
	}
	got, err := e.Summary(ctx, sum.ID)
	if err != nil {
		s.Fatal(err)
	}
	sum.Date, got.Date = sum.Date.UTC(), got.Date.UTC()
	if fmt.Sprint(got) != fmt.Sprint(sum) {
		s.Errorf("Summary reads back\n%+v\nnot as Add returned it\n%+v", got, sum)
	}
	m, err := e.Message(ctx, sum.ID)
	if err != nil {
		s.Fatal(err)
	}
	if strings.TrimSpace(m.Text) != "Soup of the day." || m.Envelope.Helo != "client.test" || m.ReturnPath != "ann@example.com" ||
		len(m.Attachments) != 1 || m.Attachments[0].FileName != "menu.csv" || len(m.HeaderValues("Received")) != 1 {
		s.Fatalf("message: %+v", m)
	}
	_, content, err := e.Part(ctx, sum.ID, m.Attachments[0].PartID)
	if err != nil || string(content) != "soup,3" {
		s.Fatalf("part: %q %v", content, err)
	}
	for _, f := range []func() error{
		func() error { _, err := e.Summary(ctx, "nosuchid"); return err },
		func() error { _, err := e.Message(ctx, "nosuchid"); return err },
		func() error { _, err := e.Raw(ctx, "nosuchid"); return err },
		func() error { _, _, err := e.Part(ctx, sum.ID, "9.9"); return err },
	} {
		if err := f(); !errors.Is(err, store.ErrNotFound) {
			s.Errorf("missing: got %v, want store.ErrNotFound", err)
		}
	}
	if err := e.Ping(ctx); err != nil {
		s.Errorf("ping: %v", err)
	}
}

// checksumsOf returns the digests of content, as a part's Checksums give them.
func checksumsOf(content []byte) store.Checksums {
	m, s1, s2 := md5.Sum(content), sha1.Sum(content), sha256.Sum256(content)
	return store.Checksums{MD5: hex.EncodeToString(m[:]), SHA1: hex.EncodeToString(s1[:]), SHA256: hex.EncodeToString(s2[:])}
}
