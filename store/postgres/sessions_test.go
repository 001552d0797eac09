package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/store"
)

// TestSessionsReachEveryProcess: a session recorded by one process is announced to the other's
// subscribers (with the message it came with, and when it ends), and read there whole.
func TestSessionsReachEveryProcess(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	a, b := open(t, url, store.Options{}), open(t, url, store.Options{})
	subB := b.Subscribe(0)
	sess := store.Session{ID: store.NewID(), Started: time.Now(), RemoteAddr: "192.0.2.1:25", Helo: "client.test",
		Transcript: []store.SessionLine{{Dir: store.SessionClient, Text: "EHLO client.test"}, {Dir: store.SessionServer, Text: "250 hi"}}}
	rec := sess
	sum, err := a.Add(ctx, store.Envelope{SessionID: sess.ID, Session: &rec}, msg("with a session"))
	if err != nil {
		t.Fatal(err)
	}
	evs := nextEvents(t, subB)
	if len(evs) != 2 || evs[0].Type != store.EventNew || evs[0].ID != sum.ID || evs[1].Type != store.EventSession || !evs[1].Remote ||
		evs[1].Session.ID != sess.ID || evs[1].Session.Helo != "client.test" || evs[1].Session.Messages != 1 {
		t.Fatalf("B's events of A's message and its session: %+v", evs)
	}
	end := sess
	end.Ended, end.Outcome, end.Messages = time.Now(), store.OutcomeQuit, 1
	end.TranscriptFrom, end.Transcript = 2, []store.SessionLine{{Dir: store.SessionClient, Text: "QUIT"}}
	if err := a.RecordSession(ctx, &end); err != nil {
		t.Fatal(err)
	}
	evs = nextEvents(t, subB)
	if len(evs) != 1 || evs[0].Type != store.EventSession || evs[0].Session.Outcome != store.OutcomeQuit || !evs[0].Remote {
		t.Fatalf("B's event of the session's end: %+v", evs)
	}
	got, err := b.Session(ctx, sess.ID)
	if err != nil || len(got.Transcript) != 3 || got.Transcript[2].Text != "QUIT" || len(got.MessageIDs) != 1 || got.MessageIDs[0] != sum.ID {
		t.Fatalf("B reads A's session: %+v, %v", got, err)
	}
}

// TestSessionPruningAcrossProcesses: processes recording sessions at once on one database keep
// exactly MaxSessions, the newest.
func TestSessionPruningAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	const limit = 10
	stores := []*Store{open(t, url, store.Options{MaxSessions: limit}), open(t, url, store.Options{MaxSessions: limit}),
		open(t, url, store.Options{MaxSessions: limit})}
	var wg sync.WaitGroup
	for i, s := range stores {
		for j := range 8 {
			wg.Go(func() {
				for k := range 5 {
					ss := &store.Session{ID: fmt.Sprintf("s%d-%d-%d", i, j, k), Started: time.Now(), Ended: time.Now(),
						RemoteAddr: "127.0.0.1:1", Outcome: store.OutcomeQuit, Transcript: []store.SessionLine{{Dir: "*", Text: "x"}}}
					if err := s.RecordSession(ctx, ss); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	res, err := stores[0].Sessions(ctx, store.SessionFilter{}, store.Page{})
	if err != nil || res.Total != limit || len(res.Sessions) != limit {
		t.Fatalf("%d sessions kept (%d listed), %v; want %d", res.Total, len(res.Sessions), err, limit)
	}
	var count, lines int
	if err := stores[0].pool.QueryRow(ctx, "SELECT (SELECT sessions FROM counters), (SELECT count(*) FROM session_lines)").Scan(&count, &lines); err != nil {
		t.Fatal(err)
	}
	if count != limit || lines != limit {
		t.Errorf("the session count says %d, %d transcript chunks; want %d", count, lines, limit)
	}
	// The newest are kept: a session recorded now survives, the oldest of those kept goes.
	oldest := res.Sessions[limit-1].ID
	if err := stores[1].RecordSession(ctx, &store.Session{ID: "last", Started: time.Now(), RemoteAddr: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[2].Session(ctx, "last"); err != nil {
		t.Errorf("the newest session: %v", err)
	}
	if _, err := stores[2].Session(ctx, oldest); err != store.ErrNotFound {
		t.Errorf("the oldest session: %v", err)
	}
}
