package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
)

// serve runs an SMTP server with the engine over a real store on 127.0.0.1:0.
func serve(t *testing.T, e *Engine) (addr string, st *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "lb.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := smtpd.New(st, smtpd.Options{Hostname: "mx.test", Policy: e, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), st
}

const msg = "From: app@example.com\r\nTo: user@example.com\r\nSubject: hello\r\n\r\nhi\r\n"

// sendGoSMTP sends one message with go-smtp's client (no STARTTLS) and returns its error.
func sendGoSMTP(addr, from, to string) error {
	c, err := gosmtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.SendMail(from, []string{to}, strings.NewReader(msg))
}

// TestFailNextThreeRetryLoop: "fail the next 3, then accept" drives a real client's retry loop
// to success on its fourth try, with the exact code each time.
func TestFailNextThreeRetryLoop(t *testing.T) {
	e := engine(t, Options{Rules: []Rule{{Stage: "mail", Count: 3, Reply: &Reply{Code: 451, Enhanced: "4.3.0", Text: "try again later"}}}})
	addr, st := serve(t, e)
	var tries int
	var errs []error
	for tries = 1; tries <= 10; tries++ {
		err := sendGoSMTP(addr, "app@example.com", "user@example.com")
		if err == nil {
			break
		}
		var se *gosmtp.SMTPError
		if !errors.As(err, &se) || !se.Temporary() {
			t.Fatalf("try %d: %v, want a temporary SMTP error", tries, err)
		}
		if se.Code != 451 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 3, 0}) || se.Message != "try again later" {
			t.Fatalf("try %d: %d %v %q", tries, se.Code, se.EnhancedCode, se.Message)
		}
		errs = append(errs, err)
	}
	if tries != 4 {
		t.Fatalf("succeeded on try %d, want 4 (errors %v)", tries, errs)
	}
	res, err := st.Search(context.Background(), store.Filter{}, store.Page{})
	if err != nil || res.Total != 1 {
		t.Errorf("%d messages stored, %v", res.Total, err)
	}
}

// TestSeedRepeatsOverSMTP: with --chaos-seed, a 50% rule refuses the same recipients in the same
// order in two runs.
func TestSeedRepeatsOverSMTP(t *testing.T) {
	seed := uint64(7)
	run := func() string {
		e := engine(t, Options{Seed: &seed, Rules: []Rule{{Stage: "rcpt", Probability: prob(50), Reply: &Reply{Code: 450, Enhanced: "4.2.0", Text: "mailbox busy"}}}})
		addr, _ := serve(t, e)
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("app@example.com"); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i := range 40 {
			err := c.Rcpt(fmt.Sprintf("user%d@example.com", i))
			var te *textproto.Error
			switch {
			case err == nil:
				b.WriteByte('.')
			case errors.As(err, &te) && te.Code == 450 && te.Msg == "4.2.0 mailbox busy":
				b.WriteByte('x')
			default:
				t.Fatalf("RCPT: %v", err)
			}
		}
		return b.String()
	}
	first, second := run(), run()
	if first != second {
		t.Errorf("same seed, different refusals:\n%s\n%s", first, second)
	}
	if !strings.Contains(first, "x") || !strings.Contains(first, ".") {
		t.Errorf("50%% refused %s", first)
	}
}

// TestRecipientsAndVrfy: the recipient list answers RCPT TO and VRFY, as an address-verification
// service probes (it stops after RCPT TO).
func TestRecipientsAndVrfy(t *testing.T) {
	list, err := ParseRecipients("alice@example.com,*@team.test")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serve(t, engine(t, Options{Recipients: list}))
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Verify("alice@example.com"); err != nil {
		t.Errorf("VRFY a listed address: %v", err)
	}
	var te *textproto.Error
	if err := c.Verify("mallory@example.com"); !errors.As(err, &te) || te.Code != 550 ||
		te.Msg != "5.1.1 <mallory@example.com>: Recipient address rejected: User unknown" {
		t.Errorf("VRFY an unknown address: %v", err)
	}
	if err := c.Mail("probe@verifier.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@team.test"); err != nil {
		t.Errorf("RCPT a listed pattern: %v", err)
	}
	if err := c.Rcpt("nobody@example.com"); !errors.As(err, &te) || te.Code != 550 ||
		te.Msg != "5.1.1 <nobody@example.com>: Recipient address rejected: User unknown" {
		t.Errorf("RCPT an unknown address: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Error(err)
	}
}

// TestChaosAndJimOverSMTP: Mailpit's trigger and Jim's refusals reach the client as they say.
func TestChaosAndJimOverSMTP(t *testing.T) {
	e := engine(t, Options{ChaosEnabled: true})
	addr, _ := serve(t, e)
	if _, err := e.SetChaos(ChaosTriggers{Recipient: ChaosTrigger{ErrorCode: 550, Probability: 100}}); err != nil {
		t.Fatal(err)
	}
	var se *gosmtp.SMTPError
	if err := sendGoSMTP(addr, "a@example.com", "b@example.com"); !errors.As(err, &se) || se.Code != 550 || se.Message != "Chaos recipient error" {
		t.Errorf("chaos recipient: %v", err)
	}
	e.SetChaos(ChaosTriggers{})
	e.SetJim(&Jim{AcceptChance: 1, RejectSenderChance: 1})
	if err := sendGoSMTP(addr, "a@example.com", "b@example.com"); !errors.As(err, &se) || se.Code != 550 || se.Message != "Invalid sender <a@example.com>" {
		t.Errorf("jim sender: %v", err)
	}
	e.SetJim(&Jim{AcceptChance: 0})
	if c, err := gosmtp.Dial(addr); err == nil {
		if err := c.Hello("client.test"); err == nil {
			t.Error("jim let a connection in at AcceptChance 0")
		}
		c.Close()
	}
	e.SetJim(nil)
	if err := sendGoSMTP(addr, "a@example.com", "b@example.com"); err != nil {
		t.Errorf("all off: %v", err)
	}
}

// TestJimEachChanceOverSMTP: each of Jim's chances at 1 does what MailHog's Jim does, seen by a
// real client: recipients and AUTH refused with their codes, a command answered by a hang-up,
// and a connection slowed to a link speed within LinkSpeedMin..LinkSpeedMax.
func TestJimEachChanceOverSMTP(t *testing.T) {
	e := engine(t, Options{Jim: &Jim{AcceptChance: 1, RejectRecipientChance: 1}})
	addr, st := serve(t, e)
	var se *gosmtp.SMTPError
	if err := sendGoSMTP(addr, "a@example.com", "b@example.com"); !errors.As(err, &se) || se.Code != 550 ||
		se.EnhancedCode != (gosmtp.EnhancedCode{5, 1, 1}) || se.Message != "Invalid recipient <b@example.com>" {
		t.Errorf("jim recipient: %v", err)
	}

	e.SetJim(&Jim{AcceptChance: 1, RejectAuthChance: 1})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	var te *textproto.Error
	if err := c.Auth(smtp.PlainAuth("", "user", "pass", "127.0.0.1")); !errors.As(err, &te) || te.Code != 535 ||
		te.Msg != "5.7.8 Authentication credentials invalid" {
		t.Errorf("jim auth: %v", err)
	}
	c.Close()

	e.SetJim(&Jim{AcceptChance: 1, DisconnectChance: 1})
	c, err = smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.test"); err == nil || errors.As(err, &te) {
		t.Errorf("jim disconnect: EHLO answered %v, want the connection dropped", err)
	}
	c.Close()

	// 2,000 bytes a second: the greeting and EHLO's reply (~200 bytes) take about 0.1 s.
	e.SetJim(&Jim{AcceptChance: 1, LinkSpeedAffect: 1, LinkSpeedMin: 2000, LinkSpeedMax: 2000})
	start := time.Now()
	c, err = smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("jim link speed: greeting and EHLO in %v, want them slowed to 2,000 B/s", d)
	}
	if res, _ := st.Search(context.Background(), store.Filter{}, store.Page{}); res.Total != 0 {
		t.Errorf("%d messages stored", res.Total)
	}
}

// TestEachStageGoSMTPClient: a rule at each stage, through the engine, reaches go-smtp's client
// as the exact *SMTPError (code, enhanced code, text), for 554 and for 421 (that it then closes
// is TestPolicy421ClosesAfterReply's); a disconnect rule at each stage leaves the client with a
// broken connection and no reply (at data: in the middle of the message, after the 354); and
// nothing is stored.
func TestEachStageGoSMTPClient(t *testing.T) {
	// conversation runs a whole transaction and returns the first error and the step that gave it.
	conversation := func(addr string) (string, error) {
		c, err := gosmtp.Dial(addr)
		if err != nil {
			return "dial", err
		}
		defer c.Close()
		if err := c.Hello("client.test"); err != nil {
			return "connect or helo", err
		}
		if err := c.Auth(sasl.NewPlainClient("", "qa-user", "pw")); err != nil {
			return "auth", err
		}
		if err := c.Mail("app@example.com", nil); err != nil {
			return "mail", err
		}
		if err := c.Rcpt("user@example.com", nil); err != nil {
			return "rcpt", err
		}
		w, err := c.Data()
		if err != nil {
			return "data", err
		}
		io.WriteString(w, msg)
		if err := w.Close(); err != nil {
			return "data-end", err
		}
		return "", c.Quit()
	}
	for _, tc := range []struct{ stage, step string }{
		{"connect", "connect or helo"}, {"helo", "connect or helo"}, {"auth", "auth"}, {"mail", "mail"},
		{"rcpt", "rcpt"}, {"data", "data"}, {"data-end", "data-end"},
	} {
		for _, code := range []int{554, 421} {
			t.Run(fmt.Sprintf("%s/%d", tc.stage, code), func(t *testing.T) {
				enh := gosmtp.EnhancedCode{code / 100, 7, 1}
				e := engine(t, Options{Rules: []Rule{{Stage: tc.stage, Reply: &Reply{Code: code, Enhanced: fmt.Sprintf("%d.7.1", code/100), Text: "refused at " + tc.stage}}}})
				addr, st := serve(t, e)
				step, err := conversation(addr)
				var se *gosmtp.SMTPError
				if step != tc.step || !errors.As(err, &se) || se.Code != code || se.EnhancedCode != enh || se.Message != "refused at "+tc.stage {
					t.Fatalf("at %s: %v (%T), want %d %v refused at %s at %s", step, err, err, code, enh, tc.stage, tc.step)
				}
				if res, _ := st.Search(context.Background(), store.Filter{}, store.Page{}); res.Total != 0 {
					t.Errorf("%d messages stored", res.Total)
				}
			})
		}
		t.Run(tc.stage+"/disconnect", func(t *testing.T) {
			e := engine(t, Options{Rules: []Rule{{Stage: tc.stage, Disconnect: true}}})
			addr, st := serve(t, e)
			step, err := conversation(addr)
			want := tc.step
			if tc.stage == "data" {
				want = "data-end" // a drop at data cuts the message off
			}
			var se *gosmtp.SMTPError
			if step != want || err == nil || errors.As(err, &se) {
				t.Fatalf("at %s: %v, want the connection dropped without a reply at %s", step, err, want)
			}
			if res, _ := st.Search(context.Background(), store.Filter{}, store.Page{}); res.Total != 0 {
				t.Errorf("%d messages stored", res.Total)
			}
		})
	}
}
