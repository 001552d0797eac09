package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The full-text index runs behind ingest (migration 0011). A message's full-text row is
// committed with it into fts_pending, where searches already find it (see matchedUIDs); the
// writer moves the pending rows into the index a few hundred at a time: once indexAt are
// pending, or when it has had nothing else to do for indexIdle. FTS5 writes a segment for each
// transaction that adds to the index and merges those segments as they pile up, at a cost that
// hardly depends on how many messages a segment holds: written for every group commit of a
// few messages, that was about a third of the CPU ingest costs (BenchmarkStoreIngest).
const (
	indexAt    = 256
	indexBatch = 512
	indexIdle  = 20 * time.Millisecond
)

// indexPending moves up to indexBatch pending rows, oldest first, into the full-text index in
// one transaction, and returns how many it moved. Nothing is lost when it fails: the rows stay
// pending and searches still find them.
//
// The transaction is committed without waiting for the disk (synchronous=NORMAL): it creates
// nothing that fts_pending does not already hold durably. Should it be lost with the machine,
// its rows are still pending when the database opens again; otherwise the next message's
// commit, which waits for the log, makes it durable with it.
func (s *Store) indexPending(ctx context.Context, conn *sql.Conn, ins *inserts) (int, error) {
	if err := ins.run(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return 0, fmt.Errorf("store: index: %w", err)
	}
	defer func() {
		if err := ins.run(ctx, "PRAGMA synchronous = FULL"); err != nil {
			s.log.Error("restoring synchronous=FULL failed", "err", err)
		}
	}()
	if err := ins.run(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, fmt.Errorf("store: index: begin: %w", err)
	}
	n, err := indexOldest(ctx, conn)
	if err == nil {
		err = ins.run(ctx, "COMMIT")
	}
	if err != nil {
		if _, rerr := conn.ExecContext(ctx, "ROLLBACK"); rerr != nil {
			s.log.Error("rollback failed", "err", rerr)
		}
		return 0, fmt.Errorf("store: index: %w", err)
	}
	return n, nil
}

// indexOldest moves the oldest indexBatch pending rows into the index, inside the writer's
// transaction.
func indexOldest(ctx context.Context, tx dbtx) (int, error) {
	var n int
	var last int64
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(MAX(uid), 0) FROM (SELECT uid FROM fts_pending ORDER BY uid LIMIT ?)",
		indexBatch).Scan(&n, &last); err != nil || n == 0 {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fts (rowid, subject, sender, recipients, message_id, headers, body, attachments)
		SELECT uid, subject, sender, recipients, message_id, headers, body, attachments FROM fts_pending WHERE uid <= ? ORDER BY uid`, last); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM fts_pending WHERE uid <= ?", last); err != nil {
		return 0, err
	}
	return n, nil
}

// countPending returns how many rows wait for the index, for the writer to start from.
func countPending(ctx context.Context, conn *sql.Conn) (int, error) {
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM fts_pending").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count pending index rows: %w", err)
	}
	return n, nil
}

// catchUp runs the indexer while indexAt or more rows are pending; with idle, while any are.
// A failure is logged and left for the next turn (the rows stay pending).
func (s *Store) catchUp(ctx context.Context, conn *sql.Conn, ins *inserts, idle bool) {
	for !s.indexHeld.Load() && (s.unindexed >= indexAt || idle && s.unindexed > 0) {
		start := time.Now()
		n, err := s.indexPending(ctx, conn, ins)
		if err == nil && n > 0 && s.opts.Observer != nil {
			s.opts.Observer.ObserveIndexBatch(time.Since(start))
		}
		if err != nil {
			s.log.Error("indexing failed; the messages stay searchable and are indexed later", "err", err)
			return
		}
		if n == 0 {
			s.unindexed = 0 // deleted before they were indexed
			return
		}
		s.unindexed = max(s.unindexed-n, 0)
		s.committedBytes(int64(n) * 8 << 10) // the index's pages, roughly
		if idle && len(s.writes) > 0 {
			return // messages came meanwhile: they go first
		}
	}
}
