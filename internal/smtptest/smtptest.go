// Package smtptest sends mail to a catcher from tests, the way a simple application does.
package smtptest

import (
	"io"
	"net/smtp"
)

// Send delivers msg to the SMTP server at addr over plain SMTP, without STARTTLS (letterbox's
// certificate is self-signed, and net/smtp.SendMail would insist on verifying it).
func Send(addr, from string, to []string, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
