package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

func TestAddAndRead(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{Hostname: "catcher.test"})
	raw := readTestdata(t, "multipart.eml")
	env := store.Envelope{
		MailFrom:   "bounce@example.com",
		Recipients: []string{"bob+signup@example.org", "hidden@example.com"},
		Helo:       "app.local", RemoteAddr: "127.0.0.1:40000", Username: "app", TLS: true,
	}
	sum := add(t, s, env, raw)
	if sum.UID <= 0 || len(sum.ID) != 16 {
		t.Fatalf("identity: UID %d ID %q", sum.UID, sum.ID)
	}
	m, err := s.Message(ctx, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"subject", m.Subject, "Welcome to Spring ✓"},
		{"from", m.From, store.Address{Name: "Alice Example", Address: "alice@example.com"}},
		{"to", m.To, []store.Address{{Name: "Bob", Address: "bob+signup@example.org"}, {Address: "carol@example.net"}}},
		{"cc", m.Cc, []store.Address{{Address: "dave@example.com"}}},
		{"bcc (envelope only)", m.Bcc, []store.Address{{Address: "hidden@example.com"}}},
		{"reply-to", m.ReplyTo, []store.Address{}},
		{"message-id", m.MessageID, "welcome-1@example.com"},
		{"username", m.Username, "app"},
		{"tags", m.Tags, []string{"Important", "onboarding", "signup"}},
		{"attachments", m.Summary.Attachments, 1},
		{"inlines", m.Inlines, 1},
		{"return path", m.ReturnPath, "bounce@example.com"},
		{"envelope tls", m.Envelope.TLS, true},
		{"envelope helo", m.Envelope.Helo, "app.local"},
		{"date", m.Date.UTC().Format(time.RFC3339), "2006-01-02T22:04:05Z"},
		{"first header", m.Headers[0], store.Header{Name: "Return-Path", Value: "<bounce@example.com>"}},
		{"x-campaign", m.HeaderValues("x-campaign"), []string{"springtime"}},
		{"parse errors", m.ParseErrors, []string{}},
		{"read", m.Read, false},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if !strings.HasPrefix(m.Snippet, "Hello Bob, please confirm your account") || strings.Contains(m.Snippet, "\n") {
		t.Errorf("snippet %q", m.Snippet)
	}
	if !strings.Contains(m.Text, "Thanks for joining") || !strings.Contains(m.HTML, "cid:logo@example.com") {
		t.Errorf("bodies: text %q html %q", m.Text, m.HTML)
	}
	received := m.HeaderValues("Received")
	if len(received) != 1 || !strings.Contains(received[0], "by catcher.test (letterbox) with ESMTPSA id "+sum.ID) {
		t.Errorf("Received: %q", received)
	}

	stored, err := s.Raw(ctx, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(stored, raw) || !bytes.HasPrefix(stored, []byte("Return-Path: <bounce@example.com>\r\nReceived: ")) {
		t.Errorf("raw is not the trace headers plus the message as received:\n%.300s", stored)
	}
	if int64(len(stored)) != m.Size {
		t.Errorf("size %d, raw has %d bytes", m.Size, len(stored))
	}

	if len(m.Attachments) != 1 || len(m.Inline) != 1 {
		t.Fatalf("parts: attachments %+v inline %+v", m.Attachments, m.Inline)
	}
	att := m.Attachments[0]
	if att.FileName != "invoice.pdf" || att.ContentType != "application/pdf" || att.Disposition != "attachment" {
		t.Errorf("attachment %+v", att)
	}
	if m.Inline[0].ContentID != "logo@example.com" {
		t.Errorf("inline content id %q", m.Inline[0].ContentID)
	}
	part, content, err := s.Part(ctx, sum.ID, att.PartID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(content, []byte("%PDF-1.4")) || int64(len(content)) != part.Size || part.Checksums.SHA256 == "" {
		t.Errorf("part content %q size %d checksums %+v", content, part.Size, part.Checksums)
	}
	if _, _, err := s.Part(ctx, sum.ID, "9.9"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing part: %v", err)
	}
	if _, err := s.Message(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing message: %v", err)
	}
}

// TestCorpus stores every message of the shared corpus: none may be rejected, lost or crash the
// parser, and each must read back byte for byte.
func TestCorpus(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	n := 0
	for _, f := range corpusFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			sum := add(t, s, store.Envelope{MailFrom: "a@example.com", Recipients: []string{"b@example.com"}}, raw)
			m, err := s.Message(ctx, sum.ID)
			if err != nil {
				t.Fatalf("message: %v", err)
			}
			got, err := s.Raw(ctx, sum.ID)
			if err != nil {
				t.Fatalf("raw: %v", err)
			}
			if !bytes.HasSuffix(got, raw) || int64(len(got)) != m.Size {
				t.Fatalf("raw differs from what was received (%d bytes stored, %d received)", len(got), len(raw))
			}
			for _, p := range append(append([]store.Part{}, m.Attachments...), m.Inline...) {
				if _, content, err := s.Part(ctx, sum.ID, p.PartID); err != nil || int64(len(content)) != p.Size {
					t.Errorf("part %s: %v (%d bytes, want %d)", p.PartID, err, len(content), p.Size)
				}
			}
		})
		n++
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != n || n < 50 {
		t.Fatalf("stored %d of %d corpus messages", st.Total, n)
	}
}

func TestBrokenMessageKeepsParseErrors(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	raw := []byte("From: <<<broken\r\nTo: ,,,@@@\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n")
	sum := add(t, s, store.Envelope{}, raw)
	m, err := s.Message(ctx, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.ParseErrors) == 0 {
		t.Errorf("a broken message must record parse errors")
	}
	got, _ := s.Raw(ctx, sum.ID)
	if !bytes.HasSuffix(got, raw) {
		t.Errorf("raw not kept")
	}
}

func TestRestartKeepsMessagesAndUIDsNeverRepeat(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db", "letterbox.db")
	s, err := store.Open(ctx, store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var last store.Summary
	for i := range 3 {
		last, err = s.Add(ctx, store.Envelope{}, bytes.NewReader(simpleMessage("a@x", "b@y", fmt.Sprint("m", i), "body")))
		if err != nil {
			t.Fatal(err)
		}
	}
	validity := s.UIDValidity()
	if err := s.Delete(ctx, []string{last.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, store.Envelope{}, strings.NewReader("x")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("add after close: %v", err)
	}
	s2 := openStore(t, store.Options{Path: path})
	res, err := s2.Search(ctx, store.Filter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 2 || len(res.Messages) != 2 || res.Messages[0].Subject != "m1" {
		t.Fatalf("after restart: %+v", res)
	}
	if s2.UIDValidity() != validity || validity == 0 {
		t.Errorf("UIDVALIDITY changed: %d then %d", validity, s2.UIDValidity())
	}
	nextUID, err := s2.NextUID(ctx)
	if err != nil || nextUID != last.UID+1 {
		t.Fatalf("NextUID %d, %v; want %d even though that message was deleted", nextUID, err, last.UID+1)
	}
	next := add(t, s2, store.Envelope{}, simpleMessage("a@x", "b@y", "m3", "body"))
	if next.UID <= last.UID {
		t.Errorf("UID %d reused or went back (last was %d)", next.UID, last.UID)
	}
}

func TestConcurrentAddsAllCommitted(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	const workers, each = 16, 25
	var mu sync.Mutex
	uids := map[int64]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				sum, err := s.Add(ctx, store.Envelope{Recipients: []string{"x@y"}}, bytes.NewReader(simpleMessage("a@x", "b@y", fmt.Sprintf("w%d-%d", w, i), "hello")))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				uids[sum.UID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) != workers*each || st.Total != workers*each || st.Unread != workers*each {
		t.Fatalf("%d distinct UIDs, stats %+v", len(uids), st)
	}
	// Group commit: concurrent messages share transactions.
	if st.Writes != workers*each || st.Commits < 1 || st.Commits >= st.Writes {
		t.Errorf("%d writes in %d commits, want %d writes in fewer commits", st.Writes, st.Commits, workers*each)
	}
}

// TestExpect: an announcement is withdrawn once, however often its function is called, and an
// announced message that comes is stored as any other.
func TestExpect(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	withdraw := s.Expect()
	other := s.Expect()
	if n := store.Expected(s); n != 2 {
		t.Fatalf("%d announced, want 2", n)
	}
	withdraw()
	withdraw()
	if n := store.Expected(s); n != 1 {
		t.Fatalf("%d announced after one withdrawal called twice, want 1", n)
	}
	if _, err := s.Add(ctx, store.Envelope{Recipients: []string{"x@y"}}, bytes.NewReader(simpleMessage("a@x", "b@y", "announced", "hello"))); err != nil {
		t.Fatal(err)
	}
	other()
	if n := store.Expected(s); n != 0 {
		t.Fatalf("%d announced, want 0", n)
	}
}

func TestEventsAfterCommit(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	sub := s.Subscribe(16)
	defer sub.Close()
	var pending []store.Event
	next := func() store.Event {
		t.Helper()
		for len(pending) == 0 {
			select {
			case evs, ok := <-sub.Events():
				if !ok {
					t.Fatalf("subscription closed: %v", sub.Err())
				}
				pending = append(pending, evs...)
			case <-time.After(5 * time.Second):
				t.Fatal("no event within 5s")
			}
		}
		ev := pending[0]
		pending = pending[1:]
		return ev
	}
	sum := add(t, s, store.Envelope{}, simpleMessage("a@x", "b@y", "hello", "body"))
	ev := next()
	if ev.Type != store.EventNew || ev.Summary == nil || ev.Summary.ID != sum.ID {
		t.Fatalf("new: %+v", ev)
	}
	// Committed before it was announced: a reader sees it.
	if _, err := s.Message(ctx, ev.Summary.ID); err != nil {
		t.Fatalf("announced message not readable: %v", err)
	}
	if err := s.SetRead(ctx, []string{sum.ID}, true); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Type != store.EventUpdate || ev.ID != sum.ID || ev.Read == nil || !*ev.Read {
		t.Fatalf("update: %+v", ev)
	}
	// Setting the same state again changes nothing and announces nothing.
	if err := s.SetRead(ctx, []string{sum.ID}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTags(ctx, []string{sum.ID}, []string{"b", "a", "a"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Type != store.EventUpdate || !slices.Equal(ev.Tags, []string{"a", "b"}) {
		t.Fatalf("tags update: %+v", ev)
	}
	if err := s.Delete(ctx, []string{sum.ID}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Type != store.EventDelete || ev.ID != sum.ID || ev.UID != sum.UID {
		t.Fatalf("delete: %+v", ev)
	}
	add(t, s, store.Envelope{}, simpleMessage("a@x", "b@y", "again", "body"))
	next()
	if err := s.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Type != store.EventTruncate {
		t.Fatalf("truncate: %+v", ev)
	}
	st, _ := s.Stats(ctx)
	if st.Total != 0 || st.Unread != 0 || st.Size != 0 || st.Deleted != 2 {
		t.Fatalf("stats after delete all: %+v", st)
	}
}

// A subscriber that never reads must not slow ingestion: it is dropped and told why.
func TestLaggingSubscriberIsDropped(t *testing.T) {
	s := openStore(t, store.Options{})
	slow := s.Subscribe(2)
	for i := range 10 {
		add(t, s, store.Envelope{}, simpleMessage("a@x", "b@y", fmt.Sprint(i), "x"))
	}
	n := 0
	for range slow.Events() {
		n++
	}
	if n != 2 || !errors.Is(slow.Err(), store.ErrLagged) {
		t.Fatalf("got %d commits' events then %v; want 2 then ErrLagged", n, slow.Err())
	}
}

// When a change returns, its events are already in every subscriber's queue.
func TestEventsPublishedBeforeReturn(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	sub := s.Subscribe(16)
	defer sub.Close()
	for i := range 20 {
		sum := add(t, s, store.Envelope{}, simpleMessage("a@x", "b@y", fmt.Sprint(i), "x"))
		select {
		case evs := <-sub.Events():
			if len(evs) != 1 || evs[0].ID != sum.ID {
				t.Fatalf("events %+v, want the new %s", evs, sum.ID)
			}
		default:
			t.Fatalf("message %d: no event queued when Add returned", i)
		}
		if err := s.SetRead(ctx, []string{sum.ID}, true); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sub.Events():
		default:
			t.Fatalf("message %d: no event queued when SetRead returned", i)
		}
	}
}

// A bulk change is one commit: a subscriber with room for two commits gets all of its events.
func TestBulkChangeIsOneDelivery(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	for i := range 300 {
		add(t, s, store.Envelope{}, simpleMessage("a@x", "b@y", fmt.Sprint(i), "x"))
	}
	sub := s.Subscribe(2)
	defer sub.Close()
	if err := s.SetReadMatching(ctx, store.Filter{}, true); err != nil {
		t.Fatal(err)
	}
	select {
	case evs, ok := <-sub.Events():
		if !ok {
			t.Fatalf("dropped: %v", sub.Err())
		}
		if len(evs) != 300 || evs[0].Type != store.EventUpdate || evs[0].Read == nil || !*evs[0].Read {
			t.Fatalf("%d events, first %+v; want 300 read updates", len(evs), evs[0])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no events within 5s")
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	t.Run("max messages", func(t *testing.T) {
		s := openStore(t, store.Options{MaxMessages: 5})
		sub := s.Subscribe(100)
		defer sub.Close()
		var last store.Summary
		for i := range 12 {
			last = add(t, s, store.Envelope{}, simpleMessage("a@x", "b@y", fmt.Sprint(i), "x"))
		}
		if err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := s.Search(ctx, store.Filter{}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 5 || len(res.Messages) != 5 || res.Messages[0].ID != last.ID || res.Messages[4].Subject != "7" {
			t.Fatalf("kept %d: %+v", res.Total, res.Messages)
		}
		pruned := 0
		for pruned < 7 {
			select {
			case evs := <-sub.Events():
				for _, ev := range evs {
					if ev.Type == store.EventPrune {
						pruned += len(ev.UIDs)
					}
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("prune events announced %d of 7 deletions", pruned)
			}
		}
	})
	t.Run("max age", func(t *testing.T) {
		s := openStore(t, store.Options{MaxAge: time.Hour})
		add(t, s, store.Envelope{Received: time.Now().Add(-2 * time.Hour)}, simpleMessage("a@x", "b@y", "old", "x"))
		fresh := add(t, s, store.Envelope{}, simpleMessage("a@x", "b@y", "new", "x"))
		if err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		res, _ := s.Search(ctx, store.Filter{}, store.Page{})
		if res.Total != 1 || res.Messages[0].ID != fresh.ID {
			t.Fatalf("after prune: %+v", res.Messages)
		}
	})
}

func TestTagsRenameAndDelete(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	a := add(t, s, store.Envelope{}, simpleMessage("a@x", "b@y", "a", "x"))
	b := add(t, s, store.Envelope{}, simpleMessage("a@x", "b@y", "b", "x"))
	if err := s.SetTags(ctx, []string{a.ID, b.ID}, []string{"red", "blue"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameTag(ctx, "red", "green"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTag(ctx, "blue"); err != nil {
		t.Fatal(err)
	}
	tags, _ := s.Tags(ctx)
	if !slices.Equal(tags, []string{"green"}) {
		t.Fatalf("tags %v", tags)
	}
	st, _ := s.Stats(ctx)
	if st.Tags["green"] != 2 {
		t.Fatalf("tag counts %v", st.Tags)
	}
}
