package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/store"
)

// open opens a Store on url as one more "process" (its own pool, listener and name).
func open(t *testing.T, url string, opts store.Options) *Store {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func msg(subject string) *strings.Reader {
	return strings.NewReader("From: a@example.com\r\nTo: b@example.com\r\nSubject: " + subject + "\r\n\r\nbody\r\n")
}

func nextEvents(t *testing.T, sub *store.Subscription) []store.Event {
	t.Helper()
	select {
	case evs, ok := <-sub.Events():
		if !ok {
			t.Fatalf("subscription closed: %v", sub.Err())
		}
		return evs
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return nil
}

// TestChangesReachEveryProcess: what one process stores or changes reaches the subscribers of
// another, marked Remote; its own subscribers see it as its own.
func TestChangesReachEveryProcess(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	a, b := open(t, url, store.Options{}), open(t, url, store.Options{})
	subA, subB := a.Subscribe(0), b.Subscribe(0)
	sum, err := a.Add(ctx, store.Envelope{}, msg("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if evs := nextEvents(t, subA); evs[0].Type != store.EventNew || evs[0].Remote || evs[0].ID != sum.ID {
		t.Fatalf("A's own event: %+v", evs)
	}
	if evs := nextEvents(t, subB); evs[0].Type != store.EventNew || !evs[0].Remote || evs[0].Summary.Subject != "hello" || evs[0].UID != sum.UID {
		t.Fatalf("B's event of A's message: %+v", evs)
	}
	if err := b.SetRead(ctx, []string{sum.ID}, true); err != nil {
		t.Fatal(err)
	}
	nextEvents(t, subB)
	if evs := nextEvents(t, subA); evs[0].Type != store.EventUpdate || evs[0].Read == nil || !*evs[0].Read || !evs[0].Remote {
		t.Fatalf("A's event of B's read: %+v", evs)
	}
	if err := b.SetTags(ctx, []string{sum.ID}, []string{"x", "y"}); err != nil {
		t.Fatal(err)
	}
	nextEvents(t, subB)
	if evs := nextEvents(t, subA); evs[0].Type != store.EventUpdate || strings.Join(evs[0].Tags, ",") != "x,y" {
		t.Fatalf("A's event of B's tags: %+v", evs)
	}
	if err := a.Delete(ctx, []string{sum.ID}); err != nil {
		t.Fatal(err)
	}
	nextEvents(t, subA)
	if evs := nextEvents(t, subB); evs[0].Type != store.EventDelete || evs[0].ID != sum.ID {
		t.Fatalf("B's event of A's delete: %+v", evs)
	}
	// A bulk change larger than one notification arrives whole, in order.
	var ids []string
	for i := range 400 {
		s, err := a.Add(ctx, store.Envelope{}, msg(fmt.Sprint("bulk ", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	if err := a.SetRead(ctx, ids, true); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < 400 {
		for _, ev := range nextEvents(t, subB) {
			if ev.Type == store.EventUpdate && ev.ID == ids[got] {
				got++
			}
		}
	}
	if err := b.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		if evs := nextEvents(t, subA); evs[0].Type == store.EventTruncate {
			break
		}
	}
}

// TestUIDsIncreaseAcrossProcesses ingests into two processes at once: every subscriber of
// either sees every new message, UIDs strictly increasing (as IMAP requires).
func TestUIDsIncreaseAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	a, b := open(t, url, store.Options{}), open(t, url, store.Options{})
	subs := []*store.Subscription{a.Subscribe(0), b.Subscribe(0)}
	const senders, each = 6, 40
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			for j := range each {
				if _, err := s.Add(ctx, store.Envelope{}, msg(fmt.Sprintf("m %d %d", i, j))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for k, sub := range subs {
		var last int64
		for n := 0; n < senders*each; {
			for _, ev := range nextEvents(t, sub) {
				if ev.Type != store.EventNew {
					continue
				}
				if ev.UID <= last {
					t.Fatalf("subscriber %d: UID %d after %d", k, ev.UID, last)
				}
				last = ev.UID
				n++
			}
		}
	}
}

// TestRetentionAcrossProcesses: two processes with the same limit prune together to it.
func TestRetentionAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	opts := store.Options{MaxMessages: 5, PruneInterval: time.Hour}
	a, b := open(t, url, opts), open(t, url, opts)
	var last store.Summary
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		var err error
		if last, err = s.Add(ctx, store.Envelope{}, msg(fmt.Sprint("r", i))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Prune(ctx) }()
	}
	wg.Wait()
	if err := a.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := b.Index(ctx, store.Filter{})
	if err != nil || len(entries) != 5 || entries[4].ID != last.ID {
		t.Fatalf("after pruning to 5: %+v %v", entries, err)
	}
	st, _ := a.Stats(ctx)
	if st.Total != 5 {
		t.Fatalf("counters after pruning: %+v", st)
	}
}

// TestRetentionTakesTurns: while another process prunes (holds the retention lock), Prune
// leaves the messages alone; once the lock is free it prunes to the limit.
func TestRetentionTakesTurns(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	s := open(t, url, store.Options{MaxMessages: 3, PruneInterval: time.Hour})
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock($1)", lockRetention); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := s.Add(ctx, store.Envelope{}, msg(fmt.Sprint("t", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx); st.Total != 10 {
		t.Fatalf("pruned to %d while another process held the retention lock", st.Total)
	}
	if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockRetention); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx); st.Total != 3 {
		t.Fatalf("%d messages after pruning to 3", st.Total)
	}
}

// TestNewerSchemaRefused: a database migrated by a newer letterbox is not opened.
func TestNewerSchemaRefused(t *testing.T) {
	url := pgtest.Database(t)
	s := open(t, url, store.Options{})
	if _, err := s.pool.Exec(context.Background(), "INSERT INTO schema_migrations (version) VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(context.Background(), url, store.Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("a database of a newer schema: %v, want refused", err)
	}
}

// TestMigrationsOnce: processes starting together on a new database migrate it once.
func TestMigrationsOnce(t *testing.T) {
	url := pgtest.Database(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 3)
	for i := range stores {
		wg.Add(1)
		go func() { defer wg.Done(); stores[i] = open(t, url, store.Options{}) }()
	}
	wg.Wait()
	var n, max int
	if err := stores[0].pool.QueryRow(context.Background(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != max || n < 2 {
		t.Fatalf("%d migrations recorded, the last %d", n, max)
	}
	if stores[0].UIDValidity() != stores[2].UIDValidity() || stores[0].UIDValidity() == 0 {
		t.Fatal("processes disagree on UIDVALIDITY")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://bob:s3cret@db:5432/mail?sslmode=disable": "postgres://bob:xxxxx@db:5432/mail?sslmode=disable",
		"postgres://bob@db/mail":                             "postgres://bob@db/mail",
		"/var/lib/letterbox.db":                              "/var/lib/letterbox.db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := Open(context.Background(), "postgres://bob:s3cret@127.0.0.1:1/x?connect_timeout=1", store.Options{}); err == nil ||
		strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error for an unreachable database: %v", err)
	}
}

// TestVocabularyCacheAcrossProcesses: a process's memory of the words already in the vocabulary
// never goes stale when another process deletes everything (the vocabulary stays), so a word it
// skips inserting is still found inside words.
func TestVocabularyCacheAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	a, b := open(t, url, store.Options{}), open(t, url, store.Options{})
	if _, err := a.Add(ctx, store.Envelope{}, msg("springtime offers")); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(ctx, store.Envelope{}, msg("springtime again")); err != nil { // a remembers "springtime"
		t.Fatal(err)
	}
	q, _ := store.ParseQuery("ringtim")
	if res, err := b.Search(ctx, store.Filter{Query: q}, store.Page{}); err != nil || res.Total != 1 {
		t.Fatalf("a word inside a word, stored after another process deleted everything: %+v, %v", res, err)
	}
}
