package smtpd

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// conn is what go-smtp sees of every accepted connection: the connection layer of the server.
// go-smtp reads commands through it one line per Read, and writes each reply line through it,
// so this layer sees the whole conversation in order and in plain text:
//
//   - it records the transcript (commands, replies, the size of each message; SASL responses
//     and AUTH arguments redacted);
//   - it answers what go-smtp v0.25.1 gives no hook for: VRFY (from the Policy), STARTTLS (done
//     here, so that the conversation after it is still seen in plain text), and the Policy's
//     answers at connect, HELO/EHLO and DATA before the message;
//   - it throttles, delays and drops the connection as the Policy says, also mid-message;
//   - it replaces go-smtp's greeting with ours, gives the connection slot back when closed.
//
// What go-smtp is reading is known from what it last wrote: after a 354 reply to DATA it reads
// the message (up to the end-of-data line, which this layer finds too, so that it hands go-smtp
// no byte past it), after a 334 a SASL response, after a well-formed BDAT command its chunk, and
// otherwise a command.
type conn struct {
	srv *Server
	raw net.Conn // the accepted socket

	// nc is what the layer reads and writes: raw, or the *tls.Conn over it. Only the
	// connection's goroutine replaces it (STARTTLS), under mu; other goroutines read it under mu.
	nc          net.Conn
	mu          sync.Mutex
	implicitTLS bool
	tls         bool // encrypted: implicit TLS (once the handshake succeeded) or after STARTTLS
	tlsState    tls.ConnectionState

	// Read side: used by go-smtp's connection goroutine only.
	buf          []byte // bytes read from the client and not yet handed to go-smtp: buf[r:w]
	r, w         int
	mode         readMode
	pass         int     // bytes of the current command line still to hand over
	chunk        int64   // modeChunk: bytes of the BDAT chunk still to hand over; modeDiscard: to drop
	tail         [4]byte // modeData: the last bytes handed over, to find an end-of-data line across reads
	dataSeen     int64   // modeData: bytes of the message handed over
	dropAt       int64   // modeData: drop the connection once this many bytes were handed over; -1 never
	inject       []byte  // a command handed to go-smtp before the client's next one (RSET after STARTTLS)
	dropBuffered bool    // forget what the client sent after the command just handled (STARTTLS)
	midLine      bool    // the line being handed over did not fit the buffer: its rest follows
	lastCmd      verb    // the last command handed to go-smtp
	helo         string  // the name of the last HELO/EHLO handed to go-smtp
	needHelo     bool    // after STARTTLS: the client must greet again before a transaction
	bdatOpen     bool    // a BDAT transfer has begun and not had its LAST chunk
	refused      bool    // the Policy refused the connection with a 5xx greeting: answer 503 until QUIT

	// Write side, under wmu: go-smtp's goroutine, and Close's goodbye.
	wmu        sync.Mutex
	greeting   []byte      // go-smtp's greeting, to be replaced in the first Write; nil after it
	wline      []byte      // a reply line go-smtp is writing in more than one Write
	wpend      []byte      // lines of a multi-line reply held for its last one (see hold)
	swallow    int         // replies to injected commands, not sent to the client
	closeAfter atomic.Bool // close once the reply being written is complete (the Policy's 421)

	readRate, writeRate rate // Policy throttling; zero: none

	rec recording // the transcript

	once sync.Once

	// Under mu: read by the goroutine that writes the session's record.
	sess    *session // the go-smtp session, once the client greeted
	quit    bool     // QUIT was handed to go-smtp
	readErr error    // the error that ended reading, if any
	outcome string   // why the session ended, when the layer knows better than the read error
	failure error    // what ended it, for store.OutcomeError
}

// session returns the go-smtp session, nil before the client greeted.
func (c *conn) session() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

func (c *conn) setSession(s *session) {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
}

func (c *conn) setQuit() {
	c.mu.Lock()
	c.quit = true
	c.mu.Unlock()
}

// readMode says what go-smtp is reading.
type readMode uint8

const (
	modeCommand readMode = iota // a command line
	modeSASL                    // a SASL response line (after 334)
	modeData                    // the message after DATA's 354, up to the end-of-data line
	modeChunk                   // a BDAT chunk: c.chunk bytes
	modeDiscard                 // a BDAT chunk this layer refused: c.chunk bytes dropped
)

// bufSize is the connection layer's read buffer; a command line longer than it is handed over
// in pieces (go-smtp enforces its own line limit).
const bufSize = 4096

func (s *Server) wrap(nc net.Conn) *conn {
	c := &conn{
		srv:      s,
		raw:      nc,
		nc:       nc,
		buf:      make([]byte, bufSize),
		dropAt:   -1,
		greeting: []byte("220 " + s.hostname + " ESMTP Service Ready\r\n"),
	}
	if tc, ok := nc.(*tls.Conn); ok {
		c.implicitTLS = true
		c.raw = tc.NetConn()
		// The handshake runs before the greeting; bound the reads it waits for. go-smtp sets a
		// fresh read deadline before every command.
		if d := s.smtp.ReadTimeout; d > 0 {
			nc.SetReadDeadline(time.Now().Add(d))
		}
	}
	c.rec.begin(s, c.raw.RemoteAddr().String())
	return c
}

// net.Conn methods go-smtp uses besides Read, Write and Close.

func (c *conn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *conn) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// Read hands go-smtp what it is reading: one command line at a time, or message bytes.
func (c *conn) Read(p []byte) (int, error) {
	for {
		switch {
		case len(c.inject) > 0:
			n := copy(p, c.inject)
			c.inject = c.inject[n:]
			return n, nil
		case c.pass > 0:
			return c.handOver(p, c.pass, func(n int) { c.pass -= n })
		}
		switch c.mode {
		case modeData:
			return c.readData(p)
		case modeChunk:
			limit := min(c.chunk, int64(len(c.buf)))
			if c.dropAt >= 0 {
				if c.dataSeen >= c.dropAt {
					c.drop("dropped mid-message by the policy")
					return 0, net.ErrClosed
				}
				limit = min(limit, c.dropAt-c.dataSeen)
			}
			return c.handOver(p, int(limit), func(n int) {
				c.dataSeen += int64(n)
				if c.chunk -= int64(n); c.chunk == 0 {
					c.mode = modeCommand
				}
			})
		case modeDiscard:
			if err := c.discardChunk(); err != nil {
				return 0, err
			}
			continue
		}
		line, complete, err := c.nextLine()
		if err != nil {
			return 0, err
		}
		if !complete || c.midLine {
			// A line longer than the buffer is handed over as it comes, unexamined to its end:
			// its rest must not be taken for a command (go-smtp sees one line).
			c.midLine = !complete
			c.rec.client(line, c.mode == modeSASL, true)
			c.pass = len(line)
			continue
		}
		if c.mode == modeSASL {
			c.rec.client(line, true, false)
			c.pass = len(line)
			continue
		}
		handled, err := c.command(line)
		if err != nil {
			return 0, err
		}
		if handled {
			c.r += len(line)
			if c.dropBuffered {
				c.r, c.w, c.dropBuffered = 0, 0, false
			}
			continue
		}
		c.pass = len(line)
	}
}

// handOver copies up to limit buffered bytes (reading more when none is buffered) into p.
func (c *conn) handOver(p []byte, limit int, done func(n int)) (int, error) {
	if c.r == c.w {
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.buf[c.r:min(c.w, c.r+limit)])
	c.r += n
	done(n)
	c.readRate.wait(c.srv, n)
	return n, nil
}

// nextLine returns the next command line in the buffer, reading until it is complete. A line
// that does not fit the buffer is returned incomplete (all of the buffer).
func (c *conn) nextLine() (line []byte, complete bool, err error) {
	for {
		if i := bytes.IndexByte(c.buf[c.r:c.w], '\n'); i >= 0 {
			return c.buf[c.r : c.r+i+1], true, nil
		}
		if c.r == 0 && c.w == len(c.buf) {
			return c.buf[c.r:c.w], false, nil
		}
		if err := c.fill(); err != nil {
			if c.r < c.w { // the client's last bytes: go-smtp answers them as it sees fit
				return c.buf[c.r:c.w], false, nil
			}
			return nil, false, err
		}
	}
}

// fill reads more from the client into the buffer, first moving what is left to its start.
func (c *conn) fill() error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	c.mu.Lock()
	if c.readErr == nil {
		c.readErr = err
	}
	c.mu.Unlock()
	return err
}

// readData hands over message bytes up to and including the end-of-data line.
func (c *conn) readData(p []byte) (int, error) {
	if c.dropAt >= 0 && c.dataSeen >= c.dropAt {
		c.drop("dropped mid-message by the policy")
		return 0, net.ErrClosed
	}
	if c.r == c.w {
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	chunk := c.buf[c.r:c.w]
	if len(chunk) > len(p) {
		chunk = chunk[:len(p)]
	}
	if c.dropAt >= 0 {
		chunk = chunk[:min(int64(len(chunk)), c.dropAt-c.dataSeen)]
	}
	if end := dataEnd(&c.tail, chunk); end >= 0 {
		chunk = chunk[:end]
	}
	n := copy(p, chunk)
	c.r += n
	c.dataSeen += int64(n)
	c.readRate.wait(c.srv, n)
	return n, nil
}

// endOfData is the line that ends a message (RFC 5321 section 4.1.1.4), with the CRLF before it.
var endOfData = []byte("\r\n.\r\n")

// dataEnd returns the length of the prefix of chunk that ends with the end-of-data line, or -1
// when chunk does not complete it. tail holds the last four bytes before chunk, and is updated
// to those before what the caller hands over next. A match may be one go-smtp does not take for
// the end (it ignores a dot line after a bare CR); then go-smtp reads on and the search goes on.
func dataEnd(tail *[4]byte, chunk []byte) int {
	var seam [8]byte
	copy(seam[:], tail[:])
	n := copy(seam[4:], chunk)
	end := -1
	if i := bytes.Index(seam[:4+n], endOfData); i >= 0 {
		end = i + len(endOfData) - 4
	} else if i := bytes.Index(chunk, endOfData); i >= 0 {
		end = i + len(endOfData)
	}
	used := chunk
	if end >= 0 {
		used = chunk[:end]
	}
	if len(used) >= 4 {
		copy(tail[:], used[len(used)-4:])
	} else {
		copy(tail[:], tail[len(used):])
		copy(tail[4-len(used):], used)
	}
	return end
}

// discardChunk drops the rest of a BDAT chunk this layer refused.
func (c *conn) discardChunk() error {
	for c.chunk > 0 {
		if c.r == c.w {
			if err := c.fill(); err != nil {
				return err
			}
		}
		n := int(min(int64(c.w-c.r), c.chunk))
		c.r += n
		c.chunk -= int64(n)
	}
	c.mode = modeCommand
	return nil
}

// Write sends a reply line of go-smtp's (go-smtp writes one line per call), except that its
// greeting (always its first write) is replaced by ours or by the Policy's.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if g := c.greeting; g != nil {
		c.greeting = nil
		if bytes.Equal(p, g) {
			return len(p), c.greet()
		}
	}
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			c.wline = append(c.wline, rest...)
			break
		}
		line := rest[:i+1]
		rest = rest[i+1:]
		if len(c.wline) > 0 {
			c.wline = append(c.wline, line...)
			line = c.wline
		}
		err := c.reply(line)
		c.wline = c.wline[:0]
		if err != nil {
			return len(p) - len(rest), err
		}
	}
	return len(p), nil
}

// reply sends one reply line of go-smtp's and follows what it means for reading.
func (c *conn) reply(line []byte) error {
	code, last := replyCode(line)
	if c.swallow > 0 {
		if last {
			c.swallow--
		}
		return nil
	}
	if last {
		switch {
		case code == 354 && c.lastCmd == verbDATA:
			c.mode, c.tail, c.dataSeen = modeData, [4]byte{0, 0, '\r', '\n'}, 0
			c.readRate.restart()
		case code == 334:
			c.mode = modeSASL
		case c.mode == modeSASL || c.mode == modeData:
			c.mode = modeCommand
			c.dropAt = -1
		}
	}
	if !last {
		if err := c.hold(line); err != nil {
			return err
		}
		// EHLO's first line is followed by the STARTTLS this layer offers (go-smtp is not given
		// the TLS configuration: it would do STARTTLS itself, out of this layer's sight).
		if c.lastCmd == verbEHLO && code == 250 && !c.tls && c.srv.tls != nil && bytes.HasPrefix(line[4:], []byte("Hello ")) {
			return c.hold([]byte("250-STARTTLS\r\n"))
		}
		return nil
	}
	if err := c.send(line); err != nil {
		return err
	}
	if c.closeAfter.CompareAndSwap(true, false) {
		c.closeNow()
	}
	return nil
}

// hold keeps a line of a multi-line reply for send to write with the reply's last line: one
// write and one packet for EHLO's ten lines, not ten (go-smtp flushes every line). A throttled
// connection gets each line as it comes.
func (c *conn) hold(line []byte) error {
	if c.writeRate.on.Load() {
		return c.send(line)
	}
	c.wpend = append(c.wpend, line...)
	return nil
}

// send writes one reply line to the client, after the lines held for it (throttled), and
// records them.
func (c *conn) send(line []byte) error {
	out := line
	if len(c.wpend) > 0 {
		c.wpend = append(c.wpend, line...)
		out = c.wpend
	}
	c.writeRate.wait(c.srv, len(out))
	_, err := c.nc.Write(out)
	if err == nil {
		for rest := out; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n') + 1
			if i == 0 {
				i = len(rest)
			}
			c.rec.server(rest[:i])
			rest = rest[i:]
		}
	}
	c.wpend = c.wpend[:0]
	return err
}

// sendLine writes a reply of this layer's own (without CRLF), under wmu.
func (c *conn) sendLine(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := c.send([]byte(s + "\r\n"))
	if code, _ := replyCode([]byte(s)); code == 421 {
		c.closeNow()
	}
	return err
}

// replyCode returns the code of a reply line and whether it is the reply's last line.
func replyCode(line []byte) (int, bool) {
	if len(line) < 4 {
		return 0, true
	}
	code := 0
	for _, b := range line[:3] {
		if b < '0' || b > '9' {
			return 0, true
		}
		code = code*10 + int(b-'0')
	}
	return code, line[3] != '-'
}

// greet performs an implicit TLS handshake, asks the Policy about the connection, and sends the
// greeting: ours, the Policy's refusal, or nothing when it drops the connection.
func (c *conn) greet() error {
	if c.implicitTLS {
		tc := c.nc.(*tls.Conn)
		if err := tc.HandshakeContext(c.srv.ctx); err != nil {
			c.fail(fmt.Errorf("TLS handshake failed: %w", err))
			c.raw.Close()
			return err
		}
		c.setTLS(tc.ConnectionState())
	}
	if c.srv.policy != nil && c.srv.policy.Wants(StageConnect) {
		chk := c.check(StageConnect)
		a := c.srv.policy.Check(c.srv.ctx, chk)
		switch c.apply(a, StageConnect) {
		case actDrop:
			return net.ErrClosed
		case actReply:
			if a.Code >= 400 && a.Code != 421 {
				c.refused = true
			}
			err := c.send([]byte(a.reply() + "\r\n"))
			if a.Code == 421 {
				c.closeNow()
			}
			return err
		}
	}
	return c.send([]byte("220 " + c.srv.hostname + " ESMTP letterbox\r\n"))
}

// setTLS records the connection as encrypted.
func (c *conn) setTLS(st tls.ConnectionState) {
	c.mu.Lock()
	c.tls, c.tlsState = true, st
	c.mu.Unlock()
	c.rec.setTLS(st)
}

// isTLS reports whether the connection is encrypted; safe from any goroutine.
func (c *conn) isTLS() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tls
}

// goodbyeTimeout bounds how long Close waits to tell clients the server is going away.
const goodbyeTimeout = 250 * time.Millisecond

// sayGoodbye writes a 421 reply (RFC 5321 section 3.8: the server is shutting down). Replies
// are written whole under wmu, so it cannot split one of go-smtp's; in a session encrypted with
// STARTTLS it goes through TLS like every reply.
func (c *conn) sayGoodbye() {
	c.setOutcome(store.OutcomeShutdown)
	c.raw.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
	if !c.wmu.TryLock() {
		// A reply is being written (or a handshake is in progress): wait briefly for it.
		done := make(chan struct{})
		go func() { c.wmu.Lock(); close(done) }()
		select {
		case <-done:
		case <-time.After(goodbyeTimeout):
			go func() { <-done; c.wmu.Unlock() }()
			return
		}
	}
	defer c.wmu.Unlock()
	if c.implicitTLS && !c.isTLS() {
		return // no handshake yet: nothing can be said
	}
	c.send([]byte("421 4.3.2 " + c.srv.hostname + " Service shutting down\r\n"))
}

// setOutcome records why the session ended, unless a reason is already known.
func (c *conn) setOutcome(o string) {
	c.mu.Lock()
	if c.outcome == "" {
		c.outcome = o
	}
	c.mu.Unlock()
}

// closeNow closes the connection; go-smtp's next read fails and it ends the session.
func (c *conn) closeNow() {
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	if tc, ok := nc.(*tls.Conn); ok && c.isTLS() {
		c.raw.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
		tc.Close() // sends close_notify, then closes the socket
	}
	c.raw.Close()
}

// drop closes the connection without a word, as the Policy asked.
func (c *conn) drop(why string) {
	c.rec.note(why)
	c.setOutcome(store.OutcomeFault)
	c.raw.Close()
}

// Close closes the connection, frees its slot and has the session's record written; it may be
// called more than once, from any goroutine.
func (c *conn) Close() error {
	c.closeNow()
	c.once.Do(func() {
		c.srv.mu.Lock()
		delete(c.srv.open, c)
		c.srv.mu.Unlock()
		if c.srv.slots != nil {
			<-c.srv.slots
		}
		c.srv.finishSession(c)
	})
	return nil
}

// fail records what ended the session in error.
func (c *conn) fail(err error) {
	c.rec.note(err.Error())
	c.mu.Lock()
	if c.outcome == "" {
		c.outcome, c.failure = store.OutcomeError, err
	}
	c.mu.Unlock()
}

// endOutcome says how the session ended, and the error when it ended in one.
func (c *conn) endOutcome() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch err := c.readErr; {
	case c.outcome != "":
		return c.outcome, c.failure
	case c.quit:
		return store.OutcomeQuit, nil
	case err == nil, errors.Is(err, net.ErrClosed):
		return store.OutcomeClosed, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return store.OutcomeTimeout, nil
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return store.OutcomeDropped, nil
	default:
		return store.OutcomeError, err
	}
}

// wait sleeps for d unless the server closes first; it reports whether the full time passed.
func (s *Server) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// chanListener is the net.Listener the go-smtp server serves: Server.Serve hands it connections.
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
