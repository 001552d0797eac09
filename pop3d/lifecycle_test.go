package pop3d_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/pop3d"
	"github.com/letterbox-mail/letterbox/store"
)

func TestLineTooLong(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	run(t, c, []step{
		{"USER " + strings.Repeat("a", 2000), "-ERR line too long"},
		{"USER " + strings.Repeat("a", 1000), "+OK"}, // 1,007 octets with CRLF: within the default 1,024
		{"PASS x", "+OK"},
		{"NOOP " + strings.Repeat("x", 100000), "-ERR line too long"},
		{"STAT", "+OK 3"},
	})
	// A line that never ends is not buffered without bound: the connection is closed.
	go c.conn.Write(bytes.Repeat([]byte("x"), 2<<20))
	for {
		if _, err := c.r.ReadByte(); err != nil {
			break
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{IdleTimeout: 100 * time.Millisecond})
	c := dial(t, srv.addr)
	c.login("all", "x")
	c.ok("DELE 1")
	if got := c.line(); got != "-ERR idle timeout, closing connection" {
		t.Errorf("after the idle timeout: %q", got)
	}
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("connection still open after the idle timeout")
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	rawOf(t, f.st, f.a1.ID) // no UPDATE state
}

func TestPipelining(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	c.send("USER all\r\nPASS x\r\nSTAT\r\nRETR 2\r\nUIDL 3\r\nNOOP\r\nQUIT")
	for _, want := range []string{"+OK", "+OK all has 3", "+OK 3 ", "+OK"} {
		if got := c.line(); !strings.HasPrefix(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if _, content := c.body(); !bytes.Equal(content, rawOf(t, f.st, f.b1.ID)) {
		t.Error("pipelined RETR 2 differs")
	}
	for _, want := range []string{"+OK 3 ", "+OK", "+OK letterbox POP3 server signing off"} {
		if got := c.line(); !strings.HasPrefix(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestMaxConnections(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{MaxConnections: 1})
	c := dial(t, srv.addr)
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c2 := &client{t: t, conn: conn, r: newReader(conn)}
	if got := c2.line(); got != "-ERR [SYS/TEMP] too many connections, try again later" {
		t.Errorf("second connection: %q", got)
	}
	c.ok("QUIT")
	// The slot is free once the first session has ended; a new connection then gets in.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c3, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := newReader(c3).ReadString('\n')
		c3.Close()
		if strings.HasPrefix(line, "+OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after QUIT: %q", line)
		}
	}
}

type panicStore struct{ *store.Store }

func TestPanicRecovered(t *testing.T) {
	f := newFixture(t)
	srv := start(t, panicStore{f.st}, pop3d.Options{})
	for range 2 {
		c := dial(t, srv.addr)
		c.ok("USER x")
		if got := c.cmd("PASS x"); got != "-ERR [SYS/TEMP] internal server error" {
			t.Errorf("after a panic: %q", got)
		}
		if _, err := c.r.ReadByte(); err == nil {
			t.Error("connection still open after a panic")
		}
	}
}

func TestShutdownAndClose(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	c.login("all", "x")
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.line(); got != "-ERR [SYS/TEMP] server shutting down" {
		t.Errorf("idle session at Shutdown: %q", got)
	}
	if err := <-srv.served; !errors.Is(err, pop3d.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	srv.served <- pop3d.ErrServerClosed // for the cleanup's check
	if err := srv.Close(); !errors.Is(err, pop3d.ErrServerClosed) {
		t.Errorf("Close after Shutdown: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); !errors.Is(err, pop3d.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Error("Serve after Shutdown left its listener open")
	}
}

func TestCloseCutsSessions(t *testing.T) {
	f := newFixture(t)
	var logged lockedBuffer
	srv := start(t, f.st, pop3d.Options{Logger: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := dial(t, srv.addr)
	c.login("all", "x")
	c.ok("DELE 1")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returns only once the session has ended: nothing the server does outlives it.
	if !strings.Contains(logged.String(), "connection closed") {
		t.Errorf("Close returned before the session ended; log so far:\n%s", logged.String())
	}
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("session open after Close")
	}
	rawOf(t, f.st, f.a1.ID)
}

type blockingStore struct {
	*store.Store
	entered chan struct{}
	ended   chan error
}

func (b blockingStore) Index(ctx context.Context, _ store.Filter) ([]store.Entry, error) {
	close(b.entered)
	<-ctx.Done()
	b.ended <- ctx.Err()
	return nil, ctx.Err()
}

func TestShutdownDeadline(t *testing.T) {
	f := newFixture(t)
	bs := blockingStore{f.st, make(chan struct{}), make(chan error, 1)}
	srv := start(t, bs, pop3d.Options{})
	c := dial(t, srv.addr)
	c.ok("USER x")
	c.send("PASS x")
	<-bs.entered // the session is busy in a command, not idle
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if err := <-bs.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("store call context: %v, want Canceled", err)
	}
	for {
		if _, err := c.r.ReadByte(); err != nil {
			break
		}
	}
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

type failStore struct {
	*store.Store
	fail map[string]bool
}

var errDisk = errors.New("disk on fire")

func (f failStore) Index(ctx context.Context, flt store.Filter) ([]store.Entry, error) {
	if f.fail["Index"] {
		return nil, errDisk
	}
	return f.Store.Index(ctx, flt)
}

func (f failStore) Raw(ctx context.Context, id string) ([]byte, error) {
	if f.fail["Raw"] {
		return nil, errDisk
	}
	return f.Store.Raw(ctx, id)
}

func (f failStore) Delete(ctx context.Context, ids []string) error {
	if f.fail["Delete"] {
		return errDisk
	}
	return f.Store.Delete(ctx, ids)
}

func TestStoreFailures(t *testing.T) {
	f := newFixture(t)
	fs := failStore{f.st, map[string]bool{"Index": true, "Raw": true, "Delete": true}}
	srv := start(t, fs, pop3d.Options{})
	c := dial(t, srv.addr)
	run(t, c, []step{
		{"USER all", "+OK"},
		{"PASS x", "-ERR [SYS/TEMP] cannot open the maildrop"},
		{"STAT", "-ERR log in first"}, // still in the AUTHORIZATION state
	})
	srv = start(t, failStore{f.st, map[string]bool{"Raw": true, "Delete": true}}, pop3d.Options{})
	c = dial(t, srv.addr)
	c.login("all", "x")
	run(t, c, []step{
		{"RETR 1", "-ERR [SYS/TEMP] cannot read the message"},
		{"TOP 1 0", "-ERR [SYS/TEMP] cannot read the message"},
		{"DELE 1", "+OK"},
		{"QUIT", "-ERR [SYS/TEMP] some deleted messages not removed"},
	})
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("connection still open after QUIT")
	}
	if sum, err := f.st.Summary(context.Background(), f.a1.ID); err != nil || sum.Read {
		t.Errorf("a RETR that failed marked the message read (%v)", err)
	}
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines to write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
