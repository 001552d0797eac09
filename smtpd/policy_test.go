package smtpd

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// stagePolicy answers one stage with one action and records every Check it is asked.
type stagePolicy struct {
	stage  Stage
	action Action
	only   func(*Check) bool // when set, the action applies only to checks it accepts

	mu     sync.Mutex
	checks []Check
}

func (p *stagePolicy) Wants(s Stage) bool { return s == p.stage }

func (p *stagePolicy) Check(_ context.Context, c *Check) Action {
	p.mu.Lock()
	defer p.mu.Unlock()
	cp := *c
	cp.Recipients = append([]string(nil), c.Recipients...)
	p.checks = append(p.checks, cp)
	if p.only != nil && !p.only(c) {
		return Action{}
	}
	return p.action
}

func (p *stagePolicy) seen() []Check {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Check(nil), p.checks...)
}

// reply reads one reply and fails unless it is code with text (the enhanced code and message).
func (c *client) reply(code int, text string) {
	c.t.Helper()
	got, msg, err := c.text.ReadResponse(0)
	if err != nil {
		c.t.Fatalf("reading reply (want %d %s): %v", code, text, err)
	}
	if got != code || msg != text {
		c.t.Fatalf("reply %d %q, want %d %q", got, msg, code, text)
	}
}

// send writes a command line.
func (c *client) send1(line string) {
	c.t.Helper()
	if err := c.text.PrintfLine("%s", line); err != nil {
		c.t.Fatal(err)
	}
}

// expectClosed fails unless the server closes the connection without another reply.
func (c *client) expectClosed() {
	c.t.Helper()
	if line, err := c.text.ReadLine(); err == nil {
		c.t.Fatalf("read %q, want the connection closed", line)
	}
}

func refusal(code int, enh [3]int, text string) Action {
	return Action{Code: code, Enhanced: enh, Text: text, Fault: "test"}
}

// TestPolicyStages: a refusal at each stage reaches a real client with its exact code, enhanced
// code and text, and is counted.
func TestPolicyStages(t *testing.T) {
	plain := base64.StdEncoding.EncodeToString([]byte("\x00user\x00secret"))
	for _, tc := range []struct {
		stage Stage
		code  int
		enh   [3]int
		text  string
		run   func(c *client, want func())
	}{
		{StageHelo, 550, [3]int{5, 7, 1}, "not you", func(c *client, want func()) {
			c.send1("EHLO bad.example")
			want()
			c.cmd(502, "MAIL FROM:<a@example.com>") // never introduced
		}},
		{StageAuth, 535, [3]int{5, 7, 8}, "Authentication credentials invalid", func(c *client, want func()) {
			c.cmd(250, "EHLO client.test")
			c.send1("AUTH PLAIN " + plain)
			want()
		}},
		{StageMail, 451, [3]int{4, 3, 0}, "try again later", func(c *client, want func()) {
			c.cmd(250, "EHLO client.test")
			c.send1("MAIL FROM:<a@example.com>")
			want()
			c.cmd(502, "RCPT TO:<b@example.com>") // no sender

		}},
		{StageRcpt, 550, [3]int{5, 1, 1}, "<x@y>: user unknown", func(c *client, want func()) {
			c.cmd(250, "EHLO client.test")
			c.cmd(250, "MAIL FROM:<a@example.com>")
			c.send1("RCPT TO:<x@y>")
			want()
			c.cmd(502, "DATA") // no recipient
		}},
		{StageData, 554, [3]int{5, 6, 0}, "no thanks", func(c *client, want func()) {
			c.cmd(250, "EHLO client.test")
			c.cmd(250, "MAIL FROM:<a@example.com>")
			c.cmd(250, "RCPT TO:<b@example.com>")
			c.send1("DATA")
			want() // instead of 354
			c.cmd(250, "RSET")
		}},
		{StageDataEnd, 550, [3]int{5, 7, 1}, "content rejected", func(c *client, want func()) {
			c.cmd(250, "EHLO client.test")
			c.cmd(250, "MAIL FROM:<a@example.com>")
			c.cmd(250, "RCPT TO:<b@example.com>")
			c.cmd(354, "DATA")
			c.write(message("refused after the body", "x") + ".\r\n")
			want()
		}},
	} {
		t.Run(tc.stage.String(), func(t *testing.T) {
			p := &stagePolicy{stage: tc.stage, action: refusal(tc.code, tc.enh, tc.text)}
			ts := startServer(t, Options{Policy: p})
			c := dial(t, ts.addr)
			tc.run(c, func() {
				t.Helper()
				c.reply(tc.code, strings.Join([]string{enh(tc.enh), tc.text}, " "))
			})
			c.cmd(221, "QUIT")
			if got := ts.Stats().SMTPRejected; got != 1 {
				t.Errorf("SMTPRejected %d, want 1", got)
			}
			if n := countMessages(t, ts.store); n != 0 {
				t.Errorf("%d messages stored", n)
			}
			if len(p.seen()) == 0 {
				t.Fatal("policy never asked")
			}
		})
	}
}

func enh(e [3]int) string { return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2]) }

func countMessages(t *testing.T, st *store.Store) int {
	t.Helper()
	res, err := st.Search(context.Background(), store.Filter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

// TestPolicyCheckFields: the Check carries what the session knows at each stage.
func TestPolicyCheckFields(t *testing.T) {
	p := &recordAll{}
	ts := startServer(t, Options{Policy: p})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(235, "AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00alice\x00pw")))
	c.send("from@example.com", []string{"to1@example.com", "to2@example.com"}, message("fields", "x", "X-Check: yes"))
	c.cmd(252, "VRFY someone@example.com")
	c.cmd(221, "QUIT")

	byStage := map[Stage]Check{}
	for _, chk := range p.seen() {
		byStage[chk.Stage] = chk
	}
	for _, s := range []Stage{StageConnect, StageHelo, StageAuth, StageMail, StageRcpt, StageData, StageDataEnd, StageVrfy} {
		chk, ok := byStage[s]
		if !ok {
			t.Errorf("not asked at %s", s)
			continue
		}
		if chk.RemoteAddr.String() != "127.0.0.1" || chk.SessionID == "" {
			t.Errorf("%s: remote %v, session %q", s, chk.RemoteAddr, chk.SessionID)
		}
	}
	if h := byStage[StageHelo].Helo; h != "client.test" {
		t.Errorf("helo %q", h)
	}
	if a := byStage[StageAuth]; a.Username != "alice" || a.Mechanism != "PLAIN" {
		t.Errorf("auth %q %q", a.Mechanism, a.Username)
	}
	if m := byStage[StageMail]; m.MailFrom != "from@example.com" || m.Username != "alice" {
		t.Errorf("mail %+v", m)
	}
	if r := byStage[StageRcpt]; r.Recipient != "to2@example.com" || len(r.Recipients) != 1 {
		t.Errorf("rcpt %q after %q", r.Recipient, r.Recipients)
	}
	if d := byStage[StageData]; len(d.Recipients) != 2 || d.MailFrom != "from@example.com" {
		t.Errorf("data %+v", d)
	}
	if e := byStage[StageDataEnd]; e.Size == 0 || e.header.Get("X-Check") != "yes" {
		t.Errorf("data-end size %d, header %v", e.Size, e.header)
	}
	if v := byStage[StageVrfy]; v.Recipient != "someone@example.com" {
		t.Errorf("vrfy %q", v.Recipient)
	}
}

// recordAll wants every stage and accepts everything.
type recordAll struct{ stagePolicy }

func (p *recordAll) Wants(Stage) bool { return true }

func (p *recordAll) Check(ctx context.Context, c *Check) Action {
	if c.Stage == StageDataEnd {
		c.Header()
	}
	return p.stagePolicy.Check(ctx, c)
}

// TestPolicyConnect: a 554 greeting leaves only QUIT; a 421 greeting closes; a drop says nothing.
func TestPolicyConnect(t *testing.T) {
	t.Run("554", func(t *testing.T) {
		ts := startServer(t, Options{Policy: &stagePolicy{stage: StageConnect, action: refusal(554, [3]int{5, 7, 1}, "no service for you")}})
		c := dialNoGreeting(t, ts.addr)
		c.reply(554, "5.7.1 no service for you")
		c.cmd(503, "EHLO client.test")
		c.cmd(503, "MAIL FROM:<a@example.com>")
		c.cmd(221, "QUIT")
		c.expectClosed()
	})
	t.Run("421", func(t *testing.T) {
		ts := startServer(t, Options{Policy: &stagePolicy{stage: StageConnect, action: refusal(421, [3]int{4, 7, 0}, "too busy")}})
		c := dialNoGreeting(t, ts.addr)
		c.reply(421, "4.7.0 too busy")
		c.expectClosed()
	})
	t.Run("drop", func(t *testing.T) {
		ts := startServer(t, Options{Policy: &stagePolicy{stage: StageConnect, action: Action{Disconnect: true}}})
		c := dialNoGreeting(t, ts.addr)
		c.expectClosed()
	})
}

// TestPolicy421ClosesAfterReply: a 421 from the policy at MAIL is sent, then the connection closes.
func TestPolicy421ClosesAfterReply(t *testing.T) {
	ts := startServer(t, Options{Policy: &stagePolicy{stage: StageMail, action: refusal(421, [3]int{4, 7, 0}, "closing")}})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.send1("MAIL FROM:<a@example.com>")
	c.reply(421, "4.7.0 closing")
	c.expectClosed()
}

// TestPolicyDisconnect: a drop at MAIL gets no reply; a drop in the middle of DATA stores nothing,
// and the next connection works.
func TestPolicyDisconnect(t *testing.T) {
	t.Run("mail", func(t *testing.T) {
		ts := startServer(t, Options{Policy: &stagePolicy{stage: StageMail, action: Action{Disconnect: true}}})
		c := dial(t, ts.addr)
		c.cmd(250, "EHLO client.test")
		c.send1("MAIL FROM:<a@example.com>")
		c.expectClosed()
	})
	t.Run("mid-data", func(t *testing.T) {
		p := &stagePolicy{stage: StageData, action: Action{Disconnect: true, DisconnectAfter: 100},
			only: func(c *Check) bool { return c.MailFrom == "drop@example.com" }}
		ts := startServer(t, Options{Policy: p})
		c := dial(t, ts.addr)
		c.cmd(250, "EHLO client.test")
		c.cmd(250, "MAIL FROM:<drop@example.com>")
		c.cmd(250, "RCPT TO:<b@example.com>")
		c.cmd(354, "DATA")
		msg := message("cut off", strings.Repeat("a long line of the body\r\n", 40))
		c.conn.Write([]byte(msg + ".\r\n")) // may fail part-way: the server is gone
		c.expectClosed()

		c2 := dial(t, ts.addr)
		c2.cmd(250, "EHLO client.test")
		id := c2.send("ok@example.com", []string{"b@example.com"}, message("after the drop", "x"))
		c2.cmd(221, "QUIT")
		if n := countMessages(t, ts.store); n != 1 {
			t.Fatalf("%d messages stored, want only the second", n)
		}
		if m := ts.storedMessage(t, id); m.Subject != "after the drop" {
			t.Errorf("stored %q", m.Subject)
		}
		if got := ts.Stats().SMTPRejected; got != 1 {
			t.Errorf("SMTPRejected %d, want 1", got)
		}
	})
}

// throttleClock throttles every connection from MAIL FROM on and notes when the server has
// read the whole message (the data-end stage is asked once the last byte is in, before the store
// is: its commit is no part of the transfer).
type throttleClock struct {
	bps     int
	readAll chan time.Time
}

func (p *throttleClock) Wants(s Stage) bool { return s == StageMail || s == StageDataEnd }

func (p *throttleClock) Check(_ context.Context, c *Check) Action {
	if c.Stage == StageDataEnd {
		p.readAll <- time.Now()
		return Action{}
	}
	return Action{Throttle: p.bps}
}

// TestPolicyThrottle: a throttled connection reads the message at the rate set: never faster,
// and within 20% of it. The transfer is timed from before the client writes the message to the
// moment the server has read its last byte.
func TestPolicyThrottle(t *testing.T) {
	const bps = 32 << 10
	p := &throttleClock{bps: bps, readAll: make(chan time.Time, 1)}
	ts := startServer(t, Options{Policy: p})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(250, "MAIL FROM:<a@example.com>")
	c.cmd(250, "RCPT TO:<b@example.com>")
	c.cmd(354, "DATA")
	msg := message("throttled", strings.Repeat(strings.Repeat("x", 78)+"\r\n", 400)) + ".\r\n"
	start := time.Now()
	c.write(msg)
	elapsed := (<-p.readAll).Sub(start)
	c.expect(250)
	want := time.Duration(float64(len(msg)) / bps * float64(time.Second))
	if elapsed < want {
		t.Errorf("%d bytes at %d B/s read in %v, faster than the rate (%v)", len(msg), bps, elapsed, want)
	}
	if elapsed > want*12/10 {
		t.Errorf("%d bytes at %d B/s read in %v, want %v + at most 20%%", len(msg), bps, elapsed, want)
	}
}

// TestPolicyThrottleReplies: a throttle paces the replies and the commands too, from the first
// byte, and a client that pauses earns no burst: the time the conversation took, less the
// client's pauses, is at least what its bytes take at the rate.
func TestPolicyThrottleReplies(t *testing.T) {
	const bps, pause = 1000, 60 * time.Millisecond // pauses a burst allowance of 100 ms would reward
	ts := startServer(t, Options{Policy: &stagePolicy{stage: StageConnect, action: Action{Throttle: bps}}})
	start := time.Now()
	conn, err := net.DialTimeout("tcp", ts.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	var bytes int
	readReply := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading a reply: %v (after %q)", err, line)
			}
			bytes += len(line)
			if len(line) < 4 || line[3] != '-' {
				return line
			}
		}
	}
	if got := readReply(); !strings.HasPrefix(got, "220 ") {
		t.Fatalf("greeting %q", got)
	}
	for _, cmd := range []string{"EHLO client.test\r\n", "NOOP\r\n"} {
		time.Sleep(pause) // the client pauses: that must not let the reply through faster
		bytes += len(cmd)
		if _, err := io.WriteString(conn, cmd); err != nil {
			t.Fatal(err)
		}
		readReply()
	}
	// Idle time aside, every byte each way took its share of a second.
	elapsed := time.Since(start) - 2*pause
	if want := time.Duration(bytes) * time.Second / bps; elapsed < want {
		t.Errorf("%d bytes each way at %d B/s in %v (idle time taken off), faster than the rate (%v)", bytes, bps, elapsed, want)
	}
}

// TestPolicyDelay: a delay holds the reply back.
func TestPolicyDelay(t *testing.T) {
	const delay = 150 * time.Millisecond
	ts := startServer(t, Options{Policy: &stagePolicy{stage: StageRcpt, action: Action{Delay: delay, Code: 451, Text: "later"}}})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(250, "MAIL FROM:<a@example.com>")
	start := time.Now()
	c.send1("RCPT TO:<b@example.com>")
	c.reply(451, "4.0.0 later")
	if d := time.Since(start); d < delay {
		t.Errorf("reply after %v, want at least %v", d, delay)
	}
}

// TestPolicyVrfy: VRFY answers 252 by default and what the policy says otherwise.
func TestPolicyVrfy(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.send1("VRFY anyone@example.com")
	c.reply(252, "2.5.0 Cannot VRFY user, but will accept message")

	p := &stagePolicy{stage: StageVrfy, action: Action{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "<nobody@example.com>: Recipient address rejected: User unknown"},
		only: func(c *Check) bool { return c.Recipient == "nobody@example.com" }}
	ts = startServer(t, Options{Policy: p})
	c = dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.send1("VRFY <nobody@example.com>")
	c.reply(550, "5.1.1 <nobody@example.com>: Recipient address rejected: User unknown")
	c.cmd(252, "VRFY somebody@example.com")
	if got := ts.Stats().SMTPRejected; got != 0 {
		t.Errorf("a VRFY answer counted as a refusal: %d", got)
	}
}

// TestPolicyGoClient: net/smtp sees the policy's refusal as an error carrying the code.
func TestPolicyGoClient(t *testing.T) {
	p := &stagePolicy{stage: StageRcpt, action: refusal(550, [3]int{5, 1, 1}, "<bounce@example.com>: user unknown"),
		only: func(c *Check) bool { return strings.HasPrefix(c.Recipient, "bounce") }}
	ts := startServer(t, Options{Policy: p})
	cl, err := smtp.Dial(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	err = cl.Rcpt("bounce@example.com")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 550 || te.Msg != "5.1.1 <bounce@example.com>: user unknown" {
		t.Fatalf("Rcpt: %v", err)
	}
	if err := cl.Rcpt("fine@example.com"); err != nil {
		t.Fatalf("Rcpt of an accepted address: %v", err)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, message("x", "y"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Quit(); err != nil {
		t.Fatal(err)
	}
}

// TestNoPolicyAllocatesNothing: without a policy, asking at a stage is free.
func TestNoPolicyAllocatesNothing(t *testing.T) {
	srv, err := New(deliverFunc(func(context.Context, store.Envelope, io.Reader) (store.Summary, error) {
		return store.Summary{}, nil
	}), Options{Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := srv.wrap(a)
	s := &session{srv: srv, wc: c}
	allocs := testing.AllocsPerRun(100, func() {
		c.ask(StageHelo, nil)
		c.askData()
		s.ask(StageMail, func(*Check) {})
	})
	if allocs != 0 {
		t.Errorf("%v allocations a call without a policy", allocs)
	}
}
