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
	Type   string   `json:"t"`
	UIDs   []int64  `json:"u,omitempty"`
	IDs    []string `json:"i,omitempty"`
	Read   *bool    `json:"r,omitempty"`
}

// The kinds of note.
const (
	noteNew      = "new"      // messages stored: UIDs
	noteRead     = "read"     // read state set to Read: UIDs and IDs
	noteTags     = "tags"     // tags changed: UIDs and IDs (the tags are read back)
	noteDelete   = "delete"   // messages deleted: UIDs and IDs
	notePrune    = "prune"    // retention deleted messages: UIDs
	noteTruncate = "truncate" // every message deleted
)

// noteChunk is the most messages one notification names: PostgreSQL's payloads hold 8,000 bytes.
const noteChunk = 180

// notify sends n (in chunks) inside tx.
func (s *Store) notify(ctx context.Context, tx pgx.Tx, n note) error {
	n.Origin = s.instance
	for {
		part := n
		if len(part.UIDs) > noteChunk {
			part.UIDs = part.UIDs[:noteChunk]
			if part.IDs != nil {
				part.IDs = part.IDs[:noteChunk]
			}
		}
		payload, err := json.Marshal(part)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload)); err != nil {
			return err
		}
		if len(n.UIDs) <= noteChunk {
			return nil
		}
		n.UIDs = n.UIDs[noteChunk:]
		if n.IDs != nil {
			n.IDs = n.IDs[noteChunk:]
		}
	}
}

// listen LISTENs on its own connection and publishes the other processes' changes to this
// process's subscribers. It reports on ready whether the first LISTEN worked. When the
// connection is lost it reconnects; notifications sent meanwhile are lost, so every subscriber
// is then dropped with store.ErrLagged (the servers reload, websocket clients reconnect).
func (s *Store) listen(ready chan<- error) {
	defer s.done.Done()
	ctx := s.stopCtx
	first := true
	delay := 50 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, s.url)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+channel); err != nil {
				conn.Close(context.Background())
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
		if msg.Origin == s.instance {
			continue // published when it committed
		}
		evs, err := s.eventsOf(ctx, msg)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			// The change happened but its details could not be read: subscribers must reload.
			s.log.Warn("reading another process's change failed; subscribers reload", "err", err)
			s.hub.DropAll(store.ErrLagged)
			continue
		}
		if len(evs) > 0 {
			s.hub.Publish(evs)
		}
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
		for i := range sums {
			evs = append(evs, store.Event{Type: store.EventNew, Summary: &sums[i], ID: sums[i].ID, UID: sums[i].UID})
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
	case noteDelete:
		for i, uid := range n.UIDs {
			evs = append(evs, store.Event{Type: store.EventDelete, ID: at(n.IDs, i), UID: uid})
		}
	case notePrune:
		evs = append(evs, store.Event{Type: store.EventPrune, UIDs: n.UIDs})
	case noteTruncate:
		evs = append(evs, store.TruncateEvent(0))
	}
	return evs, nil
}

func at(ids []string, i int) string {
	if i < len(ids) {
		return ids[i]
	}
	return ""
}
