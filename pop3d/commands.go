package pop3d

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/letterbox-mail/letterbox/store"
)

// handle runs one command line and reports whether the session is over.
func (c *session) handle(line string) bool {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	if c.state == stateAuthorization {
		switch verb {
		case "CAPA":
			c.capa()
		case "USER":
			c.cmdUser(arg)
		case "PASS":
			c.cmdPass(arg)
		case "APOP":
			c.cmdAPOP(arg)
		case "AUTH":
			return c.cmdAuth(arg)
		case "STLS":
			return c.cmdSTLS()
		case "QUIT":
			c.reply("+OK letterbox POP3 server signing off")
			return true
		case "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL":
			c.reply("-ERR log in first")
		default:
			c.reply("-ERR unknown command")
		}
		return false
	}
	switch verb {
	case "CAPA":
		c.capa()
	case "STAT":
		c.cmdStat()
	case "LIST":
		c.cmdList(arg)
	case "UIDL":
		c.cmdUIDL(arg)
	case "RETR":
		c.cmdRetr(arg)
	case "TOP":
		c.cmdTop(arg)
	case "DELE":
		c.cmdDele(arg)
	case "RSET":
		for i := range c.msgs {
			c.msgs[i].deleted = false
		}
		c.cmdStat()
	case "NOOP":
		c.reply("+OK")
	case "QUIT":
		c.update()
		return true
	case "USER", "PASS", "APOP", "AUTH", "STLS":
		c.reply("-ERR already logged in")
	default:
		c.reply("-ERR unknown command")
	}
	return false
}

// capa answers CAPA (RFC 2449 §5).
func (c *session) capa() {
	c.reply("+OK capability list follows")
	caps := []string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	if c.state == stateAuthorization {
		caps = append(caps, "SASL PLAIN")
		if c.srv.tls != nil && !c.isTLS {
			caps = append(caps, "STLS")
		}
	}
	caps = append(caps, "IMPLEMENTATION letterbox")
	for _, s := range caps {
		c.reply(s)
	}
	c.reply(".")
}

// cmdStat answers STAT (and RSET): the number and total size of the undeleted messages.
func (c *session) cmdStat() {
	n, size := c.totals()
	c.reply(fmt.Sprintf("+OK %d %d", n, size))
}

func (c *session) totals() (n int, size int64) {
	for _, m := range c.msgs {
		if !m.deleted {
			n++
			size += m.size
		}
	}
	return n, size
}

// pick resolves a message-number argument, answering -ERR itself when it is not usable.
func (c *session) pick(arg string) (int, bool) {
	n, err := strconv.Atoi(arg)
	if err != nil || arg == "" || arg[0] < '0' || arg[0] > '9' {
		c.reply("-ERR invalid message number")
		return 0, false
	}
	if n < 1 || n > len(c.msgs) {
		c.reply("-ERR no such message")
		return 0, false
	}
	if c.msgs[n-1].deleted {
		c.reply(fmt.Sprintf("-ERR message %d already deleted", n))
		return 0, false
	}
	return n - 1, true
}

// cmdList answers LIST, LIST n.
func (c *session) cmdList(arg string) {
	c.listing(arg, func(b []byte, m message) []byte { return strconv.AppendInt(b, m.size, 10) })
}

// cmdUIDL answers UIDL, UIDL n (RFC 1939 §7).
func (c *session) cmdUIDL(arg string) {
	v := c.srv.store.UIDValidity()
	c.listing(arg, func(b []byte, m message) []byte {
		b = strconv.AppendUint(b, uint64(v), 10)
		b = append(b, '-')
		return strconv.AppendInt(b, m.uid, 10)
	})
}

// listing writes the scan listing of LIST or UIDL: one message, or all undeleted ones.
func (c *session) listing(arg string, value func([]byte, message) []byte) {
	if arg = strings.TrimSpace(arg); arg != "" {
		i, ok := c.pick(arg)
		if !ok {
			return
		}
		c.reply(string(value(fmt.Appendf(nil, "+OK %d ", i+1), c.msgs[i])))
		return
	}
	n, size := c.totals()
	c.reply(fmt.Sprintf("+OK %d messages (%d octets)", n, size))
	buf := make([]byte, 0, 64)
	for i, m := range c.msgs {
		if m.deleted {
			continue
		}
		buf = strconv.AppendInt(buf[:0], int64(i+1), 10)
		buf = append(buf, ' ')
		buf = value(buf, m)
		buf = append(buf, '\r', '\n')
		c.w.Write(buf)
	}
	c.reply(".")
}

// cmdDele answers DELE n: the message is marked, and deleted from the store at QUIT.
func (c *session) cmdDele(arg string) {
	i, ok := c.pick(strings.TrimSpace(arg))
	if !ok {
		return
	}
	c.msgs[i].deleted = true
	c.reply(fmt.Sprintf("+OK message %d deleted", i+1))
}

// fetch reads a message for RETR or TOP, answering -ERR itself on failure.
func (c *session) fetch(i int) ([]byte, bool) {
	raw, err := c.srv.store.Raw(c.srv.ctx, c.msgs[i].id)
	if errors.Is(err, store.ErrNotFound) {
		c.reply(fmt.Sprintf("-ERR message %d was deleted by someone else", i+1))
		return nil, false
	}
	if err != nil {
		c.log.Error("read message", "id", c.msgs[i].id, "err", err)
		c.reply("-ERR [SYS/TEMP] cannot read the message")
		return nil, false
	}
	return raw, true
}

// cmdRetr answers RETR n. The message is marked read in the store before it is sent, so that
// whoever looks at the store once the client has it (the web inbox, a test) sees it read.
func (c *session) cmdRetr(arg string) {
	i, ok := c.pick(strings.TrimSpace(arg))
	if !ok {
		return
	}
	raw, ok := c.fetch(i)
	if !ok {
		return
	}
	if !c.msgs[i].read {
		if err := c.srv.store.SetRead(c.srv.ctx, []string{c.msgs[i].id}, true); err != nil {
			c.log.Error("mark message read", "id", c.msgs[i].id, "err", err)
		} else {
			c.msgs[i].read = true
		}
	}
	c.reply(fmt.Sprintf("+OK %d octets", len(raw)))
	writeMessage(c.w, raw, -1)
}

// cmdTop answers TOP n k: the header, the blank line and k lines of the body. It does not mark
// the message read.
func (c *session) cmdTop(arg string) {
	f := strings.Fields(arg)
	if len(f) != 2 {
		c.reply("-ERR usage: TOP msg n")
		return
	}
	lines, err := strconv.Atoi(f[1])
	if err != nil || lines < 0 || f[1][0] == '+' {
		c.reply("-ERR invalid number of lines")
		return
	}
	i, ok := c.pick(f[0])
	if !ok {
		return
	}
	raw, ok := c.fetch(i)
	if !ok {
		return
	}
	c.reply("+OK top of message follows")
	writeMessage(c.w, raw, lines)
}

// update is QUIT in the TRANSACTION state: the UPDATE state of RFC 1939 §6 deletes the
// messages marked with DELE.
func (c *session) update() {
	var ids []string
	for _, m := range c.msgs {
		if m.deleted {
			ids = append(ids, m.id)
		}
	}
	if len(ids) > 0 {
		if err := c.srv.store.Delete(c.srv.ctx, ids); err != nil {
			c.log.Error("delete messages at QUIT", "count", len(ids), "err", err)
			c.reply("-ERR [SYS/TEMP] some deleted messages not removed")
			return
		}
		c.log.Debug("deleted messages at QUIT", "user", c.login, "count", len(ids))
	}
	c.reply(fmt.Sprintf("+OK letterbox POP3 server signing off (%d messages deleted)", len(ids)))
}

// writeMessage writes raw as the body of a multi-line response, then the terminating line.
// Every line ending becomes CRLF, lines starting with "." are dot-stuffed, and a last line
// without a line ending gets one. bodyLines < 0 writes the whole message; otherwise only the
// header, the blank line after it, and that many lines of the body (TOP).
func writeMessage(w *bufio.Writer, raw []byte, bodyLines int) {
	inBody := false
	n := 0
	for len(raw) > 0 {
		if inBody && bodyLines >= 0 && n >= bodyLines {
			break
		}
		line := raw
		raw = nil
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, raw = line[:i], line[i+1:]
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if inBody {
			n++
		} else if len(line) == 0 {
			inBody = true
		}
		if len(line) > 0 && line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
}
