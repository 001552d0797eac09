// Package catcher assembles letterbox from its parts: it opens the store, builds the SMTP, HTTP,
// POP3 and IMAP servers over it, opens their listeners, serves, and shuts everything down in
// order. It is what the letterbox command runs and what package letterboxtest embeds in a Go
// test. It reads no flags and no environment: cmd/letterbox does, and fills a Config.
package catcher

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/letterbox-mail/letterbox/deliverability"
	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/mcpserver"
	"github.com/letterbox-mail/letterbox/metrics"
	"github.com/letterbox-mail/letterbox/policy"
	"github.com/letterbox-mail/letterbox/pop3d"
	"github.com/letterbox-mail/letterbox/relay"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/store/postgres"
	"github.com/letterbox-mail/letterbox/webhook/sender"
	"github.com/letterbox-mail/letterbox/webui"
)

// ShutdownGrace is how long Shutdown lets transactions and requests in progress finish when
// its context has no earlier deadline.
const ShutdownGrace = 5 * time.Second

// Config says what to run. Listen addresses are host:port (port 0 picks a free port); ""
// leaves that listener off. Apart from DB, the zero value of every field is a working default.
type Config struct {
	SMTP, SMTPS string // SMTP (STARTTLS offered); SMTP over implicit TLS
	HTTP        string // web inbox, JSON API, websocket
	POP3, POP3S string
	IMAP, IMAPS string

	DB       string       // SQLite database file, created when missing, or a postgres:// URL. Required.
	Hostname string       // SMTP greeting, Received: headers, certificate; "" means the machine's name
	Version  string       // shown by the API; "" means "dev"
	Logger   *slog.Logger // nil discards

	TLSCert, TLSKey string // PEM certificate and key files for every TLS listener; "" makes a self-signed one

	MaxMessageSize     int64        // SMTP: largest message; 0 means smtpd's default
	SMTPMaxConnections int          // SMTP: most connections at once; 0 means smtpd's default
	SMTPPolicy         smtpd.Policy // SMTP: asked at each stage of a session (fault injection...), before the engine Faults configures
	Faults             Faults       // SMTP: rules, Mailpit's chaos, MailHog's Jim, recipient verification

	MaxMessages int           // retention: keep only the newest N; 0 keeps all
	MaxAge      time.Duration // retention: delete older messages; 0 keeps all

	Static       fs.FS    // the web inbox files; nil serves only the API
	AllowedHosts []string // extra Host names the HTTP server answers to
	CORSOrigins  []string // origins allowed to read the API from a browser
	HTTPAuthFile string   // htpasswd (bcrypt) for the inbox, API and websocket; "" means none
	ReadAuthFile string   // htpasswd (bcrypt) for POP3 and IMAP; "" accepts any login

	Metrics bool // serve Prometheus metrics at /metrics on the HTTP listener

	MCP            bool // build the MCP server (Catcher.MCP): at /mcp when HTTP listens, and for ServeStdio
	MCPAllowDelete bool // offer the MCP tool that deletes messages

	WebhookURLs   []string // each new message is POSTed to each of these (package webhook/sender)
	WebhookSecret string   // signs the webhook bodies; "" leaves them unsigned

	Relay           *relay.Config // the SMTP relay releases go through; nil or no Host: none
	ReleaseHosts    []string      // hosts a MailHog release may name besides the relay ("*": any public host)
	RelayMatching   string        // auto-relay every new message this search matches
	RelayAll        bool          // auto-relay every new message
	RelayRetryDelay time.Duration // auto-relay: first retry after this, doubling; 0 means relay's default
	RelayRetries    int           // auto-relay: tries before giving up; 0 means relay's default

	DNS          string       // the DNS server deliverability checks ask (host[:port]); "" means the system's
	SendingIPs   []netip.Addr // where production mail leaves from, for SPF and reverse DNS; nil means the SMTP client's address
	SpamAssassin string       // spamd's address (host:port or unix:/path) for spam scores; "" turns them off
	Bulk         bool         // judge every message as bulk mail in deliverability reports
}

// Endpoint is one listener: a server on an address, maybe behind implicit TLS.
type Endpoint struct {
	Name string // smtp, smtps, http, pop3, pop3s, imap, imaps
	Addr string // as configured until Start, then the address listened on
	TLS  bool   // implicit TLS

	srv      server
	listener net.Listener
}

// server is what every letterbox server provides.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Catcher is letterbox assembled: a store and the servers over it.
type Catcher struct {
	// Store is the one store every server reads and writes: SQLite (*store.Store) or PostgreSQL
	// (*postgres.Store), as Config.DB says.
	Store store.Engine
	// SMTP is the SMTP server, nil when neither SMTP listener is configured.
	SMTP *smtpd.Server
	// HTTP is the web server, nil when no HTTP listener is configured.
	HTTP *webui.Server
	// Policy is the SMTP policy engine: rules, chaos, Jim, recipient verification (Config.Faults).
	Policy *policy.Engine
	// MCP is the MCP server, nil unless Config.MCP. Its tools use the HTTP API in-process.
	MCP *mcpserver.Server
	// Webhooks sends the webhooks (its Stats count them), nil without WebhookURLs.
	Webhooks *sender.Sender
	// Relay sends releases on, nil without a relay or release hosts.
	Relay *relay.Relay
	// RelayWorker delivers the store's relay queue, nil without a relay.
	RelayWorker *relay.Worker
	// Deliverability makes deliverability reports, nil when HTTP is off.
	Deliverability *deliverability.Checker

	cfg       Config
	log       *slog.Logger
	metrics   *metrics.Registry // nil: metrics are off
	tls       *tls.Config
	endpoints []*Endpoint

	errc     chan error
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// New opens the store and builds every configured server; nothing listens until Start.
func New(ctx context.Context, cfg Config) (*Catcher, error) {
	if cfg.DB == "" {
		return nil, errors.New("catcher: no database path")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Hostname == "" {
		if cfg.Hostname, _ = os.Hostname(); cfg.Hostname == "" {
			cfg.Hostname = "localhost"
		}
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	opts := store.Options{Path: cfg.DB, MaxMessages: cfg.MaxMessages, MaxAge: cfg.MaxAge, Hostname: cfg.Hostname, Logger: cfg.Logger,
		MaxSessions: cfg.Faults.MaxSessions}
	if opts.RelayMatching, err = relayMatching(cfg); err != nil {
		return nil, err
	}
	var reg *metrics.Registry
	if cfg.Metrics {
		reg = metrics.New()
		opts.Observer = reg
	}
	st, err := openStore(ctx, cfg.DB, opts)
	if err != nil {
		return nil, err
	}
	reg.Store(st)
	c := &Catcher{Store: st, cfg: cfg, log: cfg.Logger, tls: tlsCfg, metrics: reg}
	if err := c.build(); err != nil {
		st.Close()
		return nil, err
	}
	return c, nil
}

// openStore opens the engine db names: a postgres:// URL is PostgreSQL, anything else a SQLite file.
func openStore(ctx context.Context, db string, opts store.Options) (store.Engine, error) {
	if postgres.IsURL(db) {
		return postgres.Open(ctx, db, opts)
	}
	return store.Open(ctx, opts)
}

// tlsConfig loads the configured certificate, or makes a self-signed one for the host names.
func tlsConfig(cfg Config) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	switch {
	case cfg.TLSCert != "" || cfg.TLSKey != "":
		cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	default:
		cert, err = smtpd.GenerateCertificate(cfg.Hostname, "localhost", "127.0.0.1", "::1")
	}
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// add records the plain and implicit-TLS endpoints of one server.
func (c *Catcher) add(name, addr, tlsName, tlsAddr string, srv server) {
	if addr != "" {
		c.endpoints = append(c.endpoints, &Endpoint{Name: name, Addr: addr, srv: srv})
	}
	if tlsAddr != "" {
		c.endpoints = append(c.endpoints, &Endpoint{Name: tlsName, Addr: tlsAddr, TLS: true, srv: srv})
	}
}

// build creates every server whose address is set.
func (c *Catcher) build() error {
	cfg := c.cfg
	var err error
	if c.Policy, err = buildPolicy(cfg.Faults, cfg); err != nil {
		return err
	}
	if err := c.buildRelay(); err != nil {
		return err
	}
	var smtpStats func() webui.SMTPStats
	if cfg.SMTP != "" || cfg.SMTPS != "" {
		srv, err := smtpd.New(c.Store, smtpd.Options{
			Hostname:       cfg.Hostname,
			MaxMessageSize: cfg.MaxMessageSize,
			MaxConnections: cfg.SMTPMaxConnections,
			TLSConfig:      c.tls,
			Logger:         c.log,
			Policy:         c.smtpPolicy(),
		})
		if err != nil {
			return fmt.Errorf("smtp: %w", err)
		}
		c.SMTP = srv
		c.add("smtp", cfg.SMTP, "smtps", cfg.SMTPS, srv)
		smtpMetrics(c.metrics, srv)
		smtpStats = func() webui.SMTPStats {
			s := srv.Stats()
			return webui.SMTPStats{Accepted: s.SMTPAccepted, AcceptedSize: s.SMTPAcceptedSize, Rejected: s.SMTPRejected, Ignored: s.SMTPIgnored}
		}
	}
	if cfg.HTTP != "" || cfg.MCP {
		opts := webui.Options{
			Store:        c.Store,
			Static:       cfg.Static,
			Logger:       c.log,
			AllowedHosts: cfg.AllowedHosts,
			CORSOrigins:  cfg.CORSOrigins,
			AuthFile:     cfg.HTTPAuthFile,
			Version:      cfg.Version,
			SMTPAddr:     cfg.SMTP,
			SMTPStats:    smtpStats,
			Database:     postgres.Redact(cfg.DB),
			Metrics:      c.metrics.Handler(),
			MCP:          c.buildMCP(),
			Faults:       c.Policy,
		}
		if ss, ok := c.Store.(webui.SessionStore); ok {
			opts.Sessions = ss
		}
		c.relayOptions(&opts)
		if err := c.buildChecks(&opts); err != nil {
			return err
		}
		srv, err := webui.New(opts)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		c.HTTP = srv
		c.add("http", cfg.HTTP, "", "", srv) // "" (MCP over stdio only): built, not listening
		clientMetrics(c.metrics, "websocket", srv.WebsocketClients)
		if c.metrics != nil {
			c.metrics.GaugeFunc("http_wait_requests", "/api/v1/wait requests waiting for mail now.", func() float64 { return float64(srv.WaitRequests()) })
		}
	}
	if err := c.buildWebhooks(); err != nil {
		return err
	}
	if cfg.POP3 != "" || cfg.POP3S != "" {
		srv, err := pop3d.New(c.Store, pop3d.Options{Hostname: cfg.Hostname, TLSConfig: c.tls, AuthFile: cfg.ReadAuthFile, Logger: c.log})
		if err != nil {
			return fmt.Errorf("pop3: %w", err)
		}
		c.add("pop3", cfg.POP3, "pop3s", cfg.POP3S, srv)
		clientMetrics(c.metrics, "pop3", srv.Sessions)
	}
	if cfg.IMAP != "" || cfg.IMAPS != "" {
		srv, err := imapd.New(imapd.Options{Store: c.Store, TLSConfig: c.tls, AuthFile: cfg.ReadAuthFile, Logger: c.log})
		if err != nil {
			return fmt.Errorf("imap: %w", err)
		}
		c.add("imap", cfg.IMAP, "imaps", cfg.IMAPS, srv)
		clientMetrics(c.metrics, "imap", srv.Sessions)
	}
	return nil
}

// Endpoints lists the configured listeners in a fixed order (smtp, smtps, http, pop3, pop3s,
// imap, imaps); after Start their Addr is the address listened on.
func (c *Catcher) Endpoints() []Endpoint {
	out := make([]Endpoint, 0, len(c.endpoints))
	for _, ep := range c.endpoints {
		out = append(out, Endpoint{Name: ep.Name, Addr: ep.Addr, TLS: ep.TLS})
	}
	return out
}

// Addr returns the address of the named listener ("smtp", "http", ...), or "" when it is off.
func (c *Catcher) Addr(name string) string {
	for _, ep := range c.endpoints {
		if ep.Name == name {
			return ep.Addr
		}
	}
	return ""
}

// Start opens every listener and serves on each in the background. When a listener cannot be
// opened it closes those it opened and returns the error, naming the listener. A server that
// fails later is reported on Err.
func (c *Catcher) Start() error {
	if c.Webhooks != nil {
		c.Webhooks.Start() // before any listener: no message goes unannounced
	}
	if c.RelayWorker != nil {
		c.RelayWorker.Start()
	}
	for _, ep := range c.endpoints {
		l, err := net.Listen("tcp", ep.Addr)
		if err != nil {
			c.closeListeners()
			return fmt.Errorf("%s: %w", ep.Name, err)
		}
		ep.listener, ep.Addr = l, l.Addr().String()
	}
	c.errc = make(chan error, len(c.endpoints))
	for _, ep := range c.endpoints {
		l := ep.listener
		if ep.TLS {
			l = tls.NewListener(l, c.tls)
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := ep.srv.Serve(l); err != nil && !isClosed(err) {
				c.errc <- fmt.Errorf("%s: %w", ep.Name, err)
			}
		}()
	}
	return nil
}

func (c *Catcher) closeListeners() {
	for _, ep := range c.endpoints {
		if ep.listener != nil {
			ep.listener.Close()
		}
	}
}

// Err delivers the first error of a server that stopped serving on its own; nil before Start.
func (c *Catcher) Err() <-chan error { return c.errc }

// Shutdown stops every server gracefully (in-flight SMTP transactions and HTTP requests get
// until ctx is done, at most ShutdownGrace), closes those that did not finish, then closes the
// store. It is safe to call more than once; later calls return the first result.
func (c *Catcher) Shutdown(ctx context.Context) error {
	c.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, ShutdownGrace)
		defer cancel()
		var sw sync.WaitGroup
		for _, srv := range c.servers() {
			sw.Add(1)
			go func() {
				defer sw.Done()
				if err := srv.Shutdown(ctx); err != nil {
					srv.Close()
				}
			}()
		}
		sw.Wait()
		c.closeListeners() // those never served (Start failed half-way)
		c.wg.Wait()
		if c.Webhooks != nil {
			c.Webhooks.Shutdown(ctx) // what is still queued gets the rest of the grace
		}
		if c.RelayWorker != nil {
			c.RelayWorker.Stop() // a delivery in progress is queued again
		}
		c.stopErr = c.Store.Close()
	})
	return c.stopErr
}

// Close stops every server at once and closes the store.
func (c *Catcher) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return c.Shutdown(ctx)
}

// servers lists each server once (smtp and smtps share one).
func (c *Catcher) servers() []server {
	var out []server
	seen := map[server]bool{}
	for _, ep := range c.endpoints {
		if !seen[ep.srv] {
			seen[ep.srv] = true
			out = append(out, ep.srv)
		}
	}
	if c.HTTP != nil && !seen[c.HTTP] {
		out = append(out, c.HTTP) // built for MCP over stdio, not listening: its requests end too
	}
	return out
}

// isClosed reports whether err is a server's normal "closed" result.
func isClosed(err error) bool {
	for _, closed := range []error{smtpd.ErrServerClosed, webui.ErrServerClosed, pop3d.ErrServerClosed, imapd.ErrServerClosed, net.ErrClosed} {
		if errors.Is(err, closed) {
			return true
		}
	}
	return false
}
