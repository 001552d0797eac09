// Package imapd is letterbox's IMAP server: it shows the captured messages of the store to real
// mail clients (Thunderbird, mutt, mbsync, curl, client libraries) as a single mailbox, INBOX.
//
// It is a backend for github.com/emersion/go-imap/v2's imapserver and speaks IMAP4rev1 (RFC 3501)
// and IMAP4rev2 (RFC 9051) with STARTTLS, AUTHENTICATE PLAIN (RFC 4616), SASL-IR (RFC 4959),
// IDLE (RFC 2177), NAMESPACE (RFC 2342), UIDPLUS (RFC 4315, UID EXPUNGE), ESEARCH (RFC 4731),
// SEARCHRES (RFC 5182), LIST-STATUS (RFC 5819), STATUS=SIZE (RFC 8438), UNSELECT (RFC 3691) and
// ENABLE (RFC 5161).
//
// Mailboxes and logins: any username and password are accepted unless Options.AuthFile names an
// htpasswd file (bcrypt entries). A username that is an email address (it contains "@") sees only
// the messages sent to that address (an envelope recipient or in To, Cc or Bcc); any other
// username sees every message.
//
// State: UIDs are the store's integer keys and UIDVALIDITY is the store's, so both are stable for
// a database. \Seen is the store's read state, shared with the web inbox and the API. \Deleted is
// kept by the store too (shared by every connection of every process on the database, kept across
// restarts) until EXPUNGE or CLOSE deletes the message from the store, which deletes it
// everywhere; EXPUNGE asks the store which messages are flagged, so it deletes what another
// process's session flagged a moment ago. Other flags are not kept. Changes made elsewhere (new messages, deletions, read state) reach selected and idling
// clients as EXISTS, EXPUNGE and FETCH FLAGS as soon as the store commits them.
//
// Memory: a mailbox is loaded once (UID, ID, size, date and read state of each message, about 70
// bytes a message) and shared by every session that selects it; each session keeps only the
// changes its client has not been told yet. The mailbox of all messages is loaded when Serve
// starts, and up to 8 mailboxes nobody has selected stay loaded, so SELECT rarely reads the
// store. COPY, MOVE, APPEND, CREATE, DELETE and RENAME are refused: the store is the only
// mailbox, and mail arrives over SMTP.
//
// SEARCH runs on the store's search (its full-text index), which finds substrings as RFC 3501
// asks, with the limits the web inbox's search has (inside a word, a key needs three letters;
// words with digits match from their start).
package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/letterbox-mail/letterbox/htpasswd"
	"github.com/letterbox-mail/letterbox/store"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("imapd: server closed")

// Store is what the IMAP server needs from the message store. *store.Store implements it.
type Store interface {
	// Index lists the messages f selects, oldest first.
	Index(ctx context.Context, f store.Filter) ([]store.Entry, error)
	// Search returns a page of the messages f selects, newest first.
	Search(ctx context.Context, f store.Filter, p store.Page) (store.Result, error)
	// Raw returns a message's exact bytes; store.ErrNotFound when it is gone.
	Raw(ctx context.Context, id string) ([]byte, error)
	// SetRead changes the read state of messages.
	SetRead(ctx context.Context, ids []string, read bool) error
	// SetDeleted sets or clears the \Deleted flag of messages.
	SetDeleted(ctx context.Context, ids []string, deleted bool) error
	// DeletedUIDs lists the messages flagged \Deleted.
	DeletedUIDs(ctx context.Context) ([]int64, error)
	// Expunge deletes those of the messages that are flagged \Deleted, and returns their IDs.
	Expunge(ctx context.Context, ids []string) ([]string, error)
	// Subscribe returns a subscription to change events.
	Subscribe(buffer int) *store.Subscription
	// UIDValidity is the IMAP UIDVALIDITY of the database.
	UIDValidity() uint32
	// NextUID is the UID the next stored message will get, above every UID ever given.
	NextUID(ctx context.Context) (int64, error)
}

var _ Store = (*store.Store)(nil)

// Options configure a Server. The zero value is valid apart from Store.
type Options struct {
	// Store holds the messages. Required.
	Store Store
	// TLSConfig enables STARTTLS. nil means STARTTLS is not offered (cmd/letterbox passes the
	// certificate SMTP uses).
	TLSConfig *tls.Config
	// AuthFile is an htpasswd file with bcrypt entries (htpasswd -B). "" accepts any username
	// and password.
	AuthFile string
	// Logger receives the server's log records, tagged component=imapd. nil discards them.
	Logger *slog.Logger
}

// eventBuffer is how many store events may wait for the dispatcher before the subscription is
// dropped; a dropped subscription is replaced and every open mailbox resynchronised.
const eventBuffer = 8192

// Server is an IMAP server over the store. Its methods are safe for concurrent use.
type Server struct {
	store Store
	log   *slog.Logger
	auth  *htpasswd.Passwords // nil: any credentials
	imap  *imapserver.Server

	ctx    context.Context // for store calls; cancelled by Close
	cancel context.CancelFunc

	mu           sync.Mutex
	listeners    map[net.Listener]struct{}
	sessions     map[*session]struct{}
	mailboxes    map[string]*mailbox // loaded mailboxes by recipient ("" = every message)
	useClock     uint64              // orders mailbox releases, to evict the least recently used
	shuttingDown bool
	closed       bool
	idle         chan struct{} // closed and replaced when the last session ends
	events       *store.Subscription
	eventsDone   chan struct{}
	eventBuffer  int           // events the subscription holds; eventBuffer unless a test says
	reloads      atomic.Int64  // mailbox reloads after the subscription lagged
	maxUID       atomic.Uint32 // the highest UID seen in any mailbox or event: UIDNEXT is above it

	preloadOnce sync.Once
}

// New returns a Server over opts.Store. It fails when Store is nil or AuthFile cannot be read.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("imapd: no store")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "imapd")
	s := &Server{
		store:       opts.Store,
		log:         logger,
		listeners:   map[net.Listener]struct{}{},
		sessions:    map[*session]struct{}{},
		mailboxes:   map[string]*mailbox{},
		idle:        make(chan struct{}),
		eventBuffer: eventBuffer,
	}
	if opts.AuthFile != "" {
		p, err := htpasswd.Read(opts.AuthFile)
		if err != nil {
			return nil, fmt.Errorf("imapd: %w", err)
		}
		s.auth = p
	}
	// UIDNEXT stays above the UIDs of messages deleted before this server started.
	next, err := opts.Store.NextUID(context.Background())
	if err != nil {
		return nil, fmt.Errorf("imapd: %w", err)
	}
	if next > 1 {
		s.seenUID(imap.UID(next - 1))
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps: imap.CapSet{
			imap.CapIMAP4rev1:  {},
			imap.CapIMAP4rev2:  {},
			imap.CapNamespace:  {},
			imap.CapUIDPlus:    {},
			imap.CapESearch:    {},
			imap.CapSearchRes:  {},
			imap.CapListStatus: {},
			imap.CapStatusSize: {},
			imap.CapChildren:   {},
		},
		Logger:       errorLog{s.log},
		TLSConfig:    opts.TLSConfig,
		InsecureAuth: true, // a catcher for developers: plain LOGIN on loopback must work
	})
	return s, nil
}

// errorLog adapts the slog logger to imapserver.Logger.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}

// Serve accepts connections on l and serves each in its own goroutine until Shutdown or Close,
// then returns ErrServerClosed; any other accept failure is returned. l is closed when Serve
// returns. A listener from tls.NewListener serves implicit TLS (IMAPS); STARTTLS is then not
// offered. Serve may be called for several listeners at once.
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
	s.preloadOnce.Do(func() { go s.preload() })
	err := s.imap.Serve(l)
	s.mu.Lock()
	stopped := s.shuttingDown || s.closed
	s.mu.Unlock()
	if stopped || err == nil {
		return ErrServerClosed
	}
	return fmt.Errorf("imapd: %w", err)
}

// seenUID records that uid exists (or existed).
func (s *Server) seenUID(uid imap.UID) {
	for {
		cur := s.maxUID.Load()
		if uint32(uid) <= cur || s.maxUID.CompareAndSwap(cur, uint32(uid)) {
			return
		}
	}
}

// uidNext is the UIDNEXT of mb: above every UID it ever held and every UID this server has seen
// (UIDs come from one sequence for all mailboxes). mb.mu must be held.
func (s *Server) uidNextLocked(mb *mailbox) imap.UID {
	return max(mb.uidNext, imap.UID(s.maxUID.Load())+1)
}

// preload loads the mailbox of all messages when the server starts serving, so that the first
// SELECT finds it in memory (a load reads the whole list from the store: about 300 ms for 100,000
// messages). The store's events keep it current from then on.
func (s *Server) preload() {
	mb, err := s.openMailbox(s.ctx, "")
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("preload the mailbox", "err", err)
		}
		return
	}
	mb.release()
}

// Shutdown stops accepting connections, says BYE to every client (after the response being
// written, if any) and waits for the connections to end, or for ctx to be done; then it closes
// whatever is left as Close does.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shuttingDown = true
	for l := range s.listeners {
		l.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	idle := s.idle
	empty := len(s.sessions) == 0
	s.mu.Unlock()
	for _, sess := range sessions {
		go sess.conn.Bye("letterbox is shutting down")
	}
	if !empty {
		select {
		case <-idle:
		case <-ctx.Done():
			s.Close()
			return fmt.Errorf("imapd: shutdown: %w", ctx.Err())
		}
	}
	return s.Close()
}

// sessionsGone bounds how long Close waits for the sessions of the connections it closed to end.
const sessionsGone = 10 * time.Second

// Close closes the listeners and every connection at once, and returns once their sessions have
// ended (nothing a session does outlives it).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed, s.shuttingDown = true, true
	for l := range s.listeners {
		l.Close()
	}
	events, done := s.events, s.eventsDone
	s.mu.Unlock()
	s.cancel()
	s.imap.Close() // closes the connections; its error only says it was closed before
	if events != nil {
		events.Close()
		<-done
	}
	// go-imap's Close returns before the connections' goroutines do; each ends its session.
	timeout := time.After(sessionsGone)
	for {
		s.mu.Lock()
		n, idle := len(s.sessions), s.idle
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-timeout:
			s.log.Warn("sessions still open after Close", "sessions", n)
			return nil
		}
	}
}

// newSession is imapserver's NewSession hook: one session per connection.
func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown || s.closed {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "letterbox is shutting down"}
	}
	sess := &session{srv: s, conn: c, log: s.log.With("remote", c.NetConn().RemoteAddr().String())}
	s.sessions[sess] = struct{}{}
	return sess, nil, nil
}

// endSession forgets a session that closed.
func (s *Server) endSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
	if len(s.sessions) == 0 {
		close(s.idle)
		s.idle = make(chan struct{})
	}
}

// Sessions returns the number of IMAP connections open now (for metrics).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
