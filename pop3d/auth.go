package pop3d

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/letterbox-mail/letterbox/store"
)

// cmdUser answers USER name. The whole rest of the line is the name.
func (c *session) cmdUser(arg string) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		c.reply("-ERR usage: USER name")
		return
	}
	c.user = arg
	c.reply("+OK send PASS")
}

// cmdPass answers PASS password; the password is the whole rest of the line, spaces included
// (RFC 1939 §7).
func (c *session) cmdPass(arg string) {
	user := c.user
	c.user = ""
	if user == "" {
		c.reply("-ERR send USER first")
		return
	}
	if !c.srv.checkPassword(user, arg) {
		c.log.Info("login failed", "user", user, "method", "USER")
		c.reply("-ERR [AUTH] invalid username or password")
		return
	}
	c.open(user, "USER")
}

// cmdAPOP answers APOP name digest. With no auth file any digest is accepted; with one, APOP
// is refused: a digest of the timestamp and the password cannot be checked against a bcrypt
// hash.
func (c *session) cmdAPOP(arg string) {
	c.user = ""
	if c.stamp == "" {
		c.reply("-ERR [AUTH] APOP is not available here (passwords are bcrypt hashes); use USER/PASS or AUTH PLAIN")
		return
	}
	i := strings.LastIndexByte(arg, ' ')
	if i <= 0 || len(arg)-i-1 != 32 {
		c.reply("-ERR usage: APOP name digest")
		return
	}
	c.open(strings.TrimSpace(arg[:i]), "APOP")
}

// cmdAuth answers AUTH (RFC 5034) with the PLAIN mechanism, with or without an initial
// response. It reports whether the session must end (the connection failed mid-exchange).
func (c *session) cmdAuth(arg string) bool {
	c.user = ""
	fields := strings.Fields(arg)
	if len(fields) == 0 {
		// The form older clients use to list mechanisms (draft-myers-sasl-pop3).
		c.reply("+OK")
		c.reply("PLAIN")
		c.reply(".")
		return false
	}
	if len(fields) > 2 || !strings.EqualFold(fields[0], sasl.Plain) {
		c.reply("-ERR unsupported authentication mechanism")
		return false
	}
	var user string
	var wrong bool
	srv := sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return errors.New("pop3d: authorization identity differs from the username")
		}
		if !c.srv.checkPassword(username, password) {
			wrong = true
			return errors.New("pop3d: invalid username or password")
		}
		user = username
		return nil
	})
	var resp []byte // nil: no initial response
	if len(fields) == 2 {
		if fields[1] == "=" {
			resp = []byte{}
		} else {
			b, err := base64.StdEncoding.DecodeString(fields[1])
			if err != nil {
				c.reply("-ERR invalid base64 in initial response")
				return false
			}
			resp = b
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			c.log.Info("login failed", "method", "AUTH PLAIN", "err", err)
			if wrong {
				c.reply("-ERR [AUTH] invalid username or password")
			} else {
				c.reply("-ERR authentication failed")
			}
			return false
		}
		if done {
			break
		}
		c.reply("+ " + base64.StdEncoding.EncodeToString(challenge))
		line, err := c.readCommand()
		if errors.Is(err, errLineTooLong) {
			c.reply("-ERR line too long")
			return false
		}
		if err != nil {
			return true
		}
		if line == "*" {
			c.reply("-ERR authentication cancelled")
			return false
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			c.reply("-ERR invalid base64 in response")
			return false
		}
	}
	c.open(user, "AUTH PLAIN")
	return false
}

// cmdSTLS answers STLS (RFC 2595 §4) and upgrades the connection. It reports whether the session
// must end (the handshake failed).
func (c *session) cmdSTLS() bool {
	c.user = ""
	if c.srv.tls == nil {
		c.reply("-ERR STLS not available")
		return false
	}
	if c.isTLS {
		c.reply("-ERR already using TLS")
		return false
	}
	c.reply("+OK begin TLS negotiation")
	if err := c.w.Flush(); err != nil {
		return true
	}
	tc := tls.Server(c.raw, c.srv.tls)
	ctx, cancel := context.WithTimeout(c.srv.ctx, c.handshakeTimeout())
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.log.Debug("STLS handshake failed", "err", err)
		return true
	}
	// Anything the client sent before the handshake is dropped with the old reader, so nothing
	// injected in plain text can pass for a command sent over TLS.
	c.conn = tc
	c.isTLS = true
	c.r.Reset(tc)
	c.w.Reset(deadlineWriter{c})
	return false
}

// open logs the user in: it takes the maildrop snapshot and enters the TRANSACTION state.
func (c *session) open(user, method string) {
	var f store.Filter
	if strings.Contains(user, "@") {
		f.Recipient = user
	}
	entries, err := c.srv.store.Index(c.srv.ctx, f)
	if err != nil {
		c.log.Error("open maildrop", "user", user, "err", err)
		c.reply("-ERR [SYS/TEMP] cannot open the maildrop")
		return
	}
	c.msgs = make([]message, len(entries))
	var size int64
	for i, e := range entries {
		c.msgs[i] = message{uid: e.UID, id: e.ID, size: e.Size, read: e.Read}
		size += e.Size
	}
	c.state = stateTransaction
	c.login = user
	c.log.Debug("logged in", "user", user, "method", method, "messages", len(entries))
	c.reply(fmt.Sprintf("+OK %s has %d messages (%d octets)", sanitize(user), len(entries), size))
}

// sanitize keeps a client-supplied name from breaking a response line.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// checkPassword reports whether the login is allowed: always without an auth file.
func (s *Server) checkPassword(user, password string) bool {
	if s.passwords == nil {
		return true
	}
	return s.passwords.Check(user, password)
}
