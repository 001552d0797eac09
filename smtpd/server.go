// Package smtpd is letterbox's SMTP server: it accepts every message any client sends and hands it,
// streamed, to a Deliverer (the store), answering 250 only once the Deliverer has committed it.
//
// It is a backend for github.com/emersion/go-smtp and speaks ESMTP (RFC 5321) with PIPELINING
// (RFC 2920), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), SIZE (RFC 1870), CHUNKING/BDAT (RFC 3030),
// ENHANCEDSTATUSCODES (RFC 2034, RFC 3463), STARTTLS (RFC 3207), implicit TLS (RFC 8314) and AUTH
// (RFC 4954) with the PLAIN (RFC 4616), LOGIN and CRAM-MD5 (RFC 2195) mechanisms. It is a catcher
// for developers: any sender, any recipient and any credentials are accepted, and AUTH is offered
// without TLS.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/letterbox-mail/letterbox/store"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxMessageSize = 50 << 20        // bytes
	DefaultMaxRecipients  = 10000           // per message
	DefaultMaxConnections = 1000            // simultaneous
	DefaultMaxLineLength  = 1 << 20         // bytes, commands and DATA lines
	DefaultReadTimeout    = 5 * time.Minute // RFC 5321 section 4.5.3.2.7
	DefaultWriteTimeout   = time.Minute
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("smtpd: server closed")

// Deliverer stores a message. *store.Store implements it.
//
// Add must read raw to its end (or fail), and return only once the message is durably stored: the
// client is told 250 as soon as Add returns without error. A read error from raw must make Add
// fail.
//
// A Deliverer that also has a method Expect() (withdraw func()), as *store.Store does, is told
// at MAIL FROM that a message is on its way; the announcement is withdrawn at the first read of
// the message, or when the transaction ends without one.
type Deliverer interface {
	Add(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error)
}

// Options configure a Server. The zero value is valid.
type Options struct {
	// Hostname is announced in the greeting and named by the generated certificate.
	// "" means os.Hostname(), or "localhost" when that fails.
	Hostname string

	// MaxMessageSize is the largest message accepted, in bytes; larger ones get 552 5.3.4.
	// 0 means DefaultMaxMessageSize (50 MiB); a negative value means no limit.
	MaxMessageSize int64

	// MaxRecipients is the most RCPT TO commands accepted per message.
	// 0 means DefaultMaxRecipients; a negative value means no limit.
	MaxRecipients int

	// MaxConnections is the most simultaneous connections; the next one is answered
	// "421 4.7.0 Too many connections" and closed. 0 means DefaultMaxConnections; negative, no limit.
	MaxConnections int

	// MaxLineLength is the longest line accepted, in bytes including CRLF, for commands and for
	// message lines alike (go-smtp applies one limit to both). Real mail often breaks RFC 5321's
	// 1,000 octets, so the default (DefaultMaxLineLength, 1 MiB) is far larger; it only bounds the
	// memory a single command line may take. A message with a longer line gets 552 5.3.4 and the
	// connection is closed. A negative value means no limit.
	MaxLineLength int

	// ReadTimeout bounds the wait for each command, and for the whole DATA transfer after it.
	// 0 means DefaultReadTimeout; a negative value means no timeout.
	ReadTimeout time.Duration

	// WriteTimeout bounds each reply. 0 means DefaultWriteTimeout; negative, no timeout.
	WriteTimeout time.Duration

	// TLSConfig is used for STARTTLS and implicit TLS. nil means a self-signed certificate is
	// generated at start-up for Hostname, localhost, 127.0.0.1 and ::1 (see GenerateCertificate).
	TLSConfig *tls.Config

	// Logger receives the server's log records, tagged component=smtpd. nil discards them.
	Logger *slog.Logger

	// Policy is asked at each stage of every session (see Policy); nil accepts everything, and
	// then the sessions cost nothing for it.
	Policy Policy
}

// Stats are the server's counters since it was created. The names follow Mailpit's
// /api/v1/info RuntimeStats.
type Stats struct {
	SMTPAccepted     int64 // messages stored and acknowledged with 250
	SMTPAcceptedSize int64 // bytes of those messages, as received
	SMTPRejected     int64 // refusals: messages too big, lines too long, storage failures, and every refusal or drop the Policy caused
	SMTPIgnored      int64 // messages accepted but not stored; letterbox ignores none, so always 0

	SessionsOpen       int64 // connections open now
	Sessions           int64 // connections served since the server was created
	ConnectionsRefused int64 // connections refused with 421: over MaxConnections
	PolicyRefused      int64 // commands refused or connections dropped by the Policy (rules, chaos, Jim)
}

// Server is an SMTP server that stores every message it receives. Its methods are safe for
// concurrent use.
type Server struct {
	store    Deliverer
	log      *slog.Logger
	hostname string
	tls      *tls.Config

	// The go-smtp server, which serves every connection Serve accepts through conns. It is not
	// given the TLS configuration: the connection layer (conn) does STARTTLS itself.
	smtp      *smtp.Server
	conns     *chanListener
	startOnce sync.Once

	policy   Policy
	recorder SessionRecorder // the Deliverer, when it records sessions; else nil
	records  sync.WaitGroup  // session records being written (beginRecord)

	slots chan struct{} // one token per open connection; nil means unlimited

	ctx    context.Context // passed to Deliverer.Add; cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when Shutdown or Close begins

	mu           sync.Mutex
	listeners    map[*net.Listener]struct{}
	open         map[*conn]struct{}
	shuttingDown bool
	closed       bool
	recordsDone  bool          // Close is waiting for the session records: no more begin
	inTx         int           // transactions between MAIL and their end
	storing      int           // Deliverer.Add calls in progress
	changed      chan struct{} // closed and replaced whenever inTx or storing drops to 0

	logGate   sync.RWMutex // held for reading while go-smtp's messages are logged
	logClosed bool         // set (under logGate) when Close is done: go-smtp's messages are dropped

	accepted, acceptedSize, rejected, ignored atomic.Int64
	sessions, refusedConns, policyRefused     atomic.Int64
}

// New returns a Server that stores messages with d. It fails only when a certificate must be
// generated and cannot be.
func New(d Deliverer, opts Options) (*Server, error) {
	if d == nil {
		return nil, errors.New("smtpd: nil Deliverer")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "smtpd")

	hostname := opts.Hostname
	if hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		hostname = h
	}

	tlsConfig := opts.TLSConfig
	if tlsConfig == nil {
		cert, err := GenerateCertificate(hostname, "localhost", "127.0.0.1", "::1")
		if err != nil {
			return nil, fmt.Errorf("smtpd: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}

	s := &Server{
		store:     d,
		log:       logger,
		hostname:  hostname,
		tls:       tlsConfig,
		conns:     newChanListener(),
		policy:    opts.Policy,
		done:      make(chan struct{}),
		listeners: make(map[*net.Listener]struct{}),
		open:      make(map[*conn]struct{}),
		changed:   make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	switch n := opts.MaxConnections; {
	case n == 0:
		s.slots = make(chan struct{}, DefaultMaxConnections)
	case n > 0:
		s.slots = make(chan struct{}, n)
	}
	if r, ok := d.(SessionRecorder); ok {
		s.recorder = r
	}
	s.smtp = s.newSMTPServer(opts)
	return s, nil
}

// newSMTPServer configures the go-smtp server.
func (s *Server) newSMTPServer(opts Options) *smtp.Server {
	srv := smtp.NewServer(backend{s})
	srv.Domain = s.hostname
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{s}
	srv.MaxMessageBytes = pick(opts.MaxMessageSize, DefaultMaxMessageSize)
	srv.MaxRecipients = int(pick(int64(opts.MaxRecipients), DefaultMaxRecipients))
	srv.MaxLineLength = int(pick(int64(opts.MaxLineLength), DefaultMaxLineLength))
	srv.ReadTimeout = time.Duration(pick(int64(opts.ReadTimeout), int64(DefaultReadTimeout)))
	srv.WriteTimeout = time.Duration(pick(int64(opts.WriteTimeout), int64(DefaultWriteTimeout)))
	return srv
}

// pick maps an option to go-smtp's convention: 0 means the default, negative means none (0).
func pick(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Hostname returns the name announced in the greeting.
func (s *Server) Hostname() string { return s.hostname }

// TLSConfig returns the configuration used for STARTTLS and ServeTLS: Options.TLSConfig, or the
// one holding the generated certificate. Callers must not modify it.
func (s *Server) TLSConfig() *tls.Config { return s.tls }

// Stats returns the message and connection counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := int64(len(s.open))
	s.mu.Unlock()
	return Stats{
		SMTPAccepted:       s.accepted.Load(),
		SMTPAcceptedSize:   s.acceptedSize.Load(),
		SMTPRejected:       s.rejected.Load(),
		SMTPIgnored:        s.ignored.Load(),
		SessionsOpen:       open,
		Sessions:           s.sessions.Load(),
		ConnectionsRefused: s.refusedConns.Load(),
		PolicyRefused:      s.policyRefused.Load(),
	}
}

// Serve accepts connections on l and serves each in its own goroutine until Shutdown or Close,
// then returns ErrServerClosed; any other accept failure is returned. l is closed when Serve
// returns. When l yields *tls.Conn (tls.NewListener), its connections are served as implicit TLS
// (SMTPS, RFC 8314). Serve may be called for several listeners at once.
func (s *Server) Serve(l net.Listener) error {
	if !s.trackListener(&l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)
	defer l.Close()
	s.startOnce.Do(func() { go s.smtp.Serve(s.conns) })

	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isDone() {
				return ErrServerClosed
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() && !errors.Is(err, net.ErrClosed) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
				case <-s.done:
					return ErrServerClosed
				}
				continue
			}
			return fmt.Errorf("smtpd: accept: %w", err)
		}
		delay = 0
		if s.slots != nil {
			select {
			case s.slots <- struct{}{}:
			default:
				s.log.Warn("connection refused: too many connections", "remote", nc.RemoteAddr().String(), "limit", cap(s.slots))
				s.refusedConns.Add(1)
				go s.refuse(nc)
				continue
			}
		}
		c := s.wrap(nc)
		if !s.trackConn(c) {
			c.Close()
			return ErrServerClosed
		}
		select {
		case s.conns.ch <- c:
		case <-s.done:
			c.Close()
			return ErrServerClosed
		}
	}
}

// ServeTLS is Serve for implicit TLS (SMTPS, RFC 8314) with TLSConfig: l yields plain connections.
func (s *Server) ServeTLS(l net.Listener) error {
	return s.Serve(tls.NewListener(l, s.tls))
}

// refuse answers a connection over the limit and closes it.
func (s *Server) refuse(nc net.Conn) {
	defer nc.Close()
	const reply = "421 4.7.0 Too many connections"
	start := time.Now()
	nc.SetDeadline(start.Add(5 * time.Second))
	_, err := io.WriteString(nc, reply+"\r\n")
	if s.recorder == nil || !s.beginRecord() {
		return
	}
	defer s.records.Done()
	rec := &store.Session{ID: store.NewID(), Started: start, Ended: time.Now(), RemoteAddr: nc.RemoteAddr().String(), Outcome: store.OutcomeRefused}
	if err == nil {
		rec.Transcript = []store.SessionLine{{Dir: store.SessionServer, Text: reply}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.recorder.RecordSession(ctx, rec); err != nil && !errors.Is(err, store.ErrClosed) {
		s.log.Warn("recording the session failed", "session", rec.ID, "err", err)
	}
}

// beginRecord counts a session record about to be written; false once Close waits for them.
func (s *Server) beginRecord() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recordsDone {
		return false
	}
	s.records.Add(1)
	return true
}

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, l)
		return true
	}
	if s.shuttingDown || s.closed {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) trackConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.open[c] = struct{}{}
	s.sessions.Add(1)
	return true
}

func (s *Server) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Shutdown stops the server gracefully: it closes the listeners, refuses new transactions with
// 421, waits until every transaction in progress has finished (its message stored or abandoned)
// or ctx is done, then closes all connections as Close does. It returns ctx's error when
// transactions were cut short, ErrServerClosed when the server was already closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.shuttingDown {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.shuttingDown = true
	close(s.done)
	s.closeListenersLocked()
	s.mu.Unlock()

	var ctxErr error
	for {
		s.mu.Lock()
		idle, ch := s.inTx == 0 && s.storing == 0, s.changed
		s.mu.Unlock()
		if idle {
			break
		}
		select {
		case <-ch:
			continue
		case <-ctx.Done():
			ctxErr = ctx.Err()
		}
		break
	}
	if err := s.close(); err != nil {
		return err
	}
	if ctxErr != nil {
		s.log.Warn("shutdown deadline reached, transactions interrupted", "err", ctxErr)
		return fmt.Errorf("smtpd: shutdown: %w", ctxErr)
	}
	return nil
}

// Close closes the listeners and every connection at once (each client is sent a 421 reply
// first, waiting at most a quarter of a second for all of them), cancels messages being stored,
// and waits for their Deliverer.Add calls to return. It returns ErrServerClosed when the server
// was already closed.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.shuttingDown && !s.closed {
		s.shuttingDown = true
		close(s.done)
	}
	s.mu.Unlock()
	return s.close()
}

func (s *Server) close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closed = true
	s.closeListenersLocked()
	open := make([]*conn, 0, len(s.open))
	for c := range s.open {
		open = append(open, c)
	}
	s.mu.Unlock()
	// Tell every client the server is going away, in parallel and briefly (a client that does not
	// read, or a TLS handshake in progress, must not hold up the shutdown), then close.
	said := make(chan struct{}, len(open))
	for _, c := range open {
		go func() {
			c.sayGoodbye()
			said <- struct{}{}
		}()
	}
	timeout := time.After(goodbyeTimeout)
wait:
	for range open {
		select {
		case <-said:
		case <-timeout:
			break wait
		}
	}
	for _, c := range open {
		c.Close()
	}

	// go-smtp's Close closes its (channel) listener and every connection it tracks.
	s.smtp.Close()
	s.conns.Close()
	s.cancel()

	for {
		s.mu.Lock()
		n, ch := s.storing, s.changed
		s.mu.Unlock()
		if n == 0 {
			break
		}
		<-ch
	}
	s.mu.Lock()
	s.recordsDone = true
	s.mu.Unlock()
	s.records.Wait()
	s.logGate.Lock()
	s.logClosed = true
	s.logGate.Unlock()
	return nil
}

func (s *Server) closeListenersLocked() {
	for l := range s.listeners {
		(*l).Close()
	}
}

// beginTx records a transaction started by MAIL; it fails while shutting down.
func (s *Server) beginTx() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown || s.closed {
		return false
	}
	s.inTx++
	return true
}

func (s *Server) endTx() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inTx--
	s.notifyLocked()
}

// beginStore records a call to Deliverer.Add; it fails once the server is closed.
func (s *Server) beginStore() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.storing++
	return true
}

func (s *Server) endStore() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storing--
	s.notifyLocked()
}

func (s *Server) notifyLocked() {
	if s.inTx == 0 || s.storing == 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// errorLog adapts slog to go-smtp's Logger: panics are errors, the rest (clients that vanish,
// failed TLS handshakes) is debug noise.
//
// It is silent once the Server is closed: go-smtp's connection goroutines may report their end
// ("error handling ...") after Close has returned, and nothing the server does outlives Close.
type errorLog struct{ srv *Server }

func (e errorLog) Printf(format string, v ...any) { e.print(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.print(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (e errorLog) print(msg string) {
	e.srv.logGate.RLock()
	defer e.srv.logGate.RUnlock()
	if e.srv.logClosed {
		return
	}
	if strings.Contains(msg, "panic") {
		e.srv.log.Error("go-smtp: " + msg)
		return
	}
	e.srv.log.Debug("go-smtp: " + msg)
}
