package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

func mustFilter(s suite, q string) *store.Filter {
	s.Helper()
	query, err := store.ParseQuery(q)
	if err != nil {
		s.Fatal(err)
	}
	return &store.Filter{Query: query}
}

// testAutoRelay: Options.RelayMatching queues a job for each matching message in the commit
// that stores it, announced right after the message.
func testAutoRelay(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{RelayMatching: mustFilter(s, "subject:invoice")})
	sub := e.Subscribe(0)
	defer sub.Close()
	hit := add(s, e, store.Envelope{MailFrom: "app@example.com", Recipients: []string{"a@example.com", "b@example.com"}},
		"From: app@example.com\r\nTo: a@example.com\r\nSubject: Your invoice 42\r\n\r\nx\r\n")
	miss := add(s, e, store.Envelope{MailFrom: "app@example.com", Recipients: []string{"a@example.com"}},
		"From: app@example.com\r\nTo: a@example.com\r\nSubject: Password reset\r\n\r\nx\r\n")
	noEnv := add(s, e, store.Envelope{NoTrace: true},
		"From: x@example.com\r\nTo: To One <to@example.com>\r\nCc: cc@example.com, TO@example.com\r\nSubject: invoice again\r\n\r\nbody\r\n")
	var relayEvents []store.Event
	for len(relayEvents) < 2 {
		evs := next(s, sub)
		for i, ev := range evs {
			if ev.Type == store.EventRelay {
				if i == 0 || evs[i-1].Type != store.EventNew || evs[i-1].ID != ev.ID {
					s.Errorf("relay event not right after its message's new event: %+v", evs)
				}
				relayEvents = append(relayEvents, ev)
			}
		}
	}
	if relayEvents[0].ID != hit.ID || relayEvents[0].Relay.State != store.RelayQueued || relayEvents[1].ID != noEnv.ID {
		s.Errorf("relay events %+v %+v", relayEvents[0].Relay, relayEvents[1].Relay)
	}
	jobs, err := e.RelayJobs(ctx, hit.ID)
	if err != nil || len(jobs) != 1 {
		s.Fatalf("RelayJobs = %+v, %v", jobs, err)
	}
	if j := jobs[0]; j.Kind != store.RelayAuto || j.State != store.RelayQueued || !slices.Equal(j.Recipients, []string{"a@example.com", "b@example.com"}) || j.UID != hit.UID {
		s.Errorf("job %+v", j)
	}
	if jobs, _ := e.RelayJobs(ctx, miss.ID); len(jobs) != 0 {
		s.Errorf("non-matching message queued: %+v", jobs)
	}
	if jobs, _ := e.RelayJobs(ctx, noEnv.ID); len(jobs) != 1 || !slices.Equal(jobs[0].Recipients, []string{"to@example.com", "cc@example.com"}) {
		s.Errorf("header recipients: %+v", jobs)
	}
	if _, err := e.RelayJobs(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		s.Errorf("RelayJobs of a missing message: %v", err)
	}
}

// testRelayQueue: claims with a lease, outcomes, retries, the queue across a restart, releases
// recorded with AddRelay, and a deleted message's jobs going with it.
func testRelayQueue(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{RelayMatching: &store.Filter{}})
	m := add(s, e, store.Envelope{Recipients: []string{"a@example.com"}}, "From: f@example.com\r\nTo: a@example.com\r\nSubject: one\r\n\r\nx\r\n")
	now := time.Now()
	if due, ok, err := e.NextRelayDue(ctx); err != nil || !ok || due.After(now) {
		s.Fatalf("NextRelayDue = %v %v %v", due, ok, err)
	}
	j, err := e.ClaimRelay(ctx, now, time.Minute)
	if err != nil || j == nil || j.ID != m.ID || j.State != store.RelaySending || j.Attempts != 1 {
		s.Fatalf("claim = %+v, %v", j, err)
	}
	if again, err := e.ClaimRelay(ctx, now.Add(30*time.Second), time.Minute); err != nil || again != nil {
		s.Fatalf("claimed twice: %+v, %v", again, err)
	}
	again, err := e.ClaimRelay(ctx, now.Add(61*time.Second), time.Minute)
	if err != nil || again == nil || again.Job != j.Job || again.Attempts != 2 {
		s.Fatalf("lapsed lease not reclaimed: %+v, %v", again, err)
	}
	retry := time.Now().Add(time.Hour)
	if err := e.FinishRelay(ctx, j.Job, store.RelayOutcome{State: store.RelayQueued, Retry: retry, Reply: "421 try later"}); err != nil {
		s.Fatal(err)
	}
	if got, _ := e.ClaimRelay(ctx, time.Now(), time.Minute); got != nil {
		s.Fatalf("claimed before its retry time: %+v", got)
	}
	if due, ok, _ := e.NextRelayDue(ctx); !ok || !due.Equal(retry.UTC().Truncate(time.Microsecond)) {
		s.Errorf("NextRelayDue = %v, want %v", due, retry)
	}
	e.Close()
	e = s.engine(store.Options{})
	got, err := e.ClaimRelay(ctx, retry, time.Minute)
	if err != nil || got == nil || got.Job != j.Job || got.Attempts != 3 || got.Reply != "421 try later" {
		s.Fatalf("after restart: %+v, %v", got, err)
	}
	if err := e.FinishRelay(ctx, got.Job, store.RelayOutcome{State: store.RelaySent, Reply: "250 ok"}); err != nil {
		s.Fatal(err)
	}
	if _, ok, _ := e.NextRelayDue(ctx); ok {
		s.Error("a sent job is still due")
	}
	if jobs, _ := e.RelayJobs(ctx, m.ID); len(jobs) != 1 || jobs[0].State != store.RelaySent || jobs[0].Reply != "250 ok" {
		s.Errorf("history %+v", jobs)
	}
	if err := e.FinishRelay(ctx, got.Job, store.RelayOutcome{State: store.RelaySending}); err == nil {
		s.Error("FinishRelay accepted a sending outcome")
	}

	done, err := e.AddRelay(ctx, m.ID, store.RelayJob{Recipients: []string{"x@example.com"}, State: store.RelaySent, Reply: "250 queued", Attempts: 1})
	if err != nil || done.Kind != store.RelayRelease || done.UID != m.UID {
		s.Fatalf("AddRelay = %+v, %v", done, err)
	}
	if j, _ := e.ClaimRelay(ctx, time.Now().Add(time.Hour), time.Minute); j != nil {
		s.Errorf("a sent job was claimed: %+v", j)
	}
	if _, err := e.AddRelay(ctx, "nope", store.RelayJob{}); !errors.Is(err, store.ErrNotFound) {
		s.Errorf("AddRelay to a missing message: %v", err)
	}
	// A job waiting for its retry is made due by RetryRelaysNow (a restarted worker's first step).
	later, _ := e.AddRelay(ctx, m.ID, store.RelayJob{Recipients: []string{"z@example.com"}, Due: time.Now().Add(time.Hour)})
	if j, _ := e.ClaimRelay(ctx, time.Now(), time.Minute); j != nil {
		s.Fatalf("claimed before due: %+v", j)
	}
	if n, err := e.RetryRelaysNow(ctx); err != nil || n != 1 {
		s.Fatalf("RetryRelaysNow = %d, %v", n, err)
	}
	if j, err := e.ClaimRelay(ctx, time.Now(), time.Minute); err != nil || j == nil || j.Job != later.Job {
		s.Fatalf("claim after RetryRelaysNow: %+v, %v", j, err)
	}
	q, _ := e.AddRelay(ctx, m.ID, store.RelayJob{Recipients: []string{"y@example.com"}})
	if err := e.Delete(ctx, []string{m.ID}); err != nil {
		s.Fatal(err)
	}
	if j, _ := e.ClaimRelay(ctx, time.Now().Add(time.Hour), time.Minute); j != nil {
		s.Errorf("job of a deleted message claimed: %+v", j)
	}
	if err := e.FinishRelay(ctx, q.Job, store.RelayOutcome{State: store.RelaySent}); !errors.Is(err, store.ErrNotFound) {
		s.Errorf("FinishRelay of a deleted message's job: %v", err)
	}
}

// testNoTraceAndProtocol: imported mail is kept as given; the send API's protocol is in Received.
func testNoTraceAndProtocol(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{Hostname: "catcher.test"})
	raw := "Return-Path: <bounce@example.com>\nReceived: from elsewhere\nFrom: a@example.com\nSubject: imported\n\nbody"
	sum := add(s, e, store.Envelope{NoTrace: true}, raw)
	got, err := e.Raw(ctx, sum.ID)
	if err != nil || string(got) != raw {
		s.Fatalf("Raw = %q, %v", got, err)
	}
	if m, _ := e.Message(ctx, sum.ID); m.ReturnPath != "bounce@example.com" || m.Size != int64(len(raw)) {
		s.Errorf("ReturnPath %q, Size %d", m.ReturnPath, m.Size)
	}
	sum = add(s, e, store.Envelope{Protocol: "HTTP", RemoteAddr: "127.0.0.1:5", Helo: "api"}, "Subject: api\r\n\r\nx\r\n")
	if m, _ := e.Message(ctx, sum.ID); len(m.HeaderValues("Received")) != 1 || !strings.Contains(m.HeaderValues("Received")[0], "with HTTP id "+sum.ID) {
		s.Errorf("Received %q", m.HeaderValues("Received"))
	}
}
