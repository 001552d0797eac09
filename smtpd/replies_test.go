package smtpd

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
)

// writeLog is a listener whose connections note every Write they are given.
type writeLog struct {
	net.Listener
	mu     sync.Mutex
	writes [][]byte
}

func (l *writeLog) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &loggedConn{Conn: c, log: l}, nil
}

func (l *writeLog) all() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.writes...)
}

type loggedConn struct {
	net.Conn
	log *writeLog
}

func (c *loggedConn) Write(p []byte) (int, error) {
	c.log.mu.Lock()
	c.log.writes = append(c.log.writes, bytes.Clone(p))
	c.log.mu.Unlock()
	return c.Conn.Write(p)
}

// TestMultiLineReplyIsOneWrite: EHLO's reply, ten lines that go-smtp flushes one by one, reaches
// the socket in one write (one packet), and the conversation goes on as before.
func TestMultiLineReplyIsOneWrite(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &writeLog{Listener: tcp}
	ts := startOn(t, openStore(t), Options{}, l)

	c := dial(t, ts.addr)
	caps := c.cmd(250, "EHLO client.test")
	if !strings.Contains(caps, "STARTTLS") || !strings.Contains(caps, "PIPELINING") {
		t.Fatalf("EHLO reply lacks capabilities: %q", caps)
	}
	c.send("a@example.com", []string{"b@example.com"}, message("after one-write EHLO", "x"))

	var ehlo [][]byte
	for _, w := range l.all() {
		if bytes.Contains(w, []byte("-Hello client.test")) || bytes.Contains(w, []byte("-PIPELINING")) {
			ehlo = append(ehlo, w)
		}
	}
	if len(ehlo) != 1 {
		t.Fatalf("EHLO reply in %d writes, want 1: %q", len(ehlo), ehlo)
	}
	lines := strings.Split(strings.TrimSuffix(string(ehlo[0]), "\r\n"), "\r\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[len(lines)-1], "250 ") {
		t.Fatalf("EHLO write is not the whole reply: %q", ehlo[0])
	}
	for _, line := range lines[:len(lines)-1] {
		if !strings.HasPrefix(line, "250-") {
			t.Errorf("line %q of the reply is not a continuation", line)
		}
	}
}
