package store

import (
	"context"
	"database/sql"
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
const checkpointBytes = 40 << 20

// A passive checkpoint that runs while the writer commits can never copy the last frames: the
// writer appends more while it runs. SQLite starts the log again from its beginning only when a
// write transaction begins with every frame copied (even a checkpoint that copied all frames
// leaves the transaction that was under way on the old log, and that transaction's frames
// after it), so under steady ingest the log grew without end (6.2 GB after
// filling 100,000 messages of the realistic mix, for a 1.7 GB database, and a 12 MB wal-index in
// memory). So each checkpoint ends on the writer: after the checkpointer's pass, the writer copies
// the frames that came meanwhile itself, between two batches, when nothing can be appended, and
// its next commit starts the log over (and cuts the file to journal_size_limit).
// TestLogStartsOverUnderSteadyIngest fails without it.

// checkpointer runs a passive checkpoint whenever the writer says enough has been committed, then
// asks the writer to finish it.
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
		if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			s.log.Warn("checkpoint failed; the next one copies what it did not", "err", err)
			continue
		}
		select {
		case s.finishCheckpointNow <- struct{}{}:
		default: // already asked
		}
	}
}

// copyRestOfLog, run by the writer between batches when the checkpointer asked, copies the frames
// the checkpointer could not: no commit can come meanwhile, so unless a reader still reads an
// older snapshot, the whole log is then copied and the next commit starts it over.
func (s *Store) copyRestOfLog(ctx context.Context, conn *sql.Conn) {
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		s.log.Warn("checkpoint failed; the next one copies what it did not", "err", err)
	}
}

// committedBytes counts n more bytes written by the writer and wakes the checkpointer once
// checkpointBytes have been since it last did. Called by the writer only.
func (s *Store) committedBytes(n int64) {
	s.sinceCheckpoint += n
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
