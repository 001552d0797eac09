package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// dbtx is what changes run on: the writer's connection, inside its open transaction.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writeReq is one unit of work for the writer goroutine: either a message to insert or a change.
type writeReq struct {
	rec     *record                                             // a message to insert, or nil
	session *Session                                            // a session record to write (RecordSession), or nil
	change  func(ctx context.Context, tx dbtx) ([]Event, error) // a change, when rec is nil
	reply   chan writeResult                                    // buffered, receives exactly once
}

type writeResult struct {
	summary Summary
	err     error
}

// submit queues req for the writer and waits for its result. The writer always answers, so the
// wait does not watch ctx: a message that is being committed is either committed or failed, and
// the caller learns which.
//
// A message (req.rec set) comes from Add, which counted it in s.incoming: submit takes it out
// once it is queued (or given up), so that the writer can tell whether more are on their way.
func (s *Store) submit(ctx context.Context, req writeReq) writeResult {
	req.reply = make(chan writeResult, 1)
	queued := func() {
		if req.rec != nil {
			s.parsing.Add(-1)
			s.incoming.Add(-1)
		}
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		queued()
		return writeResult{err: ErrClosed}
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		queued()
		return writeResult{err: fmt.Errorf("store: %w", ctx.Err())}
	}
	queued()
	s.mu.RUnlock()
	return <-req.reply
}

// commitDelay is the longest the writer waits for messages on their way to join the batch before
// it commits. A message is on its way from the moment its SMTP transaction begins (Expect, at
// MAIL FROM) until it is queued. The writer waits when one is being parsed (it will be queued
// within a fraction of a millisecond) or when at least commitSiblings are on their way, and
// stops waiting as soon as none is. A commit costs about as much CPU (log sync, index segment,
// rewritten pages) for one message as for a dozen, so under load a short wait for a fuller batch
// saves CPU: with 16 SMTP clients, batches grow from about 6 messages to 13-14 and the server's
// CPU per message falls by 7-21% at the same or higher throughput (BenchmarkSMTPIngest, A/B
// against counting only messages already being received, with 1 ms). 2 and 3 ms did alike; 2
// costs less latency. With 1, 4 or 8 clients throughput is unchanged. The price: about 0.6 ms
// more median latency under such load (p99 falls by a third), and letterbox bench, whose clients
// share the catcher's process, sends 8-11% fewer messages a second. (Committing once three
// quarters of those on their way have come splits 16 clients into two alternating groups of
// about 8: letterbox bench gains 10-15%, but the CPU a message is back where 1 ms left it.)
// One client never waits.
const (
	commitDelay    = 2 * time.Millisecond
	commitSiblings = 2
)

// change runs fn in the writer's transaction and publishes its events after commit.
func (s *Store) change(ctx context.Context, fn func(ctx context.Context, tx dbtx) ([]Event, error)) error {
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
	ins := newInserts(conn)
	defer ins.close()
	if err := ins.run(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil { // the checkpointer's job
		s.log.Error("the writer could not leave checkpoints to the checkpointer", "err", err)
	}
	batch := make([]writeReq, 0, s.opts.MaxBatch)
	delay := time.NewTimer(time.Hour)
	delay.Stop()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	if s.unindexed, err = countPending(ctx, conn); err != nil {
		s.log.Error("the writer cannot tell what waits for the index", "err", err)
	}
	for {
		clear(batch) // a batch's records are not kept alive until a batch as large comes
		batch = batch[:0]
		if s.unindexed > 0 {
			idle.Reset(indexIdle)
		}
		select {
		case req := <-s.writes:
			batch = append(batch, req)
		case <-idle.C:
			s.catchUp(ctx, conn, ins, true)
			if s.unindexed == 0 {
				s.idleAfterBurst(ctx, conn, ins)
			}
			continue
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
		if batch[0].session != nil {
			batch = s.awaitCompany(batch)
		}
		waiting := false
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case req := <-s.writes:
				batch = append(batch, req)
				continue
			default:
			}
			if n := s.incoming.Load() + s.expected.Load(); n == 0 || !waiting && n < commitSiblings && s.parsing.Load() == 0 {
				break
			}
			if !waiting {
				waiting = true
				delay.Reset(commitDelay)
			}
			select {
			case req := <-s.writes:
				batch = append(batch, req)
			case <-delay.C:
				waiting = false
				break fill
			case <-s.stop:
				break fill
			}
		}
		if waiting {
			delay.Stop()
		}
		idle.Stop()
		s.commit(ctx, conn, ins, batch)
		s.catchUp(ctx, conn, ins, false)
		if s.restartDue() {
			s.restartLog(ctx, conn, true)
		}
	}
}

// idleAfterBurst runs when the writer has indexed everything and nothing else waits: it starts
// the log over when enough of it was written, and gives back memory an idle catcher has no use
// for: the statements a burst prepared for its many row counts, the zstd encoders, and its page
// cache (up to 8 MB: the pure-Go SQLite's allocator puts a 4 KB page in an 8 KB slot).
func (s *Store) idleAfterBurst(ctx context.Context, conn *sql.Conn, ins *inserts) {
	if s.sinceRestart >= restartIdleBytes {
		s.restartLog(ctx, conn, false)
	}
	ins.forgetBatchStatements()
	s.enc.release()
	if _, err := conn.ExecContext(ctx, "PRAGMA shrink_memory"); err != nil {
		s.log.Warn("the writer could not empty its page cache", "err", err)
	}
}

// sessionDelay is the longest a batch of SMTP session records alone waits for company before it
// is committed: a record is written when its session ends, no client waits for it, and one
// commit of its own (a log sync) for each session that stored a message would cost more than
// the session's message did. Records ride along with the next messages or changes instead.
const sessionDelay = 25 * time.Millisecond

// awaitCompany adds to a batch of session records whatever comes within sessionDelay, up to
// the first message or change.
func (s *Store) awaitCompany(batch []writeReq) []writeReq {
	t := time.NewTimer(sessionDelay)
	defer t.Stop()
	for len(batch) < s.opts.MaxBatch {
		select {
		case req := <-s.writes:
			batch = append(batch, req)
			if req.session == nil {
				return batch
			}
		case <-t.C:
			return batch
		case <-s.stop:
			return batch
		}
	}
	return batch
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

// commit runs one batch in one transaction, without savepoints (FTS5 flushes its index at every
// savepoint, which would undo the point of batching). If anything in the batch fails, the batch is
// rolled back and each request is run again in a transaction of its own, so one bad request
// spoils only itself.
func (s *Store) commit(ctx context.Context, conn *sql.Conn, ins *inserts, batch []writeReq) {
	results, events, words, err := s.runBatch(ctx, conn, ins, batch)
	if err != nil && len(batch) > 1 {
		for _, req := range batch {
			s.commit(ctx, conn, ins, []writeReq{req})
		}
		return
	}
	if err != nil {
		results[0] = writeResult{err: err}
		events = nil
	} else {
		s.lexicon.add(words, true)
		var bytes int64
		for _, req := range batch {
			if req.rec != nil {
				s.unindexed++
				bytes += int64(len(req.rec.contentZ)) + 2*int64(len(req.rec.fts.body))
			}
		}
		s.committedBytes(bytes)
	}
	s.commits.Add(1)
	writes := 0
	for _, req := range batch {
		if req.session == nil { // session records ride along: a batch's size is its messages and changes
			writes++
		}
	}
	s.committed.Add(int64(writes))
	if s.opts.Observer != nil {
		s.opts.Observer.ObserveCommit(len(batch))
	}
	inserted := false
	var all []Event
	for _, evs := range events {
		for _, ev := range evs {
			switch ev.Type {
			case EventNew:
				inserted = true
				s.stored.Add(1)
			case EventDelete:
				s.deleted.Add(1)
			case EventPrune:
				s.deleted.Add(int64(len(ev.UIDs)))
			case EventTruncate:
				s.deleted.Add(ev.count)
			}
		}
		all = append(all, evs...)
	}
	// Publish, then answer: when a change returns, its events are in every subscriber's queue.
	if len(all) > 0 {
		s.hub.publish(all)
	}
	for i, req := range batch {
		req.reply <- results[i]
	}
	if inserted && s.opts.MaxMessages > 0 {
		select {
		case s.pruneNow <- struct{}{}:
		default:
		}
	}
}

// runBatch runs every request of batch in one transaction and commits it. It returns the first
// error, after rolling back, when any request or the commit failed, and otherwise the words it
// added to the vocabulary.
func (s *Store) runBatch(ctx context.Context, conn *sql.Conn, ins *inserts, batch []writeReq) ([]writeResult, [][]Event, []string, error) {
	results := make([]writeResult, len(batch))
	events := make([][]Event, len(batch))
	if err := ins.run(ctx, "BEGIN IMMEDIATE"); err != nil {
		return results, nil, nil, fmt.Errorf("store: begin: %w", err)
	}
	rollback := func() {
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			s.log.Error("rollback failed", "err", err)
		}
	}
	// Consecutive messages are inserted together, then indexed, before a change (which may
	// delete them, or search them) or the commit. Their new words join the lexicon at once, so
	// that what runs after them in this transaction finds them inside words too; the terms
	// table gets them before the commit.
	var pending, inserted []*record
	var words []string
	var sessions []sessionWrite // session records, after the messages they came with
	newSessions := false
	flush := func() error {
		if len(pending) > 0 {
			err := ins.insert(ctx, pending)
			if err == nil {
				err = ins.index(ctx, pending)
			}
			added := s.lexicon.unstored(pending)
			s.lexicon.add(added, false)
			words = append(words, added...)
			inserted = append(inserted, pending...)
			pending = pending[:0]
			if err != nil {
				return err
			}
		}
		if len(sessions) > 0 {
			added, err := s.writeSessions(ctx, ins, sessions, events)
			newSessions = newSessions || added
			sessions = sessions[:0]
			return err
		}
		return nil
	}
	for i, req := range batch {
		if req.rec != nil {
			pending = append(pending, req.rec)
			if req.rec.session != nil {
				sessions = append(sessions, sessionWrite{sess: req.rec.session, message: true, idx: i})
			}
			continue
		}
		if req.session != nil {
			sessions = append(sessions, sessionWrite{sess: req.session, idx: i})
			continue
		}
		if err := flush(); err != nil {
			rollback()
			return results, nil, nil, err
		}
		var err error
		if events[i], err = req.change(ctx, conn); err != nil {
			rollback()
			return results, nil, nil, err
		}
	}
	if err := flush(); err != nil {
		rollback()
		return results, nil, nil, err
	}
	if newSessions {
		if err := s.pruneSessions(ctx, ins); err != nil {
			rollback()
			return results, nil, nil, fmt.Errorf("store: prune sessions: %w", err)
		}
	}
	if err := ins.addWords(ctx, words); err != nil {
		rollback()
		return results, nil, nil, err
	}
	relayed, err := s.autoRelay(ctx, conn, inserted)
	if err != nil {
		rollback()
		return results, nil, nil, err
	}
	for i, req := range batch {
		if req.rec != nil {
			sum := req.rec.sum
			results[i].summary = sum
			events[i] = append([]Event{{Type: EventNew, Summary: &sum, ID: sum.ID, UID: sum.UID}}, events[i]...)
			if ev, ok := relayed[req.rec]; ok {
				events[i] = append(events[i], ev)
			}
		}
	}
	if err := ins.run(ctx, "COMMIT"); err != nil {
		rollback()
		return results, nil, nil, fmt.Errorf("store: commit: %w", err)
	}
	return results, events, words, nil
}
