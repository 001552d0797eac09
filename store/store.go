package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/klauspost/compress/zstd"
	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options configure a Store. The zero value is valid apart from Path.
type Options struct {
	// Path is the SQLite database file; it is created when missing, with its directory.
	Path string
	// MaxMessages keeps at most this many messages, deleting the oldest. 0 keeps all.
	MaxMessages int
	// MaxAge deletes messages received longer ago than this, and SMTP sessions begun longer ago.
	// 0 keeps all.
	MaxAge time.Duration
	// MaxSessions keeps at most this many SMTP session records, deleting the oldest. 0 means
	// DefaultMaxSessions; a negative value keeps all.
	MaxSessions int
	// Hostname names this server in the Received: trace header. Default: os.Hostname.
	Hostname string
	// Logger receives the store's logs. Default: slog.Default().
	Logger *slog.Logger
	// MaxBatch is the most messages committed in one transaction. Default 256.
	MaxBatch int
	// Readers is the size of the read connection pool. Default: 2 × GOMAXPROCS, at least 4.
	Readers int
	// PruneInterval is how often retention runs. Default 1 minute; it also runs after ingest when
	// MaxMessages is exceeded.
	PruneInterval time.Duration
	// RelayMatching, when set, queues a relay job (RelayAuto, to the envelope recipients, or the
	// To, Cc and Bcc addresses when there were none) for every message this Store adds that the
	// filter selects, in the transaction that stores the message. nil relays nothing.
	RelayMatching *Filter
	// Observer, when set, is told how long each message took to store and how many requests each
	// group commit held (for metrics).
	Observer Observer

	checkpointBytes int64 // tests: checkpoint after this many bytes instead of checkpointBytes
}

// Observer is told what the store did as it happens; it must not block.
type Observer interface {
	// ObserveIngest is called once a message Add stored is committed, with the time Add took.
	ObserveIngest(time.Duration)
	// ObserveCommit is called after each write transaction with the number of requests in it.
	ObserveCommit(n int)
	// ObserveIndexBatch is called after each batch of messages the writer moves into the
	// full-text index, with how long it took: every write waits behind it.
	ObserveIndexBatch(took time.Duration)
}

// Store is a durable message store. All methods are safe for concurrent use.
type Store struct {
	opts      Options
	log       *slog.Logger
	writeDB   *sql.DB // exactly one connection: every change goes through the writer goroutine
	readDB    *sql.DB
	parser    *enmime.Parser
	enc       *idleEncoder // released when the writer idles
	dec       *zstd.Decoder
	hub       hub
	buffers   sync.Pool // of *bytes.Buffer: Add reads messages into them
	lexicon   lexicon   // the vocabulary's words (see vocab.go)
	partCache partCache // the parts of the messages read last (see partread.go)

	uidValidity uint32
	stored      atomic.Int64
	deleted     atomic.Int64
	incoming    atomic.Int64 // Add calls reading or parsing a message they are about to queue for the writer
	parsing     atomic.Int64 // those of them that have read it
	expected    atomic.Int64 // messages announced (Expect) whose Add has not begun
	commits     atomic.Int64 // transactions the writer committed (for benchmarks: messages per commit)
	committed   atomic.Int64 // requests in them
	unindexed   int          // messages in fts_pending, as far as the writer knows (the writer's alone)
	indexHeld   atomic.Bool  // tests: the writer leaves pending rows unindexed

	checkpointNow   chan struct{} // the writer asks the checkpointer to run (see checkpoint.go)
	sinceCheckpoint int64         // bytes committed since, about (the writer's alone)
	restartLogNow   chan struct{} // the checkpointer hands over to the writer to start the log over
	restartDone     chan struct{} // the writer has tried, and the checkpointer may go on
	restartWanted   atomic.Bool   // restartCheckpoints' worth committed since the log last started over
	sinceRestart    int64         // bytes committed since the writer last did, about (the writer's alone)

	writes   chan writeReq
	pruneNow chan struct{}
	stop     chan struct{}
	done     sync.WaitGroup

	closeOnce sync.Once
	mu        sync.RWMutex // guards closed against sends on writes
	closed    bool
}

// Open opens (creating or upgrading) the database at opts.Path and starts the writer.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("store: no database path")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Readers <= 0 {
		opts.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = time.Minute
	}
	if dir := filepath.Dir(opts.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create directory: %w", err)
		}
	}
	s := &Store{
		opts:     opts,
		log:      opts.Logger.With("component", "store"),
		parser:   enmime.NewParser(parserOptions()...),
		writes:   make(chan writeReq, 1024),
		pruneNow: make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	registerMatchFunc()
	var err error
	if s.writeDB, err = openDB(opts.Path, false); err != nil {
		return nil, err
	}
	s.writeDB.SetMaxOpenConns(1)
	s.writeDB.SetMaxIdleConns(1)
	s.writeDB.SetConnMaxLifetime(0)
	s.writeDB.SetConnMaxIdleTime(0)
	if err := migrate(ctx, s.writeDB); err != nil {
		s.writeDB.Close()
		return nil, err
	}
	if s.readDB, err = openDB(opts.Path, true); err != nil {
		s.writeDB.Close()
		return nil, err
	}
	s.readDB.SetMaxOpenConns(opts.Readers)
	s.readDB.SetMaxIdleConns(opts.Readers)
	// A reader unused for readerIdleTime is closed, and its page cache with it: each holds up
	// to its cache_size of pages, in twice that of memory (the pure-Go SQLite's allocator puts
	// a 4 KB page and its header in an 8 KB slot), which an idle catcher has no use for.
	s.readDB.SetConnMaxIdleTime(readerIdleTime)
	var v string
	if err := s.readDB.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'uidvalidity'`).Scan(&v); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("store: read uidvalidity: %w", err)
	}
	n, _ := strconv.ParseUint(v, 10, 32)
	s.uidValidity = uint32(n)
	if err := s.loadLexicon(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.enc, err = newIdleEncoder(zstd.WithEncoderLevel(zstd.SpeedFastest),
		// Messages are small: smaller tables are quicker to reset for each (12 µs for a 4 KB
		// message instead of 14-22). One encoder per core, so sessions do not queue for one.
		zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		// A 1 MB window rather than SpeedFastest's 4 MB: each encoder keeps a history buffer of
		// the window's size (8.3 MB of live heap for two, which the garbage collector's target
		// then multiplies), and only messages over 1 MB could refer further back.
		zstd.WithWindowSize(1<<20)); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0)); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("store: zstd: %w", err)
	}
	ckptDB, err := openDB(opts.Path, false)
	if err != nil {
		s.closeDBs()
		return nil, err
	}
	ckptDB.SetMaxOpenConns(1)
	s.checkpointNow = make(chan struct{}, 1)
	s.restartLogNow = make(chan struct{}, 1)
	s.restartDone = make(chan struct{}, 1)
	s.done.Add(3)
	go s.writer()
	go s.retention()
	go s.checkpointer(ckptDB)
	return s, nil
}

// readerIdleTime is how long a read connection may stay unused before it is closed.
const readerIdleTime = 30 * time.Second

// loadLexicon fills the lexicon from the terms table, then empties the page cache of the
// connection that read it: the table (6 MB at 100,000 messages) is not read again.
func (s *Store) loadLexicon(ctx context.Context) error {
	conn, err := s.readDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: load vocabulary: %w", err)
	}
	defer conn.Close()
	if err := s.lexicon.load(ctx, conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA shrink_memory"); err != nil {
		return fmt.Errorf("store: load vocabulary: %w", err)
	}
	return nil
}

// openDB opens a handle on path. Every connection gets WAL, FULL sync, foreign keys and a busy timeout.
func openDB(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(ON)")
		q.Add("_pragma", "cache_size(-16000)") // 16 MB a connection: lists and searches of 100,000 messages
	} else {
		// The writer appends: its working set is the last pages of each table and index. SQLite
		// walks the whole page cache's hash table at the end of every write transaction, which
		// with 16 MB cached cost 0.1 ms a commit; with 4 MB it costs too little to measure.
		q.Add("_pragma", "cache_size(-4000)")
		q.Set("_txlock", "immediate")
		// Checkpoint every 10,000 pages (about 40 MB of log) rather than SQLite's 1,000: each
		// commit rewrites the last pages of every table and index it touches, so a longer log
		// holds many versions of the same pages and a checkpoint copies each page once.
		q.Add("_pragma", "wal_autocheckpoint(10000)")
		q.Add("_pragma", "journal_size_limit(67108864)")
		// A new database keeps a map of its pages, so that the free ones (the full-text index's
		// merges and fts_pending leave thousands) can be given back at a clean stop (closeDBs).
		// On an existing database without it, this does nothing.
		q.Add("_pragma", "auto_vacuum(INCREMENTAL)")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := ping(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

// ping connects to db, trying again for up to 10 s while the file is locked: SQLite does not
// wait its busy timeout for every lock a first connection takes (making a new file WAL, or
// while another process opening it does), so processes that open one file at once would fail.
func ping(db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.Ping()
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// migrate applies the embedded migrations the database has not seen, in order, each in its own
// transaction, recording progress in PRAGMA user_version.
func migrate(ctx context.Context, db *sql.DB) error {
	return migrateTo(ctx, db, -1)
}

// migrateTo applies migrations up to and including number target (-1: all).
func migrateTo(ctx context.Context, db *sql.DB, target int) error {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	sort.Strings(names)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("store: database schema version %d is newer than this letterbox knows (%d)", version, len(names))
	}
	for i, name := range names {
		n := i + 1
		if n <= version || (target >= 0 && n > target) {
			continue
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		// Another process opening the database at the same time may have applied it while this
		// one waited for the write lock (the transaction is IMMEDIATE): read the version again
		// under the lock.
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		if n <= version {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
	}
	return nil
}

// Close stops the writer after the changes already queued are committed, and closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.stop)
		s.mu.Unlock()
		s.done.Wait()
		s.hub.closeAll()
		s.enc.Close()
		s.dec.Close()
		err = s.closeDBs()
	})
	return err
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.readDB != nil {
		errs = append(errs, s.readDB.Close())
	}
	if s.writeDB != nil {
		if _, err := s.writeDB.Exec("PRAGMA incremental_vacuum"); err != nil {
			errs = append(errs, err)
		}
		if _, err := s.writeDB.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, s.writeDB.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.opts.Path }

// UIDValidity returns the IMAP UIDVALIDITY of this database: fixed when it was created.
func (s *Store) UIDValidity() uint32 { return s.uidValidity }

// NewID returns a new short opaque identifier of the kind the store gives messages, for other
// records (such as an SMTP session) that want one: time-ordered, 16 characters of base32hex.
func NewID() string { return newID() }

// newID returns a short opaque identifier: 16 characters of base32hex (80 bits), of which the
// first 40 bits are the time in milliseconds and the rest random. Time first keeps new IDs near
// each other in the ID index, so that inserting a batch changes one or two of its pages rather
// than one page per message.
func newID() string {
	var b [10]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 4; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[5:])
	const alphabet = "0123456789abcdefghijklmnopqrstuv"
	var out [16]byte
	var acc uint64
	bits := 0
	j := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[j] = alphabet[(acc>>uint(bits))&31]
			j++
		}
	}
	return string(out[:j])
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
