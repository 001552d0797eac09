package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/letterbox-mail/letterbox/store"
)

// SMTPSink submits ingested messages over SMTP to another catcher (or any server that accepts
// them), one connection a message: MAIL FROM is the envelope sender the message records (see
// SenderOf), RCPT TO every address of its To, Cc and Bcc fields. The receiving server adds its
// own trace fields, so the stored bytes are not the file's.
type SMTPSink struct {
	Addr     string        // host:port
	Hostname string        // the EHLO name; default "localhost"
	Timeout  time.Duration // per message; default 1 minute
}

// Add submits one message. The Summary it returns is empty: the ID is the server's.
func (s *SMTPSink) Add(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error) {
	b, err := io.ReadAll(raw)
	if err != nil {
		return store.Summary{}, fmt.Errorf("archive: read message: %w", err)
	}
	to := HeaderRecipients(b)
	if len(to) == 0 {
		return store.Summary{}, errors.New("archive: no recipients in To, Cc or Bcc to submit it to")
	}
	from := env.MailFrom
	if from == "" {
		from = SenderOf(b)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return store.Summary{}, Submit(ctx, s.Addr, s.Hostname, from, to, b)
}

// The steps of a submission, as SubmitError names them.
const (
	StageConnect = "connect" // reaching the server
	StageHello   = "hello"   // the greeting and EHLO
	StageMail    = "mail"    // MAIL FROM
	StageRcpt    = "rcpt"    // RCPT TO (SubmitError.Recipient says which)
	StageData    = "data"    // DATA and the message up to the reply to its end
)

// SubmitError is a submission that failed, and at which step. Err is an *smtp.SMTPError when
// the server answered with a refusal (Code says whether for good: 5xx, or for now: 4xx).
type SubmitError struct {
	Stage     string // one of the Stage constants
	Recipient string // at StageRcpt
	Err       error
}

// Error names the step (and the recipient at rcpt) and the cause.
func (e *SubmitError) Error() string {
	if e.Stage == StageRcpt {
		return fmt.Sprintf("archive: submit: rcpt <%s>: %v", e.Recipient, e.Err)
	}
	return fmt.Sprintf("archive: submit: %s: %v", e.Stage, e.Err)
}

// Unwrap returns the cause, an *smtp.SMTPError when the server refused.
func (e *SubmitError) Unwrap() error { return e.Err }

// Submit sends one message over SMTP (no TLS, no AUTH: a catcher on this machine) to every
// recipient or to none: a refused recipient ends the transaction before DATA. Once the server
// has taken the message, a failing QUIT is not an error. Failures are *SubmitError.
func Submit(ctx context.Context, addr, hostname, from string, to []string, raw []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return &SubmitError{Stage: StageConnect, Err: err}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	c := smtp.NewClient(conn)
	defer c.Close()
	if hostname == "" {
		hostname = "localhost"
	}
	if err := c.Hello(hostname); err != nil {
		return &SubmitError{Stage: StageHello, Err: err}
	}
	if err := c.Mail(from, nil); err != nil {
		return &SubmitError{Stage: StageMail, Err: err}
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return &SubmitError{Stage: StageRcpt, Recipient: rcpt, Err: err}
		}
	}
	w, err := c.Data()
	if err != nil {
		return &SubmitError{Stage: StageData, Err: err}
	}
	if _, err := w.Write(raw); err != nil {
		w.Close()
		return &SubmitError{Stage: StageData, Err: err}
	}
	if err := w.Close(); err != nil {
		return &SubmitError{Stage: StageData, Err: err}
	}
	c.Quit() // the message is taken: a QUIT that fails changes nothing
	return nil
}

// HeaderRecipients returns the addresses of a message's To, Cc and Bcc fields, each once.
func HeaderRecipients(raw []byte) []string {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		// A header that does not end: read it alone.
		msg, err = mail.ReadMessage(bytes.NewReader(append(append([]byte(nil), raw...), "\r\n\r\n"...)))
		if err != nil {
			return nil
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, field := range []string{"To", "Cc", "Bcc"} {
		list, _ := msg.Header.AddressList(field)
		for _, a := range list {
			if k := strings.ToLower(a.Address); !seen[k] {
				seen[k] = true
				out = append(out, a.Address)
			}
		}
	}
	return out
}
