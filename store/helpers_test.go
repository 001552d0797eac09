package store_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// openStore opens a store on a fresh file in t.TempDir() and closes it when the test ends.
func openStore(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "letterbox.db")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// simpleMessage builds a small text message.
func simpleMessage(from, to, subject, body string) []byte {
	return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@test>\r\n\r\n%s\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), body))
}

func add(t testing.TB, s *store.Store, env store.Envelope, raw []byte) store.Summary {
	t.Helper()
	sum, err := s.Add(context.Background(), env, bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	return sum
}

// sharedDir returns ../shared/corpus/<sub>, skipping (or failing under CI=true) when it is missing.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus", sub)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared corpus missing at %s (required under CI=true)", dir)
		}
		t.Skipf("shared corpus not found at %s: skipping", dir)
	}
	return dir
}

// corpusFiles returns the .eml files of the shared corpus (messages, then generated) and of
// extra directories, skipping or failing like sharedDir when the corpus is missing.
func corpusFiles(t testing.TB, extra ...string) []string {
	t.Helper()
	var files []string
	for _, dir := range append(extra, sharedDir(t, "messages"), sharedDir(t, "generated")) {
		fs, err := filepath.Glob(filepath.Join(dir, "*.eml"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	return files
}
