package store

import (
	"context"
	"database/sql"
	"fmt"
)

// writeReq is one unit of work for the writer goroutine: either a message to insert or a change.
type writeReq struct {
	rec    *record                                                // a message to insert, or nil
	change func(ctx context.Context, tx *sql.Tx) ([]Event, error) // a change, when rec is nil
	reply  chan writeResult                                       // buffered, receives exactly once
}

type writeResult struct {
	summary Summary
	err     error
}

// submit queues req for the writer and waits for its result. The writer always answers, so the
// wait does not watch ctx: a message that is being committed is either committed or failed, and
// the caller learns which.
func (s *Store) submit(ctx context.Context, req writeReq) writeResult {
	req.reply = make(chan writeResult, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return writeResult{err: ErrClosed}
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return writeResult{err: fmt.Errorf("store: %w", ctx.Err())}
	}
	s.mu.RUnlock()
	return <-req.reply
}

// change runs fn in the writer's transaction and publishes its events after commit.
func (s *Store) change(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) ([]Event, error)) error {
	return s.submit(ctx, writeReq{change: fn}).err
}

// writer is the one goroutine that writes. It takes every request waiting (up to MaxBatch),
// runs them in one transaction, each in its own savepoint so that one failure spoils only itself,
// commits once, then answers each request and publishes the events.
func (s *Store) writer() {
	defer s.done.Done()
	ctx := context.Background()
	conn, err := s.writeDB.Conn(ctx)
	if err != nil {
		s.log.Error("writer has no connection", "err", err)
		s.failAll(fmt.Errorf("store: writer connection: %w", err))
		return
	}
	defer conn.Close()
	ins, err := prepareInserts(ctx, conn)
	if err != nil {
		s.log.Error("writer cannot prepare statements", "err", err)
		s.failAll(err)
		return
	}
	defer ins.close()
	batch := make([]writeReq, 0, s.opts.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case req := <-s.writes:
			batch = append(batch, req)
		case <-s.stop:
			// Commit whatever is still queued, then stop.
			for {
				select {
				case req := <-s.writes:
					batch = append(batch, req)
					if len(batch) == s.opts.MaxBatch {
						s.commit(ctx, conn, ins, batch)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				s.commit(ctx, conn, ins, batch)
			}
			return
		}
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case req := <-s.writes:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		s.commit(ctx, conn, ins, batch)
	}
}

// failAll answers every request with err until the store closes (the writer could not start).
func (s *Store) failAll(err error) {
	for {
		select {
		case req := <-s.writes:
			req.reply <- writeResult{err: err}
		case <-s.stop:
			for {
				select {
				case req := <-s.writes:
					req.reply <- writeResult{err: err}
				default:
					return
				}
			}
		}
	}
}

// commit runs one batch in one transaction.
func (s *Store) commit(ctx context.Context, conn *sql.Conn, ins *inserts, batch []writeReq) {
	results := make([]writeResult, len(batch))
	events := make([][]Event, len(batch))
	fail := func(err error) {
		for _, req := range batch {
			req.reply <- writeResult{err: err}
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("store: begin: %w", err))
		return
	}
	inserted := false
	for i, req := range batch {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT req"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("store: savepoint: %w", err))
			return
		}
		if req.rec != nil {
			results[i].summary, results[i].err = ins.insert(ctx, tx, req.rec)
			if results[i].err == nil {
				sum := results[i].summary
				events[i] = []Event{{Type: EventNew, Summary: &sum, ID: sum.ID, UID: sum.UID}}
				inserted = true
			}
		} else {
			events[i], results[i].err = req.change(ctx, tx)
		}
		if results[i].err != nil {
			events[i] = nil
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO req"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("store: rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE req"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("store: release savepoint: %w", err))
			return
		}
	}
	overLimit := false
	if inserted && s.opts.MaxMessages > 0 {
		var total int
		if err := tx.QueryRowContext(ctx, "SELECT total FROM counters").Scan(&total); err == nil {
			overLimit = total > s.opts.MaxMessages
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("store: commit: %w", err))
		return
	}
	for i, req := range batch {
		req.reply <- results[i]
	}
	for _, evs := range events {
		for _, ev := range evs {
			s.hub.publish(ev)
		}
	}
	if overLimit {
		select {
		case s.pruneNow <- struct{}{}:
		default:
		}
	}
}
