package smtpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// testLogger sends log records to t.Log until the test ends; server goroutines may outlive it.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Helper()
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// openStore opens a real store in a temporary directory.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{
		Path:     filepath.Join(t.TempDir(), "letterbox.db"),
		Hostname: "test.local",
		Logger:   testLogger(t),
	})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testServer is a Server listening on 127.0.0.1:0.
type testServer struct {
	*Server
	addr  string
	store *store.Store // nil when the test gave its own Deliverer
	done  chan error   // Serve's result
}

// startServer runs a Server over a fresh real store.
func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	st := openStore(t)
	ts := startWith(t, st, opts)
	ts.store = st
	return ts
}

// startWith runs a Server over d. The server is closed when the test ends and Serve must then
// have returned ErrServerClosed.
func startWith(t testing.TB, d Deliverer, opts Options) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startOn(t, d, opts, l)
}

// startOn runs a Server over d on l, as startWith does.
func startOn(t testing.TB, d Deliverer, opts Options, l net.Listener) *testServer {
	t.Helper()
	if opts.Hostname == "" {
		opts.Hostname = "mx.test"
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	srv, err := New(d, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := &testServer{Server: srv, addr: l.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-ts.done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return ts
}

// client is a raw SMTP client for dialogue tests.
type client struct {
	t    testing.TB
	conn net.Conn
	text *textproto.Conn
}

// dial connects and checks the greeting.
func dial(t testing.TB, addr string) *client {
	t.Helper()
	c := dialNoGreeting(t, addr)
	c.expect(220)
	return c
}

func dialNoGreeting(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return newClient(t, conn)
}

func newClient(t testing.TB, conn net.Conn) *client {
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	return &client{t: t, conn: conn, text: textproto.NewConn(conn)}
}

// expect reads one (possibly multi-line) reply, fails unless its code is code, and returns its text.
func (c *client) expect(code int) string {
	c.t.Helper()
	got, msg, err := c.text.ReadResponse(0)
	if err != nil {
		c.t.Fatalf("reading reply (want %d): %v", code, err)
	}
	if got != code {
		c.t.Fatalf("got reply %d %q, want %d", got, msg, code)
	}
	return msg
}

// cmd sends a command line and expects a reply with code.
func (c *client) cmd(code int, format string, args ...any) string {
	c.t.Helper()
	if err := c.text.PrintfLine(format, args...); err != nil {
		c.t.Fatalf("sending %q: %v", fmt.Sprintf(format, args...), err)
	}
	return c.expect(code)
}

// write sends raw bytes.
func (c *client) write(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// data sends DATA, the dot-stuffed message and the terminating dot, and returns the final reply.
func (c *client) data(msg string) (int, string) {
	c.t.Helper()
	c.cmd(354, "DATA")
	w := c.text.DotWriter()
	if _, err := w.Write([]byte(msg)); err != nil {
		c.t.Fatalf("writing data: %v", err)
	}
	if err := w.Close(); err != nil {
		c.t.Fatalf("closing data: %v", err)
	}
	code, text, err := c.text.ReadResponse(0)
	if err != nil {
		c.t.Fatalf("reading DATA reply: %v", err)
	}
	return code, text
}

// send runs a whole transaction and returns the stored message's ID.
func (c *client) send(from string, to []string, msg string) string {
	c.t.Helper()
	c.cmd(250, "MAIL FROM:<%s>", from)
	for _, r := range to {
		c.cmd(250, "RCPT TO:<%s>", r)
	}
	code, text := c.data(msg)
	if code != 250 {
		c.t.Fatalf("DATA: %d %s", code, text)
	}
	return queuedID(c.t, text)
}

// queuedID extracts the ID from "2.0.0 Ok: queued as ID".
func queuedID(t testing.TB, text string) string {
	t.Helper()
	id, ok := strings.CutPrefix(text, "2.0.0 Ok: queued as ")
	if !ok || id == "" || strings.ContainsAny(id, " \r\n") {
		t.Fatalf("reply %q is not \"2.0.0 Ok: queued as <ID>\"", text)
	}
	return id
}

// message builds a small RFC 5322 message with CRLF line ends.
func message(subject, body string, headers ...string) string {
	var b strings.Builder
	b.WriteString("From: Sender <sender@example.com>\r\nTo: Rcpt <rcpt@example.com>\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Subject: %s\r\nMessage-ID: <%s@example.com>\r\nDate: Sun, 22 Nov 2026 08:00:00 +0000\r\n\r\n%s\r\n",
		subject, strings.ReplaceAll(subject, " ", "."), body)
	return b.String()
}

// storedMessage reads a message back from the store.
func (ts *testServer) storedMessage(t testing.TB, id string) *store.Message {
	t.Helper()
	m, err := ts.store.Message(context.Background(), id)
	if err != nil {
		t.Fatalf("store.Message(%s): %v", id, err)
	}
	return m
}

// storedRaw reads a message's raw bytes back: the trace headers the store prepends, then exactly
// the bytes the client sent.
func (ts *testServer) storedRaw(t testing.TB, id string) []byte {
	t.Helper()
	raw, err := ts.store.Raw(context.Background(), id)
	if err != nil {
		t.Fatalf("store.Raw(%s): %v", id, err)
	}
	return raw
}
