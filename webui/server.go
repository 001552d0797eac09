// Package webui serves letterbox's web inbox and its JSON API over HTTP: Mailpit's API v1
// (paths, methods, field names and status codes as Mailpit 1.x documents them), MailHog's API
// v1/v2 for suites written against MailHog, a live websocket of store events, a wait-for-message
// endpoint, and an OpenAPI 3 description of it all at /api/v1/openapi.json.
//
// Safe by default: requests whose Host is not this server's (DNS rebinding, RFC 6454 origins) are
// refused, no CORS headers are sent unless origins are configured, state-changing requests and
// websocket upgrades from foreign origins are refused, optional HTTP basic authentication
// (RFC 7617) is checked against an htpasswd file of bcrypt hashes, and captured HTML is served
// only under a sandboxing Content-Security-Policy.
//
// The store is the only data source; webui holds no message state of its own.
package webui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/letterbox-mail/letterbox/store"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("webui: server closed")

// Store is what webui needs from the message store; *store.Store satisfies it.
type Store interface {
	Search(ctx context.Context, f store.Filter, p store.Page) (store.Result, error)
	Summary(ctx context.Context, id string) (store.Summary, error)
	Message(ctx context.Context, id string) (*store.Message, error)
	Raw(ctx context.Context, id string) ([]byte, error)
	Part(ctx context.Context, id, partID string) (store.Part, []byte, error)
	Stats(ctx context.Context) (store.Stats, error)
	Tags(ctx context.Context) ([]string, error)
	SetRead(ctx context.Context, ids []string, read bool) error
	SetReadMatching(ctx context.Context, f store.Filter, read bool) error
	Delete(ctx context.Context, ids []string) error
	DeleteMatching(ctx context.Context, f store.Filter) (int, error)
	DeleteAll(ctx context.Context) error
	SetTags(ctx context.Context, ids []string, tags []string) error
	RenameTag(ctx context.Context, old, name string) error
	DeleteTag(ctx context.Context, tag string) error
	Subscribe(buffer int) *store.Subscription
	Add(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error)
	Index(ctx context.Context, f store.Filter) ([]store.Entry, error)
}

var _ Store = (*store.Store)(nil)

// SMTPStats are the SMTP server's counters, shown by /api/v1/info (Mailpit's RuntimeStats names).
type SMTPStats struct {
	Accepted     int64 // messages stored and acknowledged
	AcceptedSize int64 // bytes of those messages
	Rejected     int64 // messages refused
	Ignored      int64 // messages accepted but not stored
}

// Options configure a Server. The zero value is valid apart from Store.
type Options struct {
	// Store is where messages come from. Required.
	Store Store
	// Static is the web inbox (index.html at its root). nil serves no inbox, only the API.
	Static fs.FS
	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// AllowedHosts are extra host names (or addresses) accepted in the Host header, besides
	// the listener's own address, localhost, 127.0.0.1 and [::1]. Ports are ignored.
	// "*" accepts any Host (turns the DNS rebinding check off).
	AllowedHosts []string
	// CORSOrigins are origins (such as "http://localhost:3000", or "*") that may read the API
	// from a browser. Default: none, and no CORS headers are sent.
	CORSOrigins []string
	// AuthFile is an htpasswd file of bcrypt hashes; when set every request needs HTTP basic
	// authentication. Default: no authentication.
	AuthFile string
	// Version is shown by /api/v1/info, /api/v1/webui and websocket stats. Default "dev".
	Version string
	// SMTPAddr is the SMTP address shown to the web inbox by /api/v1/webui.
	SMTPAddr string
	// SMTPStats returns the SMTP counters for /api/v1/info. nil reports zeros.
	SMTPStats func() SMTPStats
	// Database is the database path shown by /api/v1/info.
	Database string
	// Label is shown by the web inbox (Mailpit's --ui-label).
	Label string
	// EventBuffer is how many store commits' events may wait for one websocket client before
	// it is disconnected. Default 64 (a bulk change is one commit, however many messages).
	EventBuffer int
	// PingInterval is how often websocket clients are pinged. Default 30s; a client that does not
	// answer within twice that is disconnected.
	PingInterval time.Duration
	// StatsInterval is the least time between two websocket stats events after changes. Default 250ms.
	StatsInterval time.Duration
	// MaxMessageSize is the largest message the send API stores, in bytes. Default
	// DefaultMaxMessageSize (50 MiB).
	MaxMessageSize int64
	// Hostname names this server in the Message-IDs the send API makes. Default "localhost".
	Hostname string
	// Relay releases messages (Mailpit's and MailHog's release). nil: releases answer 400.
	Relay Relayer
	// RelayLog keeps each message's relay history (GET /api/v1/message/{ID}/relay). nil keeps none.
	RelayLog RelayLog
	// Metrics, when set, is served at /metrics (Prometheus text format), behind the same
	// authentication as the API. nil: /metrics answers 404.
	Metrics http.Handler
	// MCP, when set, is served at /mcp (GET, POST, DELETE: the Model Context Protocol's Streamable
	// HTTP transport), behind the same Host, Origin and authentication checks as the API.
	// nil: /mcp answers 404.
	MCP http.Handler
	// Deliverability makes /deliverability reports; nil answers 400.
	Deliverability Deliverability
	// LinkChecker checks links for /link-check; nil answers 400.
	LinkChecker LinkChecker
	// Sessions is where SMTP session transcripts are read (/api/v1/sessions); nil answers 404.
	Sessions SessionStore
	// Faults is the SMTP policy engine behind /api/v1/chaos, /api/v1/chaos/rules and
	// /api/v2/jim; nil answers as Mailpit and MailHog do with chaos and Jim off.
	Faults Faults
	// SpamAssassin scores messages for /sa-check; nil answers 400, as Mailpit without SpamAssassin.
	SpamAssassin SpamChecker
}

// Server is the HTTP server. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	st       Store
	auth     *authenticator
	handler  http.Handler
	mux      http.Handler // the routes without the checks of secure
	http     *http.Server
	started  time.Time
	routes   []route
	wsPool   bufferPool
	upgrader *websocket.Upgrader

	statsMu   sync.Mutex
	statsAt   time.Time
	statsLast store.Stats
	statsOf   uint64        // the value of changes statsLast was read at
	changes   atomic.Uint64 // store events seen by any websocket client: cached stats older than the last are stale

	websockets atomic.Int64 // websocket clients connected (Mailpit's and MailHog's)
	waits      atomic.Int64 // /api/v1/wait requests waiting

	mu      sync.Mutex
	closing chan struct{} // closed on Shutdown/Close: ends websockets and waits
	closed  bool
	conns   sync.WaitGroup // long-lived handlers (websocket, SSE, wait)
	active  int            // long-lived handlers running (for tests)

	// eventHook, when set (by tests, before any client connects), runs before a websocket
	// client is sent each commit's events: a test stalls a client with it.
	eventHook func()
}

// New returns a server over opts.Store. It fails when the auth file cannot be read.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("webui: no store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = 64
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = 250 * time.Millisecond
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger.With("component", "webui"),
		st:      opts.Store,
		started: time.Now(),
		closing: make(chan struct{}),
	}
	if opts.AuthFile != "" {
		a, err := loadAuth(opts.AuthFile)
		if err != nil {
			return nil, err
		}
		s.auth = a
	}
	s.upgrader = s.newUpgrader()
	s.routes = s.routeTable()
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.pattern, rt.handler)
	}
	s.mux = mux
	s.handler = s.secure(mux)
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		MaxHeaderBytes:    64 << 10,
	}
	return s, nil
}

// WebsocketClients returns the number of websocket clients connected now (for metrics).
func (s *Server) WebsocketClients() int { return int(s.websockets.Load()) }

// WaitRequests returns the number of /api/v1/wait requests waiting now (for metrics).
func (s *Server) WaitRequests() int { return int(s.waits.Load()) }

// Handler returns the server's HTTP handler, with every security check, for tests and embedding.
// Requests must carry an allowed Host (such as 127.0.0.1 or localhost), as on the wire.
func (s *Server) Handler() http.Handler { return s.handler }

// InProcess returns the routes without the Host, Origin and authentication checks, for callers in
// this process that made those checks already (the MCP server's tools, behind /mcp). Never serve
// it on a listener.
func (s *Server) InProcess() http.Handler { return s.mux }

// Serve accepts HTTP connections on l until Shutdown or Close; it then returns ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	if err != nil {
		return fmt.Errorf("webui: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections, ends websocket and wait requests, and waits for
// requests in progress until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.markClosing()
	err := s.http.Shutdown(ctx)
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("webui: shutdown: %w", err)
	}
	return nil
}

// Close closes every listener and connection at once.
func (s *Server) Close() error {
	s.markClosing()
	if err := s.http.Close(); err != nil {
		return fmt.Errorf("webui: close: %w", err)
	}
	return nil
}

func (s *Server) markClosing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
}

// longLived registers a long-lived request (websocket, SSE, wait, MCP stream); when the server is
// closing it answers 503 on w and returns false. Call the returned func when the request ends.
func (s *Server) longLived(w http.ResponseWriter) (func(), bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "webui: shutting down", http.StatusServiceUnavailable)
		return nil, false
	}
	s.conns.Add(1)
	s.active++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
		s.conns.Done()
	}, true
}

// stats returns store figures, cached briefly so that many websocket clients share a query. The
// cache lives shorter than StatsInterval, so stats sent after a change always include it.
func (s *Server) stats(ctx context.Context) (store.Stats, error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	changes := s.changes.Load()
	if changes == s.statsOf && time.Since(s.statsAt) < min(100*time.Millisecond, s.opts.StatsInterval/2) {
		return s.statsLast, nil
	}
	st, err := s.st.Stats(ctx)
	if err != nil {
		return st, err
	}
	s.statsLast, s.statsAt, s.statsOf = st, time.Now(), changes
	return st, nil
}
