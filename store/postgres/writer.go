package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/store"
)

// insertReq is one message for the writer goroutine.
type insertReq struct {
	p     *store.Prepared
	doc   string            // its tsvector, worked out in the caller's goroutine
	reply chan insertResult // buffered, receives exactly once
}

type insertResult struct {
	sum store.Summary
	err error
}

// commitDelay is the longest the writer waits for messages on their way to join a batch (as on
// SQLite: see store's commitDelay).
const commitDelay = 2 * time.Millisecond

// submit queues a prepared message for the writer and waits for its commit. Add counted it in
// s.incoming; it is taken out once queued.
func (s *Store) submit(ctx context.Context, p *store.Prepared) (store.Summary, error) {
	req := &insertReq{p: p, doc: tsvectorOf(&p.Text), reply: make(chan insertResult, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		s.incoming.Add(-1)
		return store.Summary{}, store.ErrClosed
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		s.incoming.Add(-1)
		return store.Summary{}, fmt.Errorf("postgres: %w", ctx.Err())
	}
	s.incoming.Add(-1)
	s.mu.RUnlock()
	res := <-req.reply
	return res.sum, res.err
}

// writer commits the messages waiting, up to MaxBatch, in one transaction (group commit).
func (s *Store) writer() {
	defer s.done.Done()
	batch := make([]*insertReq, 0, s.opts.MaxBatch)
	delay := time.NewTimer(time.Hour)
	delay.Stop()
	for {
		batch = batch[:0]
		select {
		case req := <-s.writes:
			batch = append(batch, req)
		case <-s.stop:
			for {
				select {
				case req := <-s.writes:
					batch = append(batch, req)
					if len(batch) == s.opts.MaxBatch {
						s.commit(batch)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				s.commit(batch)
			}
			return
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
			if s.incoming.Load()+s.expected.Load() == 0 {
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
		s.commit(batch)
	}
}

// commit inserts a batch in one transaction; when it fails, each message is tried alone, so one
// bad message spoils only itself. Events are published, then the callers answered.
func (s *Store) commit(batch []*insertReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recs := make([]*store.Prepared, len(batch))
	docs := make([]string, len(batch))
	for i, req := range batch {
		recs[i], docs[i] = req.p, req.doc
	}
	words, seq, err := s.insert(ctx, recs, docs)
	if err != nil && len(batch) > 1 {
		for _, req := range batch {
			s.commit([]*insertReq{req})
		}
		return
	}
	if err != nil {
		batch[0].reply <- insertResult{err: fmt.Errorf("postgres: store message: %w", unavailable(err))}
		return
	}
	s.vocab.learn(words)
	s.commits.Add(1)
	s.committed.Add(int64(len(batch)))
	s.stored.Add(int64(len(batch)))
	if s.opts.Observer != nil {
		s.opts.Observer.ObserveCommit(len(batch))
	}
	// The callers are answered once their events are published; the writer goes on to the next
	// batch meanwhile (in a slice of its own: the writer reuses batch's).
	waiting := slices.Clone(batch)
	s.replies.Add(1)
	go func() {
		defer s.replies.Done()
		s.awaitSeq(seq)
		for i, req := range waiting {
			req.reply <- insertResult{sum: recs[i].Summary}
		}
	}()
	if s.opts.MaxMessages > 0 {
		select {
		case s.pruneNow <- struct{}{}:
		default:
		}
	}
}

// insert writes recs (docs: their tsvectors) in one transaction, giving each its UID, and
// commits. It returns the vocabulary words it added and the number of the notification that
// announces them (see sequencer).
func (s *Store) insert(ctx context.Context, recs []*store.Prepared, docs []string) ([]string, int64, error) {
	var words []string
	var evs []store.Event
	var t pgx.Tx
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t = tx
		var size int64
		for _, p := range recs {
			size += p.Summary.Size
		}
		// The counters row lock is held to the commit: another process's batch waits here, so
		// UIDs are given in commit order.
		var last int64
		n := int64(len(recs))
		if err := tx.QueryRow(ctx, `UPDATE counters SET last_uid = last_uid + $1, total = total + $1, unread = unread + $1,
			size = size + $2 RETURNING last_uid - $1`, n, size).Scan(&last); err != nil {
			return err
		}
		for i, p := range recs {
			p.Summary.UID = last + 1 + int64(i)
			cleanSummary(&p.Summary)
		}
		if err := copyRows(ctx, tx, "messages", []string{"uid", "id", "created", "date", "size", "message_id", "subject",
			"from_json", "to_json", "cc_json", "bcc_json", "reply_to_json", "username", "attachments", "inlines", "snippet"},
			len(recs), func(i int) []any {
				p := recs[i]
				sum := &p.Summary
				var date int64
				if !sum.Date.IsZero() {
					date = sum.Date.UnixMicro()
				}
				return []any{sum.UID, sum.ID, sum.Created.UnixMicro(), date, sum.Size, sum.MessageID, sum.Subject,
					clean(p.FromJSON), clean(p.ToJSON), clean(p.CcJSON), clean(p.BccJSON), clean(p.ReplyToJSON), sum.Username,
					sum.Attachments, sum.Inlines, sum.Snippet}
			}); err != nil {
			return err
		}
		if err := copyRows(ctx, tx, "contents", []string{"uid", "content", "body_size"}, len(recs), func(i int) []any {
			return []any{recs[i].Summary.UID, recs[i].Content, recs[i].BodySize}
		}); err != nil {
			return err
		}
		var parts, recips, tags [][]any
		for _, p := range recs {
			uid := p.Summary.UID
			// A broken message may repeat a part ID; the last wins, as on SQLite.
			seen := map[string]bool{}
			for i := len(p.Parts) - 1; i >= 0; i-- {
				part := p.Parts[i]
				if !seen[part.PartID] {
					seen[part.PartID] = true
					parts = append(parts, []any{uid, clean(part.PartID), part.Content})
				}
			}
			for _, a := range p.Recipients {
				recips = append(recips, []any{clean(a), uid})
			}
			for _, t := range p.Summary.Tags {
				tags = append(tags, []any{t, uid})
			}
		}
		for _, c := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"parts", []string{"uid", "part_id", "content"}, parts},
			{"recipients", []string{"addr", "uid"}, recips},
			{"tags", []string{"tag", "uid"}, tags},
		} {
			if err := copyRows(ctx, tx, c.table, c.cols, len(c.rows), func(i int) []any { return c.rows[i] }); err != nil {
				return err
			}
		}
		uids := make([]int64, len(recs))
		for i, p := range recs {
			uids[i] = p.Summary.UID
		}
		if _, err := tx.Exec(ctx, "INSERT INTO search (uid, words) SELECT unnest($1::bigint[]), unnest($2::text[])::tsvector", uids, docs); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		words = s.vocab.unknown(recs)
		if len(words) > 0 {
			if _, err := tx.Exec(ctx, "INSERT INTO terms (term) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", words); err != nil {
				return err
			}
		}
		// Auto-relay jobs are queued in the transaction that stores the messages, and each is
		// announced right after its message.
		relayEvs, err := s.autoRelay(ctx, tx, recs)
		if err != nil {
			return err
		}
		nt := note{Type: noteNew, UIDs: uids}
		for _, p := range recs {
			sum := p.Summary
			evs = append(evs, store.Event{Type: store.EventNew, Summary: &sum, ID: sum.ID, UID: sum.UID})
			if ev, ok := relayEvs[sum.UID]; ok {
				evs = append(evs, ev)
				nt.Jobs = append(nt.Jobs, ev.Relay.Job)
			}
		}
		return s.notify(ctx, tx, nt, evs)
	})
	if t != nil {
		n := s.seq.take(t)
		if err == nil {
			return words, n, nil
		}
	}
	return nil, 0, err
}

// copyRows COPYs n rows into table; row(i) gives row i's values in the order of cols.
func copyRows(ctx context.Context, tx pgx.Tx, table string, cols []string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) { return row(i), nil }))
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return nil
}

// clean makes s storable as PostgreSQL text, which holds neither NUL nor invalid UTF-8 (SQLite
// holds both): NUL is dropped, invalid bytes become U+FFFD.
func clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// cleanSummary cleans every text of sum (see clean), so that what is published is what is stored.
func cleanSummary(sum *store.Summary) {
	sum.MessageID, sum.Subject, sum.Username, sum.Snippet = clean(sum.MessageID), clean(sum.Subject), clean(sum.Username), clean(sum.Snippet)
	for i, t := range sum.Tags {
		sum.Tags[i] = clean(t)
	}
}
