package client_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/internal/smtptest"
	"github.com/letterbox-mail/letterbox/letterboxtest"
	"github.com/letterbox-mail/letterbox/relay"
	"github.com/letterbox-mail/letterbox/smtpd"
)

// Release relays a caught message to the configured SMTP server: here a second letterbox stands
// in for the real one; it refuses one recipient, as a real server may.
func TestRelease(t *testing.T) {
	upstream := letterboxtest.Start(t, letterboxtest.WithSMTPPolicy(refuse{"nobody@example.net"}))
	host, portText, _ := net.SplitHostPort(upstream.SMTPAddr())
	port, _ := strconv.Atoi(portText)
	mail := letterboxtest.Start(t, letterboxtest.WithRelay(relay.Config{Host: host, Port: port}))
	ctx := t.Context()
	if err := smtptest.Send(mail.SMTPAddr(), "app@example.com", []string{"dev@app.test"}, "To: dev@app.test\r\nSubject: release me\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	l, err := mail.Client().WaitFor(ctx, "subject:release", client.WaitOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	id := l.Messages[0].ID
	if err := mail.Client().Release(ctx, id, "qa@example.net"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	got, err := upstream.Client().WaitFor(ctx, "subject:release", client.WaitOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("the relay did not get the message: %v", err)
	}
	m, err := upstream.Client().Get(ctx, got.Messages[0].ID)
	if err != nil || len(m.Envelope.Recipients) != 1 || m.Envelope.Recipients[0] != "qa@example.net" {
		t.Errorf("relayed envelope: %+v %v", m.Envelope, err)
	}

	// The relay refuses a recipient: the error carries its reply.
	err = mail.Client().Release(ctx, id, "nobody@example.net")
	var herr *client.Error
	if !errors.As(err, &herr) || herr.Status != 502 || herr.Method != "POST" {
		t.Errorf("refused by the relay: %v", err)
	}
	if err := mail.Client().Release(ctx, "no-such-id", "qa@example.net"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("missing message: %v", err)
	}
	// A letterbox without a relay says so.
	bare := letterboxtest.Start(t)
	if err := bare.Client().Release(ctx, "latest", "qa@example.net"); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("no relay: %v", err)
	}
}

// refuse is an SMTP policy that refuses one recipient with 550.
type refuse struct{ rcpt string }

func (refuse) Wants(s smtpd.Stage) bool { return s == smtpd.StageRcpt }

func (r refuse) Check(_ context.Context, c *smtpd.Check) smtpd.Action {
	if c.Recipient == r.rcpt {
		return smtpd.Action{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"}
	}
	return smtpd.Action{}
}
