package smtpd

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// SASL mechanisms go-sasl has no server for.
const (
	mechLogin   = "LOGIN"    // draft-murchison-sasl-login
	mechCRAMMD5 = "CRAM-MD5" // RFC 2195
)

var errAuthDone = errors.New("smtpd: unexpected SASL response after authentication completed")

// loginServer is the server side of the LOGIN mechanism: it asks for the username, then the
// password, and accepts any pair. An initial response, if any, is the username.
type loginServer struct {
	accept   func(username string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.step = 2
		l.username = string(response)
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		if err := l.accept(l.username); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, errAuthDone
}

// cramMD5Server is the server side of CRAM-MD5 (RFC 2195): it sends a challenge and accepts the
// username with any digest, since letterbox knows no passwords to check it against.
type cramMD5Server struct {
	hostname string
	accept   func(username string) error
	sent     bool
	done     bool
}

func (c *cramMD5Server) Next(response []byte) (challenge []byte, done bool, err error) {
	switch {
	case c.done:
		return nil, false, errAuthDone
	case !c.sent:
		// The mechanism has no initial response; a client that sends one is answered with the
		// challenge all the same.
		c.sent = true
		return fmt.Appendf(nil, "<%d.%d@%s>", rand.Uint32(), time.Now().UnixNano(), c.hostname), false, nil
	}
	c.done = true
	// The response is "username SP digest"; the username may itself contain spaces.
	username := response
	if i := bytes.LastIndexByte(response, ' '); i >= 0 {
		username = response[:i]
	}
	if len(username) == 0 {
		return nil, false, errors.New("smtpd: CRAM-MD5 response has no username")
	}
	if err := c.accept(string(username)); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}
