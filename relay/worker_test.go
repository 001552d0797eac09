package relay

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "lb.db"), RelayMatching: &store.Filter{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitJob waits for the message's relay history to satisfy ok, watching the store's events.
func waitJob(t *testing.T, s *store.Store, sub *store.Subscription, id string, ok func([]store.RelayJob) bool) []store.RelayJob {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		jobs, err := s.RelayJobs(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(jobs) {
			return jobs
		}
		select {
		case <-sub.Events():
		case <-deadline:
			t.Fatalf("relay jobs of %s never got there: %+v", id, jobs)
		}
	}
}

func startWorker(t *testing.T, s *store.Store, addr string) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	p, _ := strconv.Atoi(port)
	r, err := New(Config{Host: host, Port: p}, Options{ClientOptions: ClientOptions{Hostname: "relay.test", Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWorker(r, s, WorkerOptions{RetryDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond})
	w.Start()
	t.Cleanup(w.Stop)
}

func addMessage(t *testing.T, s *store.Store, to ...string) store.Summary {
	t.Helper()
	raw := "From: app@app.test\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: queued\r\n\r\nbody\r\n"
	sum, err := s.Add(context.Background(), store.Envelope{MailFrom: "app@app.test", Recipients: to}, bytes.NewReader([]byte(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestWorkerRetriesUntilTheRelayIsUpThenSendsOnce(t *testing.T) {
	s := openStore(t)
	sub := s.Subscribe(0)
	defer sub.Close()
	addr := freeAddr(t)
	startWorker(t, s, addr)
	m := addMessage(t, s, "bob@example.com")

	// Down: the job is retried, with the reason recorded.
	jobs := waitJob(t, s, sub, m.ID, func(j []store.RelayJob) bool {
		return len(j) == 1 && j[0].State == store.RelayQueued && j[0].Attempts >= 2
	})
	if !strings.Contains(jobs[0].Reply, "connect") {
		t.Errorf("reply while down: %q", jobs[0].Reply)
	}
	// Up: it arrives, once.
	ts := startServerOn(t, addr, false)
	got := ts.wait(0)
	if !slices.Equal(got.To, []string{"bob@example.com"}) || !strings.Contains(got.Data, "Subject: queued") {
		t.Errorf("arrived %+v", got)
	}
	jobs = waitJob(t, s, sub, m.ID, func(j []store.RelayJob) bool { return len(j) == 1 && j[0].State == store.RelaySent })
	if !strings.HasPrefix(jobs[0].Reply, "250 ") {
		t.Errorf("reply %q", jobs[0].Reply)
	}
	if _, due, _ := s.NextRelayDue(context.Background()); due {
		t.Error("something is still queued")
	}
	if n := ts.count(); n != 1 {
		t.Errorf("%d copies arrived", n)
	}
}

func TestWorkerRefusalsAndDeferrals(t *testing.T) {
	s := openStore(t)
	sub := s.Subscribe(0)
	defer sub.Close()
	ts := startServer(t, false)
	startWorker(t, s, ts.addr)

	refused := addMessage(t, s, "refused@example.com")
	jobs := waitJob(t, s, sub, refused.ID, func(j []store.RelayJob) bool { return len(j) == 1 && j[0].State == store.RelayFailed })
	if jobs[0].Attempts != 1 || !strings.Contains(jobs[0].Reply, "550") || !strings.Contains(jobs[0].Reply, "user unknown") {
		t.Errorf("refused: %+v", jobs[0])
	}

	mixed := addMessage(t, s, "bob@example.com", "later@example.com")
	jobs = waitJob(t, s, sub, mixed.ID, func(j []store.RelayJob) bool {
		return len(j) == 2 && j[0].State == store.RelaySent && j[1].Attempts >= 2
	})
	if !strings.Contains(jobs[0].Reply, "refused <later@example.com>: 451") {
		t.Errorf("first job reply %q", jobs[0].Reply)
	}
	if !slices.Equal(jobs[1].Recipients, []string{"later@example.com"}) || jobs[1].State == store.RelaySent {
		t.Errorf("deferred job %+v", jobs[1])
	}
	if got := ts.wait(0); !slices.Equal(got.To, []string{"bob@example.com"}) {
		t.Errorf("delivered to %q", got.To)
	}
}

func TestWorkerGivesUpAfterMaxAttempts(t *testing.T) {
	s := openStore(t)
	sub := s.Subscribe(0)
	defer sub.Close()
	addr := freeAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	p, _ := strconv.Atoi(port)
	r, _ := New(Config{Host: host, Port: p}, Options{})
	w := NewWorker(r, s, WorkerOptions{RetryDelay: time.Millisecond, MaxAttempts: 3})
	w.Start()
	defer w.Stop()
	m := addMessage(t, s, "bob@example.com")
	jobs := waitJob(t, s, sub, m.ID, func(j []store.RelayJob) bool { return len(j) == 1 && j[0].State == store.RelayFailed })
	if jobs[0].Attempts != 3 {
		t.Errorf("attempts %d", jobs[0].Attempts)
	}
}

func TestWorkerDelays(t *testing.T) {
	w := NewWorker(&Relay{client: NewClient(ClientOptions{})}, nil, WorkerOptions{RetryDelay: time.Second, MaxDelay: 5 * time.Second})
	var got []time.Duration
	for a := 1; a <= 5; a++ {
		got = append(got, w.delay(a))
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
}
