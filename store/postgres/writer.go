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

// insertReq is one unit of work for the writer goroutine: a message, or a session record alone.
type insertReq struct {
	p       *store.Prepared   // a message, or nil
	session *store.Session    // when p is nil: a session record (RecordSession)
	doc     string            // the message's tsvector, worked out in the caller's goroutine
	reply   chan insertResult // buffered, receives exactly once
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
	queued := false
	defer func() {
		if !queued {
			s.incoming.Add(-1)
		}
	}()
	return s.queue(ctx, &insertReq{p: p, doc: tsvectorOf(&p.Text)}, func() { queued = true; s.incoming.Add(-1) })
}

// queue hands req to the writer and waits for its answer; queued runs once it is handed over.
// The writer always answers, so the wait does not watch ctx: what is being committed is either
// committed or failed, and the caller learns which.
func (s *Store) queue(ctx context.Context, req *insertReq, queued func()) (store.Summary, error) {
	req.reply = make(chan insertResult, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.Summary{}, store.ErrClosed
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return store.Summary{}, fmt.Errorf("postgres: %w", ctx.Err())
	}
	queued()
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
		if batch[0].p == nil {
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

// sessionDelay is the longest a batch of SMTP session records alone waits for company before it
// is committed (as on SQLite, see store's sessionDelay): no client waits for a record written as
// its session ends, and a commit of its own (a log flush) for each would cost more than the
// session's message did. The records ride along with the next messages instead.
const sessionDelay = 25 * time.Millisecond

// awaitCompany adds to a batch of session records whatever comes within sessionDelay, up to the
// first message.
func (s *Store) awaitCompany(batch []*insertReq) []*insertReq {
	t := time.NewTimer(sessionDelay)
	defer t.Stop()
	for len(batch) < s.opts.MaxBatch {
		select {
		case req := <-s.writes:
			batch = append(batch, req)
			if req.p != nil {
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

// commit writes a batch in one transaction; when it fails, each request is tried alone, so one
// bad message spoils only itself. Events are published, then the callers answered.
func (s *Store) commit(batch []*insertReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	words, seq, err := s.insert(ctx, batch)
	if err != nil && len(batch) > 1 {
		for _, req := range batch {
			s.commit([]*insertReq{req})
		}
		return
	}
	if err != nil {
		what := "store message"
		if batch[0].p == nil {
			what = "record session"
		}
		batch[0].reply <- insertResult{err: fmt.Errorf("postgres: %s: %w", what, unavailable(err))}
		return
	}
	s.vocab.learn(words)
	s.commits.Add(1)
	messages := 0
	for _, req := range batch {
		if req.p != nil {
			messages++
		}
	}
	// Session records ride along: a batch's size is its messages (as on SQLite).
	s.committed.Add(int64(messages))
	s.stored.Add(int64(messages))
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
		for _, req := range waiting {
			var res insertResult
			if req.p != nil {
				res.sum = req.p.Summary
			}
			req.reply <- res
		}
	}()
	if s.opts.MaxMessages > 0 && messages > 0 {
		select {
		case s.pruneNow <- struct{}{}:
		default:
		}
	}
}

// insert writes batch in one transaction, giving each message its UID, and commits. It returns
// the vocabulary words it added and the number of the notification that announces them (see
// sequencer).
func (s *Store) insert(ctx context.Context, batch []*insertReq) ([]string, int64, error) {
	var recs []*store.Prepared
	var docs []string
	for _, req := range batch {
		if req.p != nil {
			recs, docs = append(recs, req.p), append(docs, req.doc)
		}
	}
	var words []string
	var t pgx.Tx
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t = tx
		// The counters row lock is held to the commit: another process's batch waits here, so
		// UIDs are given in commit order.
		if err := s.lockAndNumber(ctx, tx, recs); err != nil {
			return err
		}
		var err error
		if words, err = s.insertMessages(ctx, tx, recs, docs); err != nil {
			return err
		}
		sessions, err := s.writeSessions(ctx, tx, batch)
		if err != nil {
			return err
		}
		// Auto-relay jobs are queued in the transaction that stores the messages, and each is
		// announced right after its message.
		relayEvs, err := s.autoRelay(ctx, tx, recs)
		if err != nil {
			return err
		}
		return s.announce(ctx, tx, batch, sessions, relayEvs)
	})
	if t != nil {
		n := s.seq.take(t)
		if err == nil {
			return words, n, nil
		}
	}
	return nil, 0, err
}

// lockAndNumber locks the counters row, counts recs in, and gives each its UID.
func (s *Store) lockAndNumber(ctx context.Context, tx pgx.Tx, recs []*store.Prepared) error {
	if len(recs) == 0 {
		_, err := tx.Exec(ctx, "SELECT 1 FROM counters FOR UPDATE")
		return err
	}
	var size int64
	for _, p := range recs {
		size += p.Summary.Size
	}
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
	return nil
}

// announce registers the events of batch, in its order (each message's EventNew, its session's
// EventSession, its auto-relay job's EventRelay; a session record's EventSession), and notifies
// the other processes.
func (s *Store) announce(ctx context.Context, tx pgx.Tx, batch []*insertReq, sessions map[*insertReq]store.Event, relayEvs map[int64]store.Event) error {
	var evs []store.Event
	nt := note{Type: noteNew, jobOf: map[int64]int64{}, withSession: map[int64]bool{}}
	ns := note{Type: noteSession}
	for _, req := range batch {
		if req.p == nil {
			if ev, ok := sessions[req]; ok {
				evs = append(evs, ev)
				ns.IDs = append(ns.IDs, ev.ID)
			}
			continue
		}
		sum := req.p.Summary
		nt.UIDs = append(nt.UIDs, sum.UID)
		evs = append(evs, store.Event{Type: store.EventNew, Summary: &sum, ID: sum.ID, UID: sum.UID})
		if ev, ok := sessions[req]; ok {
			evs = append(evs, ev)
			nt.withSession[sum.UID] = true
		}
		if ev, ok := relayEvs[sum.UID]; ok {
			evs = append(evs, ev)
			nt.jobOf[sum.UID] = ev.Relay.Job
		}
	}
	var notes []note
	if len(nt.UIDs) > 0 {
		notes = append(notes, nt)
	}
	if len(ns.IDs) > 0 {
		notes = append(notes, ns)
	}
	return s.notifyAll(ctx, tx, notes, evs)
}

// insertMessages writes recs (docs: their tsvectors), numbered, and returns the vocabulary
// words it added. Every row of the batch goes in one round trip: a pipeline of INSERTs from
// arrays (a COPY costs three round trips a table, and the writer, one transaction at a time,
// waited on seven of them a batch).
func (s *Store) insertMessages(ctx context.Context, tx pgx.Tx, recs []*store.Prepared, docs []string) ([]string, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	var m messageColumns
	var content [][]byte
	var contentUIDs, sizes []int64
	for _, p := range recs {
		m.add(p)
		contentUIDs, content, sizes = append(contentUIDs, p.Summary.UID), append(content, p.Content), append(sizes, int64(p.BodySize))
	}
	var recipUIDs, tagUIDs []int64
	var recips, tags []string
	for _, p := range recs {
		uid := p.Summary.UID
		for _, a := range p.Recipients {
			recipUIDs, recips = append(recipUIDs, uid), append(recips, clean(a))
		}
		for _, t := range p.Summary.Tags {
			tagUIDs, tags = append(tagUIDs, uid), append(tags, t)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO messages (uid, id, created, date, size, message_id, subject, from_json, to_json, cc_json, bcc_json,
		reply_to_json, username, attachments, inlines, snippet, session_id)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int[], $15::int[], $16::text[], $17::text[])`,
		m.uid, m.id, m.created, m.date, m.size, m.messageID, m.subject, m.from, m.to, m.cc, m.bcc, m.replyTo, m.username,
		m.attachments, m.inlines, m.snippet, m.session)
	b.Queue("INSERT INTO contents (uid, content, body_size) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::int[])", contentUIDs, content, sizes)
	if len(recips) > 0 {
		b.Queue("INSERT INTO recipients (addr, uid) SELECT * FROM unnest($1::text[], $2::bigint[])", recips, recipUIDs)
	}
	if len(tags) > 0 {
		b.Queue("INSERT INTO tags (tag, uid) SELECT * FROM unnest($1::text[], $2::bigint[])", tags, tagUIDs)
	}
	b.Queue("INSERT INTO search (uid, words) SELECT unnest($1::bigint[]), unnest($2::text[])::tsvector", contentUIDs, docs)
	words := s.vocab.unknown(recs)
	if len(words) > 0 {
		b.Queue("INSERT INTO terms (term) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", words)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	return words, nil
}

// messageColumns are the messages rows of a batch, a slice a column.
type messageColumns struct {
	uid, created, date, size                                                       []int64
	id, messageID, subject, from, to, cc, bcc, replyTo, username, snippet, session []string
	attachments, inlines                                                           []int32
}

func (m *messageColumns) add(p *store.Prepared) {
	sum := &p.Summary
	var date int64
	if !sum.Date.IsZero() {
		date = sum.Date.UnixMicro()
	}
	m.uid, m.created, m.date, m.size = append(m.uid, sum.UID), append(m.created, sum.Created.UnixMicro()), append(m.date, date), append(m.size, sum.Size)
	m.id, m.messageID, m.subject = append(m.id, sum.ID), append(m.messageID, sum.MessageID), append(m.subject, sum.Subject)
	m.from, m.to, m.cc = append(m.from, clean(p.FromJSON)), append(m.to, clean(p.ToJSON)), append(m.cc, clean(p.CcJSON))
	m.bcc, m.replyTo = append(m.bcc, clean(p.BccJSON)), append(m.replyTo, clean(p.ReplyToJSON))
	m.username, m.snippet, m.session = append(m.username, sum.Username), append(m.snippet, sum.Snippet), append(m.session, clean(p.SessionID))
	m.attachments, m.inlines = append(m.attachments, int32(sum.Attachments)), append(m.inlines, int32(sum.Inlines))
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
