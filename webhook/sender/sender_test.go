package sender_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/webhook"
	"github.com/letterbox-mail/letterbox/webhook/sender"
)

// hit is one request a test receiver got.
type hit struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP server that records every request and answers with reply(n), n
// counting from 1.
func receiver(t *testing.T, reply func(n int, w http.ResponseWriter)) (string, <-chan hit) {
	t.Helper()
	hits := make(chan hit, 100)
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		hits <- hit{r.Header.Clone(), body}
		reply(i, w)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook", hits
}

func ok(int, http.ResponseWriter) {}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "w.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func start(t *testing.T, st *store.Store, opts sender.Options) *sender.Sender {
	t.Helper()
	if opts.Backoff == 0 {
		opts.Backoff = 10 * time.Millisecond
	}
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := sender.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Close() })
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func addMessage(t *testing.T, st *store.Store, subject string) store.Summary {
	t.Helper()
	raw := "From: Shop <shop@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: " + subject + "\r\n\r\nYour code is 123456.\r\n"
	sum, err := st.Add(context.Background(), store.Envelope{MailFrom: "shop@example.com", Recipients: []string{"bob@example.org"}}, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func next(t *testing.T, hits <-chan hit) hit {
	t.Helper()
	select {
	case h := <-hits:
		return h
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook request within 10s")
		return hit{}
	}
}

// waitStats polls the counters until cond holds (the outcome is counted after the answer).
func waitStats(t *testing.T, s *sender.Sender, cond func(sender.Stats) bool) sender.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Total()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters never reached the expected state: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliversSignedSummary(t *testing.T) {
	st := openStore(t)
	url, hits := receiver(t, ok)
	const secret = "whsec-test-0123"
	s := start(t, st, sender.Options{URLs: []string{url}, Secret: secret, Version: "1.2.3"})
	sum := addMessage(t, st, "Your order")
	h := next(t, hits)

	var body map[string]any
	if err := json.Unmarshal(h.body, &body); err != nil {
		t.Fatalf("body %s: %v", h.body, err)
	}
	// Mailpit's webhook body: the message summary, field names and all.
	for _, k := range []string{"ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo", "Subject", "Created", "Username", "Tags", "Size", "Attachments", "Snippet"} {
		if _, present := body[k]; !present {
			t.Errorf("body lacks %s: %s", k, h.body)
		}
	}
	if body["ID"] != sum.ID || body["Subject"] != "Your order" || body["To"].([]any)[0].(map[string]any)["Address"] != "bob@example.org" {
		t.Errorf("body: %s", h.body)
	}
	if got := h.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	if h.header.Get("User-Agent") != "letterbox/1.2.3" || h.header.Get(webhook.HeaderEvent) != "new" ||
		h.header.Get(webhook.HeaderAttempt) != "1" || len(h.header.Get(webhook.HeaderDelivery)) != 24 {
		t.Errorf("headers: %v", h.header)
	}

	// The signature, checked the way the README tells receivers to.
	ts := h.header.Get(webhook.HeaderTimestamp)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(h.body)))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); h.header.Get(webhook.HeaderSignature) != want {
		t.Errorf("signature %q, want %q", h.header.Get(webhook.HeaderSignature), want)
	}
	unix, _ := strconv.ParseInt(ts, 10, 64)
	if d := time.Since(time.Unix(unix, 0)); d < -time.Second || d > time.Minute {
		t.Errorf("timestamp %s is %s off", ts, d)
	}
	if err := webhook.Verify(secret, h.header, h.body, 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := webhook.Verify("other", h.header, h.body, 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("Verify with another secret: %v", err)
	}
	tampered := append([]byte{}, h.body...)
	tampered[len(tampered)-2] ^= 1
	if err := webhook.Verify(secret, h.header, tampered, 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("Verify of a changed body: %v", err)
	}
	// A replay: a correct signature over an old timestamp.
	old := time.Now().Add(-time.Hour).Unix()
	replay := http.Header{}
	replay.Set(webhook.HeaderTimestamp, strconv.FormatInt(old, 10))
	replay.Set(webhook.HeaderSignature, webhook.Sign(secret, old, h.body))
	if err := webhook.Verify(secret, replay, h.body, 5*time.Minute); !errors.Is(err, webhook.ErrStale) {
		t.Errorf("Verify of a replay: %v", err)
	}
	if err := webhook.Verify(secret, http.Header{}, h.body, 0); !errors.Is(err, webhook.ErrNoSignature) {
		t.Errorf("Verify unsigned: %v", err)
	}
	got := waitStats(t, s, func(s sender.Stats) bool { return s.Delivered == 1 })
	if got.Queued != 1 || got.Failed != 0 || got.Retries != 0 {
		t.Errorf("stats %+v", got)
	}
}

func TestUnsignedWithoutSecret(t *testing.T) {
	st := openStore(t)
	url, hits := receiver(t, ok)
	start(t, st, sender.Options{URLs: []string{url}})
	addMessage(t, st, "plain")
	h := next(t, hits)
	if h.header.Get(webhook.HeaderSignature) != "" || h.header.Get(webhook.HeaderTimestamp) != "" {
		t.Errorf("signed without a secret: %v", h.header)
	}
}

func TestRetriesAfterServerErrors(t *testing.T) {
	st := openStore(t)
	url, hits := receiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	})
	s := start(t, st, sender.Options{URLs: []string{url}, Secret: "k"})
	addMessage(t, st, "retry me")
	var ids []string
	for want := 1; want <= 3; want++ {
		h := next(t, hits)
		if got := h.header.Get(webhook.HeaderAttempt); got != strconv.Itoa(want) {
			t.Errorf("attempt header %q, want %d", got, want)
		}
		if err := webhook.Verify("k", h.header, h.body, 0); err != nil {
			t.Errorf("attempt %d: %v", want, err)
		}
		ids = append(ids, h.header.Get(webhook.HeaderDelivery))
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("delivery IDs change between attempts: %v", ids)
	}
	got := waitStats(t, s, func(s sender.Stats) bool { return s.Delivered == 1 })
	if got.Retries != 2 || got.Failed != 0 {
		t.Errorf("stats %+v", got)
	}
}

func TestGivesUp(t *testing.T) {
	st := openStore(t)
	always500, hits500 := receiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(503) })
	bad, hits400 := receiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(400) })
	s := start(t, st, sender.Options{URLs: []string{always500, bad}, MaxAttempts: 3})
	addMessage(t, st, "doomed")
	got := waitStats(t, s, func(s sender.Stats) bool { return s.Failed == 2 })
	if got.Delivered != 0 || got.Retries != 2 {
		t.Errorf("stats %+v", got)
	}
	if len(hits500) != 3 || len(hits400) != 1 {
		t.Errorf("503 endpoint got %d attempts (want 3), 400 endpoint %d (want 1)", len(hits500), len(hits400))
	}
	per := s.Stats()
	if per[0].Failed != 1 || per[0].Retries != 2 || per[1].Failed != 1 || per[1].Retries != 0 || !strings.HasSuffix(per[1].URL, "/hook") {
		t.Errorf("per URL: %+v", per)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	st := openStore(t)
	url, hits := receiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	start(t, st, sender.Options{URLs: []string{url}})
	addMessage(t, st, "later")
	next(t, hits)
	t0 := time.Now()
	next(t, hits)
	if d := time.Since(t0); d < 900*time.Millisecond {
		t.Errorf("retried after %s despite Retry-After: 1", d)
	}
}

// A dead endpoint (it never answers) holds up neither the SMTP replies nor another URL.
func TestDeadEndpointNeverSlowsIngest(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer dead.Close()
	defer close(release)
	live, hits := receiver(t, ok)
	s := start(t, st, sender.Options{URLs: []string{dead.URL, live}, QueueSize: 2, Workers: 1, Timeout: time.Minute})

	srv, err := smtpd.New(st, smtpd.Options{Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	const n = 20
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "mx.test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		// Every message gets its 250 while the dead endpoint still holds its first request (a
		// reply held up by it would miss the deadline, which is far longer than any ingest), and
		// reaches the live endpoint (one at a time, so that its own queue never fills).
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if err := sendOne(c, fmt.Sprintf("message %d", i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		next(t, hits)
	}
	per := s.Stats()
	if per[1].Queued != n || per[0].Queued+per[0].Dropped != n || per[0].Dropped < n-3 || per[0].Delivered != 0 {
		t.Errorf("dead endpoint %+v, live endpoint %+v", per[0], per[1])
	}
}

func sendOne(c *smtp.Client, subject string) error {
	if err := c.Mail("app@example.com"); err != nil {
		return err
	}
	if err := c.Rcpt("bob@example.org"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "Subject: "+subject+"\r\n\r\nhello\r\n"); err != nil {
		return err
	}
	return w.Close()
}

// The operator named 127.0.0.1; a redirect to a name that resolves to a private address
// (localhost) is refused, and not retried.
func TestRedirectToAnUnnamedPrivateHostIsRefused(t *testing.T) {
	st := openStore(t)
	target, targetHits := receiver(t, ok)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(target, "/hook"), "http://"))
	redirect, _ := receiver(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Location", "http://localhost:"+port+"/hook")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	s := start(t, st, sender.Options{URLs: []string{redirect}})
	addMessage(t, st, "redirected")
	got := waitStats(t, s, func(s sender.Stats) bool { return s.Failed == 1 })
	if got.Retries != 0 || len(targetHits) != 0 {
		t.Errorf("stats %+v, the redirect's target got %d requests", got, len(targetHits))
	}
}

func TestShutdown(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hung.Close()
	defer close(release)
	s, err := sender.New(st, sender.Options{URLs: []string{hung.URL}, Workers: 1, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	for i := range 3 {
		addMessage(t, st, fmt.Sprint("m", i))
	}
	waitStats(t, s, func(s sender.Stats) bool { return s.Queued == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a hung endpoint: %v", err)
	}
	if got := s.Total(); got.Dropped != 3 || got.Delivered != 0 {
		t.Errorf("after Shutdown: %+v", got)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	addMessage(t, st, "after")
	if got := s.Total(); got.Queued != 3 {
		t.Errorf("queued after Shutdown: %+v", got)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	st := openStore(t)
	if _, err := sender.New(st, sender.Options{}); err == nil {
		t.Error("no URL accepted")
	}
	for _, u := range []string{"ftp://x/", "http://", "not a url", "//host/path"} {
		if _, err := sender.New(st, sender.Options{URLs: []string{u}}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	s, err := sender.New(st, sender.Options{URLs: []string{"https://user:pw@hooks.example/x?token=secret#f"}})
	if err != nil {
		t.Fatal(err)
	}
	if u := s.Stats()[0].URL; u != "https://hooks.example/x" {
		t.Errorf("URL shown as %q", u)
	}
	s.Close()
}

// syncBuffer collects log output written from the sender's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A failed delivery is logged with the URL as Stats show it: no user name, password or query
// (where webhook URLs often carry their token), not even inside the network error.
func TestFailureLogsNoCredentials(t *testing.T) {
	st := openStore(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there: every attempt is refused
	var logs syncBuffer
	s, err := sender.New(st, sender.Options{
		URLs:        []string{"http://hookuser:hookpass@" + closed + "/in?token=SECRET123"},
		MaxAttempts: 2, Backoff: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Close() })
	addMessage(t, st, "refused")
	waitStats(t, s, func(s sender.Stats) bool { return s.Failed == 1 })
	out := logs.String()
	if !strings.Contains(out, "webhook failed") || !strings.Contains(out, "connection refused") || !strings.Contains(out, "http://"+closed+"/in") {
		t.Fatalf("the failure is not logged as expected:\n%s", out)
	}
	for _, secret := range []string{"SECRET123", "hookuser", "hookpass"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows %q:\n%s", secret, out)
		}
	}
}
