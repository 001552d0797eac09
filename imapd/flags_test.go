package imapd_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/store/postgres"
)

// TestDeletedFlagSurvivesARestart: \Deleted is kept by the store, so a restarted server (or
// another process) shows it and EXPUNGE deletes the message.
func TestDeletedFlagSurvivesARestart(t *testing.T) {
	st := openStore(t)
	for _, s := range []string{"one", "two", "three"} {
		add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", s, "x"))
	}
	first, addr := startServer(t, imapd.Options{Store: st})
	c := dial(t, addr, "me", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	first.Close()

	_, addr = startServer(t, imapd.Options{Store: st})
	c = dial(t, addr, "me", nil)
	data, err := c.Select("INBOX", &imap.SelectOptions{}).Wait()
	if err != nil || data.NumMessages != 3 {
		t.Fatalf("SELECT after the restart: %+v, %v", data, err)
	}
	got, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 3}}, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(got) != 3 || len(got[0].Flags) != 0 || !slices.Equal(got[1].Flags, []imap.Flag{imap.FlagDeleted}) {
		t.Fatalf("flags after the restart: %+v, %v", got, err)
	}
	if seqs, err := c.Expunge().Collect(); err != nil || !slices.Equal(seqs, []uint32{2}) {
		t.Fatalf("EXPUNGE after the restart = %v, %v; want [2]", seqs, err)
	}
}

// TestDeletedFlagAcrossServers runs two IMAP servers on one database, as two letterbox processes
// would: \Deleted set through one reaches the other's idling client, and the other's EXPUNGE
// deletes what the first flagged, and nothing the first unflagged, though its events may not
// have arrived yet. On SQLite the servers share one store; on PostgreSQL each has its own (its
// own pool and listener: another process as far as the database can tell).
func TestDeletedFlagAcrossServers(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		st := openStore(t)
		testDeletedAcross(t, st, st)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		url := pgtest.Database(t)
		open := func() *postgres.Store {
			s, err := postgres.Open(context.Background(), url, store.Options{Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		testDeletedAcross(t, open(), open())
	})
}

func testDeletedAcross(t *testing.T, a, b store.Engine) {
	ctx := context.Background()
	for _, s := range []string{"one", "two", "three"} {
		if _, err := a.Add(ctx, store.Envelope{}, bytes.NewReader(message("a@x.test", "b@y.test", s, "x"))); err != nil {
			t.Fatal(err)
		}
	}
	_, addrA := startServer(t, imapd.Options{Store: a})
	srvB, addrB := startServer(t, imapd.Options{Store: b})
	ca := dialIdle(t, addrA, "me")
	cb := dialIdle(t, addrB, "me")
	for _, c := range []*idleClient{ca, cb} {
		if data, err := c.Select("INBOX", nil).Wait(); err != nil || data.NumMessages != 3 {
			t.Fatalf("SELECT: %+v, %v", data, err)
		}
	}
	deleted := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	undeleted := &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}

	idle, err := cb.Idle()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Store(imap.SeqSetNum(1), deleted, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if m := within(t, cb.flags, 5*time.Second, "FETCH FLAGS in the other server's IDLE"); m.SeqNum != 1 || !slices.Equal(m.Flags, []imap.Flag{imap.FlagDeleted}) {
		t.Fatalf("the other server's client heard FETCH %d FLAGS %v, want 1 (\\Deleted)", m.SeqNum, m.Flags)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}

	// Flag 2 and unflag 1 through A, then EXPUNGE through B before B has these changes' events
	// (held back): B's client still shows 1 \Deleted and 2 not.
	release := imapd.HoldEvents(srvB)
	if _, err := ca.Store(imap.SeqSetNum(2), deleted, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Store(imap.SeqSetNum(1), undeleted, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	seqs, err := cb.Expunge().Collect()
	release()
	if err != nil || !slices.Equal(seqs, []uint32{2}) {
		t.Fatalf("EXPUNGE through B = %v, %v; want [2]", seqs, err)
	}
	entries, err := a.Index(ctx, store.Filter{})
	if err != nil || len(entries) != 2 || entries[0].Deleted || entries[1].Deleted {
		t.Fatalf("the store after EXPUNGE: %+v, %v", entries, err)
	}
	waitCount(t, ca.Client, 2)
	if flagged, err := b.DeletedUIDs(ctx); err != nil || len(flagged) != 0 {
		t.Errorf("still flagged: %v, %v", flagged, err)
	}
	if _, err := b.Expunge(ctx, []string{entries[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Summary(ctx, entries[0].ID); errors.Is(err, store.ErrNotFound) {
		t.Error("Expunge deleted a message not flagged \\Deleted")
	}
}
