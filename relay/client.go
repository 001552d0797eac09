package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/letterbox-mail/letterbox/netguard"
)

// Dest is an SMTP server to deliver to, and how.
type Dest struct {
	Host string
	Port int
	// TLS connects with implicit TLS (RFC 8314, usually port 465).
	TLS bool
	// STARTTLS requires the upgrade (RFC 3207): a server that does not offer it is an error.
	STARTTLS bool
	// Opportunistic upgrades with STARTTLS when the server offers it and carries on in the clear
	// when it does not. The certificate is verified only when a password (PLAIN, LOGIN) is to
	// go to an address off this machine, as net/smtp does for MailHog's release.
	Opportunistic bool
	// AllowInsecure skips certificate verification, and allows PLAIN and LOGIN without TLS.
	AllowInsecure bool
	// Auth is "none" (or ""), "plain", "login" or "cram-md5".
	Auth               string
	Username, Password string
	Secret             string // CRAM-MD5's shared secret
	// Trusted marks a destination the operator named: its host may resolve to private or
	// loopback addresses. Otherwise netguard refuses those.
	Trusted bool
}

// Addr is host:port.
func (d Dest) Addr() string { return net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) }

// Result is what the server said to a delivery that went through.
type Result struct {
	Accepted []string  // recipients the server took
	Refused  []Refusal // recipients it refused at RCPT TO
	Reply    string    // its reply to the end of DATA, e.g. "250 2.0.0 Ok: queued as 4F2X"
}

// Refusal is one recipient the server refused.
type Refusal struct {
	Recipient string
	Err       error // an *smtp.SMTPError when the server answered
}

// String shows the refusal as "<recipient>: the server's reply".
func (r Refusal) String() string { return "<" + r.Recipient + ">: " + replyText(r.Err) }

// replyText shows an SMTP reply as the server sent it ("550 5.1.1 user unknown"), and any other
// error as it is.
func replyText(err error) string {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return err.Error()
	}
	if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return fmt.Sprintf("%d %s", se.Code, se.Message)
}

// Permanent reports whether the refusal is final (a 5xx reply).
func (r Refusal) Permanent() bool { return permanent(r.Err) }

// DeliveryError is a delivery that failed as a whole: no recipient was accepted, or a stage
// before or after RCPT TO failed.
type DeliveryError struct {
	Stage   string    // connect, tls, hello, auth, mail, rcpt, data
	Err     error     // the cause; an *smtp.SMTPError when the server refused
	Refused []Refusal // at stage rcpt: every recipient's refusal
}

// Error says what failed and the server's reply; it never holds a password.
func (e *DeliveryError) Error() string {
	if e.Stage == "rcpt" && len(e.Refused) > 0 {
		parts := make([]string, len(e.Refused))
		for i, r := range e.Refused {
			parts[i] = r.String()
		}
		return "relay: every recipient refused: " + strings.Join(parts, "; ")
	}
	return fmt.Sprintf("relay: %s: %s", e.Stage, replyText(e.Err))
}

// Unwrap returns the cause, so that errors.As finds an *smtp.SMTPError or netguard's error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Permanent reports whether trying again cannot help: the server refused with a 5xx reply (every
// recipient, at stage rcpt), or the destination is not allowed. Network failures, timeouts, 4xx
// replies and TLS failures are temporary.
func (e *DeliveryError) Permanent() bool {
	if e.Stage == "rcpt" && len(e.Refused) > 0 {
		for _, r := range e.Refused {
			if !r.Permanent() {
				return false
			}
		}
		return true
	}
	return permanent(e.Err)
}

func permanent(err error) bool {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code >= 500
	}
	return errors.Is(err, netguard.ErrBlocked) || errors.Is(err, errInsecureAuth) || errors.Is(err, errNoAuth)
}

var (
	errInsecureAuth = errors.New("refusing to send a password without verified TLS (set starttls or tls, or allow-insecure)")
	errNoAuth       = errors.New("the server does not offer that AUTH mechanism")
)

// Client delivers messages over SMTP with go-smtp's client. Its zero value is not usable: see
// NewClient.
type Client struct {
	guard    *netguard.Guard
	hostname string
	roots    *x509.CertPool
	timeout  time.Duration
	// local reports whether a connection stays on this machine (loopback), where a password
	// may go without TLS; tests replace it to play a remote server.
	local func(net.Conn) bool
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// Hostname is the name the client gives in EHLO. Default "localhost".
	Hostname string
	// Guard dials every connection. Default: a netguard.Guard with its defaults.
	Guard *netguard.Guard
	// RootCAs verify servers' certificates. nil means the system's roots.
	RootCAs *x509.CertPool
	// Timeout bounds one whole delivery. Default 2 minutes.
	Timeout time.Duration
}

// NewClient returns a Client.
func NewClient(opts ClientOptions) *Client {
	c := &Client{guard: opts.Guard, hostname: opts.Hostname, roots: opts.RootCAs, timeout: opts.Timeout, local: loopback}
	if c.guard == nil {
		c.guard = netguard.New(netguard.Options{})
	}
	if c.hostname == "" {
		c.hostname = "localhost"
	}
	if c.timeout <= 0 {
		c.timeout = 2 * time.Minute
	}
	return c
}

// Deliver sends raw from the envelope sender from to the recipients to. It returns a Result
// when at least one recipient was accepted and the server took the message; a *DeliveryError
// otherwise. Passwords and secrets appear in no error.
func (c *Client) Deliver(ctx context.Context, d Dest, from string, to []string, raw []byte) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if d.Trusted {
		ctx = netguard.AllowHost(ctx, d.Host)
	}
	conn, err := c.guard.DialContext(ctx, "tcp", d.Addr())
	if err != nil {
		return nil, &DeliveryError{Stage: "connect", Err: err}
	}
	// Whatever blocks when ctx ends (a server that stopped answering) fails at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	local := c.local(conn)
	// Opportunistic TLS is verified only when it is to protect a password leaving the machine.
	verify := !d.AllowInsecure && (d.TLS || d.STARTTLS || sendsPassword(d) && !local)
	tlsCfg := &tls.Config{ServerName: d.Host, RootCAs: c.roots, InsecureSkipVerify: !verify, MinVersion: tls.VersionTLS12}
	upgraded := false
	if d.TLS {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, &DeliveryError{Stage: "tls", Err: err}
		}
		conn, upgraded = tc, true
	} else if d.STARTTLS || d.Opportunistic {
		if conn, upgraded, err = c.startTLS(ctx, conn, tlsCfg, d.STARTTLS); err != nil {
			return nil, err
		}
	}
	sc := smtp.NewClient(conn)
	defer sc.Close()
	if err := sc.Hello(c.hostname); err != nil {
		return nil, &DeliveryError{Stage: "hello", Err: err}
	}
	// A password goes only over TLS whose certificate was checked, or to this machine.
	if err := c.auth(sc, d, upgraded && verify || local); err != nil {
		return nil, err
	}
	res, err := transact(sc, from, to, raw)
	if err != nil {
		return nil, err
	}
	sc.Quit()
	return res, nil
}

// transact runs MAIL, RCPT for each recipient, and DATA for those accepted.
func transact(sc *smtp.Client, from string, to []string, raw []byte) (*Result, error) {
	if err := sc.Mail(from, nil); err != nil {
		return nil, &DeliveryError{Stage: "mail", Err: err}
	}
	res := &Result{}
	for _, rcpt := range to {
		if err := sc.Rcpt(rcpt, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return nil, &DeliveryError{Stage: "rcpt", Err: err}
			}
			res.Refused = append(res.Refused, Refusal{Recipient: rcpt, Err: err})
			continue
		}
		res.Accepted = append(res.Accepted, rcpt)
	}
	if len(res.Accepted) == 0 {
		sc.Reset()
		return nil, &DeliveryError{Stage: "rcpt", Refused: res.Refused, Err: res.Refused[0].Err}
	}
	w, err := sc.Data()
	if err != nil {
		return nil, &DeliveryError{Stage: "data", Err: err}
	}
	if _, err := w.Write(raw); err != nil {
		w.Close()
		return nil, &DeliveryError{Stage: "data", Err: err}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return nil, &DeliveryError{Stage: "data", Err: err}
	}
	res.Reply = "250 " + resp.StatusText
	return res, nil
}

// auth authenticates as d says, refusing to send a password where it is not secure (no verified
// TLS, not loopback) unless d.AllowInsecure. CRAM-MD5 sends no password.
func (c *Client) auth(sc *smtp.Client, d Dest, secure bool) error {
	var client sasl.Client
	switch d.Auth {
	case "", "none":
		return nil
	case "plain":
		client = sasl.NewPlainClient("", d.Username, d.Password)
	case "login":
		client = &loginClient{username: d.Username, password: d.Password}
	case "cram-md5":
		client = &cramMD5Client{username: d.Username, secret: d.Secret}
	default:
		return &DeliveryError{Stage: "auth", Err: fmt.Errorf("unknown mechanism %q", d.Auth)}
	}
	mech, _, _ := client.Start()
	if sendsPassword(d) && !secure && !d.AllowInsecure {
		return &DeliveryError{Stage: "auth", Err: errInsecureAuth}
	}
	if !sc.SupportsAuth(mech) {
		return &DeliveryError{Stage: "auth", Err: fmt.Errorf("%w: %s", errNoAuth, mech)}
	}
	if err := sc.Auth(client); err != nil {
		return &DeliveryError{Stage: "auth", Err: err}
	}
	return nil
}

// sendsPassword reports whether d's AUTH mechanism sends the password itself (PLAIN, LOGIN).
func sendsPassword(d Dest) bool { return d.Auth == "plain" || d.Auth == "login" }

// loopback reports whether conn goes to a loopback address (where a password in the clear
// never leaves the machine: net/smtp makes the same exception).
func loopback(conn net.Conn) bool {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.IsLoopback()
	}
	return false
}

// startTLS reads the greeting, says EHLO with the client's own name and, when the server offers
// it, upgrades the connection with STARTTLS. go-smtp's client would say EHLO as "localhost"
// before STARTTLS (it offers no way to name itself there), so this part of the dialogue is done
// here, and go-smtp starts on the connection that results, reading a replay of the greeting
// (replayConn) and saying EHLO again, as RFC 3207 requires after the upgrade. It returns the
// connection to hand on, TLS or not; not upgrading is an error only when required.
func (c *Client) startTLS(ctx context.Context, conn net.Conn, cfg *tls.Config, required bool) (net.Conn, bool, error) {
	r := bufio.NewReader(conn)
	tp := textproto.NewReader(r)
	_, greeting, err := tp.ReadResponse(220)
	if err != nil {
		return nil, false, &DeliveryError{Stage: "connect", Err: protoErr(err)}
	}
	if _, err := fmt.Fprintf(conn, "EHLO %s\r\n", c.hostname); err != nil {
		return nil, false, &DeliveryError{Stage: "hello", Err: err}
	}
	_, ehlo, err := tp.ReadResponse(250)
	if err != nil {
		return nil, false, &DeliveryError{Stage: "hello", Err: protoErr(err)}
	}
	offered := false
	for _, line := range strings.Split(ehlo, "\n")[1:] {
		if strings.EqualFold(strings.TrimSpace(line), "STARTTLS") {
			offered = true
		}
	}
	var replay []byte
	lines := strings.Split(greeting, "\n")
	for i, line := range lines {
		sep := "-" // every line of a multi-line reply but the last
		if i == len(lines)-1 {
			sep = " "
		}
		replay = append(replay, "220"+sep+line+"\r\n"...)
	}
	if !offered {
		if required {
			return nil, false, &DeliveryError{Stage: "tls", Err: errors.New("the server does not offer STARTTLS")}
		}
		return &replayConn{Conn: conn, r: io.MultiReader(bytes.NewReader(replay), r)}, false, nil
	}
	if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
		return nil, false, &DeliveryError{Stage: "tls", Err: err}
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, false, &DeliveryError{Stage: "tls", Err: protoErr(err)}
	}
	if r.Buffered() > 0 {
		return nil, false, &DeliveryError{Stage: "tls", Err: errors.New("the server sent data before the TLS handshake")}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, false, &DeliveryError{Stage: "tls", Err: err}
	}
	return &replayConn{Conn: tc, r: io.MultiReader(bytes.NewReader(replay), tc)}, true, nil
}

// replayConn is a connection whose reads first return bytes already read from it.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// protoErr turns a textproto reply error into go-smtp's *SMTPError, as go-smtp's client does.
func protoErr(err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return err
	}
	se := &smtp.SMTPError{Code: te.Code, Message: te.Msg}
	if parts := strings.SplitN(te.Msg, " ", 2); len(parts) == 2 {
		var ec smtp.EnhancedCode
		if n, _ := fmt.Sscanf(parts[0], "%d.%d.%d", &ec[0], &ec[1], &ec[2]); n == 3 {
			se.EnhancedCode, se.Message = ec, parts[1]
		}
	}
	return se
}
