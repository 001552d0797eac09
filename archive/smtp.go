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

// Submit sends one message over SMTP (no TLS, no AUTH: a catcher on this machine).
func Submit(ctx context.Context, addr, hostname, from string, to []string, raw []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	c := smtp.NewClient(conn)
	defer c.Close()
	if hostname == "" {
		hostname = "localhost"
	}
	if err := c.Hello(hostname); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
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
