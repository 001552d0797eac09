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

// checkpointer runs a passive checkpoint whenever the writer says enough has been committed.
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
		}
	}
}

// committedBytes counts n more bytes written by the writer and wakes the checkpointer once
// checkpointBytes have been since it last did. Called by the writer only.
func (s *Store) committedBytes(n int64) {
	s.sinceCheckpoint += n
	if s.sinceCheckpoint < checkpointBytes {
		return
	}
	s.sinceCheckpoint = 0
	select {
	case s.checkpointNow <- struct{}{}:
	default: // one is running or due
	}
}
