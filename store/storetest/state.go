package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

func testReadState(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	ids := mailbox(s, e) // welcome is read
	count := func(q string) (int, int) {
		s.Helper()
		query, _ := store.ParseQuery(q)
		res, err := e.Search(ctx, store.Filter{Query: query}, store.Page{Limit: 1})
		if err != nil {
			s.Fatal(err)
		}
		return res.Total, res.Unread
	}
	if n, u := count("shop"); n != 2 || u != 1 {
		s.Fatalf("some read: %d matches, %d unread; want 2, 1", n, u)
	}
	q, _ := store.ParseQuery("to:alice@example.org")
	if err := e.SetReadMatching(ctx, store.Filter{Query: q}, true); err != nil {
		s.Fatal(err)
	}
	st, _ := e.Stats(ctx)
	if st.Total != 4 || st.Unread != 1 {
		s.Fatalf("after marking alice's mail read: %+v", st)
	}
	if err := e.SetRead(ctx, []string{ids["welcome"], ids["reset"], "nosuchid"}, false); err != nil {
		s.Fatal(err)
	}
	if n, u := count("-has:attachment"); n != 3 || u != 3 {
		s.Fatalf("after marking two unread: %d, %d", n, u)
	}
	if err := e.SetReadMatching(ctx, store.Filter{}, true); err != nil {
		s.Fatal(err)
	}
	if st, _ := e.Stats(ctx); st.Unread != 0 {
		s.Fatalf("all read: %+v", st)
	}
	if sum, _ := e.Summary(ctx, ids["big"]); !sum.Read {
		s.Fatal("summary not read")
	}
}

func testTags(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	ids := mailbox(s, e) // invoice: Billing; big: weekly (plus address)
	if err := e.SetTags(ctx, []string{ids["welcome"], ids["reset"]}, []string{" promo ", "Promo", "x<y>", "new"}); err != nil {
		s.Fatal(err)
	}
	if sum, _ := e.Summary(ctx, ids["welcome"]); !slices.Equal(sum.Tags, []string{"Promo", "new", "promo", "xy"}) {
		s.Fatalf("tags set: %v", sum.Tags)
	}
	tags, err := e.Tags(ctx)
	if err != nil || !slices.Equal(tags, []string{"Billing", "Promo", "new", "promo", "weekly", "xy"}) {
		s.Fatalf("tags in use: %v %v", tags, err)
	}
	if err := e.RenameTag(ctx, "new", "fresh"); err != nil {
		s.Fatal(err)
	}
	if err := e.DeleteTag(ctx, "xy"); err != nil {
		s.Fatal(err)
	}
	if err := e.RenameTag(ctx, "promo", " "); err == nil {
		s.Error("renaming to an empty name: no error")
	}
	st, _ := e.Stats(ctx)
	if fmt.Sprint(st.Tags) != "map[Billing:1 Promo:2 fresh:2 promo:2 weekly:1]" {
		s.Fatalf("tag counts: %v", st.Tags)
	}
	q, _ := store.ParseQuery("tag:FRESH")
	res, _ := e.Search(ctx, store.Filter{Query: q}, store.Page{})
	if res.Total != 2 {
		s.Fatalf("tag:FRESH found %d", res.Total)
	}
	if err := e.SetTags(ctx, []string{ids["welcome"]}, nil); err != nil {
		s.Fatal(err)
	}
	if sum, _ := e.Summary(ctx, ids["welcome"]); len(sum.Tags) != 0 || sum.Tags == nil {
		s.Fatalf("tags cleared: %#v", sum.Tags)
	}
}

func testDeletes(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	ids := mailbox(s, e)
	if err := e.Delete(ctx, []string{ids["welcome"], "nosuchid"}); err != nil {
		s.Fatal(err)
	}
	if _, err := e.Summary(ctx, ids["welcome"]); !errors.Is(err, store.ErrNotFound) {
		s.Fatalf("deleted message: %v", err)
	}
	q, _ := store.ParseQuery("to:alice@example.org")
	if n, err := e.DeleteMatching(ctx, store.Filter{Query: q}); err != nil || n != 2 {
		s.Fatalf("delete matching: %d, %v", n, err)
	}
	st, _ := e.Stats(ctx)
	if st.Total != 1 || st.Unread != 1 || st.Deleted != 3 || st.Size <= 20000 {
		s.Fatalf("stats after deletes: %+v", st)
	}
	if res, _ := e.Search(ctx, store.Filter{Query: q}, store.Page{}); res.Total != 0 {
		s.Fatalf("deleted messages still found: %+v", res.Messages)
	}
	add(s, e, store.Envelope{}, "Subject: one more\r\n\r\nbody\r\n")
	if err := e.DeleteAll(ctx); err != nil {
		s.Fatal(err)
	}
	st, _ = e.Stats(ctx)
	if st.Total != 0 || st.Unread != 0 || st.Size != 0 || len(st.Tags) != 0 || st.Deleted != 5 {
		s.Fatalf("stats after delete all: %+v", st)
	}
	// The store works on afterwards, search included.
	add(s, e, store.Envelope{}, "Subject: after the truncate\r\n\r\nspringtime again\r\n")
	q, _ = store.ParseQuery("ringtim")
	if res, _ := e.Search(ctx, store.Filter{Query: q}, store.Page{}); res.Total != 1 {
		s.Fatalf("search after delete all: %+v", res)
	}
}

func testRetention(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{MaxMessages: 3, PruneInterval: time.Hour})
	var last store.Summary
	for i := range 5 {
		last = add(s, e, store.Envelope{}, fmt.Sprintf("Subject: m%d\r\n\r\nbody\r\n", i))
	}
	if err := e.Prune(ctx); err != nil {
		s.Fatal(err)
	}
	entries, _ := e.Index(ctx, store.Filter{})
	if len(entries) != 3 || entries[2].ID != last.ID {
		s.Fatalf("after pruning to 3: %+v", entries)
	}
	e2 := s.engine(store.Options{MaxAge: time.Hour, PruneInterval: time.Hour})
	add(s, e2, store.Envelope{Received: time.Now().Add(-2 * time.Hour)}, "Subject: old\r\n\r\nbody\r\n")
	if err := e2.Prune(ctx); err != nil {
		s.Fatal(err)
	}
	q, _ := store.ParseQuery("subject:old")
	if res, _ := e2.Search(ctx, store.Filter{Query: q}, store.Page{}); res.Total != 0 {
		s.Fatalf("an old message survived MaxAge: %+v", res)
	}
}

// next returns the events of the next commit, failing after a few seconds.
func next(s suite, sub *store.Subscription) []store.Event {
	s.Helper()
	select {
	case evs, ok := <-sub.Events():
		if !ok {
			s.Fatalf("subscription closed: %v", sub.Err())
		}
		return evs
	case <-time.After(5 * time.Second):
		s.Fatal("no event within 5s")
	}
	return nil
}

func testEvents(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{MaxMessages: 2, PruneInterval: time.Hour})
	sub := e.Subscribe(0)
	defer sub.Close()
	a := add(s, e, store.Envelope{}, "Subject: a\r\n\r\nbody\r\n")
	if evs := next(s, sub); len(evs) != 1 || evs[0].Type != store.EventNew || evs[0].Summary == nil || evs[0].Summary.ID != a.ID || evs[0].UID != a.UID {
		s.Fatalf("new: %+v", evs)
	}
	if err := e.SetRead(ctx, []string{a.ID}, true); err != nil {
		s.Fatal(err)
	}
	if evs := next(s, sub); len(evs) != 1 || evs[0].Type != store.EventUpdate || evs[0].ID != a.ID || evs[0].Read == nil || !*evs[0].Read {
		s.Fatalf("read: %+v", evs)
	}
	if err := e.SetTags(ctx, []string{a.ID}, []string{"t"}); err != nil {
		s.Fatal(err)
	}
	if evs := next(s, sub); len(evs) != 1 || evs[0].Type != store.EventUpdate || !slices.Equal(evs[0].Tags, []string{"t"}) {
		s.Fatalf("tags: %+v", evs)
	}
	if err := e.DeleteTag(ctx, "t"); err != nil {
		s.Fatal(err)
	}
	if evs := next(s, sub); len(evs) != 1 || evs[0].Type != store.EventUpdate || evs[0].Tags == nil || len(evs[0].Tags) != 0 {
		s.Fatalf("tag deleted: %+v", evs)
	}
	if err := e.Delete(ctx, []string{a.ID}); err != nil {
		s.Fatal(err)
	}
	if evs := next(s, sub); len(evs) != 1 || evs[0].Type != store.EventDelete || evs[0].ID != a.ID || evs[0].UID != a.UID {
		s.Fatalf("delete: %+v", evs)
	}
	var uids []int64
	for i := range 3 {
		uids = append(uids, add(s, e, store.Envelope{}, fmt.Sprintf("Subject: p%d\r\n\r\nbody\r\n", i)).UID)
	}
	// Retention runs after ingest beyond MaxMessages: the first is pruned, in a commit of its own
	// or in the commit of the message that went beyond (the prune the commit before it asked for
	// can join the writer's next batch behind that message).
	var pruned []store.Event
	for pruned == nil {
		for _, ev := range next(s, sub) {
			switch ev.Type {
			case store.EventNew:
			case store.EventPrune:
				pruned = append(pruned, ev)
			default:
				s.Fatalf("waiting for the prune: %+v", ev)
			}
		}
	}
	if len(pruned) != 1 || !slices.Equal(pruned[0].UIDs, uids[:1]) {
		s.Fatalf("prune: %+v", pruned)
	}
	if err := e.DeleteAll(ctx); err != nil {
		s.Fatal(err)
	}
	if evs := next(s, sub); len(evs) != 1 || evs[0].Type != store.EventTruncate {
		s.Fatalf("truncate: %+v", evs)
	}
}

// testRestart: what is stored survives closing and reopening, search index and read state
// included; reopening applies no migration twice.
func testRestart(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	ids := mailbox(s, e)
	validity := e.UIDValidity()
	if err := e.Close(); err != nil {
		s.Fatal(err)
	}
	e = s.engine(store.Options{})
	if e.UIDValidity() != validity {
		s.Errorf("UIDVALIDITY changed across a restart: %d, %d", validity, e.UIDValidity())
	}
	q, _ := store.ParseQuery("ringtim is:read")
	res, err := e.Search(ctx, store.Filter{Query: q}, store.Page{})
	if err != nil || res.Total != 1 || res.Messages[0].ID != ids["welcome"] {
		s.Fatalf("after a restart: %+v %v", res, err)
	}
	m, err := e.Message(ctx, ids["invoice"])
	if err != nil || len(m.Attachments) != 1 || !slices.Equal(m.Tags, []string{"Billing"}) {
		s.Fatalf("message after a restart: %+v %v", m, err)
	}
}

// testUIDs: UIDs strictly increase and are never reused, deletes and restarts included; NextUID
// is above every UID given.
func testUIDs(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	a := add(s, e, store.Envelope{}, "Subject: a\r\n\r\nx\r\n")
	b := add(s, e, store.Envelope{}, "Subject: b\r\n\r\nx\r\n")
	if b.UID <= a.UID {
		s.Fatalf("UIDs %d then %d", a.UID, b.UID)
	}
	if err := e.Delete(ctx, []string{b.ID}); err != nil {
		s.Fatal(err)
	}
	if next, err := e.NextUID(ctx); err != nil || next <= b.UID {
		s.Fatalf("NextUID %d after deleting UID %d (%v)", next, b.UID, err)
	}
	e.Close()
	e = s.engine(store.Options{})
	c := add(s, e, store.Envelope{}, "Subject: c\r\n\r\nx\r\n")
	if c.UID <= b.UID {
		s.Fatalf("UID %d reused or lower after deleting %d and a restart", c.UID, b.UID)
	}
	// Concurrent ingest: every message its own UID, all above the last.
	errs := make(chan error, 40)
	got := make(chan int64, 40)
	for i := range 40 {
		go func() {
			sum, err := e.Add(ctx, store.Envelope{}, strings.NewReader(fmt.Sprintf("Subject: c%d\r\n\r\nx\r\n", i)))
			errs <- err
			got <- sum.UID
		}()
	}
	seen := map[int64]bool{}
	for range 40 {
		if err := <-errs; err != nil {
			s.Fatal(err)
		}
		uid := <-got
		if seen[uid] || uid <= c.UID {
			s.Fatalf("UID %d repeated or not above %d", uid, c.UID)
		}
		seen[uid] = true
	}
}

// testMigrations: processes starting together on a new database migrate it once between them
// (each opens, none fails, all agree on UIDVALIDITY and read what another stored); reopening
// migrates nothing again (testRestart). Refusing a newer schema and upgrading an old one are
// the engines' own tests (they need to write a schema version).
func testMigrations(s suite) {
	ctx := context.Background()
	engines := make([]store.Engine, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range engines {
		wg.Go(func() {
			engines[i], errs[i] = s.open(store.Options{Hostname: "conformance.test"})
		})
	}
	wg.Wait()
	for i, e := range engines {
		if errs[i] != nil {
			s.Fatalf("open %d of 3 at once: %v", i, errs[i])
		}
		s.Cleanup(func() { e.Close() })
	}
	for i, e := range engines[1:] {
		if e.UIDValidity() != engines[0].UIDValidity() || e.UIDValidity() == 0 {
			s.Fatalf("UIDVALIDITY of open %d: %d, of the first %d", i+1, e.UIDValidity(), engines[0].UIDValidity())
		}
	}
	sum := add(s, engines[2], store.Envelope{}, "Subject: migrated\r\n\r\nonce\r\n")
	for i, e := range engines {
		if got, err := e.Summary(ctx, sum.ID); err != nil || got.Subject != "migrated" {
			s.Errorf("open %d reads %+v %v", i, got, err)
		}
	}
}
