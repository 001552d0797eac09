package smtpd

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// conn is what go-smtp sees of every accepted connection. It gives the connection slot back when
// closed, remembers implicit TLS (go-smtp only recognises a bare *tls.Conn, which this is not),
// and replaces go-smtp's fixed greeting ("220 <domain> ESMTP Service Ready") with ours
// ("220 <hostname> ESMTP letterbox").
type conn struct {
	net.Conn
	tls bool
	// inBandTLS is set once go-smtp writes something that is not an SMTP reply: after STARTTLS
	// it writes TLS records through this conn, and a plain-text reply must not be mixed in.
	inBandTLS atomic.Bool

	greeting []byte // go-smtp's greeting, to be replaced in the first Write; nil after it
	banner   []byte
	srv      *Server
	once     sync.Once
}

func (s *Server) wrap(nc net.Conn) *conn {
	c := &conn{
		Conn:     nc,
		srv:      s,
		greeting: []byte("220 " + s.hostname + " ESMTP Service Ready\r\n"),
		banner:   []byte("220 " + s.hostname + " ESMTP letterbox\r\n"),
	}
	if _, ok := nc.(*tls.Conn); ok {
		c.tls = true
		// The handshake runs inside the greeting's Write; bound the reads it waits for.
		// go-smtp sets a fresh read deadline before every command.
		if d := s.plain.ReadTimeout; d > 0 {
			nc.SetReadDeadline(time.Now().Add(d))
		}
	}
	return c
}

// Write sends p, except that go-smtp's greeting (always its first write) is replaced by ours.
// Only the connection's goroutine writes, so greeting needs no lock.
func (c *conn) Write(p []byte) (int, error) {
	if g := c.greeting; g != nil {
		c.greeting = nil
		if bytes.Equal(p, g) {
			if _, err := c.Conn.Write(c.banner); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	if len(p) > 0 && (p[0] < '0' || p[0] > '9') {
		c.inBandTLS.Store(true)
	}
	return c.Conn.Write(p)
}

// goodbyeTimeout bounds how long Close waits to tell clients the server is going away.
const goodbyeTimeout = 250 * time.Millisecond

// sayGoodbye writes a 421 reply (RFC 5321 section 3.8: the server is shutting down) unless
// the session is encrypted in band, where only go-smtp's TLS layer may write. Replies are
// written whole (net.Conn serialises writes), so it cannot split one of go-smtp's.
func (c *conn) sayGoodbye() {
	if c.inBandTLS.Load() {
		return
	}
	c.Conn.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
	c.Conn.Write([]byte("421 4.3.2 " + c.srv.hostname + " Service shutting down\r\n"))
}

// Close closes the connection and frees its slot; it may be called more than once.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.srv.mu.Lock()
		delete(c.srv.open, c)
		c.srv.mu.Unlock()
		if c.srv.slots != nil {
			<-c.srv.slots
		}
	})
	return err
}

// chanListener is the net.Listener a go-smtp server serves: Server.Serve hands it connections.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return chanAddr{} }

type chanAddr struct{}

func (chanAddr) Network() string { return "smtpd" }
func (chanAddr) String() string  { return "smtpd" }
