package letterboxtest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/letterboxtest"
	"github.com/letterbox-mail/letterbox/policy"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/webhook"
)

// signUp is the application under test: it mails a confirmation link over SMTP.
func signUp(smtpAddr, email string) error {
	msg := "From: Acme <no-reply@acme.test>\r\nTo: " + email + "\r\nSubject: Confirm your account\r\n\r\n" +
		"Welcome! Confirm here: https://acme.test/confirm?token=T0K3N\r\n"
	return sendMail(smtpAddr, "no-reply@acme.test", email, msg)
}

// sendMail sends one message over plain SMTP, as many applications do against a local catcher.
func sendMail(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestSignUpMailArrives(t *testing.T) {
	mail := letterboxtest.Start(t)
	if err := signUp(mail.SMTPAddr(), "dev@app.test"); err != nil {
		t.Fatal(err)
	}
	list, err := mail.Client().WaitFor(t.Context(), "to:dev@app.test subject:confirm", client.WaitOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.Client().Get(t.Context(), list.Messages[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "https://acme.test/confirm?token=T0K3N") || msg.Envelope.MailFrom != "no-reply@acme.test" {
		t.Errorf("message: %+v", msg)
	}
	h, err := mail.Client().Headers(t.Context(), msg.ID)
	if err != nil || len(h["Received"]) != 1 || !strings.Contains(h["Received"][0], "by letterbox.test") {
		t.Errorf("Received: %v %v", h["Received"], err)
	}
	// The URL is the API a browser or any HTTP client can use.
	res, err := http.Get(mail.URL() + "/api/v1/messages")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", mail.URL(), res, err)
	}
	res.Body.Close()
	if mail.POP3Addr() != "" || mail.IMAPAddr() != "" {
		t.Errorf("POP3 %q and IMAP %q run without being asked", mail.POP3Addr(), mail.IMAPAddr())
	}
}

func TestCleanupStopsEverything(t *testing.T) {
	var smtpAddr, url string
	t.Run("inner", func(t *testing.T) {
		mail := letterboxtest.Start(t)
		smtpAddr, url = mail.SMTPAddr(), mail.URL()
		if c, err := net.Dial("tcp", smtpAddr); err != nil {
			t.Fatal(err)
		} else {
			c.Close()
		}
	})
	if c, err := net.DialTimeout("tcp", smtpAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("SMTP %s still listens after the test ended", smtpAddr)
	}
	if res, err := http.Get(url + "/livez"); err == nil {
		res.Body.Close()
		t.Errorf("HTTP %s still answers after the test ended", url)
	}
}

func TestTwoServersAtOnce(t *testing.T) {
	a, b := letterboxtest.Start(t), letterboxtest.Start(t)
	if a.SMTPAddr() == b.SMTPAddr() || a.URL() == b.URL() {
		t.Fatalf("same addresses: %s %s", a.SMTPAddr(), a.URL())
	}
	if err := signUp(a.SMTPAddr(), "one@app.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client().WaitFor(t.Context(), "to:one@app.test", client.WaitOptions{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if l, err := b.Client().List(t.Context(), 0, 0); err != nil || l.Total != 0 {
		t.Errorf("the second server has messages: %+v %v", l, err)
	}
}

func TestWithAuth(t *testing.T) {
	mail := letterboxtest.Start(t, letterboxtest.WithAuth("alice", "s3cret"), letterboxtest.WithPOP3())
	if err := signUp(mail.SMTPAddr(), "alice@app.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := mail.Client().WaitFor(t.Context(), "", client.WaitOptions{Timeout: 10 * time.Second}); err != nil {
		t.Fatalf("the ready client has the credentials: %v", err)
	}
	anon, _ := client.New(mail.URL())
	if _, err := anon.List(t.Context(), 0, 0); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("without credentials: %v", err)
	}
	if got := pop3Login(t, mail.POP3Addr(), "alice", "wrong"); !strings.HasPrefix(got, "-ERR") {
		t.Errorf("POP3 with a wrong password: %q", got)
	}
	if got := pop3Login(t, mail.POP3Addr(), "alice", "s3cret"); !strings.HasPrefix(got, "+OK") {
		t.Errorf("POP3 with the password: %q", got)
	}
}

// pop3Login sends USER and PASS and returns the answer to PASS.
func pop3Login(t *testing.T, addr, user, pass string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	line := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(l)
	}
	line() // greeting
	conn.Write([]byte("USER " + user + "\r\n"))
	line()
	conn.Write([]byte("PASS " + pass + "\r\n"))
	return line()
}

func TestWithDBKeepsMessages(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kept.db")
	t.Run("first run", func(t *testing.T) {
		mail := letterboxtest.Start(t, letterboxtest.WithDB(db))
		if err := signUp(mail.SMTPAddr(), "kept@app.test"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("second run", func(t *testing.T) {
		mail := letterboxtest.Start(t, letterboxtest.WithDB(db), letterboxtest.WithIMAP())
		l, err := mail.Client().Search(t.Context(), "to:kept@app.test", 0, 0)
		if err != nil || l.MessagesCount != 1 {
			t.Errorf("after a restart on the same database: %+v %v", l, err)
		}
		if mail.IMAPAddr() == "" {
			t.Error("WithIMAP: no IMAP address")
		}
	})
}

func TestWithMaxMessageSize(t *testing.T) {
	mail := letterboxtest.Start(t, letterboxtest.WithMaxMessageSize(1024), letterboxtest.WithHostname("mx.example"))
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 2048) + "\r\n"
	err := sendMail(mail.SMTPAddr(), "a@example.com", "b@example.com", big)
	var perr *textproto.Error
	if !errors.As(err, &perr) || perr.Code != 552 {
		t.Errorf("a message over the limit: %v", err)
	}
	c, err := smtp.Dial(mail.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("me"); err != nil {
		t.Fatal(err)
	}
	if ok, size := c.Extension("SIZE"); !ok || size != "1024" {
		t.Errorf("SIZE %v %q", ok, size)
	}
	if err := sendMail(mail.SMTPAddr(), "a@example.com", "b@example.com", "Subject: small\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	h, err := mail.Client().Headers(t.Context(), "latest")
	if err != nil || len(h["Received"]) != 1 || !strings.Contains(h["Received"][0], "by mx.example") {
		t.Errorf("WithHostname: Received %v %v", h["Received"], err)
	}
}

// A test of the application's own webhook receiver: letterbox calls it for each message.
func TestWithWebhook(t *testing.T) {
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header, body}
	}))
	defer hook.Close()
	mail := letterboxtest.Start(t, letterboxtest.WithWebhook(hook.URL, "shh"))
	if err := signUp(mail.SMTPAddr(), "hooked@app.test"); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		var sum client.Summary
		if err := json.Unmarshal(d.body, &sum); err != nil || sum.To[0].Address != "hooked@app.test" {
			t.Errorf("webhook body %s: %v", d.body, err)
		}
		if err := webhook.Verify("shh", d.header, d.body, time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook within 10s")
	}
}

// WithDB takes a postgres:// URL as letterbox --db does.
func TestWithPostgres(t *testing.T) {
	db := pgtest.Database(t)
	mail := letterboxtest.Start(t, letterboxtest.WithDB(db))
	if err := signUp(mail.SMTPAddr(), "pg@app.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := mail.Client().WaitFor(t.Context(), "to:pg@app.test", client.WaitOptions{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
}

// bouncer refuses one recipient permanently and drops the connection of messages that say "drop".
type bouncer struct{}

func (bouncer) Wants(s smtpd.Stage) bool { return s == smtpd.StageRcpt || s == smtpd.StageDataEnd }

func (bouncer) Check(_ context.Context, c *smtpd.Check) smtpd.Action {
	switch {
	case c.Stage == smtpd.StageRcpt && c.Recipient == "gone@app.test":
		return smtpd.Action{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"}
	case c.Stage == smtpd.StageDataEnd && strings.Contains(string(c.Data), "drop"):
		return smtpd.Action{Disconnect: true}
	}
	return smtpd.Action{}
}

// A test of how the application copes with refusals: the policy decides, the mail that gets
// through is stored, the refused is not.
func TestWithSMTPPolicy(t *testing.T) {
	mail := letterboxtest.Start(t, letterboxtest.WithSMTPPolicy(bouncer{}))
	err := signUp(mail.SMTPAddr(), "gone@app.test")
	var perr *textproto.Error
	if !errors.As(err, &perr) || perr.Code != 550 || !strings.Contains(perr.Msg, "no such user") {
		t.Errorf("refused recipient: %v", err)
	}
	if err := sendMail(mail.SMTPAddr(), "a@app.test", "b@app.test", "Subject: x\r\n\r\nplease drop this\r\n"); err == nil {
		t.Error("dropped connection: no error")
	}
	if err := signUp(mail.SMTPAddr(), "here@app.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := mail.Client().WaitFor(t.Context(), "to:here@app.test", client.WaitOptions{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if l, err := mail.Client().List(t.Context(), 0, 0); err != nil || l.Total != 1 {
		t.Errorf("stored: %+v %v", l, err)
	}
}

// The fault-injection rules: a bounce for one address, two temporary failures before the
// server takes the mail (what an application's retry logic must survive), and rules changed mid-test.
func TestWithSMTPRules(t *testing.T) {
	mail := letterboxtest.Start(t, letterboxtest.WithSMTPRules(
		policy.Rule{Stage: "rcpt", To: "bounce-*@app.test", Reply: &policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "{address}: user unknown"}},
		policy.Rule{Stage: "data-end", Header: &policy.Header{Name: "X-Attempt"}, Count: 2, Reply: &policy.Reply{Code: 451, Enhanced: "4.3.0", Text: "try again later"}},
	))
	var perr *textproto.Error
	err := signUp(mail.SMTPAddr(), "bounce-7@app.test")
	if !errors.As(err, &perr) || perr.Code != 550 || !strings.Contains(perr.Msg, "bounce-7@app.test: user unknown") {
		t.Errorf("bounce: %v", err)
	}
	msg := "X-Attempt: yes\r\nTo: retry@app.test\r\nSubject: retried\r\n\r\nhello\r\n"
	attempts := 0
	for {
		attempts++
		err := sendMail(mail.SMTPAddr(), "app@app.test", "retry@app.test", msg)
		if err == nil {
			break
		}
		if !errors.As(err, &perr) || perr.Code != 451 || attempts > 5 {
			t.Fatalf("attempt %d: %v", attempts, err)
		}
	}
	if attempts != 3 {
		t.Errorf("accepted at attempt %d, want 3", attempts)
	}
	if l, _ := mail.Client().Search(t.Context(), "subject:retried", 0, 0); l == nil || l.MessagesCount != 1 {
		t.Errorf("the retried message is stored %+v times", l)
	}

	if err := mail.SetSMTPRules(policy.Rule{Stage: "mail", Reply: &policy.Reply{Code: 421, Text: "closing"}}); err != nil {
		t.Fatal(err)
	}
	if err := signUp(mail.SMTPAddr(), "any@app.test"); !errors.As(err, &perr) || perr.Code != 421 {
		t.Errorf("after SetSMTPRules: %v", err)
	}
	if err := mail.SetSMTPRules(policy.Rule{Stage: "nope"}); err == nil {
		t.Error("a rule with an unknown stage was taken")
	}
	if err := mail.SetSMTPRules(); err != nil {
		t.Fatal(err)
	}
	if err := signUp(mail.SMTPAddr(), "bounce-7@app.test"); err != nil {
		t.Errorf("with no rules: %v", err)
	}
}
