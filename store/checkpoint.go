package store

import (
	"context"
	"database/sql"
	"fmt"
)

// The writer does not copy the write-ahead log back into the database itself (SQLite's
// automatic checkpoint, which runs inside the commit that crosses 1,000 pages): a goroutine of
// its own does it, on a connection of its own, while the writer goes on committing. A PASSIVE
// checkpoint never waits for the writer or for readers; what it cannot copy yet it copies the
// next time. At 100 KB a message the checkpoints were 14% of ingest's CPU, all of it on the
// writer's path (BenchmarkSMTPIngest/100k).
//
// It runs every ~40 MB of log, as the writer's automatic checkpoint did (wal_autocheckpoint of
// 10,000 pages, see openDB): a long log holds many versions of the same last pages of each
// table, and a checkpoint copies each page once.
//
// SQLite starts the log over from its beginning only when a write transaction begins with every
// frame of it copied. A checkpoint beside the writer never leaves it so: the transaction under
// way when the checkpoint ends began on the old log, and the next one begins after that one's
// frames. Under steady ingest the log then grew without end (6.2 GB while filling 100,000
// messages of the realistic mix, for a 1.7 GB database, with a 12 MB wal-index in memory). So
// the writer finishes a checkpoint itself, between two batches, when no commit can come: after
// every restartPasses passes of the checkpointer (it then copies only what came during the last
// one, but with two syncs: 68 ms on average, 217 at most, over such a fill), and when it idles.
// Its next commit starts the log over and cuts the file to journal_size_limit.
// TestLogStartsOverUnderSteadyIngest fails without it.
const (
	checkpointBytes = 40 << 20
	restartPasses   = 2
	// restartIdleBytes is the least log written since the last restart that an idle writer
	// copies and restarts: a test's single messages are not worth the syncs.
	restartIdleBytes = 4 << 20
)

// checkpointer runs a passive checkpoint whenever the writer says enough has been committed, and
// after every restartPasses of them asks the writer to finish it.
func (s *Store) checkpointer(db *sql.DB) {
	defer s.done.Done()
	defer db.Close()
	ctx := context.Background()
	for passes := 1; ; passes++ {
		select {
		case <-s.checkpointNow:
		case <-s.stop:
			return
		}
		if err := checkpoint(ctx, db); err != nil {
			s.log.Warn("checkpoint failed; the next one copies what it did not", "err", err)
			continue
		}
		if passes%restartPasses == 0 {
			select {
			case s.restartLogNow <- struct{}{}:
			default: // already asked
			}
		}
	}
}

// checkpoint runs a passive checkpoint on db.
func checkpoint(ctx context.Context, db interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}) error {
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	return nil
}

// restartLog, run by the writer between batches, copies what is left of the log so that the
// next commit starts it over (unless a reader still reads an older snapshot: then a later one).
// Called by the writer only.
func (s *Store) restartLog(ctx context.Context, conn *sql.Conn) {
	s.sinceRestart = 0
	if err := checkpoint(ctx, conn); err != nil {
		s.log.Warn("checkpoint failed; the next one copies what it did not", "err", err)
	}
}

// committedBytes counts n more bytes written by the writer and wakes the checkpointer once
// checkpointBytes have been since it last did. Called by the writer only.
func (s *Store) committedBytes(n int64) {
	s.sinceCheckpoint += n
	s.sinceRestart += n
	every := int64(checkpointBytes)
	if s.opts.checkpointBytes > 0 {
		every = s.opts.checkpointBytes
	}
	if s.sinceCheckpoint < every {
		return
	}
	s.sinceCheckpoint = 0
	select {
	case s.checkpointNow <- struct{}{}:
	default: // one is running or due
	}
}
