package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// sessions subscribes to the store's session events before the test connects.
type sessions struct {
	t   testing.TB
	st  *store.Store
	sub *store.Subscription
}

func watchSessions(t testing.TB, st *store.Store) *sessions {
	sub := st.Subscribe(0)
	t.Cleanup(sub.Close)
	return &sessions{t: t, st: st, sub: sub}
}

// ended waits for the next session to end and returns its whole record.
func (w *sessions) ended() *store.Session {
	w.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case evs, ok := <-w.sub.Events():
			if !ok {
				w.t.Fatal("subscription closed")
			}
			for _, ev := range evs {
				if ev.Type == store.EventSession && ev.Session.Outcome != "" {
					s, err := w.st.Session(context.Background(), ev.Session.ID)
					if err != nil {
						w.t.Fatal(err)
					}
					return s
				}
			}
		case <-deadline:
			w.t.Fatal("no session ended within 10s")
		}
	}
}

// transcript renders a session's lines as "C: ..." / "S: ..." / "*: ..." for assertions.
func transcript(s *store.Session) string {
	var b strings.Builder
	for _, l := range s.Transcript {
		b.WriteString(l.Dir + ": " + l.Text + "\n")
	}
	return b.String()
}

func wantLines(t *testing.T, s *store.Session, lines ...string) {
	t.Helper()
	got := transcript(s)
	rest := got
	for _, l := range lines {
		i := strings.Index(rest, l)
		if i < 0 {
			t.Fatalf("transcript lacks %q (in order):\n%s", l, got)
		}
		rest = rest[i+len(l):]
	}
}

// TestTranscriptProbe: a RCPT-only verification probe is recorded though it stores nothing.
func TestTranscriptProbe(t *testing.T) {
	ts := startServer(t, Options{})
	w := watchSessions(t, ts.store)
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO verifier.test")
	c.cmd(250, "MAIL FROM:<probe@verifier.test>")
	c.cmd(250, "RCPT TO:<user@example.com>")
	c.cmd(250, "RSET")
	c.cmd(221, "QUIT")
	s := w.ended()
	if s.Outcome != store.OutcomeQuit || s.Messages != 0 || s.Helo != "verifier.test" || !strings.HasPrefix(s.RemoteAddr, "127.0.0.1:") {
		t.Errorf("session %+v", s)
	}
	wantLines(t, s, "S: 220 mx.test ESMTP letterbox", "C: EHLO verifier.test", "S: 250-Hello verifier.test", "S: 250-STARTTLS",
		"C: MAIL FROM:<probe@verifier.test>", "S: 250 2.0.0 Roger", "C: RCPT TO:<user@example.com>", "S: 250 2.0.0",
		"C: RSET", "S: 250 2.0.0 Session reset", "C: QUIT", "S: 221 2.0.0 Bye")
	for i := 1; i < len(s.Transcript); i++ {
		if s.Transcript[i].At < s.Transcript[i-1].At {
			t.Errorf("offsets go back: %+v", s.Transcript)
		}
	}
	res, err := ts.store.Sessions(context.Background(), store.SessionFilter{WithMessages: new(bool)}, store.Page{})
	if err != nil || res.Total != 1 || res.Sessions[0].ID != s.ID {
		t.Errorf("sessions without messages: %+v, %v", res, err)
	}
}

// TestTranscriptMessage: DATA is recorded as the message's size and ID, not its body, and the
// message names its session.
func TestTranscriptMessage(t *testing.T) {
	ts := startServer(t, Options{})
	w := watchSessions(t, ts.store)
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	body := message("recorded", "the secret body text")
	id := c.send("a@example.com", []string{"b@example.com"}, body)
	c.cmd(221, "QUIT")
	s := w.ended()
	wantLines(t, s, "C: DATA", "S: 354 ", "*: message of ", "stored as "+id, "S: 250 2.0.0 Ok: queued as "+id, "C: QUIT")
	if strings.Contains(transcript(s), "secret body") {
		t.Errorf("the body is in the transcript:\n%s", transcript(s))
	}
	if s.Messages != 1 || len(s.MessageIDs) != 1 || s.MessageIDs[0] != id {
		t.Errorf("messages %d %v", s.Messages, s.MessageIDs)
	}
	if m := ts.storedMessage(t, id); m.Envelope.SessionID != s.ID {
		t.Errorf("message's session %q, want %q", m.Envelope.SessionID, s.ID)
	}
}

// TestTranscriptAuthRedacted: AUTH PLAIN and LOGIN are recorded with their mechanism and the
// username, and the password is neither in the transcript nor anywhere in the database files.
func TestTranscriptAuthRedacted(t *testing.T) {
	const password = "Tr0ub4dor-and-3"
	ts := startServer(t, Options{})
	w := watchSessions(t, ts.store)
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(235, "AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+password)))
	c.send("a@example.com", []string{"b@example.com"}, message("authenticated", "x"))
	c.cmd(221, "QUIT")
	plain := w.ended()
	if plain.AuthMechanism != "PLAIN" || plain.AuthUsername != "alice" {
		t.Errorf("auth %q %q", plain.AuthMechanism, plain.AuthUsername)
	}
	wantLines(t, plain, "C: AUTH PLAIN ***", "S: 235 2.0.0 Authentication succeeded")

	c = dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(334, "AUTH LOGIN")
	c.cmd(334, "%s", base64.StdEncoding.EncodeToString([]byte("bob")))
	c.cmd(235, "%s", base64.StdEncoding.EncodeToString([]byte(password)))
	c.cmd(221, "QUIT")
	login := w.ended()
	wantLines(t, login, "C: AUTH LOGIN", "S: 334 ", "C: ***", "S: 334 ", "C: ***", "S: 235 ")
	if login.AuthUsername != "bob" {
		t.Errorf("LOGIN username %q", login.AuthUsername)
	}

	for _, s := range []*store.Session{plain, login} {
		for _, secret := range []string{password, base64.StdEncoding.EncodeToString([]byte(password)),
			base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + password))} {
			if strings.Contains(transcript(s), secret) {
				t.Errorf("transcript holds the password:\n%s", transcript(s))
			}
		}
	}
	// The database files, the log included, must not hold it either (in any form the client sent).
	files, _ := filepath.Glob(ts.store.Path() + "*")
	if !slices.Contains(files, ts.store.Path()+"-wal") {
		t.Fatalf("no write-ahead log among %v: the check would miss it", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{password, base64.StdEncoding.EncodeToString([]byte(password))} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds the password", f)
			}
		}
	}
}

// TestTranscriptSTARTTLS: the conversation after STARTTLS is recorded in plain text, with the
// TLS version and cipher.
func TestTranscriptSTARTTLS(t *testing.T) {
	ts := startServer(t, Options{})
	w := watchSessions(t, ts.store)
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(220, "STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, tc)
	c.cmd(502, "MAIL FROM:<a@example.com>") // RFC 3207: greet again first
	c.cmd(250, "EHLO secure.test")
	id := c.send("a@example.com", []string{"b@example.com"}, message("after starttls", "x"))
	c.cmd(221, "QUIT")
	s := w.ended()
	if s.TLSVersion != "TLS 1.3" || s.TLSCipher == "" || s.Helo != "secure.test" {
		t.Errorf("TLS %q %q, helo %q", s.TLSVersion, s.TLSCipher, s.Helo)
	}
	wantLines(t, s, "C: STARTTLS", "S: 220 2.0.0 Ready to start TLS", "*: TLS established: TLS 1.3", "C: MAIL FROM", "S: 502",
		"C: EHLO secure.test", "C: MAIL FROM:<a@example.com>", "stored as "+id, "C: QUIT", "S: 221")
	if strings.Contains(transcript(s), "RSET") {
		t.Errorf("the layer's own RSET is in the transcript:\n%s", transcript(s))
	}
	if env := ts.storedMessage(t, id).Envelope; !env.TLS {
		t.Error("message not marked TLS")
	}
}

// TestTranscriptFailures: a failed TLS handshake, a connection that never greets, an idle timeout
// and a server shutdown are each recorded with how they ended.
func TestTranscriptFailures(t *testing.T) {
	ts := startServer(t, Options{})
	w := watchSessions(t, ts.store)

	// STARTTLS, then not TLS at all.
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(220, "STARTTLS")
	c.write("this is not a TLS ClientHello\r\n\r\n")
	s := w.ended()
	if s.Outcome != store.OutcomeError || !strings.Contains(s.Error, "TLS handshake failed") {
		t.Errorf("bad handshake: outcome %q, error %q", s.Outcome, s.Error)
	}

	// Implicit TLS, spoken to in plain text.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.ServeTLS(l)
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte("EHLO plain.test\r\n"))
	if s := w.ended(); s.Outcome != store.OutcomeError || !strings.Contains(s.Error, "TLS handshake failed") {
		t.Errorf("implicit TLS: outcome %q, error %q", s.Outcome, s.Error)
	}
	raw.Close()

	// Connects, reads the greeting, hangs up.
	c = dial(t, ts.addr)
	c.conn.Close()
	if s := w.ended(); s.Outcome != store.OutcomeDropped || s.Helo != "" || len(s.Transcript) != 1 {
		t.Errorf("silent connection: %+v", s)
	}

	// Says nothing until the read timeout (a server of its own: a short timeout on the first would
	// cut the other conversations short on a busy machine).
	ts = startServer(t, Options{ReadTimeout: 300 * time.Millisecond})
	w = watchSessions(t, ts.store)
	c = dial(t, ts.addr)
	c.expect(421)
	if s := w.ended(); s.Outcome != store.OutcomeTimeout {
		t.Errorf("idle: outcome %q", s.Outcome)
	}
}

// TestTranscriptShutdown: a session open when the server closes ends as "shutdown".
func TestTranscriptShutdown(t *testing.T) {
	ts := startServer(t, Options{})
	w := watchSessions(t, ts.store)
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	ts.Close()
	c.expect(421)
	if s := w.ended(); s.Outcome != store.OutcomeShutdown {
		t.Errorf("outcome %q:\n%s", s.Outcome, transcript(s))
	}
}

// TestTranscriptFaults: the faults the policy injects are in the record.
func TestTranscriptFaults(t *testing.T) {
	p := &stagePolicy{stage: StageRcpt, action: Action{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user", Fault: "rule bounce"}}
	ts := startServer(t, Options{Policy: p})
	w := watchSessions(t, ts.store)
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(250, "MAIL FROM:<a@example.com>")
	c.cmd(550, "RCPT TO:<b@example.com>")
	c.cmd(221, "QUIT")
	s := w.ended()
	if len(s.Faults) != 1 || s.Faults[0] != "rule bounce at rcpt: reply 550" {
		t.Errorf("faults %q", s.Faults)
	}
	wantLines(t, s, "C: RCPT TO:<b@example.com>", "*: fault: rule bounce at rcpt: reply 550", "S: 550 5.1.1 no such user")
}

// startKeeping runs a Server over a store that keeps maxSessions sessions.
func startKeeping(t *testing.T, maxSessions int) (*testServer, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "lb.db"), MaxSessions: maxSessions, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ts := startWith(t, st, Options{})
	ts.store = st
	return ts, st
}

// TestSessionsPruned: the store keeps MaxSessions sessions, the newest.
func TestSessionsPruned(t *testing.T) {
	ts, st := startKeeping(t, 3)
	w := watchSessions(t, st)
	var ids []string
	for i := range 5 {
		c := dial(t, ts.addr)
		c.cmd(250, "EHLO client%d.test", i)
		c.cmd(221, "QUIT")
		ids = append(ids, w.ended().ID)
	}
	res, err := st.Sessions(context.Background(), store.SessionFilter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Sessions {
		got = append(got, s.ID)
	}
	if want := []string{ids[4], ids[3], ids[2]}; strings.Join(got, ",") != strings.Join(want, ",") || res.Total != 3 {
		t.Errorf("sessions kept %v (total %d), want the newest three %v", got, res.Total, want)
	}
	if _, err := st.Session(context.Background(), ids[0]); err != store.ErrNotFound {
		t.Errorf("oldest session: %v", err)
	}
}

// TestSessionPrunedWhileOpen: a session whose record was pruned while it was still open goes on
// storing mail, and is recorded again when it ends.
func TestSessionPrunedWhileOpen(t *testing.T) {
	ts, st := startKeeping(t, 1)
	w := watchSessions(t, st)
	a := dial(t, ts.addr)
	a.cmd(250, "EHLO a.test")
	a.send("a@example.com", []string{"x@example.com"}, message("first of a", "x"))
	b := dial(t, ts.addr)
	b.cmd(250, "EHLO b.test")
	b.send("b@example.com", []string{"x@example.com"}, message("only of b", "x")) // prunes a's record
	b.cmd(221, "QUIT")
	w.ended()
	id := a.send("a@example.com", []string{"x@example.com"}, message("second of a", "x"))
	a.cmd(221, "QUIT")
	s := w.ended()
	if s.Helo != "a.test" || s.Outcome != store.OutcomeQuit || s.Messages != 2 {
		t.Errorf("a's record: %+v", s)
	}
	if m := ts.storedMessage(t, id); m.Envelope.SessionID != s.ID {
		t.Errorf("second message's session %q", m.Envelope.SessionID)
	}
}

// TestTranscriptRefused: a connection refused for being over MaxConnections is recorded too.
func TestTranscriptRefused(t *testing.T) {
	ts := startServer(t, Options{MaxConnections: 1})
	w := watchSessions(t, ts.store)
	first := dial(t, ts.addr)
	second := dialNoGreeting(t, ts.addr)
	second.expect(421)
	s := w.ended()
	if s.Outcome != store.OutcomeRefused || len(s.Transcript) != 1 || s.Transcript[0].Text != "421 4.7.0 Too many connections" {
		t.Errorf("refused session %+v", s)
	}
	first.cmd(221, "QUIT")
}

// TestLongLineNotSplitIntoCommands: the rest of a command line longer than the connection layer's
// buffer is part of that line, not a command of its own, even when it reads like one.
func TestLongLineNotSplitIntoCommands(t *testing.T) {
	ts := startServer(t, Options{})
	w := watchSessions(t, ts.store)
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	for _, line := range []string{"XJUNK " + strings.Repeat("x", bufSize-len("XJUNK ")) + " STARTTLS",
		"XJUNK " + strings.Repeat("y", bufSize-len("XJUNK ")) + "VRFY a@b"} {
		c.write(line + "\r\n")
		if code, msg, err := c.text.ReadResponse(0); err != nil || code/100 != 5 {
			t.Fatalf("long unknown command: %d %s %v", code, msg, err)
		}
	}
	c.cmd(221, "QUIT")
	s := w.ended()
	if s.TLSVersion != "" || strings.Contains(transcript(s), "S: 252") {
		t.Errorf("a piece of a long line was taken for a command:\n%s", transcript(s))
	}
}

// logLines is a slog handler's output, safe to read while the server writes it.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestTranscriptRefusedSender: a session whose sender a rule refused stores nothing and is
// recorded with the refusal, the refusal is logged with its stage, code and session, and counted.
func TestTranscriptRefusedSender(t *testing.T) {
	var logs logLines
	p := &stagePolicy{stage: StageMail, action: Action{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "sender blocked", Fault: "block sender"}}
	ts := startServer(t, Options{Policy: p, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	w := watchSessions(t, ts.store)
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(550, "MAIL FROM:<blocked@example.com>")
	c.cmd(221, "QUIT")
	s := w.ended()
	if s.Outcome != store.OutcomeQuit || s.Messages != 0 || len(s.Faults) != 1 || s.Faults[0] != "block sender at mail: reply 550" {
		t.Errorf("session %+v", s)
	}
	wantLines(t, s, "C: MAIL FROM:<blocked@example.com>", "*: fault: block sender at mail: reply 550", "S: 550 5.7.1 sender blocked", "C: QUIT")
	if n := countMessages(t, ts.store); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	if got := ts.Stats().SMTPRejected; got != 1 {
		t.Errorf("SMTPRejected %d, want 1", got)
	}
	var logged []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "smtp fault injected") {
			logged = append(logged, line)
		}
	}
	if len(logged) != 1 {
		t.Fatalf("%d refusals logged, want 1:\n%s", len(logged), logs.String())
	}
	for _, want := range []string{"stage=mail", `fault="block sender"`, "code=550", "session=" + s.ID} {
		if !strings.Contains(logged[0], want) {
			t.Errorf("log line lacks %s: %s", want, logged[0])
		}
	}
}
