package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/letterbox-mail/letterbox/htpasswd"
	"github.com/letterbox-mail/letterbox/store"
)

// ErrServerClosed is returned by Serve after Shutdown or Close, and by Shutdown and Close when
// the server was already closed.
var ErrServerClosed = errors.New("pop3d: server closed")

// Store is what the server needs from the message store. *store.Store implements it.
type Store interface {
	// Index lists the messages f selects, oldest first.
	Index(ctx context.Context, f store.Filter) ([]store.Entry, error)
	// Raw returns a message's stored bytes; store.ErrNotFound when it is gone.
	Raw(ctx context.Context, id string) ([]byte, error)
	// SetRead marks messages read or unread; unknown IDs are ignored.
	SetRead(ctx context.Context, ids []string, read bool) error
	// Delete deletes messages; unknown IDs are ignored.
	Delete(ctx context.Context, ids []string) error
	// UIDValidity is stable for the database; it prefixes UIDL unique-ids.
	UIDValidity() uint32
}

var _ Store = (*store.Store)(nil)

// Defaults for the zero Options.
const (
	DefaultIdleTimeout    = 10 * time.Minute // RFC 1939 §3: at least 10 minutes
	DefaultWriteTimeout   = time.Minute
	DefaultMaxLineLength  = 1024 // RFC 2449 §4 asks for at least 255 octets
	DefaultMaxConnections = 1000
)

// Options configure a Server. The zero value is valid.
type Options struct {
	// Hostname is announced in the greeting and in the APOP timestamp.
	// "" means os.Hostname(), or "localhost" when that fails.
	Hostname string

	// TLSConfig enables STLS (RFC 2595) when set; nil means STLS is neither offered nor accepted.
	// It is not needed for implicit TLS, where the listener given to Serve does the TLS.
	TLSConfig *tls.Config

	// AuthFile is an htpasswd file of bcrypt hashes (see package htpasswd). When set, only its users
	// may log in, APOP is refused and the greeting has no APOP timestamp. "" accepts any username
	// and password. The file is read once, by New.
	AuthFile string

	// IdleTimeout closes a connection that sends no command for this long (RFC 1939 §3 asks
	// for at least 10 minutes; shorter values are for tests). It also bounds the TLS handshake
	// (at most a minute). 0 means DefaultIdleTimeout; a negative value means no timeout.
	IdleTimeout time.Duration

	// WriteTimeout bounds each write to the client (a write that makes no progress for this long
	// ends the session). 0 means DefaultWriteTimeout; a negative value means no timeout.
	WriteTimeout time.Duration

	// MaxLineLength is the longest command line accepted, in octets including CRLF; a longer one
	// is answered -ERR and skipped. 0 means DefaultMaxLineLength; it is never less than 255.
	MaxLineLength int

	// MaxConnections is the most simultaneous connections; the next one is answered
	// "-ERR [SYS/TEMP]" and closed. 0 means DefaultMaxConnections; negative, no limit.
	MaxConnections int

	// Logger receives the server's log records, tagged component=pop3d. nil discards them.
	Logger *slog.Logger
}

// Server is a POP3 server over a Store. Its methods are safe for concurrent use.
type Server struct {
	store        Store
	log          *slog.Logger
	hostname     string
	tls          *tls.Config
	passwords    *htpasswd.Passwords // nil: any login works
	idleTimeout  time.Duration
	writeTimeout time.Duration
	maxLine      int
	slots        chan struct{}  // one token per open connection; nil means unlimited
	refusing     sync.WaitGroup // connections over the limit being answered

	ctx    context.Context // for store calls; cancelled by Close
	cancel context.CancelFunc

	mu           sync.Mutex
	listeners    map[net.Listener]struct{}
	conns        map[*session]struct{}
	shuttingDown bool
	closed       bool
	changed      chan struct{} // closed and replaced whenever a connection ends
}

// New returns a Server that serves the messages of st. It fails when Options.AuthFile cannot
// be read.
func New(st Store, opts Options) (*Server, error) {
	if st == nil {
		return nil, errors.New("pop3d: nil Store")
	}
	s := &Server{
		store:        st,
		log:          opts.Logger,
		hostname:     opts.Hostname,
		tls:          opts.TLSConfig,
		idleTimeout:  opts.IdleTimeout,
		writeTimeout: opts.WriteTimeout,
		maxLine:      opts.MaxLineLength,
		listeners:    map[net.Listener]struct{}{},
		conns:        map[*session]struct{}{},
		changed:      make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.log = s.log.With("component", "pop3d")
	if s.hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		s.hostname = h
	}
	if opts.AuthFile != "" {
		p, err := htpasswd.Read(opts.AuthFile)
		if err != nil {
			return nil, err
		}
		s.passwords = p
	}
	if s.idleTimeout == 0 {
		s.idleTimeout = DefaultIdleTimeout
	}
	if s.writeTimeout == 0 {
		s.writeTimeout = DefaultWriteTimeout
	}
	if s.maxLine == 0 {
		s.maxLine = DefaultMaxLineLength
	}
	s.maxLine = max(s.maxLine, 255)
	switch n := opts.MaxConnections; {
	case n == 0:
		s.slots = make(chan struct{}, DefaultMaxConnections)
	case n > 0:
		s.slots = make(chan struct{}, n)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Serve accepts connections on l and serves each in its own goroutine until Shutdown or Close,
// then returns ErrServerClosed; any other accept failure is returned. l is closed when Serve
// returns. Connections from a listener made by tls.NewListener are implicit TLS (POP3S): they
// are not offered STLS.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shuttingDown || s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isDone() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("pop3d: accept: %w", err)
		}
		delay = 0
		if s.slots != nil {
			select {
			case s.slots <- struct{}{}:
			default:
				s.refusing.Go(func() { s.refuse(nc) })
				continue
			}
		}
		c := s.newSession(nc)
		if !s.track(c) {
			s.release()
			nc.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

// refuse answers a connection over the limit and closes it.
func (s *Server) refuse(nc net.Conn) {
	s.log.Warn("too many connections; refusing one", "remote", nc.RemoteAddr().String())
	nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "-ERR [SYS/TEMP] too many connections, try again later\r\n")
	nc.Close()
}

func (s *Server) release() {
	if s.slots != nil {
		<-s.slots
	}
}

func (s *Server) isDone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shuttingDown || s.closed
}

// track registers a new connection; it reports false when the server is shutting down.
func (s *Server) track(c *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown || s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// untrack forgets a finished connection and wakes Shutdown.
func (s *Server) untrack(c *session) {
	s.mu.Lock()
	delete(s.conns, c)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.release()
}

// Shutdown stops the server gracefully: it closes the listeners, ends every session that is
// waiting for a command (answering "-ERR [SYS/TEMP] server shutting down", without the UPDATE
// state), lets commands in progress, including a QUIT's deletions, finish, and waits for all
// connections to end. When ctx ends first, it closes the rest as Close does and returns
// ctx.Err(). It returns ErrServerClosed when the server was already closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.shuttingDown = true
	s.closeListenersLocked()
	for c := range s.conns {
		c.interruptIfIdle()
	}
	s.mu.Unlock()
	if err := s.waitSessions(ctx); err != nil {
		s.close()
		return err
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	return nil
}

// Close closes the listeners and every connection at once; sessions end without their UPDATE
// state and store calls in progress are cancelled. It returns once every session has ended, or
// ErrServerClosed when the server was already closed.
func (s *Server) Close() error {
	return s.close()
}

// waitSessions returns once no session (and no refusal of one over the limit) is left, or
// ctx.Err() when ctx ends first.
func (s *Server) waitSessions(ctx context.Context) error {
	for {
		s.mu.Lock()
		n, changed := len(s.conns), s.changed
		s.mu.Unlock()
		if n == 0 {
			s.refusing.Wait()
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closed = true
	s.shuttingDown = true
	s.closeListenersLocked()
	for c := range s.conns {
		c.raw.Close()
	}
	s.mu.Unlock()
	s.cancel()
	return s.waitSessions(context.Background())
}

func (s *Server) closeListenersLocked() {
	for l := range s.listeners {
		l.Close()
	}
}

// Sessions returns the number of POP3 connections open now (for metrics).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
