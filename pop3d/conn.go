package pop3d

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// state is a POP3 session state (RFC 1939 §3). UPDATE is not a state here: QUIT performs it
// and ends the session.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
)

var (
	errLineTooLong = errors.New("pop3d: line too long")
	errFlood       = errors.New("pop3d: line far too long")
)

// floodLimit is how many octets of an over-long line are skipped before the connection is closed.
const floodLimit = 1 << 20

// session is one client connection.
type session struct {
	srv   *Server
	raw   net.Conn // the accepted connection
	conn  net.Conn // raw, or the TLS connection over it
	r     *bufio.Reader
	w     *bufio.Writer
	log   *slog.Logger
	isTLS bool
	state state
	user  string // from USER, waiting for PASS
	stamp string // APOP timestamp in the greeting; "" when APOP is not offered
	login string // the authenticated username
	msgs  []message

	mu   sync.Mutex
	idle bool // waiting for a command
}

// message is one message of the maildrop snapshot.
type message struct {
	uid     int64
	id      string
	size    int64
	read    bool
	deleted bool
}

func (s *Server) newSession(nc net.Conn) *session {
	c := &session{srv: s, raw: nc, conn: nc, log: s.log.With("remote", nc.RemoteAddr().String())}
	_, c.isTLS = nc.(*tls.Conn)
	c.r = bufio.NewReaderSize(nc, 4096)
	c.w = bufio.NewWriterSize(deadlineWriter{c}, 16<<10)
	if s.passwords == nil {
		c.stamp = fmt.Sprintf("<%d.%d.%s@%s>", os.Getpid(), time.Now().UnixNano(), rand.Text()[:8], s.hostname)
	}
	return c
}

// deadlineWriter writes to the session's current connection, renewing the write deadline on
// each write so that a long RETR to a slow but live client is not cut off.
type deadlineWriter struct{ c *session }

func (d deadlineWriter) Write(p []byte) (int, error) {
	if t := d.c.srv.writeTimeout; t > 0 {
		d.c.conn.SetWriteDeadline(time.Now().Add(t))
	}
	return d.c.conn.Write(p)
}

// interruptIfIdle makes a session that waits for a command stop waiting. Called by Shutdown.
func (c *session) interruptIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle {
		c.raw.SetReadDeadline(time.Unix(1, 0))
	}
}

func (c *session) serve() {
	defer c.srv.untrack(c)
	defer c.raw.Close()
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic in POP3 session", "panic", v, "stack", string(debug.Stack()))
			c.reply("-ERR [SYS/TEMP] internal server error")
			c.w.Flush()
		}
	}()
	c.log.Debug("connection opened", "tls", c.isTLS)
	if tc, ok := c.raw.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(c.srv.ctx, c.handshakeTimeout())
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.log.Debug("TLS handshake failed", "err", err)
			return
		}
	}
	greeting := "+OK letterbox POP3 server ready"
	if c.stamp != "" {
		greeting += " " + c.stamp
	}
	c.reply(greeting)
	for {
		line, err := c.readCommand()
		switch {
		case errors.Is(err, errLineTooLong):
			c.reply("-ERR line too long")
			continue
		case err != nil:
			var ne net.Error
			switch {
			case c.srv.isDone():
				c.reply("-ERR [SYS/TEMP] server shutting down")
				c.w.Flush()
			case errors.As(err, &ne) && ne.Timeout():
				c.reply("-ERR idle timeout, closing connection")
				c.w.Flush()
			}
			c.log.Debug("connection closed", "err", err)
			return
		}
		if done := c.handle(line); done {
			c.w.Flush()
			c.log.Debug("session ended")
			return
		}
	}
}

func (c *session) handshakeTimeout() time.Duration {
	if t := c.srv.idleTimeout; t > 0 && t < time.Minute {
		return t
	}
	return time.Minute
}

// readCommand flushes pending replies unless more pipelined commands are already buffered, then
// reads one command line. It returns early when the server shuts down while it waits.
func (c *session) readCommand() (string, error) {
	if c.r.Buffered() == 0 {
		if err := c.w.Flush(); err != nil {
			return "", err
		}
	}
	c.setReadDeadline()
	// Shutdown sets its flag before it interrupts idle sessions: a session marked idle after
	// that sees the flag here, one marked before gets its read interrupted. (Lock order is
	// Server.mu then session.mu, so the flag is read outside session.mu.)
	c.mu.Lock()
	c.idle = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.idle = false
		c.mu.Unlock()
	}()
	if c.srv.isDone() {
		return "", ErrServerClosed
	}
	return c.readLine()
}

func (c *session) setReadDeadline() {
	if t := c.srv.idleTimeout; t > 0 {
		c.conn.SetReadDeadline(time.Now().Add(t))
	} else {
		c.conn.SetReadDeadline(time.Time{})
	}
}

// readLine reads a line of at most maxLine octets and returns it without its line ending. A
// longer line is skipped and errLineTooLong returned, unless it is absurdly long (errFlood).
func (c *session) readLine() (string, error) {
	var line []byte
	skipped := 0
	for {
		chunk, err := c.r.ReadSlice('\n')
		if skipped == 0 && len(line)+len(chunk) <= c.srv.maxLine {
			line = append(line, chunk...)
		} else {
			line = nil
			skipped += len(chunk)
			if skipped > floodLimit {
				return "", errFlood
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	if skipped > 0 {
		return "", errLineTooLong
	}
	s := string(line)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

// reply queues one response line; readCommand sends it.
func (c *session) reply(line string) {
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
}
