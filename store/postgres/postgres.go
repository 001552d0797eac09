// Package postgres is letterbox's PostgreSQL storage engine: the contract of store.Engine on a
// database that several letterbox processes share (a team's catcher behind a load balancer).
//
// Durability is the SQLite engine's: Add returns only after the transaction holding the message
// has committed with synchronous_commit on, and one writer goroutine a process commits whatever
// messages are waiting in one transaction (group commit). Messages are parsed once at ingest by
// store.Ingester, raw bytes kept byte for byte, compressed.
//
// Several processes: every write transaction first locks the one counters row, so UIDs are given
// in commit order (strictly increasing as every reader sees them) and writers never deadlock.
// Each commit NOTIFYs what changed; every process LISTENs and publishes the other processes'
// changes to its own subscribers (API, websocket, wait, POP3, IMAP IDLE). Retention runs in one
// process at a time (an advisory lock). A lost connection fails requests with
// store.ErrUnavailable (SMTP 451, API 503) until the pool reconnects.
//
// Search has the SQLite engine's semantics (README's search table): each field's words are
// lexemes of one tsvector with a GIN index; a term found inside words is first looked up in the
// vocabulary table's trigram index (pg_trgm). No search scans every message.
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/letterbox-mail/letterbox/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// IsURL reports whether db names a PostgreSQL database (postgres:// or postgresql://) rather
// than a SQLite file.
func IsURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// Store is a PostgreSQL message store. All methods are safe for concurrent use.
type Store struct {
	opts     store.Options
	url      string
	log      *slog.Logger
	pool     *pgxpool.Pool
	in       *store.Ingester
	hub      store.Hub
	instance string // this process's name in notifications: its own are not published twice

	uidValidity uint32
	stored      atomic.Int64
	deleted     atomic.Int64
	commits     atomic.Int64
	committed   atomic.Int64
	expected    atomic.Int64
	incoming    atomic.Int64
	vocab       vocabulary
	seq         *sequencer

	writes   chan *insertReq
	pruneNow chan struct{}
	stop     chan struct{}
	stopCtx  context.Context // cancelled by Close: ends the listener
	cancel   context.CancelFunc
	done     sync.WaitGroup // the writer and retention
	replies  sync.WaitGroup // batches committed, waiting for their events to be published
	listener sync.WaitGroup

	mu        sync.RWMutex // guards closed against sends on writes
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

var _ store.Engine = (*Store)(nil)

// channel is the NOTIFY channel every process LISTENs on.
const channel = "letterbox"

// Open connects to the database at url (postgres://user:pass@host:5432/db?sslmode=...),
// applies the migrations it has not seen, and starts the writer, the listener and retention.
// opts.Path is ignored.
func Open(ctx context.Context, url string, opts store.Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = time.Minute
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", redact(err))
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	// A 250 means committed: whatever the server's default, this engine's transactions wait for
	// their commit to be flushed.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.ConnConfig.RuntimeParams["application_name"] = "letterbox"
	// Plan every search for its own values: a generic plan cannot tell a rare word's tsquery from
	// a common one's and scans every message (1.4 s instead of 1 ms at 100,000 messages).
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	cfg.HealthCheckPeriod = 5 * time.Second
	var b [6]byte
	rand.Read(b[:])
	s := &Store{
		opts:     opts,
		url:      url,
		log:      opts.Logger.With("component", "store", "engine", "postgres"),
		instance: hex.EncodeToString(b[:]),
		writes:   make(chan *insertReq, 1024),
		pruneNow: make(chan struct{}, 1),
		stop:     make(chan struct{}),
		seq:      newSequencer(),
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", redact(err))
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	var v string
	if err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE key = 'uidvalidity'").Scan(&v); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: read uidvalidity: %w", err)
	}
	n, _ := strconv.ParseUint(v, 10, 32)
	s.uidValidity = uint32(n)
	hostname := opts.Hostname
	if s.in, err = store.NewIngester(hostname); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s.stopCtx, s.cancel = context.WithCancel(context.Background())
	listening := make(chan error, 1)
	s.listener.Add(1)
	s.done.Add(2)
	go s.listen(listening)
	go s.writer()
	go s.retention()
	if err := <-listening; err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: listen: %w", err)
	}
	return s, nil
}

// migrate applies the embedded migrations the database has not seen, in order, under an
// advisory lock (processes starting together take turns), recording each in schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	sort.Strings(names)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", unavailable(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrate); err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockMigrate)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	var version int
	if err := conn.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM schema_migrations").Scan(&version); err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("postgres: database schema version %d is newer than this letterbox knows (%d)", version, len(names))
	}
	for i, name := range names {
		n := i + 1
		if n <= version {
			continue
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", n)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", name, err)
		}
	}
	return nil
}

// Advisory lock keys: migrations, and retention.
const (
	lockMigrate   = 0x6c62_0001
	lockRetention = 0x6c62_0002
)

// Close stops the writer after the messages already queued are committed, then the listener
// and retention, and closes the pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.stop)
		s.mu.Unlock()
		// The messages queued are committed and their events published before the listener stops.
		s.done.Wait()
		s.replies.Wait()
		if s.cancel != nil {
			s.cancel()
		}
		s.listener.Wait()
		s.hub.Close()
		if s.in != nil {
			s.in.Close()
		}
		s.pool.Close()
	})
	return s.closeErr
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", unavailable(err))
	}
	return nil
}

// UIDValidity returns the IMAP UIDVALIDITY of this database: fixed when it was created.
func (s *Store) UIDValidity() uint32 { return s.uidValidity }

// Subscribe returns a subscription to the change events of every process on this database.
func (s *Store) Subscribe(buffer int) *store.Subscription { return s.hub.Subscribe(buffer) }

// Expect announces a message on its way (see store.Store.Expect).
func (s *Store) Expect() (withdraw func()) {
	s.expected.Add(1)
	var once sync.Once
	return func() { once.Do(func() { s.expected.Add(-1) }) }
}

// Add stores one message and returns after it is committed and its EventNew is published.
func (s *Store) Add(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error) {
	start := time.Now()
	s.incoming.Add(1)
	p, err := s.in.Prepare(env, raw)
	if err != nil {
		s.incoming.Add(-1)
		return store.Summary{}, err
	}
	sum, err := s.submit(ctx, p)
	if err == nil && s.opts.Observer != nil {
		s.opts.Observer.ObserveIngest(time.Since(start))
	}
	return sum, err
}

// unavailable marks errors that mean the database cannot be reached with store.ErrUnavailable.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 (connection exception), 57P01-57P03 (admin shutdown, crash shutdown, cannot
		// connect now), 53300 (too many connections).
		if strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300" {
			return errors.Join(store.ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isNetErr(err) {
		return errors.Join(store.ErrUnavailable, err)
	}
	return err
}

func isNetErr(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "broken pipe", "connection reset", "unexpected EOF", "closed pool", "conn closed", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// redact keeps a password in a connection URL out of an error message.
func redact(err error) error {
	return errors.New(Redact(err.Error()))
}

// Redact returns s with the password of a URL's user:password@ replaced by xxxxx: what a
// connection URL may show in logs and the API.
func Redact(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.IndexByte(rest, '@')
	colon := strings.IndexByte(rest, ':')
	if at < 0 || colon < 0 || colon > at {
		return s
	}
	return s[:i+3] + rest[:colon+1] + "xxxxx" + rest[at:]
}
