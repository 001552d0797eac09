package smtpd

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/letterbox-mail/letterbox/store"
)

func TestGreetingAndCapabilities(t *testing.T) {
	ts := startServer(t, Options{MaxMessageSize: 12345})
	c := dialNoGreeting(t, ts.addr)
	line, err := c.text.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	if want := "220 mx.test ESMTP letterbox"; line != want {
		t.Fatalf("greeting %q, want %q", line, want)
	}
	caps := strings.Split(c.cmd(250, "EHLO client.test"), "\n")
	if caps[0] != "Hello client.test" {
		t.Errorf("first EHLO line %q", caps[0])
	}
	for _, want := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 12345", "CHUNKING",
		"ENHANCEDSTATUSCODES", "STARTTLS", "AUTH PLAIN LOGIN CRAM-MD5"} {
		if !slices.Contains(caps, want) {
			t.Errorf("EHLO does not advertise %q: %q", want, caps)
		}
	}
	c.cmd(221, "QUIT")
}

// TestDialogue runs one session through a table of commands and the codes they must get.
func TestDialogue(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	for _, step := range []struct {
		line string
		code int
	}{
		{"MAIL FROM:<a@example.com>", 502}, // before EHLO
		{"HELO client.test", 250},
		{"EHLO client.test", 250},
		{"NOOP", 250},
		{"VRFY someone", 252},
		{"RCPT TO:<x@example.com>", 502}, // before MAIL
		{"DATA", 502},                    // before RCPT
		{"MAIL FROM:<>", 250},            // the null sender
		{"RCPT TO:<postmaster>", 501},    // go-smtp's parser insists on a domain
		{"RCPT TO:<Postmaster@localhost>", 250},
		{"RCPT TO:<nobody@nowhere.invalid>", 250},
		{"RSET", 250},
		{"MAIL FROM:<a@example.com> SIZE=100 BODY=8BITMIME", 250},
		{"RCPT TO:<b@example.com>", 250},
		{"RSET", 250},
		{"MAIL FROM:<a@example.com> SIZE=999999999", 552}, // declared size over the limit
		{"XYZZ", 500},
		{"BOGUS", 501},
		{"QUIT", 221},
	} {
		if err := c.text.PrintfLine("%s", step.line); err != nil {
			t.Fatal(err)
		}
		code, msg, err := c.text.ReadResponse(0)
		if err != nil {
			t.Fatalf("%s: %v", step.line, err)
		}
		if code != step.code {
			t.Errorf("%s: got %d %s, want %d", step.line, code, msg, step.code)
		}
	}
}

func TestPlainSend(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	msg := message("plain send", "Hello, world.\r\n.leading dot survives dot-stuffing")
	id := c.send("sender@example.com", []string{"rcpt@example.com"}, msg)
	c.cmd(221, "QUIT")

	m := ts.storedMessage(t, id)
	if m.Subject != "plain send" {
		t.Errorf("Subject %q", m.Subject)
	}
	env := m.Envelope
	if env.MailFrom != "sender@example.com" || !slices.Equal(env.Recipients, []string{"rcpt@example.com"}) ||
		env.Helo != "client.test" || env.TLS || env.Username != "" || !strings.HasPrefix(env.RemoteAddr, "127.0.0.1:") {
		t.Errorf("envelope %+v", env)
	}
	if raw := ts.storedRaw(t, id); !bytes.HasSuffix(raw, []byte(msg)) {
		t.Errorf("stored raw does not end with the message sent:\n%s", raw)
	}
	if st := ts.Stats(); st.SMTPAccepted != 1 || st.SMTPAcceptedSize != int64(len(msg)) || st.SMTPRejected != 0 {
		t.Errorf("Stats %+v, want 1 accepted of %d bytes", st, len(msg))
	}
}

// TestGoSMTPClient sends with a real client library, as applications do.
func TestGoSMTPClient(t *testing.T) {
	ts := startServer(t, Options{})
	cl, err := smtp.Dial(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	msg := message("library client", "body")
	if err := cl.SendMail("a@example.com", []string{"b@example.com", "c@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	if err := cl.Quit(); err != nil {
		t.Fatal(err)
	}
	res, err := ts.store.Search(context.Background(), store.Filter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || res.Messages[0].Subject != "library client" {
		t.Fatalf("stored %+v", res.Messages)
	}
}

// TestPipelining writes two whole transactions in one write, as RFC 2920 allows, and reads the
// replies in order afterwards.
func TestPipelining(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	m1 := message("pipelined one", "first")
	m2 := message("pipelined two", "second")
	c.write("EHLO client.test\r\n" +
		"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n" + m1 + ".\r\n" +
		"MAIL FROM:<>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n" + m2 + ".\r\n" +
		"QUIT\r\n")
	c.expect(250) // EHLO
	c.expect(250) // MAIL
	c.expect(250) // RCPT
	c.expect(250) // RCPT
	c.expect(354)
	id1 := queuedID(t, c.expect(250))
	c.expect(250) // MAIL
	c.expect(250) // RCPT
	c.expect(354)
	id2 := queuedID(t, c.expect(250))
	c.expect(221)

	if got := ts.storedMessage(t, id1).Envelope.Recipients; !slices.Equal(got, []string{"b@example.com", "c@example.com"}) {
		t.Errorf("first message recipients %q", got)
	}
	if raw := ts.storedRaw(t, id2); !bytes.HasSuffix(raw, []byte(m2)) {
		t.Errorf("second message stored as:\n%s", raw)
	}
}

// TestBDAT sends a message in CHUNKING chunks (RFC 3030); the bytes must arrive untouched, with
// no dot-unstuffing, and chunk boundaries anywhere.
func TestBDAT(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	msg := message("chunked", "line one\r\n.a line starting with a dot\r\n.\r\nafter a lone dot\r\n")
	c.cmd(250, "MAIL FROM:<a@example.com> BODY=8BITMIME")
	c.cmd(250, "RCPT TO:<b@example.com>")
	cut := len(msg) / 3
	c.write(fmt.Sprintf("BDAT %d\r\n%s", cut, msg[:cut]))
	c.expect(250)
	c.write(fmt.Sprintf("BDAT %d\r\n%s", len(msg)-2*cut, msg[cut:len(msg)-cut]))
	c.expect(250)
	c.write(fmt.Sprintf("BDAT %d LAST\r\n%s", cut, msg[len(msg)-cut:]))
	id := queuedID(t, c.expect(250))

	// A second message on the same session, pipelined in one BDAT LAST, then an empty-chunk end.
	msg2 := message("chunked two", "x")
	c.write("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n" +
		fmt.Sprintf("BDAT %d\r\n%sBDAT 0 LAST\r\n", len(msg2), msg2))
	c.expect(250)
	c.expect(250)
	c.expect(250)
	id2 := queuedID(t, c.expect(250))

	c.cmd(221, "QUIT")

	// Transfers abandoned with RSET, after an empty and after a non-empty chunk, store nothing.
	// (Each on its own connection: go-smtp v0.25.1 has a data race when a BDAT transfer follows
	// an abandoned one on the same connection; see session.Reset.)
	for _, chunk := range []string{"BDAT 0\r\n", "BDAT 5\r\nabcde"} {
		c := dial(t, ts.addr)
		c.cmd(250, "EHLO client.test")
		c.cmd(250, "MAIL FROM:<a@example.com>")
		c.cmd(250, "RCPT TO:<b@example.com>")
		c.write(chunk)
		c.expect(250)
		c.cmd(250, "RSET")
		c.cmd(250, "NOOP")
		c.cmd(221, "QUIT")
	}
	if res, err := ts.store.Search(context.Background(), store.Filter{}, store.Page{}); err != nil || res.Total != 2 {
		t.Errorf("store holds %d messages (%v), want 2", res.Total, err)
	}
	if st := ts.Stats(); st.SMTPAccepted != 2 || st.SMTPRejected != 0 {
		t.Errorf("Stats %+v: abandoned transfers are neither accepted nor rejected", st)
	}

	if raw := ts.storedRaw(t, id); !bytes.HasSuffix(raw, []byte(msg)) {
		t.Errorf("BDAT message stored as:\n%q\nwant suffix\n%q", raw, msg)
	}
	if raw := ts.storedRaw(t, id2); !bytes.HasSuffix(raw, []byte(msg2)) {
		t.Errorf("second BDAT message stored as:\n%q", raw)
	}
}

func TestSTARTTLS(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(220, "STARTTLS")

	// The generated certificate must verify for localhost and 127.0.0.1.
	roots := x509.NewCertPool()
	roots.AddCert(ts.TLSConfig().Certificates[0].Leaf)
	for _, name := range []string{"localhost", "127.0.0.1", "mx.test"} {
		if err := ts.TLSConfig().Certificates[0].Leaf.VerifyHostname(name); err != nil {
			t.Errorf("certificate does not cover %s: %v", name, err)
		}
	}
	tc := tls.Client(c.conn, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	c = newClient(t, tc)
	caps := c.cmd(250, "EHLO client.test")
	if strings.Contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS offered again after it: %q", caps)
	}
	id := c.send("a@example.com", []string{"b@example.com"}, message("over tls", "secret"))
	if env := ts.storedMessage(t, id).Envelope; !env.TLS {
		t.Errorf("Envelope.TLS false after STARTTLS: %+v", env)
	}

	// The same with go-smtp's client, which verifies with InsecureSkipVerify off given RootCAs.
	cl, err := smtp.DialStartTLS(ts.addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("DialStartTLS: %v", err)
	}
	defer cl.Close()
	if err := cl.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(message("tls client", "x"))); err != nil {
		t.Fatal(err)
	}
}

// TestImplicitTLS serves SMTPS both ways the command line may wire it.
func TestImplicitTLS(t *testing.T) {
	ts := startServer(t, Options{})
	roots := x509.NewCertPool()
	roots.AddCert(ts.TLSConfig().Certificates[0].Leaf)

	listen := func(t *testing.T, serve func(net.Listener) error) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go serve(l)
		return l.Addr().String()
	}
	for name, serve := range map[string]func(net.Listener) error{
		"ServeTLS":        ts.ServeTLS,
		"tls.NewListener": func(l net.Listener) error { return ts.Serve(tls.NewListener(l, ts.TLSConfig())) },
	} {
		t.Run(name, func(t *testing.T) {
			addr := listen(t, serve)
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t, conn)
			line, err := c.text.ReadLine()
			if err != nil || line != "220 mx.test ESMTP letterbox" {
				t.Fatalf("greeting %q, %v", line, err)
			}
			caps := c.cmd(250, "EHLO client.test")
			if strings.Contains(caps, "STARTTLS") {
				t.Errorf("STARTTLS offered on an implicit TLS connection: %q", caps)
			}
			c.cmd(235, "AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00smtps-user\x00pw")))
			id := c.send("a@example.com", []string{"b@example.com"}, message("smtps", "x"))
			env := ts.storedMessage(t, id).Envelope
			if !env.TLS || env.Username != "smtps-user" {
				t.Errorf("envelope %+v, want TLS and username", env)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	ts := startServer(t, Options{})
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name string
		user string
		auth func(c *client)
	}{
		{"PLAIN initial response", "plain-user", func(c *client) {
			c.cmd(235, "AUTH PLAIN %s", b64("\x00plain-user\x00secret"))
		}},
		{"PLAIN challenge", "plain2", func(c *client) {
			c.cmd(334, "AUTH PLAIN")
			c.cmd(235, "%s", b64("authz\x00plain2\x00secret"))
		}},
		{"LOGIN", "login-user", func(c *client) {
			if got := c.cmd(334, "AUTH LOGIN"); got != b64("Username:") {
				t.Errorf("LOGIN first challenge %q", got)
			}
			if got := c.cmd(334, "%s", b64("login-user")); got != b64("Password:") {
				t.Errorf("LOGIN second challenge %q", got)
			}
			c.cmd(235, "%s", b64("whatever"))
		}},
		{"LOGIN initial response", "login2", func(c *client) {
			c.cmd(334, "AUTH LOGIN %s", b64("login2"))
			c.cmd(235, "%s", b64("pw"))
		}},
		{"CRAM-MD5", "cram user", func(c *client) {
			challenge, err := base64.StdEncoding.DecodeString(c.cmd(334, "AUTH CRAM-MD5"))
			if err != nil || !bytes.HasPrefix(challenge, []byte("<")) || !bytes.HasSuffix(challenge, []byte("@mx.test>")) {
				t.Errorf("CRAM-MD5 challenge %q, %v", challenge, err)
			}
			mac := hmac.New(md5.New, []byte("any password"))
			mac.Write(challenge)
			c.cmd(235, "%s", b64("cram user "+hex.EncodeToString(mac.Sum(nil))))
		}},
		{"go-sasl LOGIN client", "lib-login", nil},
		{"go-sasl PLAIN client", "lib-plain", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var id string
			if tc.auth != nil {
				c := dial(t, ts.addr)
				c.cmd(250, "EHLO client.test")
				tc.auth(c)
				c.cmd(503, "AUTH PLAIN %s", b64("\x00again\x00x")) // once per session
				id = c.send("a@example.com", []string{"b@example.com"}, message(tc.name, "x"))
			} else {
				cl, err := smtp.Dial(ts.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				a := sasl.NewPlainClient("", tc.user, "pw")
				if strings.Contains(tc.name, "LOGIN") {
					a = sasl.NewLoginClient(tc.user, "pw")
				}
				if err := cl.Auth(a); err != nil {
					t.Fatalf("Auth: %v", err)
				}
				id = sendID(t, cl, message(tc.name, "x"))
			}
			m := ts.storedMessage(t, id)
			if m.Envelope.Username != tc.user || m.Username != tc.user {
				t.Errorf("username %q / %q, want %q", m.Envelope.Username, m.Username, tc.user)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.cmd(250, "EHLO client.test")
		c.cmd(334, "AUTH LOGIN")
		c.cmd(501, "*")
		c.cmd(504, "AUTH NTLM")
		id := c.send("a@example.com", []string{"b@example.com"}, message("unauthenticated", "x"))
		if u := ts.storedMessage(t, id).Envelope.Username; u != "" {
			t.Errorf("username %q after a cancelled AUTH", u)
		}
	})
}

// sendID sends msg with a go-smtp client and returns the ID from the 250 reply.
func sendID(t *testing.T, cl *smtp.Client, msg string) string {
	t.Helper()
	if err := cl.Mail("a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rcpt("b@example.com", nil); err != nil {
		t.Fatal(err)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(resp.StatusText, "Ok: queued as ")
	if !ok {
		id, ok = strings.CutPrefix(resp.StatusText, "2.0.0 Ok: queued as ")
	}
	if !ok {
		t.Fatalf("DATA reply %q", resp.StatusText)
	}
	return id
}

func TestNullSender(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	id := c.send("", []string{"bounce-target@example.com"}, message("bounce", "Delivery failed"))
	m := ts.storedMessage(t, id)
	if m.Envelope.MailFrom != "" {
		t.Errorf("MailFrom %q, want the null sender", m.Envelope.MailFrom)
	}
	if got := m.HeaderValues("Return-Path"); len(got) != 1 || got[0] != "<>" {
		t.Errorf("Return-Path %q, want <>", got)
	}
}

// TestBccDerived sends to 100 envelope recipients of which the headers name two: the other 98
// are the message's Bcc.
func TestBccDerived(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	rcpts := make([]string, 100)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("user%03d@example.com", i)
	}
	msg := "From: a@example.com\r\nTo: user000@example.com\r\nCc: User One <USER001@example.com>\r\nSubject: bcc\r\n\r\nhi\r\n"
	id := c.send("a@example.com", rcpts, msg)
	m := ts.storedMessage(t, id)
	if len(m.Envelope.Recipients) != 100 {
		t.Errorf("%d envelope recipients, want 100", len(m.Envelope.Recipients))
	}
	var bcc []string
	for _, a := range m.Bcc {
		bcc = append(bcc, a.Address)
	}
	if want := rcpts[2:]; !slices.Equal(bcc, want) {
		t.Errorf("Bcc %q (%d), want user002..user099 (98)", bcc, len(bcc))
	}
}

// TestManyRecipients pipelines 1,000 RCPT TO commands for one message.
func TestManyRecipients(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(250, "MAIL FROM:<a@example.com>")
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "RCPT TO:<r%d@example.com>\r\n", i)
	}
	go c.conn.Write([]byte(b.String())) // replies are read meanwhile: no deadlock on full buffers
	for range 1000 {
		c.expect(250)
	}
	code, text := c.data(message("thousand", "x"))
	if code != 250 {
		t.Fatalf("DATA %d %s", code, text)
	}
	if got := ts.storedMessage(t, queuedID(t, text)).Envelope.Recipients; len(got) != 1000 || got[999] != "r999@example.com" {
		t.Errorf("%d recipients stored", len(got))
	}
}

func TestSMTPUTF8(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(250, "MAIL FROM:<josé@exemple.fr> SMTPUTF8")
	c.cmd(250, "RCPT TO:<用户@例子.广告>")
	msg := "From: José <josé@exemple.fr>\r\nTo: 用户@例子.广告\r\nSubject: Grüße\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nÇa marche.\r\n"
	code, text := c.data(msg)
	if code != 250 {
		t.Fatalf("DATA %d %s", code, text)
	}
	m := ts.storedMessage(t, queuedID(t, text))
	if m.Envelope.MailFrom != "josé@exemple.fr" || !slices.Equal(m.Envelope.Recipients, []string{"用户@例子.广告"}) {
		t.Errorf("envelope %+v", m.Envelope)
	}
	if m.Subject != "Grüße" || m.From.Address != "josé@exemple.fr" {
		t.Errorf("subject %q from %+v", m.Subject, m.From)
	}
}

// TestOversize checks that a message over the limit gets 552 5.3.4 and that the session then
// carries on: with DATA, with BDAT, and with a declared SIZE.
func TestOversize(t *testing.T) {
	const limit = 10 << 10
	ts := startServer(t, Options{MaxMessageSize: limit})
	big := message("too big", strings.Repeat("0123456789abcdef\r\n", 2*limit/18))
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")

	c.cmd(250, "MAIL FROM:<a@example.com>")
	c.cmd(250, "RCPT TO:<b@example.com>")
	if code, text := c.data(big); code != 552 || !strings.HasPrefix(text, "5.3.4 ") {
		t.Fatalf("oversize DATA got %d %s, want 552 5.3.4", code, text)
	}
	id := c.send("a@example.com", []string{"b@example.com"}, message("normal after big", "small"))
	if m := ts.storedMessage(t, id); m.Subject != "normal after big" {
		t.Errorf("stored %q", m.Subject)
	}

	c.cmd(250, "MAIL FROM:<a@example.com>")
	c.cmd(250, "RCPT TO:<b@example.com>")
	c.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(big), big))
	if text := c.expect(552); !strings.HasPrefix(text, "5.3.4 ") {
		t.Errorf("oversize BDAT: %s", text)
	}
	c.cmd(552, "MAIL FROM:<a@example.com> SIZE=%d", limit+1)
	c.send("a@example.com", []string{"b@example.com"}, message("normal after BDAT", "small"))
	c.cmd(221, "QUIT")

	if st := ts.Stats(); st.SMTPAccepted != 2 || st.SMTPRejected != 1 {
		// BDAT and SIZE are refused by go-smtp before the message reaches the session.
		t.Errorf("Stats %+v, want 2 accepted and 1 rejected", st)
	}
	res, err := ts.store.Search(context.Background(), store.Filter{}, store.Page{})
	if err != nil || res.Total != 2 {
		t.Errorf("store holds %d messages (%v), want 2", res.Total, err)
	}
}

// TestLongLines: real mail breaks RFC 5321's 1,000-octet limit, and is accepted far beyond it.
func TestLongLines(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	long := "X-Long: " + strings.Repeat("abcdefghij", 10000) // a 100,008-character header line
	html := "<html><body>" + strings.Repeat("<p>minified</p>", 20000) + "</body></html>"
	msg := message("long lines", html, long, "Content-Type: text/html")
	id := c.send("a@example.com", []string{"b@example.com"}, msg)
	if raw := ts.storedRaw(t, id); !bytes.HasSuffix(raw, []byte(msg)) {
		t.Errorf("long-line message not stored intact (%d bytes stored)", len(raw))
	}
	if got := ts.storedMessage(t, id).HeaderValues("X-Long"); len(got) != 1 || len(got[0]) != 100000 {
		t.Errorf("X-Long header not kept whole")
	}
}

// TestLineTooLong: a line over MaxLineLength is refused (the connection cannot carry on: go-smtp
// drops its input), and counted.
func TestLineTooLong(t *testing.T) {
	ts := startServer(t, Options{MaxLineLength: 4096})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(250, "MAIL FROM:<a@example.com>")
	c.cmd(250, "RCPT TO:<b@example.com>")
	c.cmd(354, "DATA")
	c.write(message("too long", strings.Repeat("y", 10000)) + ".\r\n")
	if text := c.expect(552); !strings.HasPrefix(text, "5.3.4 Line too long") {
		t.Errorf("got %q", text)
	}
	if st := ts.Stats(); st.SMTPRejected != 1 || st.SMTPAccepted != 0 {
		t.Errorf("Stats %+v", st)
	}
	// A new connection is served normally.
	c = dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.send("a@example.com", []string{"b@example.com"}, message("fine", strings.Repeat("z", 4000)))
}

func TestConnectionLimit(t *testing.T) {
	ts := startServer(t, Options{MaxConnections: 2})
	c1 := dial(t, ts.addr)
	c2 := dial(t, ts.addr)
	c3 := dialNoGreeting(t, ts.addr)
	line, err := c3.text.ReadLine()
	if err != nil || line != "421 4.7.0 Too many connections" {
		t.Fatalf("third connection got %q, %v", line, err)
	}
	if _, err := c3.text.ReadLine(); err != io.EOF {
		t.Errorf("third connection not closed after 421: %v", err)
	}
	c1.cmd(250, "EHLO client.test") // the first two are served
	c2.cmd(250, "EHLO client.test")

	// Once one quits, its slot is free again; the server notices the close asynchronously.
	c1.cmd(221, "QUIT")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialNoGreeting(t, ts.addr)
		line, err := c.text.ReadLine()
		if err == nil && strings.HasPrefix(line, "220 ") {
			break
		}
		if line != "421 4.7.0 Too many connections" || time.Now().After(deadline) {
			t.Fatalf("connection after a slot freed got %q, %v", line, err)
		}
		c.conn.Close()
		time.Sleep(10 * time.Millisecond) // polling with a deadline: the slot frees when go-smtp closes
	}
}

// TestStoreFailure: when the store fails the client gets a temporary failure, never a 250, and the
// session remains usable.
func TestStoreFailure(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	if err := ts.store.Close(); err != nil {
		t.Fatal(err)
	}
	c.cmd(250, "MAIL FROM:<a@example.com>")
	c.cmd(250, "RCPT TO:<b@example.com>")
	if code, text := c.data(message("lost?", "x")); code != 451 || !strings.HasPrefix(text, "4.3.0 ") {
		t.Fatalf("DATA with a closed store got %d %s, want 451 4.3.0", code, text)
	}
	c.cmd(250, "NOOP")
	c.cmd(250, "MAIL FROM:<a@example.com>")
	c.cmd(250, "RCPT TO:<b@example.com>")
	c.write("BDAT 5 LAST\r\nx\r\n\r\n")
	if text := c.expect(451); !strings.HasPrefix(text, "4.3.0 ") {
		t.Errorf("BDAT with a closed store: %s", text)
	}
	c.cmd(221, "QUIT")
	if st := ts.Stats(); st.SMTPRejected != 2 || st.SMTPAccepted != 0 {
		t.Errorf("Stats %+v", st)
	}
}

// deliverFunc adapts a function to Deliverer.
type deliverFunc func(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error)

func (f deliverFunc) Add(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error) {
	return f(ctx, env, raw)
}

// TestPanicRecovered: a panic while storing closes that connection with 421, not the server.
func TestPanicRecovered(t *testing.T) {
	ts := startWith(t, deliverFunc(func(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error) {
		io.Copy(io.Discard, raw)
		if env.MailFrom == "panic@example.com" {
			panic("deliberate test panic")
		}
		return store.Summary{ID: "fake1"}, nil
	}), Options{})
	for _, bdat := range []bool{false, true} {
		c := dial(t, ts.addr)
		c.cmd(250, "EHLO client.test")
		c.cmd(250, "MAIL FROM:<panic@example.com>")
		c.cmd(250, "RCPT TO:<b@example.com>")
		if bdat {
			c.write("BDAT 3 LAST\r\nx\r\n")
			c.expect(421)
		} else if code, text := c.data("x\r\n"); code != 421 {
			t.Errorf("panic answered %d %s, want 421", code, text)
		}
		if _, err := c.text.ReadLine(); err == nil {
			t.Error("connection still open after a panic")
		}
	}
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	if id := c.send("ok@example.com", []string{"b@example.com"}, "x\r\n"); id != "fake1" {
		t.Errorf("id %q", id)
	}
}

// TestShutdown: Shutdown stops accepting, lets the transaction in progress finish and store its
// message, refuses to start new ones, then closes every connection.
func TestShutdown(t *testing.T) {
	ts := startServer(t, Options{})
	busy := dial(t, ts.addr)
	busy.cmd(250, "EHLO client.test")
	idle := dial(t, ts.addr)
	idle.cmd(250, "EHLO client.test")
	// A session encrypted with STARTTLS must get nothing in plain text when it is closed.
	secure := dial(t, ts.addr)
	secure.cmd(250, "EHLO client.test")
	secure.cmd(220, "STARTTLS")
	tc := tls.Client(secure.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	secure = newClient(t, tc)
	secure.cmd(250, "EHLO client.test")
	busy.cmd(250, "MAIL FROM:<a@example.com>")
	busy.cmd(250, "RCPT TO:<b@example.com>")
	busy.cmd(354, "DATA")
	msg := message("in flight during shutdown", "first half\r\nsecond half")
	busy.write(msg[:len(msg)/2])

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shutdown <- ts.Shutdown(ctx)
	}()
	select {
	case err := <-ts.done:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve returned %v", err)
		}
		ts.done <- err // for the cleanup's check
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if conn, err := net.Dial("tcp", ts.addr); err == nil {
		conn.Close()
		t.Error("listener still accepting after Shutdown")
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with a transaction in progress", err)
	default:
	}
	idle.cmd(421, "MAIL FROM:<late@example.com>")

	busy.write(msg[len(msg)/2:] + ".\r\n")
	id := queuedID(t, busy.expect(250))
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if m := ts.storedMessage(t, id); m.Subject != "in flight during shutdown" {
		t.Errorf("stored %q", m.Subject)
	}
	// Each client is told the server is going away (RFC 5321 3.8), then the connection closes.
	for _, c := range []*client{busy, idle} {
		c.expect(421)
		if _, err := c.text.ReadLine(); err == nil {
			t.Error("connection open after Shutdown returned")
		}
	}
	// A session encrypted with STARTTLS is told too, through TLS, and its TLS session then ends cleanly.
	secure.expect(421)
	if line, err := secure.text.ReadLine(); err != io.EOF {
		t.Errorf("STARTTLS session at shutdown: read %q, %v; want the TLS session closed cleanly", line, err)
	}
	if err := ts.Shutdown(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Errorf("second Shutdown: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

// TestShutdownDeadline: a transaction that does not finish in time is cut off when ctx ends.
func TestShutdownDeadline(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.cmd(250, "MAIL FROM:<a@example.com>")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want deadline exceeded", err)
	}
	c.expect(421)
	if _, err := c.text.ReadLine(); err == nil {
		t.Error("connection open after Shutdown returned")
	}
}

func TestGenerateCertificate(t *testing.T) {
	cert, err := GenerateCertificate("mail.example", "localhost", "127.0.0.1", "::1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"mail.example", "localhost"}) || len(leaf.IPAddresses) != 2 {
		t.Errorf("names %q %v", leaf.DNSNames, leaf.IPAddresses)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, name := range []string{"mail.example", "localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: roots}); err == nil {
		t.Error("certificate verifies for a name it was not made for")
	}
	if _, err := GenerateCertificate(); err == nil {
		t.Error("no hosts: no error")
	}
}

func TestNewOptions(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) did not fail")
	}
	srv, err := New(deliverFunc(nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Hostname() == "" || srv.TLSConfig() == nil || cap(srv.slots) != DefaultMaxConnections ||
		srv.smtp.MaxMessageBytes != DefaultMaxMessageSize || srv.smtp.MaxLineLength != DefaultMaxLineLength {
		t.Errorf("zero Options not defaulted: %+v", srv.smtp)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close of an unstarted server: %v", err)
	}
	if err := srv.Close(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("second Close: %v", err)
	}
	srv, err = New(deliverFunc(nil), Options{MaxConnections: -1, MaxMessageSize: -1, MaxLineLength: -1, ReadTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	if srv.slots != nil || srv.smtp.MaxMessageBytes != 0 || srv.smtp.MaxLineLength != 0 || srv.smtp.ReadTimeout != 0 {
		t.Errorf("negative Options not unlimited")
	}
}

// TestIdleTimeout: a client that says nothing for ReadTimeout is told so and disconnected.
func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, Options{ReadTimeout: 200 * time.Millisecond})
	c := dial(t, ts.addr)
	// The server arms the timeout when it starts waiting for the next command, after it wrote the
	// EHLO reply, so before this client has read it: a clock started after the reply may lag the
	// server's by a fraction of a millisecond. A clock started before EHLO is sent never leads it.
	start := time.Now()
	c.cmd(250, "EHLO client.test")
	if text := c.expect(421); !strings.HasPrefix(text, "4.4.2 ") {
		t.Errorf("idle client got 421 %s", text)
	}
	if _, err := c.text.ReadLine(); err != io.EOF {
		t.Errorf("idle connection not closed: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("disconnected after %v, before the timeout", d)
	}

	// Implicit TLS: a client that never starts the handshake is dropped too.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.ServeTLS(l)
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("silent TLS client: read %v, want EOF", err)
	}
}

func TestMaxRecipients(t *testing.T) {
	ts := startServer(t, Options{MaxRecipients: 3})
	c := dial(t, ts.addr)
	if caps := c.cmd(250, "EHLO client.test"); !strings.Contains(caps, "LIMITS RCPTMAX=3") {
		t.Errorf("EHLO %q", caps)
	}
	c.cmd(250, "MAIL FROM:<a@example.com>")
	for i := range 3 {
		c.cmd(250, "RCPT TO:<r%d@example.com>", i)
	}
	if text := c.cmd(452, "RCPT TO:<r3@example.com>"); !strings.HasPrefix(text, "4.5.3 ") {
		t.Errorf("fourth RCPT: %s", text)
	}
	code, text := c.data(message("three recipients", "x"))
	if code != 250 {
		t.Fatalf("DATA %d %s", code, text)
	}
	if got := ts.storedMessage(t, queuedID(t, text)).Envelope.Recipients; len(got) != 3 {
		t.Errorf("recipients %q", got)
	}
}

// TestGoSMTPLogSilentAfterClose: go-smtp's connection goroutines may report their end after
// Close has returned; what they say then is dropped, so nothing is logged after Close.
func TestGoSMTPLogSilentAfterClose(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, string(p))
		return len(p), nil
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(deliverFunc(nil), Options{Hostname: "mx.test", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv.smtp.ErrorLog.Printf("error handling %v: %s", "127.0.0.1:1", "before")
	srv.Close()
	srv.smtp.ErrorLog.Printf("error handling %v: %s", "127.0.0.1:1", "after")
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 1 || !strings.Contains(logged[0], "before") {
		t.Errorf("logged %q, want only the line from before Close", logged)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
