package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/store"
)

// note is what a commit tells the other processes (NOTIFY letterbox, JSON), delivered when
// and only if it commits, in commit order.
type note struct {
	Origin string   `json:"o"`
	Seq    int64    `json:"s"`
	Type   string   `json:"t"`
	UIDs   []int64  `json:"u,omitempty"`
	IDs    []string `json:"i,omitempty"`
	Read   *bool    `json:"r,omitempty"`
	Del    *bool    `json:"d,omitempty"` // for noteFlag: the \Deleted flag
	Jobs   []int64  `json:"j,omitempty"` // for noteNew: the auto-relay jobs queued with the messages
	Sess   []int64  `json:"x,omitempty"` // for noteNew: the messages that came with their session's record

	// For noteNew, what goes with each message (by UID), put in Jobs and Sess of the part of the
	// notification that names it.
	jobOf       map[int64]int64
	withSession map[int64]bool
}

// The kinds of note.
const (
	noteNew      = "new"      // messages stored: UIDs
	noteRead     = "read"     // read state set to Read: UIDs and IDs
	noteTags     = "tags"     // tags changed: UIDs and IDs (the tags are read back)
	noteDelete   = "delete"   // messages deleted: UIDs and IDs
	notePrune    = "prune"    // retention deleted messages: UIDs
	noteTruncate = "truncate" // every message deleted
	noteRelay    = "relay"    // relay jobs changed: their numbers (in UIDs) and messages' IDs
	noteSession  = "session"  // session records written without a message: their IDs
	noteFlag     = "flag"     // the \Deleted flag set to Del: UIDs and IDs
)

// noteChunk is the most messages one notification names: PostgreSQL's payloads hold 8,000 bytes.
const noteChunk = 180

// parts splits n into notifications of noteChunk messages (or IDs, for a note without UIDs) at most.
func (n note) parts() []note {
	size := max(len(n.UIDs), len(n.IDs))
	var out []note
	for from := 0; from == 0 || from < size; from += noteChunk {
		to := min(from+noteChunk, size)
		part := n
		part.jobOf, part.withSession = nil, nil
		if n.UIDs != nil {
			part.UIDs = n.UIDs[from:to]
		}
		if n.IDs != nil {
			part.IDs = n.IDs[from:to]
		}
		for _, uid := range part.UIDs {
			if job, ok := n.jobOf[uid]; ok {
				part.Jobs = append(part.Jobs, job)
			}
			if n.withSession[uid] {
				part.Sess = append(part.Sess, uid)
			}
		}
		out = append(out, part)
	}
	return out
}

// notify sends n (in parts, each numbered: see sequencer) inside tx, and registers evs, this
// process's events of the change, to be published when the listener gets them back.
func (s *Store) notify(ctx context.Context, tx pgx.Tx, n note, evs []store.Event) error {
	return s.notifyAll(ctx, tx, []note{n}, evs)
}

// notifyAll sends every note of notes, in order, and registers evs as notify does.
func (s *Store) notifyAll(ctx context.Context, tx pgx.Tx, notes []note, evs []store.Event) error {
	var parts []note
	for _, n := range notes {
		n.Origin = s.instance
		parts = append(parts, n.parts()...)
	}
	var last int64
	if err := tx.QueryRow(ctx, "UPDATE counters SET seq = seq + $1 RETURNING seq", len(parts)).Scan(&last); err != nil {
		return err
	}
	first := last - int64(len(parts)) + 1
	for i := range parts {
		parts[i].Seq = first + int64(i)
		payload, err := json.Marshal(parts[i])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload)); err != nil {
			return err
		}
	}
	s.seq.register(tx, first, last, evs)
	return nil
}

// listen LISTENs on its own connection and publishes the other processes' changes to this
// process's subscribers. It reports on ready whether the first LISTEN worked. When the
// connection is lost it reconnects; notifications sent meanwhile are lost, so every subscriber
// is then dropped with store.ErrLagged (the servers reload, websocket clients reconnect).
func (s *Store) listen(ready chan<- error) {
	defer s.listener.Done()
	ctx := s.stopCtx
	first := true
	delay := 50 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, s.url)
		if err == nil {
			// LISTEN, then the number the database is at: every later notification is published.
			var last int64
			if _, err = conn.Exec(ctx, "LISTEN "+channel); err == nil {
				err = conn.QueryRow(ctx, "SELECT seq FROM counters").Scan(&last)
			}
			if err != nil {
				conn.Close(context.Background())
			} else {
				s.seq.start(last)
			}
		}
		if first {
			ready <- err
			first = false
			if err != nil {
				return
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("listening for other processes' changes failed; retrying", "err", err, "in", delay)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 2*time.Second)
			continue
		}
		if delay > 50*time.Millisecond {
			s.log.Info("listening for other processes' changes again; subscribers reload")
			s.hub.DropAll(store.ErrLagged)
		}
		delay = 50 * time.Millisecond
		err = s.receive(ctx, conn)
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("lost the connection that listens for other processes' changes; reconnecting", "err", err)
		delay = 100 * time.Millisecond // > the initial delay: subscribers are dropped on reconnect
	}
}

// receive publishes notifications from conn until it fails or ctx ends.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var msg note
		if err := json.Unmarshal([]byte(n.Payload), &msg); err != nil {
			s.log.Warn("ignoring a malformed notification", "payload", n.Payload, "err", err)
			continue
		}
		evs, known, skip, gap := s.seq.claim(msg.Seq)
		if skip {
			continue
		}
		if gap {
			s.log.Warn("changes of other processes were missed; subscribers reload", "seq", msg.Seq)
			s.hub.DropAll(store.ErrLagged)
		}
		if msg.Origin != s.instance || !known {
			evs, err = s.eventsOf(ctx, msg)
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				// The change happened but its details could not be read: subscribers must reload.
				s.log.Warn("reading another process's change failed; subscribers reload", "err", err)
				s.hub.DropAll(store.ErrLagged)
			}
			if msg.Origin != s.instance {
				for i := range evs {
					evs[i].Remote = true
				}
			}
		}
		if len(evs) > 0 {
			s.hub.Publish(evs)
		}
		s.seq.done(msg.Seq)
	}
}

// eventsOf turns another process's note into store events.
func (s *Store) eventsOf(ctx context.Context, n note) ([]store.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var evs []store.Event
	switch n.Type {
	case noteNew:
		sums, err := s.summaries(ctx, n.UIDs)
		if err != nil {
			return nil, err
		}
		relays := map[int64]store.Event{}
		if len(n.Jobs) > 0 {
			jobs, err := s.relayJobs(ctx, "j.job = ANY($1)", n.Jobs)
			if err != nil {
				return nil, err
			}
			for _, j := range jobs {
				relays[j.UID] = store.RelayEvent(j)
			}
		}
		sessions, err := s.sessionsOfMessages(ctx, n.Sess)
		if err != nil {
			return nil, err
		}
		for i := range sums {
			evs = append(evs, store.Event{Type: store.EventNew, Summary: &sums[i], ID: sums[i].ID, UID: sums[i].UID})
			if ss, ok := sessions[sums[i].UID]; ok {
				evs = append(evs, store.SessionEvent(ss))
			}
			if ev, ok := relays[sums[i].UID]; ok {
				evs = append(evs, ev)
			}
		}
	case noteRead:
		for i, uid := range n.UIDs {
			evs = append(evs, store.Event{Type: store.EventUpdate, ID: at(n.IDs, i), UID: uid, Read: n.Read})
		}
	case noteTags:
		tags, err := tagsOf(ctx, s.pool, n.UIDs)
		if err != nil {
			return nil, unavailable(err)
		}
		for i, uid := range n.UIDs {
			evs = append(evs, store.Event{Type: store.EventUpdate, ID: at(n.IDs, i), UID: uid, Tags: tags[uid]})
		}
	case noteFlag:
		for i, uid := range n.UIDs {
			evs = append(evs, store.Event{Type: store.EventFlag, ID: at(n.IDs, i), UID: uid, Deleted: n.Del})
		}
	case noteDelete:
		for i, uid := range n.UIDs {
			evs = append(evs, store.Event{Type: store.EventDelete, ID: at(n.IDs, i), UID: uid})
		}
	case notePrune:
		evs = append(evs, store.Event{Type: store.EventPrune, UIDs: n.UIDs})
	case noteTruncate:
		evs = append(evs, store.TruncateEvent(0))
	case noteSession:
		list, err := s.readSessions(ctx, "s.id = ANY($1)", n.IDs)
		if err != nil {
			return nil, err
		}
		for _, ss := range list {
			evs = append(evs, store.SessionEvent(ss))
		}
	case noteRelay:
		jobs, err := s.relayJobs(ctx, "j.job = ANY($1)", n.UIDs)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			evs = append(evs, store.RelayEvent(j))
		}
	}
	return evs, nil
}

func at(ids []string, i int) string {
	if i < len(ids) {
		return ids[i]
	}
	return ""
}
