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

// lines makes n transcript lines, numbered from first.
func lines(first, n int) []store.SessionLine {
	var out []store.SessionLine
	for i := first; i < first+n; i++ {
		dir := store.SessionClient
		if i%2 == 1 {
			dir = store.SessionServer
		}
		out = append(out, store.SessionLine{At: int64(10 * i), Dir: dir, Text: fmt.Sprintf("line %d", i)})
	}
	return out
}

func texts(ss *store.Session) []string {
	var out []string
	for _, l := range ss.Transcript {
		out = append(out, l.Text)
	}
	return out
}

func wantTexts(first, n int) []string {
	var out []string
	for _, l := range lines(first, n) {
		out = append(out, l.Text)
	}
	return out
}

// sessionEvent waits for the next EventSession of id and returns the events of its commit.
func sessionEvent(s suite, sub *store.Subscription, id string) []store.Event {
	s.Helper()
	for {
		evs := next(s, sub)
		for _, ev := range evs {
			if ev.Type == store.EventSession && ev.ID == id {
				return evs
			}
		}
	}
}

// testSessions: a session's record written with each of its messages (in the message's commit)
// and when it ends, read back whole, filtered, paged, deleted, and kept across a restart.
func testSessions(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	sub := e.Subscribe(0)
	defer sub.Close()
	started := time.Now().Add(-time.Second).UTC().Truncate(time.Microsecond)
	live := store.Session{ID: store.NewID(), Started: started, RemoteAddr: "192.0.2.7:4000", Helo: "client.test",
		TLSVersion: "TLS 1.3", TLSCipher: "TLS_AES_128_GCM_SHA256", AuthMechanism: "PLAIN", AuthUsername: "ann"}
	rec := live
	rec.Transcript = lines(0, 3)
	first := add(s, e, store.Envelope{SessionID: live.ID, Session: &rec}, "Subject: first\r\n\r\nx\r\n")
	evs := sessionEvent(s, sub, live.ID)
	if len(evs) != 2 || evs[0].Type != store.EventNew || evs[0].ID != first.ID || evs[1].Session == nil ||
		evs[1].Session.Helo != "client.test" || evs[1].Session.Transcript != nil {
		s.Fatalf("a message's session: want its EventSession in the message's commit, after EventNew: %+v", evs)
	}
	got, err := e.Session(ctx, live.ID)
	if err != nil {
		s.Fatal(err)
	}
	if !got.Started.Equal(started) || !got.Ended.IsZero() || got.Outcome != "" || got.Messages != 1 || got.RemoteAddr != "192.0.2.7:4000" ||
		got.TLSVersion != "TLS 1.3" || got.AuthUsername != "ann" || !slices.Equal(got.MessageIDs, []string{first.ID}) ||
		!slices.Equal(texts(got), wantTexts(0, 3)) || got.Transcript[1].Dir != store.SessionServer || got.Transcript[2].At != 20 {
		s.Fatalf("session in progress: %+v", got)
	}
	if m, _ := e.Message(ctx, first.ID); m.Envelope.SessionID != live.ID {
		s.Errorf("message's session ID %q", m.Envelope.SessionID)
	}
	rec = live
	rec.TranscriptFrom, rec.Transcript = 3, lines(3, 2)
	second := add(s, e, store.Envelope{SessionID: live.ID, Session: &rec}, "Subject: second\r\n\r\nx\r\n")
	sessionEvent(s, sub, live.ID)
	end := live
	end.Ended, end.Outcome, end.Messages, end.Faults = time.Now().UTC().Truncate(time.Microsecond), store.OutcomeQuit, 2, []string{"delay 1s at rcpt"}
	end.TranscriptFrom, end.Transcript = 5, lines(5, 1)
	if err := e.RecordSession(ctx, &end); err != nil {
		s.Fatal(err)
	}
	if evs := sessionEvent(s, sub, live.ID); len(evs) != 1 || evs[0].Session.Outcome != store.OutcomeQuit {
		s.Fatalf("the end of a session: %+v", evs)
	}
	got, err = e.Session(ctx, live.ID)
	if err != nil || !got.Ended.Equal(end.Ended) || got.Outcome != store.OutcomeQuit || got.Messages != 2 ||
		!slices.Equal(got.Faults, end.Faults) || !slices.Equal(got.MessageIDs, []string{first.ID, second.ID}) ||
		!slices.Equal(texts(got), wantTexts(0, 6)) {
		s.Fatalf("ended session: %+v, %v", got, err)
	}

	// A session that stored nothing is recorded whole when it ends, odd bytes and all.
	probe := store.Session{ID: store.NewID(), Started: time.Now().UTC(), Ended: time.Now().UTC(), RemoteAddr: "[2001:db8::1]:25",
		Outcome: store.OutcomeDropped, Helo: "bad\x00helo\xff", Transcript: []store.SessionLine{{Dir: store.SessionClient, Text: "RCPT TO:<\xff\x00>"}}}
	if err := e.RecordSession(ctx, &probe); err != nil {
		s.Fatal(err)
	}
	if got, err := e.Session(ctx, probe.ID); err != nil || len(got.Transcript) != 1 || len(got.MessageIDs) != 0 || got.MessageIDs == nil ||
		got.Outcome != store.OutcomeDropped || !strings.HasPrefix(got.Helo, "bad") || got.Faults == nil {
		s.Fatalf("probe: %+v, %v", got, err)
	}
	yes, no := true, false
	for _, c := range []struct {
		f    store.SessionFilter
		want []string
	}{
		{store.SessionFilter{}, []string{probe.ID, live.ID}},
		{store.SessionFilter{RemoteAddr: "192.0.2.7"}, []string{live.ID}},
		{store.SessionFilter{RemoteAddr: " 192.0.2.7:4000 "}, []string{live.ID}},
		{store.SessionFilter{RemoteAddr: "192.0.2.7:4001"}, nil},
		{store.SessionFilter{RemoteAddr: "2001:db8:0::1"}, []string{probe.ID}},
		{store.SessionFilter{RemoteAddr: "[2001:db8::1]"}, []string{probe.ID}},
		{store.SessionFilter{Outcome: store.OutcomeDropped}, []string{probe.ID}},
		{store.SessionFilter{WithMessages: &yes}, []string{live.ID}},
		{store.SessionFilter{WithMessages: &no}, []string{probe.ID}},
		{store.SessionFilter{WithMessages: &no, Outcome: store.OutcomeQuit}, nil},
	} {
		res, err := e.Sessions(ctx, c.f, store.Page{})
		var ids []string
		for _, ss := range res.Sessions {
			ids = append(ids, ss.ID)
			if ss.Transcript != nil {
				s.Errorf("Sessions gives transcripts")
			}
		}
		if err != nil || !slices.Equal(ids, c.want) || res.Total != len(c.want) || res.Sessions == nil {
			s.Errorf("Sessions(%+v) = %v (total %d), %v; want %v", c.f, ids, res.Total, err, c.want)
		}
	}
	if res, _ := e.Sessions(ctx, store.SessionFilter{}, store.Page{Offset: 1, Limit: 1}); res.Total != 2 || len(res.Sessions) != 1 ||
		res.Sessions[0].ID != live.ID || res.Sessions[0].Messages != 2 {
		s.Errorf("second page of one: %+v", res)
	}
	if _, err := e.Session(ctx, "nosuchsession"); !errors.Is(err, store.ErrNotFound) {
		s.Errorf("missing session: %v", err)
	}
	if err := e.RecordSession(ctx, &store.Session{}); err == nil {
		s.Error("a session without an ID was recorded")
	}

	e.Close()
	e = s.engine(store.Options{})
	if got, err := e.Session(ctx, live.ID); err != nil || !slices.Equal(texts(got), wantTexts(0, 6)) || got.Messages != 2 {
		s.Fatalf("after a restart: %+v, %v", got, err)
	}
	if err := e.DeleteSessions(ctx); err != nil {
		s.Fatal(err)
	}
	if res, err := e.Sessions(ctx, store.SessionFilter{}, store.Page{}); err != nil || res.Total != 0 || len(res.Sessions) != 0 {
		s.Fatalf("after DeleteSessions: %+v, %v", res, err)
	}
	if st, _ := e.Stats(ctx); st.Total != 2 {
		s.Errorf("DeleteSessions deleted messages: %+v", st)
	}
	if m, err := e.Message(ctx, second.ID); err != nil || m.Envelope.SessionID != live.ID {
		s.Errorf("a message of a deleted session: %+v, %v", m, err)
	}
}

// ended is the record of a session that stored nothing, begun at started.
func ended(started time.Time) *store.Session {
	return &store.Session{ID: store.NewID(), Started: started, Ended: started.Add(time.Millisecond), RemoteAddr: "127.0.0.1:1",
		Outcome: store.OutcomeQuit, Transcript: lines(0, 2)}
}

// testSessionRetention: MaxSessions keeps the newest sessions (concurrent records included); a
// session pruned while it still runs is recorded again when it ends; MaxAge prunes sessions too.
func testSessionRetention(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{MaxSessions: 3})
	var ids []string
	for range 5 {
		ss := ended(time.Now())
		if err := e.RecordSession(ctx, ss); err != nil {
			s.Fatal(err)
		}
		ids = append(ids, ss.ID)
	}
	res, err := e.Sessions(ctx, store.SessionFilter{}, store.Page{})
	var kept []string
	for _, ss := range res.Sessions {
		kept = append(kept, ss.ID)
	}
	if err != nil || !slices.Equal(kept, []string{ids[4], ids[3], ids[2]}) || res.Total != 3 {
		s.Fatalf("kept %v (total %d, %v); want the newest three of %v", kept, res.Total, err, ids)
	}
	if _, err := e.Session(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		s.Errorf("the oldest session: %v", err)
	}
	// Records written at once, batched together: the limit still holds.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := e.RecordSession(ctx, ended(time.Now())); err != nil {
				s.Error(err)
			}
		})
	}
	wg.Wait()
	if res, _ := e.Sessions(ctx, store.SessionFilter{}, store.Page{}); res.Total != 3 || len(res.Sessions) != 3 {
		s.Errorf("after 20 concurrent records: %d kept", res.Total)
	}

	e.Close()
	one := s.engine(store.Options{MaxSessions: 1})
	open := store.Session{ID: store.NewID(), Started: time.Now(), RemoteAddr: "127.0.0.1:2", Helo: "a.test"}
	rec := open
	rec.Transcript = lines(0, 2)
	a1 := add(s, one, store.Envelope{SessionID: open.ID, Session: &rec}, "Subject: a1\r\n\r\nx\r\n")
	if err := one.RecordSession(ctx, ended(time.Now())); err != nil { // prunes the open session's row
		s.Fatal(err)
	}
	if _, err := one.Session(ctx, open.ID); !errors.Is(err, store.ErrNotFound) {
		s.Fatalf("the open session was not pruned: %v", err)
	}
	rec = open
	rec.TranscriptFrom, rec.Transcript = 2, lines(2, 2)
	a2 := add(s, one, store.Envelope{SessionID: open.ID, Session: &rec}, "Subject: a2\r\n\r\nx\r\n")
	end := open
	end.Ended, end.Outcome, end.Messages, end.TranscriptFrom, end.Transcript = time.Now(), store.OutcomeQuit, 2, 4, lines(4, 1)
	if err := one.RecordSession(ctx, &end); err != nil {
		s.Fatal(err)
	}
	got, err := one.Session(ctx, open.ID)
	if err != nil || got.Helo != "a.test" || got.Messages != 2 || !slices.Equal(got.MessageIDs, []string{a1.ID, a2.ID}) ||
		!slices.Equal(texts(got), wantTexts(4, 1)) {
		s.Fatalf("a session pruned while open, when it ended: %+v, %v", got, err)
	}

	one.Close()
	aged := s.engine(store.Options{MaxAge: time.Hour, PruneInterval: time.Hour, MaxSessions: -1})
	old, recent := ended(time.Now().Add(-2*time.Hour)), ended(time.Now())
	for _, ss := range []*store.Session{old, recent} {
		if err := aged.RecordSession(ctx, ss); err != nil {
			s.Fatal(err)
		}
	}
	if err := aged.Prune(ctx); err != nil {
		s.Fatal(err)
	}
	if _, err := aged.Session(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		s.Errorf("a session older than MaxAge: %v", err)
	}
	if _, err := aged.Session(ctx, recent.ID); err != nil {
		s.Errorf("a recent session: %v", err)
	}
}
