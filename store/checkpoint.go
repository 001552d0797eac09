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
// the writer finishes a checkpoint itself, between two batches, when no commit can come: when it
// idles, and under load once restartCheckpoints checkpoints' worth (~400 MB) have been committed
// since it last did, right after a pass of the checkpointer (it then copies only what came
// during that pass). That copy ends with
// two syncs, which stall the writer (68 ms on average, 217 at most, over such a fill), so under
// load it is rare: restarting after every second pass raised smtpload's p99 at 100 KB from
// 96-115 to 185-247 ms. The next commit starts the log over and cuts the file to
// journal_size_limit. TestLogStartsOverUnderSteadyIngest fails without it.
const (
	checkpointBytes    = 40 << 20
	restartCheckpoints = 10
	// restartIdleBytes is the least log written since the last restart that an idle writer
	// copies and restarts: a test's single messages are not worth the syncs.
	restartIdleBytes = 4 << 20
)

// checkpointer runs a passive checkpoint whenever the writer says enough has been committed.
// When the writer wants to start the log over, it hands over to the writer after a pass and
// waits until the writer has done so (a pass of its own meanwhile would keep the writer's copy
// from running: one checkpoint runs at a time).
func (s *Store) checkpointer(db *sql.DB) {
	defer s.done.Done()
	defer db.Close()
	ctx := context.Background()
	for {
		select {
		case <-s.checkpointNow:
		case <-s.stop:
			return
		}
		if _, err := checkpoint(ctx, db); err != nil {
			s.log.Warn("checkpoint failed; the next one copies what it did not", "err", err)
			continue
		}
		if !s.restartWanted.Load() {
			continue
		}
		select {
		case s.restartLogNow <- struct{}{}:
		default:
		}
		select {
		case <-s.restartDone:
		case <-s.stop:
			return
		}
	}
}

// checkpoint runs a passive checkpoint on db and reports whether another checkpoint kept it
// from running.
func checkpoint(ctx context.Context, db interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (busy bool, err error) {
	var b, frames, copied int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&b, &frames, &copied); err != nil {
		return false, fmt.Errorf("store: checkpoint: %w", err)
	}
	return b != 0, nil
}

// restartLog, run by the writer between batches, copies what is left of the log so that the
// next commit starts it over (unless a reader still reads an older snapshot: then a later one).
// If the checkpointer had handed over (see restartDue), it lets it go on. Called by the writer
// only.
func (s *Store) restartLog(ctx context.Context, conn *sql.Conn, handedOver bool) {
	busy, err := checkpoint(ctx, conn)
	if err != nil {
		s.log.Warn("checkpoint failed; the next one copies what it did not", "err", err)
	}
	if err == nil && !busy {
		s.sinceRestart = 0
		s.restartWanted.Store(false)
	}
	if !handedOver {
		// An idle restart: the checkpointer may have handed over meanwhile.
		handedOver = s.restartDue()
	}
	if handedOver {
		s.restartDone <- struct{}{} // buffered: the checkpointer waits for exactly one
	}
}

// checkpointEvery is checkpointBytes, or what a test set instead.
func (s *Store) checkpointEvery() int64 {
	if s.opts.checkpointBytes > 0 {
		return s.opts.checkpointBytes
	}
	return checkpointBytes
}

// restartDue reports whether the checkpointer has handed over for the writer to start the log
// over. Called by the writer only.
func (s *Store) restartDue() bool {
	select {
	case <-s.restartLogNow:
		return true
	default:
		return false
	}
}

// committedBytes counts n more bytes written by the writer and wakes the checkpointer once
// checkpointBytes have been since it last did. Called by the writer only.
func (s *Store) committedBytes(n int64) {
	s.sinceCheckpoint += n
	s.sinceRestart += n
	if s.sinceRestart >= restartCheckpoints*s.checkpointEvery() {
		s.restartWanted.Store(true)
	}
	if s.sinceCheckpoint < s.checkpointEvery() {
		return
	}
	s.sinceCheckpoint = 0
	select {
	case s.checkpointNow <- struct{}{}:
	default: // one is running or due
	}
}
