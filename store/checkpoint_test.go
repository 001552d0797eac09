package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
)

// Under steady ingest the write-ahead log must start over after checkpoints, not grow with
// everything ever written: a checkpoint that runs beside the writer never copies the frames
// written meanwhile, and SQLite starts the log over only when a commit finds all of it copied.
func TestLogStartsOverUnderSteadyIngest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "letterbox.db")
	opts := store.Options{Path: path}
	const every = 32 << 10
	store.CheckpointEvery(&opts, every)
	s := openStore(t, opts)
	gen, err := realmail.Load("4k")
	if err != nil {
		t.Fatal(err)
	}
	const clients, each = 8, 240
	var (
		mu       sync.Mutex
		largest  int64
		progress sync.WaitGroup
		errs     = make(chan error, clients)
	)
	for c := range clients {
		progress.Add(1)
		go func() {
			defer progress.Done()
			for i := range each {
				m := gen(c*each + i)
				if _, err := s.Add(ctx, store.Envelope{MailFrom: m.From, Recipients: m.To}, bytes.NewReader(m.Raw)); err != nil {
					errs <- err
					return
				}
				if fi, err := os.Stat(path + "-wal"); err == nil {
					mu.Lock()
					largest = max(largest, fi.Size())
					mu.Unlock()
				}
			}
		}()
	}
	progress.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each commit rewrites the pages it touches, so the log holds several times the mail; started
	// over after each checkpoint it stays a few checkpoints' worth.
	if limit := int64(8 << 20); largest > limit {
		t.Fatalf("the log grew to %d bytes while storing %d messages (%d bytes of database); want it started over, under %d", largest, clients*each, st.DatabaseSize, limit)
	}
	t.Logf("largest log %d bytes, %d messages", largest, clients*each)
}
