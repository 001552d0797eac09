package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"net/textproto"
	"strings"
	"time"
)

// Policy decides how the server answers at each stage of an SMTP session: fault injection
// (refusals, delays, throttling, dropped connections), recipient verification, and later checks
// such as SPF or relay rules plug in here. The store knows nothing of it.
//
// The server asks Wants before it builds a Check, so a stage no policy cares about costs nothing.
// Check is called from the connection's goroutine; it may block (the server's Close does not wait
// for it), and must be safe for concurrent use by many sessions.
type Policy interface {
	// Wants reports whether Check is to be called at stage s.
	Wants(s Stage) bool
	// Check returns what the server does at c.Stage. The zero Action accepts.
	Check(ctx context.Context, c *Check) Action
}

// Stage is a point in an SMTP session where a Policy is asked.
type Stage uint8

// The stages, in the order a session meets them.
const (
	StageConnect Stage = iota + 1 // a client connected; before the greeting
	StageHelo                     // HELO or EHLO; Check.Helo is the name given
	StageAuth                     // AUTH succeeded as far as the client is concerned; Check.Username is set
	StageMail                     // MAIL FROM; Check.MailFrom is the sender
	StageRcpt                     // RCPT TO; Check.Recipient is the address
	StageData                     // DATA (or the first BDAT), before the message is read
	StageDataEnd                  // the whole message was read, before it is stored; Check.Data is set
	StageVrfy                     // VRFY; Check.Recipient is the argument. Accept answers 252
)

var stageNames = [...]string{"", "connect", "helo", "auth", "mail", "rcpt", "data", "data-end", "vrfy"}

// String returns the stage's name as rules files spell it ("connect", "helo", ..., "data-end", "vrfy").
func (s Stage) String() string {
	if int(s) < len(stageNames) && s > 0 {
		return stageNames[s]
	}
	return fmt.Sprintf("Stage(%d)", uint8(s))
}

// ParseStage returns the stage named name (as String spells it); ok is false for an unknown name.
func ParseStage(name string) (Stage, bool) {
	for i, n := range stageNames {
		if i > 0 && strings.EqualFold(n, name) {
			return Stage(i), true
		}
	}
	return 0, false
}

// Check describes the session when a Policy is asked. Fields not yet known are zero.
type Check struct {
	Stage      Stage
	SessionID  string     // the session's ID, as its transcript is stored
	RemoteAddr netip.Addr // the client's IP address
	Helo       string     // the HELO/EHLO name
	TLS        bool       // the session is encrypted (STARTTLS or implicit TLS)
	Mechanism  string     // the AUTH mechanism, at StageAuth and after
	Username   string     // the AUTH username, at StageAuth and after
	MailFrom   string     // the MAIL FROM address ("" is the null sender), from StageMail on
	Recipient  string     // the address of this RCPT TO, or of VRFY
	Recipients []string   // the recipients accepted so far; read only
	Size       int64      // StageDataEnd: the message's size in bytes, as received
	Data       []byte     // StageDataEnd: the message as received (after dot-unstuffing); read only

	header textproto.MIMEHeader
}

// Header returns the message's header fields at StageDataEnd (nil before): parsed once, on first use.
func (c *Check) Header() textproto.MIMEHeader {
	if c.header == nil && c.Data != nil {
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(c.Data)))
		h, _ := r.ReadMIMEHeader() // a malformed header yields the fields before the fault
		if h == nil {
			h = textproto.MIMEHeader{}
		}
		c.header = h
	}
	return c.header
}

// Action is what the server does at a stage. The zero value accepts at once.
type Action struct {
	// Code, when not 0, is the reply sent instead of the normal one: 4xx and 5xx refuse the
	// command (and 421 closes the connection after it, RFC 5321 section 3.8); at StageVrfy, 250 and
	// 550 answer the VRFY; other 2xx codes accept. Enhanced (RFC 3463) may be zero: then x.0.0.
	Code     int
	Enhanced [3]int
	Text     string

	// Delay is waited before the reply (accept or not).
	Delay time.Duration
	// Throttle, when above 0, limits the connection to that many bytes per second each way from
	// now on (replies, and the message when it is read).
	Throttle int
	// Disconnect drops the connection without a reply. At StageData the server first answers 354
	// and reads DisconnectAfter bytes of the message, so that the drop happens mid-transfer.
	Disconnect      bool
	DisconnectAfter int64

	// Fault names what caused a refusal, delay, throttle or drop ("rule 2", "chaos Sender",
	// "jim reject sender"), for the log and the session's transcript.
	Fault string
}

// refuses reports whether a acts on the session in a way worth counting as a refusal.
func (a Action) refuses() bool { return a.Disconnect || a.Code >= 400 }

// injects reports whether a does anything but a plain accept.
func (a Action) injects() bool {
	return a.Code != 0 || a.Delay > 0 || a.Throttle > 0 || a.Disconnect
}

// reply formats the action's reply line (without CRLF), with x.0.0 when no enhanced code is set.
func (a Action) reply() string {
	e, text := a.enhanced(), a.text()
	return fmt.Sprintf("%d %d.%d.%d %s", a.Code, e[0], e[1], e[2], text)
}

// enhanced is the enhanced code the reply carries: Enhanced, or x.0.0.
func (a Action) enhanced() [3]int {
	if a.Enhanced == [3]int{} {
		return [3]int{a.Code / 100, 0, 0}
	}
	return a.Enhanced
}

// text is the reply's text: Text, or a generic one for the code.
func (a Action) text() string {
	if a.Text == "" {
		return defaultText(a.Code)
	}
	return a.Text
}

func defaultText(code int) string {
	switch {
	case code == 421:
		return "Service not available, closing transmission channel"
	case code >= 500:
		return "Requested action not taken"
	case code >= 400:
		return "Requested action not taken, try again later"
	}
	return "Ok"
}

// Chain is a Policy that asks each of policies in turn and returns the first answer that is not
// a plain accept (a Delay or Throttle alone counts as an answer too). nil entries are skipped.
func Chain(policies ...Policy) Policy {
	var list chain
	for _, p := range policies {
		if p != nil {
			list = append(list, p)
		}
	}
	return list
}

type chain []Policy

func (ps chain) Wants(s Stage) bool {
	for _, p := range ps {
		if p.Wants(s) {
			return true
		}
	}
	return false
}

func (ps chain) Check(ctx context.Context, c *Check) Action {
	for _, p := range ps {
		if p.Wants(c.Stage) {
			if a := p.Check(ctx, c); a.injects() {
				return a
			}
		}
	}
	return Action{}
}
