package pop3d_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/pop3d"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
)

// testLogger sends log records to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// newStore opens a store on a fresh file in t.TempDir().
func newStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{
		Path:     filepath.Join(t.TempDir(), "letterbox.db"),
		Hostname: "catcher.test",
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// add stores raw as delivered to rcpts.
func add(t testing.TB, st *store.Store, raw string, rcpts ...string) store.Summary {
	t.Helper()
	sum, err := st.Add(context.Background(), store.Envelope{MailFrom: "sender@example.net", Recipients: rcpts,
		Helo: "client.test", RemoteAddr: "127.0.0.1:5555"}, strings.NewReader(raw))
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	return sum
}

// rawOf returns the stored bytes of a message.
func rawOf(t testing.TB, st *store.Store, id string) []byte {
	t.Helper()
	raw, err := st.Raw(context.Background(), id)
	if err != nil {
		t.Fatalf("raw %s: %v", id, err)
	}
	return raw
}

// msg builds a small CRLF message.
func msg(to, subject, body string) string {
	return fmt.Sprintf("From: Sender <sender@example.net>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n%s",
		to, subject, strings.ReplaceAll(subject, " ", "-"), body)
}

// server is a running pop3d.Server on a loopback port.
type server struct {
	*pop3d.Server
	addr   string
	served chan error // what Serve returned
}

// start serves st on 127.0.0.1:0 (through wrap, when given, e.g. tls.NewListener) until the
// test ends, and checks that Serve then returns ErrServerClosed.
func start(t testing.TB, st pop3d.Store, opts pop3d.Options, wrap ...func(net.Listener) net.Listener) *server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.Hostname == "" {
		opts.Hostname = "pop.test"
	}
	srv, err := pop3d.New(st, opts)
	if err != nil {
		t.Fatalf("pop3d.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: srv, addr: l.Addr().String(), served: make(chan error, 1)}
	var ln net.Listener = l
	for _, w := range wrap {
		ln = w(ln)
	}
	go func() { s.served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-s.served; !errors.Is(err, pop3d.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s
}

// tlsConfigs returns a server configuration with a fresh self-signed certificate for 127.0.0.1
// and a client configuration that trusts it, and the certificate as PEM.
func tlsConfigs(t testing.TB) (srv, cli *tls.Config) {
	t.Helper()
	cert, err := smtpd.GenerateCertificate("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// client is a minimal POP3 client for dialogue tests.
type client struct {
	t        testing.TB
	conn     net.Conn
	r        *bufio.Reader
	greeting string
}

// dial connects and reads the greeting.
func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, conn)
}

func newClient(t testing.TB, conn net.Conn) *client {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.greeting = c.line()
	if !strings.HasPrefix(c.greeting, "+OK ") {
		t.Fatalf("greeting %q", c.greeting)
	}
	return c
}

// line reads one response line without its CRLF, failing the test on a bare LF.
func (c *client) line() string {
	c.t.Helper()
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, s)
	}
	if !strings.HasSuffix(s, "\r\n") {
		c.t.Fatalf("response line %q does not end in CRLF", s)
	}
	return strings.TrimSuffix(s, "\r\n")
}

// send writes one command line.
func (c *client) send(cmd string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(cmd + "\r\n")); err != nil {
		c.t.Fatalf("write %q: %v", cmd, err)
	}
}

// cmd sends a command and returns the first response line.
func (c *client) cmd(cmd string) string {
	c.t.Helper()
	c.send(cmd)
	return c.line()
}

// ok sends a command and fails unless the answer is +OK.
func (c *client) ok(cmd string) string {
	c.t.Helper()
	resp := c.cmd(cmd)
	if !strings.HasPrefix(resp, "+OK") {
		c.t.Fatalf("%s: got %q, want +OK", cmd, resp)
	}
	return resp
}

// body reads a multi-line body up to the terminating line: the exact wire bytes (still
// dot-stuffed, without the terminator) and the un-stuffed content.
func (c *client) body() (wire, content []byte) {
	c.t.Helper()
	for {
		s, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read body: %v", err)
		}
		if !strings.HasSuffix(s, "\r\n") {
			c.t.Fatalf("body line %q does not end in CRLF", s)
		}
		if s == ".\r\n" {
			return wire, content
		}
		wire = append(wire, s...)
		content = append(content, strings.TrimPrefix(s, ".")...)
	}
}

// lines reads a multi-line response's lines.
func (c *client) lines() []string {
	c.t.Helper()
	_, content := c.body()
	if len(content) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(content), "\r\n"), "\r\n")
}

// login authenticates with USER/PASS.
func (c *client) login(user, pass string) string {
	c.t.Helper()
	c.ok("USER " + user)
	return c.ok("PASS " + pass)
}

// tool returns the path of an external program, skipping the test when it is missing (failing
// under CI=true).
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required under CI=true)", name)
		}
		t.Skipf("%s not installed: skipping", name)
	}
	return p
}

// tlsConfigPair is a server TLS configuration and a client one that trusts it.
type tlsConfigPair struct{ srv, cli *tls.Config }

func newTLSPair(t testing.TB) *tlsConfigPair {
	srv, cli := tlsConfigs(t)
	return &tlsConfigPair{srv, cli}
}
