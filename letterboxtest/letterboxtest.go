// Package letterboxtest runs a whole letterbox inside a Go test: SMTP, the store and the HTTP API
// on free loopback ports, over a temporary database, stopped when the test ends.
//
//	func TestSignUp(t *testing.T) {
//		mail := letterboxtest.Start(t)
//		app := myapp.New(myapp.Config{SMTPAddr: mail.SMTPAddr()})
//		app.SignUp("dev@app.test")
//		list, err := mail.Client().WaitFor(t.Context(), "to:dev@app.test subject:verify", client.WaitOptions{Timeout: 10 * time.Second})
//		...
//	}
//
// The SMTP server accepts any sender, recipient and credentials, offers STARTTLS with a
// self-signed certificate (applications must not insist on verifying it, or must not use
// STARTTLS), and answers 250 only once a message is stored. Every server is the one the letterbox
// command runs; nothing is mocked.
package letterboxtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/internal/catcher"
	"github.com/letterbox-mail/letterbox/policy"
	"github.com/letterbox-mail/letterbox/relay"
	"github.com/letterbox-mail/letterbox/smtpd"
)

// Server is a running letterbox. Its methods are safe for concurrent use.
type Server struct {
	c      *catcher.Catcher
	client *client.Client
	url    string
}

// settings collect what the options ask for.
type settings struct {
	cfg        catcher.Config
	user, pass string
	auth       bool
}

// Option changes how Start runs letterbox.
type Option func(*settings)

// WithAuth protects the HTTP API with basic authentication for one user (as --http-auth-file
// does) and lets only that user log in over POP3 and IMAP. Client() sends the credentials.
func WithAuth(username, password string) Option {
	return func(s *settings) { s.user, s.pass, s.auth = username, password, true }
}

// WithDB keeps the messages in the SQLite database at path instead of a temporary one: it is
// created when missing, kept after the test, and its messages are there at the next Start. A
// postgres:// URL uses that PostgreSQL database instead, as letterbox --db does.
func WithDB(path string) Option {
	return func(s *settings) { s.cfg.DB = path }
}

// WithPOP3 also runs the POP3 server (see POP3Addr).
func WithPOP3() Option {
	return func(s *settings) { s.cfg.POP3 = "127.0.0.1:0" }
}

// WithIMAP also runs the IMAP server (see IMAPAddr).
func WithIMAP() Option {
	return func(s *settings) { s.cfg.IMAP = "127.0.0.1:0" }
}

// WithHostname sets the name in the SMTP greeting and the Received: header (default "letterbox.test").
func WithHostname(name string) Option {
	return func(s *settings) { s.cfg.Hostname = name }
}

// WithMaxMessageSize refuses messages larger than n bytes with 552 (default 50 MiB).
func WithMaxMessageSize(n int64) Option {
	return func(s *settings) { s.cfg.MaxMessageSize = n }
}

// WithLogger sends letterbox's logs to log (default: discarded). Logs stop when the test's
// cleanup has stopped the servers.
func WithLogger(log *slog.Logger) Option {
	return func(s *settings) { s.cfg.Logger = log }
}

// WithWebhook POSTs each new message's summary to url (repeat the option for more URLs),
// signed with secret unless it is "" (see package webhook for the headers and Verify). As with
// letterbox --webhook-secret, one secret signs for every URL: the last option's.
func WithWebhook(url, secret string) Option {
	return func(s *settings) {
		s.cfg.WebhookURLs = append(s.cfg.WebhookURLs, url)
		s.cfg.WebhookSecret = secret
	}
}

// WithSMTPPolicy makes the SMTP server ask p at each stage of a session, to inject faults the
// application must survive: refuse a recipient (550), fail temporarily (451), delay or throttle
// replies, drop the connection mid-DATA. See smtpd.Policy and smtpd.Action.
func WithSMTPPolicy(p smtpd.Policy) Option {
	return func(s *settings) { s.cfg.SMTPPolicy = p }
}

// WithSMTPRules makes the SMTP server answer as rules say, as letterbox --smtp-rules does:
// refusals, temporary failures, delays, throttling and dropped connections, by stage, sender,
// recipient, header or size, with a probability or for the next Count matches. The first rule
// that applies decides. SetSMTPRules changes them during the test.
//
//	letterboxtest.WithSMTPRules(policy.Rule{Stage: "rcpt", To: "bounce-*@app.test",
//		Reply: &policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "{address}: user unknown"}})
func WithSMTPRules(rules ...policy.Rule) Option {
	return func(s *settings) { s.cfg.Faults.Rules = append(s.cfg.Faults.Rules, rules...) }
}

// WithRelay relays released messages (client.Release, the inbox's Release button) through the
// SMTP server cfg names, such as another letterboxtest server standing in for the real one:
// relay.Config{Host: "127.0.0.1", Port: 2525}. Its fields are those of Mailpit's relay config.
func WithRelay(cfg relay.Config) Option {
	return func(s *settings) { s.cfg.Relay = &cfg }
}

// WithMCPAllowDelete offers the MCP server's delete_messages tool (at URL()+"/mcp"), which is
// left out otherwise.
func WithMCPAllowDelete() Option {
	return func(s *settings) { s.cfg.MCPAllowDelete = true }
}

// WithDNS sends the deliverability checks' DNS queries (DKIM, SPF, DMARC, reverse DNS, link
// checks) to the server at addr, such as a test DNS server (letterbox --dns).
func WithDNS(addr string) Option {
	return func(s *settings) { s.cfg.DNS = addr }
}

// WithSendingIPs judges SPF and reverse DNS for these addresses (letterbox --sending-ip).
func WithSendingIPs(ips ...netip.Addr) Option {
	return func(s *settings) { s.cfg.SendingIPs = ips }
}

// Start runs letterbox for the test t and stops it, with its database unless WithDB was given,
// when t and its subtests end. It fails t when letterbox cannot start.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := settings{cfg: catcher.Config{
		SMTP:     "127.0.0.1:0",
		HTTP:     "127.0.0.1:0",
		Hostname: "letterbox.test",
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		MCP:      true,
	}}
	for _, o := range opts {
		o(&s)
	}
	dir := t.TempDir()
	if s.cfg.DB == "" {
		s.cfg.DB = filepath.Join(dir, "letterbox.db")
	}
	if s.auth {
		file, err := writeHtpasswd(dir, s.user, s.pass)
		if err != nil {
			t.Fatalf("letterboxtest: %v", err)
		}
		s.cfg.HTTPAuthFile, s.cfg.ReadAuthFile = file, file
	}
	c, err := catcher.New(context.Background(), s.cfg)
	if err != nil {
		t.Fatalf("letterboxtest: %v", err)
	}
	if err := c.Start(); err != nil {
		c.Close()
		t.Fatalf("letterboxtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("letterboxtest: stopping: %v", err)
		}
	})
	srv := &Server{c: c, url: "http://" + c.Addr("http")}
	var copts []client.Option
	if s.auth {
		copts = append(copts, client.WithBasicAuth(s.user, s.pass))
	}
	if srv.client, err = client.New(srv.url, copts...); err != nil {
		t.Fatalf("letterboxtest: %v", err)
	}
	return srv
}

// writeHtpasswd writes an htpasswd file with one bcrypt entry.
func writeHtpasswd(dir, user, pass string) (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		return "", fmt.Errorf("hashing the password: %w", err)
	}
	file := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(file, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		return "", err
	}
	return file, nil
}

// SMTPAddr is the SMTP server's address, host:port on 127.0.0.1: give it to the application.
func (s *Server) SMTPAddr() string { return s.c.Addr("smtp") }

// URL is the base URL of the web inbox and API, such as http://127.0.0.1:41234. The MCP server
// for coding agents is at URL()+"/mcp" (Streamable HTTP).
func (s *Server) URL() string { return s.url }

// POP3Addr is the POP3 server's address; "" without WithPOP3.
func (s *Server) POP3Addr() string { return s.c.Addr("pop3") }

// IMAPAddr is the IMAP server's address; "" without WithIMAP.
func (s *Server) IMAPAddr() string { return s.c.Addr("imap") }

// SetSMTPRules replaces the SMTP rules (see WithSMTPRules) from the next SMTP command on; none
// accepts everything again. A rule that does not hold is an error, and the rules stay as they were.
func (s *Server) SetSMTPRules(rules ...policy.Rule) error { return s.c.Policy.SetRules(rules) }

// Client returns a client of the API, with the credentials of WithAuth.
func (s *Server) Client() *client.Client { return s.client }
