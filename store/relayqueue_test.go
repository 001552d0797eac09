package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

func mustFilter(t *testing.T, q string) *store.Filter {
	t.Helper()
	query, err := store.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return &store.Filter{Query: query}
}

func TestAutoRelayQueuesMatchesInTheSameCommit(t *testing.T) {
	s := openStore(t, store.Options{RelayMatching: mustFilter(t, "subject:invoice")})
	ctx := context.Background()
	sub := s.Subscribe(0)
	defer sub.Close()
	hit := add(t, s, store.Envelope{MailFrom: "app@example.com", Recipients: []string{"a@example.com", "b@example.com"}},
		simpleMessage("app@example.com", "a@example.com", "Your invoice 42", "x"))
	miss := add(t, s, store.Envelope{MailFrom: "app@example.com", Recipients: []string{"a@example.com"}},
		simpleMessage("app@example.com", "a@example.com", "Password reset", "x"))
	// Imported without an envelope: the header addresses.
	noEnv := add(t, s, store.Envelope{NoTrace: true},
		[]byte("From: x@example.com\r\nTo: To One <to@example.com>\r\nCc: cc@example.com, TO@example.com\r\nSubject: invoice again\r\n\r\nbody\r\n"))

	// The commit that announced the message also announced its job.
	var relayEvents []store.Event
	for len(relayEvents) < 2 {
		select {
		case evs := <-sub.Events():
			for i, ev := range evs {
				if ev.Type == store.EventRelay {
					if i == 0 || evs[i-1].Type != store.EventNew || evs[i-1].ID != ev.ID {
						t.Errorf("relay event not right after its message's new event: %+v", evs)
					}
					relayEvents = append(relayEvents, ev)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no relay events")
		}
	}
	if relayEvents[0].ID != hit.ID || relayEvents[0].Relay.State != store.RelayQueued || relayEvents[1].ID != noEnv.ID {
		t.Errorf("relay events %+v %+v", relayEvents[0].Relay, relayEvents[1].Relay)
	}

	jobs, err := s.RelayJobs(ctx, hit.ID)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("RelayJobs = %+v, %v", jobs, err)
	}
	j := jobs[0]
	if j.Kind != store.RelayAuto || j.State != store.RelayQueued || !slices.Equal(j.Recipients, []string{"a@example.com", "b@example.com"}) || j.UID != hit.UID {
		t.Errorf("job %+v", j)
	}
	if jobs, _ := s.RelayJobs(ctx, miss.ID); len(jobs) != 0 {
		t.Errorf("non-matching message queued: %+v", jobs)
	}
	if jobs, _ := s.RelayJobs(ctx, noEnv.ID); len(jobs) != 1 || !slices.Equal(jobs[0].Recipients, []string{"to@example.com", "cc@example.com"}) {
		t.Errorf("header recipients: %+v", jobs)
	}
	if _, err := s.RelayJobs(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RelayJobs of a missing message: %v", err)
	}
}

func TestRelayQueueClaimFinishRetryAndLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := openStore(t, store.Options{Path: path, RelayMatching: &store.Filter{}})
	ctx := context.Background()
	m := add(t, s, store.Envelope{Recipients: []string{"a@example.com"}}, simpleMessage("f@example.com", "a@example.com", "one", "x"))
	now := time.Now()
	if due, ok, err := s.NextRelayDue(ctx); err != nil || !ok || due.After(now) {
		t.Fatalf("NextRelayDue = %v %v %v", due, ok, err)
	}
	j, err := s.ClaimRelay(ctx, now, time.Minute)
	if err != nil || j == nil || j.ID != m.ID || j.State != store.RelaySending || j.Attempts != 1 {
		t.Fatalf("claim = %+v, %v", j, err)
	}
	// Claimed: nobody else gets it until the lease lapses.
	if again, err := s.ClaimRelay(ctx, now.Add(30*time.Second), time.Minute); err != nil || again != nil {
		t.Fatalf("claimed twice: %+v, %v", again, err)
	}
	// A worker that died: the lease lapses and the job is claimed again.
	again, err := s.ClaimRelay(ctx, now.Add(61*time.Second), time.Minute)
	if err != nil || again == nil || again.Job != j.Job || again.Attempts != 2 {
		t.Fatalf("lapsed lease not reclaimed: %+v, %v", again, err)
	}
	retry := time.Now().Add(time.Hour)
	if err := s.FinishRelay(ctx, j.Job, store.RelayOutcome{State: store.RelayQueued, Retry: retry, Reply: "421 try later"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimRelay(ctx, time.Now(), time.Minute); got != nil {
		t.Fatalf("claimed before its retry time: %+v", got)
	}
	if due, ok, _ := s.NextRelayDue(ctx); !ok || !due.Equal(retry.UTC().Truncate(time.Microsecond)) {
		t.Errorf("NextRelayDue = %v, want %v", due, retry)
	}

	// The queue survives a restart.
	s.Close()
	s = openStore(t, store.Options{Path: path})
	got, err := s.ClaimRelay(ctx, retry, time.Minute)
	if err != nil || got == nil || got.Job != j.Job || got.Attempts != 3 || got.Reply != "421 try later" {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	if err := s.FinishRelay(ctx, got.Job, store.RelayOutcome{State: store.RelaySent, Reply: "250 ok"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.NextRelayDue(ctx); ok {
		t.Error("a sent job is still due")
	}
	jobs, _ := s.RelayJobs(ctx, m.ID)
	if len(jobs) != 1 || jobs[0].State != store.RelaySent || jobs[0].Reply != "250 ok" {
		t.Errorf("history %+v", jobs)
	}
	if err := s.FinishRelay(ctx, got.Job, store.RelayOutcome{State: store.RelaySending}); err == nil {
		t.Error("FinishRelay accepted a sending outcome")
	}
}

func TestAddRelayAndDeleteTakesJobs(t *testing.T) {
	s := openStore(t, store.Options{})
	ctx := context.Background()
	m := add(t, s, store.Envelope{}, simpleMessage("f@example.com", "a@example.com", "one", "x"))
	done, err := s.AddRelay(ctx, m.ID, store.RelayJob{Recipients: []string{"x@example.com"}, State: store.RelaySent, Reply: "250 queued", Attempts: 1})
	if err != nil || done.Kind != store.RelayRelease || done.UID != m.UID {
		t.Fatalf("AddRelay = %+v, %v", done, err)
	}
	if j, _ := s.ClaimRelay(ctx, time.Now().Add(time.Hour), time.Minute); j != nil {
		t.Errorf("a sent job was claimed: %+v", j)
	}
	if _, err := s.AddRelay(ctx, "nope", store.RelayJob{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddRelay to a missing message: %v", err)
	}
	q, _ := s.AddRelay(ctx, m.ID, store.RelayJob{Recipients: []string{"y@example.com"}})
	if err := s.Delete(ctx, []string{m.ID}); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.ClaimRelay(ctx, time.Now().Add(time.Hour), time.Minute); j != nil {
		t.Errorf("job of a deleted message claimed: %+v", j)
	}
	if err := s.FinishRelay(ctx, q.Job, store.RelayOutcome{State: store.RelaySent}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishRelay of a deleted message's job: %v", err)
	}
}

func TestNoTraceKeepsTheBytes(t *testing.T) {
	s := openStore(t, store.Options{})
	ctx := context.Background()
	raw := []byte("Return-Path: <bounce@example.com>\nReceived: from elsewhere\nFrom: a@example.com\nSubject: imported\n\nbody")
	sum := add(t, s, store.Envelope{NoTrace: true}, raw)
	got, err := s.Raw(ctx, sum.ID)
	if err != nil || string(got) != string(raw) {
		t.Fatalf("Raw = %q, %v", got, err)
	}
	m, _ := s.Message(ctx, sum.ID)
	if m.ReturnPath != "bounce@example.com" || m.Size != int64(len(raw)) {
		t.Errorf("ReturnPath %q, Size %d", m.ReturnPath, m.Size)
	}
}

func TestProtocolInReceived(t *testing.T) {
	s := openStore(t, store.Options{Hostname: "catcher.test"})
	sum := add(t, s, store.Envelope{Protocol: "HTTP", RemoteAddr: "127.0.0.1:5", Helo: "api"}, simpleMessage("f@example.com", "a@example.com", "api", "x"))
	m, _ := s.Message(context.Background(), sum.ID)
	if r := m.HeaderValues("Received"); len(r) != 1 || !strings.Contains(r[0], "with HTTP id "+sum.ID) {
		t.Errorf("Received %q", r)
	}
}

func TestRetryRelaysNow(t *testing.T) {
	s := openStore(t, store.Options{})
	ctx := context.Background()
	m := add(t, s, store.Envelope{}, simpleMessage("f@example.com", "a@example.com", "one", "x"))
	later, _ := s.AddRelay(ctx, m.ID, store.RelayJob{Recipients: []string{"x@example.com"}, Due: time.Now().Add(time.Hour)})
	sent, _ := s.AddRelay(ctx, m.ID, store.RelayJob{Recipients: []string{"y@example.com"}, State: store.RelaySent})
	if j, _ := s.ClaimRelay(ctx, time.Now(), time.Minute); j != nil {
		t.Fatalf("claimed before due: %+v", j)
	}
	if n, err := s.RetryRelaysNow(ctx); err != nil || n != 1 {
		t.Fatalf("RetryRelaysNow = %d, %v", n, err)
	}
	j, err := s.ClaimRelay(ctx, time.Now(), time.Minute)
	if err != nil || j == nil || j.Job != later.Job {
		t.Fatalf("claim after RetryRelaysNow: %+v, %v", j, err)
	}
	if jobs, _ := s.RelayJobs(ctx, m.ID); jobs[1].Job != sent.Job || jobs[1].State != store.RelaySent {
		t.Errorf("a sent job changed: %+v", jobs[1])
	}
}
