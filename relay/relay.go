// Package relay sends captured messages on to a real SMTP server: a release asked for through
// the API (Mailpit's POST /api/v1/message/{ID}/release, MailHog's
// POST /api/v1/messages/{id}/release) and auto-relay of new messages from the store's durable
// queue (Worker), with retries and backoff.
//
// The configuration (Config) has Mailpit's YAML keys. Delivery uses go-smtp's client with
// implicit TLS or STARTTLS (RFC 8314, RFC 3207) and AUTH PLAIN (RFC 4616), LOGIN or CRAM-MD5
// (RFC 2195); a password is never sent in the clear except to a loopback address or with
// allow-insecure, and never appears in errors, logs or API answers.
//
// Where a message may go: the relay the operator configured is trusted (it may be on a private
// network or this machine). A MailHog release names its own host in the request; it may go only
// to the configured relay or to a host the operator listed (Options.ReleaseHosts), and with "*"
// to any other host whose addresses are public: every connection is dialled through netguard,
// which refuses loopback, private and link-local addresses that were not explicitly allowed.
// Nothing is ever sent without such a configuration.
package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/letterbox-mail/letterbox/compose"
)

// ErrNotConfigured is returned when no relay is configured.
var ErrNotConfigured = errors.New("relay: no relay configured (see --relay-config)")

// Options configure a Relay. The zero value is valid.
type Options struct {
	ClientOptions
	// ReleaseHosts are the hosts a MailHog release may name besides the configured relay:
	// "host" or "host:port" (names compared without case, or addresses). Their addresses may be
	// private. "*" allows any host whose addresses are all public.
	ReleaseHosts []string
	// Now is the clock of the Date a release sets. Default time.Now.
	Now func() time.Time
}

// Relay sends messages to the configured relay, and releases to allowed hosts.
type Relay struct {
	cfg    Config
	client *Client
	hosts  []string
	any    bool
	name   string
	now    func() time.Time
}

// New returns a Relay for cfg, validated when it names a host. With no host, only MailHog
// releases to ReleaseHosts are possible.
func New(cfg Config, opts Options) (*Relay, error) {
	if cfg.Enabled() {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	r := &Relay{cfg: cfg, client: NewClient(opts.ClientOptions), name: opts.Hostname, now: opts.Now}
	if r.name == "" {
		r.name = "localhost"
	}
	if r.now == nil {
		r.now = time.Now
	}
	for _, h := range opts.ReleaseHosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h == "*" {
			r.any = true
		} else if h != "" {
			r.hosts = append(r.hosts, h)
		}
	}
	return r, nil
}

// Enabled reports whether a relay is configured.
func (r *Relay) Enabled() bool { return r != nil && r.cfg.Enabled() }

// Info is what the API may show of the configuration (never the password or secret).
type Info struct {
	Enabled            bool
	SMTPServer         string
	ReturnPath         string
	AllowedRecipients  string
	BlockedRecipients  string
	OverrideFrom       string
	PreserveMessageIDs bool
}

// Info describes the configured relay.
func (r *Relay) Info() Info {
	if !r.Enabled() {
		return Info{}
	}
	c := r.cfg
	return Info{Enabled: true, SMTPServer: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), ReturnPath: c.ReturnPath,
		AllowedRecipients: c.AllowedRecipients, BlockedRecipients: c.BlockedRecipients,
		OverrideFrom: c.OverrideFrom, PreserveMessageIDs: c.PreserveMessageIDs}
}

// Config returns the validated configuration.
func (r *Relay) Config() Config { return r.cfg }

// Stored is a message as the store keeps it.
type Stored struct {
	MailFrom string // the envelope sender it arrived with ("" for <> or none)
	Raw      []byte // as stored, with letterbox's trace fields
}

// CheckRecipients applies the configured allowed- and blocked-recipients to a release's list.
func (r *Relay) CheckRecipients(to []string) ([]string, error) {
	if !r.Enabled() {
		return nil, ErrNotConfigured
	}
	return r.cfg.CheckRecipients(to)
}

// Release sends a stored message to the recipients through the configured relay, as Mailpit's
// release does: the recipients must pass allowed- and blocked-recipients; Return-Path and Bcc
// fields are removed; Date is set to now; Message-ID is replaced unless preserve-message-ids;
// override-from replaces the From address. The envelope sender is override-from, else
// return-path, else the sender it arrived with, else its Sender or From address.
func (r *Relay) Release(ctx context.Context, m Stored, to []string) (*Result, error) {
	to, err := r.CheckRecipients(to)
	if err != nil {
		return nil, err
	}
	raw, from := r.prepare(m, true)
	return r.client.Deliver(ctx, r.cfg.Dest(), from, to, raw)
}

// Forward is auto-relay's delivery through the configured relay: the message as it arrived
// (Return-Path and Bcc fields removed, override-from applied), to the recipients that pass
// allowed- and blocked-recipients; dropped lists the others. With none left it returns a
// *RecipientError and sends nothing.
func (r *Relay) Forward(ctx context.Context, m Stored, to []string) (res *Result, dropped []string, err error) {
	if !r.Enabled() {
		return nil, nil, ErrNotConfigured
	}
	keep, drop := r.cfg.FilterRecipients(to)
	if len(keep) == 0 {
		return nil, drop, &RecipientError{NotAllowed: drop}
	}
	raw, from := r.prepare(m, false)
	res, err = r.client.Deliver(ctx, r.cfg.Dest(), from, keep, raw)
	return res, drop, err
}

// prepare returns the message to send and its envelope sender.
func (r *Relay) prepare(m Stored, release bool) ([]byte, string) {
	h := parseHeader(m.Raw)
	h.del("Return-Path") // an MTA must not pass it on (RFC 5321 §4.4)
	h.del("Bcc")
	from := m.MailFrom
	if from == "" {
		from = h.senderOf()
	}
	if release {
		h.set("Date", r.now().Format(time.RFC1123Z))
		if !r.cfg.PreserveMessageIDs {
			h.set("Message-ID", compose.NewMessageID(r.name))
		}
	}
	if r.cfg.ReturnPath != "" {
		from = r.cfg.ReturnPath
	}
	if r.cfg.OverrideFrom != "" {
		h.overrideFrom(r.cfg.OverrideFrom)
		from = r.cfg.OverrideFrom
	}
	return h.bytes(), from
}

// HostError is a MailHog release to a host that may not be used.
type HostError struct{ Addr string }

// Error names the host and where a release may go instead.
func (e *HostError) Error() string {
	return "relay: releasing to " + e.Addr + " is not allowed: only to the configured relay (--relay-config) or to hosts listed in --release-hosts"
}

// MailHogRelease is the body of MailHog's release: where to send, as whom.
type MailHogRelease struct {
	Host      string
	Port      string // MailHog sends it as a string; a number is accepted too
	Email     string // the one recipient
	Username  string
	Password  string
	Mechanism string // PLAIN or CRAMMD5 (MailHog's names); LOGIN and CRAM-MD5 too
}

// ReleaseMailHog sends a stored message as MailHog's release asks. To the configured relay's
// host and port it goes as Release does, with the relay's own TLS and credentials (those in the
// request are not used). To another host it must be allowed by ReleaseHosts; STARTTLS is used
// when offered; the request's credentials are used as MailHog does (only when given); the
// message is sent as stored, without letterbox's Return-Path.
func (r *Relay) ReleaseMailHog(ctx context.Context, m Stored, req MailHogRelease) (*Result, error) {
	port := 25
	if p := strings.TrimSpace(req.Port); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, &FieldError{Field: "Port", Reason: fmt.Sprintf("%q is not a TCP port", req.Port)}
		}
		port = n
	}
	host := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(req.Host), "["), "]"), ".")
	if host == "" {
		return nil, &FieldError{Field: "Host", Reason: "required"}
	}
	if strings.TrimSpace(req.Email) == "" {
		return nil, &FieldError{Field: "Email", Reason: "required"}
	}
	if r.Enabled() && strings.EqualFold(host, r.cfg.Host) && port == r.cfg.Port {
		return r.Release(ctx, m, []string{req.Email})
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	d := Dest{Host: host, Port: port, Opportunistic: true}
	switch {
	case r.hostListed(host, port):
		d.Trusted = true
	case r.any:
	default:
		return nil, &HostError{Addr: addr}
	}
	if req.Username != "" || req.Password != "" {
		switch strings.ToUpper(strings.ReplaceAll(req.Mechanism, "-", "")) {
		case "", "PLAIN":
			d.Auth = "plain"
		case "LOGIN":
			d.Auth = "login"
		case "CRAMMD5":
			d.Auth, d.Secret = "cram-md5", req.Password
		default:
			return nil, &FieldError{Field: "Mechanism", Reason: fmt.Sprintf("%q is not PLAIN, LOGIN or CRAMMD5", req.Mechanism)}
		}
		d.Username, d.Password = req.Username, req.Password
	}
	to, err := (&Config{}).CheckRecipients([]string{req.Email})
	if err != nil {
		return nil, &FieldError{Field: "Email", Reason: fmt.Sprintf("%q is not an email address", req.Email)}
	}
	h := parseHeader(m.Raw)
	h.del("Return-Path")
	from := m.MailFrom
	if from == "" {
		from = h.senderOf()
	}
	return r.client.Deliver(ctx, d, from, to, h.bytes())
}

// hostListed reports whether ReleaseHosts names host, alone or with this port.
func (r *Relay) hostListed(host string, port int) bool {
	host = strings.ToLower(host)
	with := net.JoinHostPort(host, strconv.Itoa(port))
	for _, h := range r.hosts {
		if h == host || h == with || strings.Trim(h, "[]") == host {
			return true
		}
	}
	return false
}

// FieldError is a request field that is missing or wrong.
type FieldError struct {
	Field  string
	Reason string
}

// Error is "Field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }
