package smtpd

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// verb is a command the connection layer tells apart.
type verb uint8

const (
	verbOther verb = iota
	verbHELO
	verbEHLO
	verbMAIL
	verbRCPT
	verbDATA
	verbBDAT
	verbAUTH
	verbRSET
	verbVRFY
	verbQUIT
	verbSTARTTLS
)

var verbs = map[string]verb{
	"HELO": verbHELO, "EHLO": verbEHLO, "MAIL": verbMAIL, "RCPT": verbRCPT, "DATA": verbDATA,
	"BDAT": verbBDAT, "AUTH": verbAUTH, "RSET": verbRSET, "VRFY": verbVRFY, "QUIT": verbQUIT,
	"STARTTLS": verbSTARTTLS,
}

// splitCommand returns a command line's verb and its argument (trimmed, without CRLF).
func splitCommand(line []byte) (verb, []byte) {
	line = bytes.TrimRight(line, "\r\n")
	name, arg, _ := bytes.Cut(line, []byte(" "))
	if len(name) > 8 {
		return verbOther, nil
	}
	var up [8]byte
	for i, b := range name {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		up[i] = b
	}
	return verbs[string(up[:len(name)])], bytes.TrimSpace(arg)
}

// command examines a complete command line before go-smtp sees it. handled reports that this
// layer answered it itself; go-smtp then never sees it.
func (c *conn) command(line []byte) (handled bool, err error) {
	v, arg := splitCommand(line)
	c.rec.command(line, v)
	if c.refused {
		if v == verbQUIT {
			c.setQuit()
			c.sendLine("221 2.0.0 Bye")
			c.closeNow()
			return true, net.ErrClosed
		}
		return true, c.sendLine("503 5.5.1 Bad sequence of commands: this server refused the connection")
	}
	switch v {
	case verbSTARTTLS:
		return true, c.startTLS()
	case verbVRFY:
		return true, c.vrfy(arg)
	case verbMAIL, verbRCPT, verbDATA, verbBDAT, verbAUTH:
		if c.needHelo {
			return true, c.sendLine("502 5.5.1 Please introduce yourself first.")
		}
	}
	switch v {
	case verbHELO, verbEHLO:
		name, _, _ := bytes.Cut(arg, []byte(" "))
		if answered, err := c.ask(StageHelo, func(chk *Check) { chk.Helo = string(name) }); answered || err != nil {
			return true, err
		}
		c.helo, c.needHelo, c.bdatOpen = string(name), false, false
		c.rec.setHelo(c.helo)
	case verbMAIL, verbRSET:
		c.bdatOpen, c.dropAt = false, -1
	case verbDATA:
		if c.inTransaction() {
			if answered, err := c.askData(); answered || err != nil {
				return true, err
			}
		}
	case verbBDAT:
		size, last, ok := parseBDAT(arg)
		if !ok {
			break // go-smtp answers the syntax error and reads no chunk
		}
		if !c.bdatOpen && c.inTransaction() {
			if answered, err := c.askData(); answered || err != nil {
				if err == nil {
					c.mode, c.chunk = modeDiscard, size
				}
				return true, err
			}
			c.dataSeen = 0
		}
		c.bdatOpen = !last
		if size > 0 {
			c.mode, c.chunk = modeChunk, size
		}
	case verbQUIT:
		c.setQuit()
	}
	c.lastCmd = v
	return false, nil
}

// parseBDAT reads "size [LAST]" as go-smtp does: only then does go-smtp read the chunk.
func parseBDAT(arg []byte) (size int64, last, ok bool) {
	f := strings.Fields(string(arg))
	if len(f) == 0 || len(f) > 2 || len(f) == 2 && !strings.EqualFold(f[1], "LAST") {
		return 0, false, false
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, false, false
	}
	return int64(n), len(f) == 2, true
}

// inTransaction reports whether the session has a sender and at least one recipient, so that
// go-smtp would accept DATA.
func (c *conn) inTransaction() bool {
	s := c.session()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inTx && len(s.recipients) > 0
}

// ask consults the Policy at stage (fill adds what the stage knows), carries out its action, and
// reports whether it answered the command itself. err is set when the connection was dropped.
func (c *conn) ask(stage Stage, fill func(*Check)) (answered bool, err error) {
	p := c.srv.policy
	if p == nil || !p.Wants(stage) {
		return false, nil
	}
	chk := c.check(stage)
	if fill != nil {
		fill(chk)
	}
	a := p.Check(c.srv.ctx, chk)
	switch c.apply(a, stage) {
	case actDrop:
		return true, net.ErrClosed
	case actReply:
		return true, c.sendLine(a.reply())
	}
	return false, nil
}

// askData consults the Policy before a message is read. A Disconnect lets the transfer begin and
// drops the connection after DisconnectAfter bytes of it.
func (c *conn) askData() (answered bool, err error) {
	p := c.srv.policy
	if p == nil || !p.Wants(StageData) {
		return false, nil
	}
	chk := c.check(StageData)
	if s := c.session(); s != nil {
		s.fill(chk)
	}
	a := p.Check(c.srv.ctx, chk)
	if a.Disconnect {
		c.rec.fault(StageData, a)
		c.srv.countRefusal(c, StageData, a)
		if !c.pace(a) {
			return true, net.ErrClosed
		}
		c.dropAt = max(a.DisconnectAfter, 0)
		return false, nil
	}
	switch c.apply(a, StageData) {
	case actDrop:
		return true, net.ErrClosed
	case actReply:
		return true, c.sendLine(a.reply())
	}
	return false, nil
}

// check returns a Check with what the connection layer knows.
func (c *conn) check(stage Stage) *Check {
	return &Check{Stage: stage, SessionID: c.rec.id, RemoteAddr: c.rec.ip, Helo: c.helo, TLS: c.isTLS()}
}

// actResult is what apply leaves the caller to do.
type actResult uint8

const (
	actPass  actResult = iota // carry on as if no policy had spoken
	actReply                  // send the Action's reply instead of the normal one
	actDrop                   // the connection was dropped
)

// apply carries out the delay, throttle and drop of a, records and counts what it injects, and
// says whether its reply replaces the normal one.
func (c *conn) apply(a Action, stage Stage) actResult {
	if !a.injects() {
		return actPass
	}
	if a.Delay > 0 || a.Throttle > 0 || a.Disconnect || a.Code >= 400 || stage == StageVrfy && a.Code != 0 {
		c.rec.fault(stage, a)
	}
	if a.refuses() && stage != StageVrfy {
		c.srv.countRefusal(c, stage, a)
	}
	if !c.pace(a) {
		return actDrop // the server is closing
	}
	switch {
	case a.Disconnect:
		c.drop("connection dropped by the policy")
		return actDrop
	case a.Code >= 400, stage == StageVrfy && a.Code != 0:
		if a.Code == 421 {
			c.closeAfter.Store(true) // RFC 5321 section 3.8: 421 closes the channel
		}
		return actReply
	}
	return actPass
}

// pace sets a's throttle and waits its delay; it reports false when the server closed meanwhile.
func (c *conn) pace(a Action) bool {
	if a.Throttle > 0 {
		c.readRate.set(a.Throttle)
		c.writeRate.set(a.Throttle)
	}
	return c.srv.wait(a.Delay)
}

// countRefusal logs and counts a refusal the Policy caused.
func (s *Server) countRefusal(c *conn, stage Stage, a Action) {
	s.rejected.Add(1)
	s.policyRefused.Add(1)
	s.log.Info("smtp fault injected", "stage", stage.String(), "fault", a.Fault, "code", a.Code,
		"disconnect", a.Disconnect, "remote", c.rec.remote, "session", c.rec.id)
}

// vrfy answers VRFY (RFC 5321 section 3.5.3) from the Policy: 252 unless it knows better.
func (c *conn) vrfy(arg []byte) error {
	addr := strings.TrimSuffix(strings.TrimPrefix(string(arg), "<"), ">")
	if addr == "" {
		return c.sendLine("501 5.5.4 VRFY needs a user name or address")
	}
	if answered, err := c.ask(StageVrfy, func(chk *Check) { chk.Recipient = addr }); answered || err != nil {
		return err
	}
	return c.sendLine("252 2.5.0 Cannot VRFY user, but will accept message")
}

// startTLS runs STARTTLS (RFC 3207) in this layer, so that go-smtp, and this layer's view of the
// conversation, go on in plain text over the encrypted connection.
func (c *conn) startTLS() error {
	switch {
	case c.isTLS():
		return c.sendLine("502 5.5.1 Already running in TLS")
	case c.srv.tls == nil:
		return c.sendLine("502 5.5.1 TLS not supported")
	}
	// Anything the client sent after STARTTLS and before the handshake is not to be trusted
	// (command injection, RFC 3207 section 5): it is dropped.
	c.dropBuffered = true
	if err := c.sendLine("220 2.0.0 Ready to start TLS"); err != nil {
		return err
	}
	tc := tls.Server(c.raw, c.srv.tls)
	if d := c.srv.smtp.ReadTimeout; d > 0 {
		c.raw.SetDeadline(time.Now().Add(d))
	}
	if err := tc.HandshakeContext(c.srv.ctx); err != nil {
		c.fail(fmt.Errorf("TLS handshake failed: %w", err))
		c.raw.Close()
		return err
	}
	c.raw.SetDeadline(time.Time{})
	c.mu.Lock()
	c.nc = tc
	c.mu.Unlock()
	c.setTLS(tc.ConnectionState())
	// RFC 3207 section 4.2: the server forgets what it knew; the client greets again. go-smtp is
	// told RSET (its reply is not sent): it forgets the transaction.
	c.needHelo = true
	if s := c.session(); s != nil {
		s.startTLS()
	}
	c.inject = []byte("RSET\r\n")
	c.wmu.Lock()
	c.swallow++
	c.wmu.Unlock()
	c.lastCmd = verbRSET
	return nil
}
