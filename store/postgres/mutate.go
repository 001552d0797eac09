package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/store"
)

// change runs fn in a transaction that first locks the counters row (so writers of every process
// take turns and never deadlock), commits, and waits until fn's events are published to this process's
// subscribers; fn NOTIFYs (see notify) with its events, which the listener publishes.
func (s *Store) change(ctx context.Context, fn func(tx pgx.Tx) ([]store.Event, error)) error {
	if s.isClosed() {
		return store.ErrClosed
	}
	var events []store.Event
	var t pgx.Tx
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t = tx
		if _, err := tx.Exec(ctx, "SELECT 1 FROM counters FOR UPDATE"); err != nil {
			return err
		}
		var err error
		events, err = fn(tx)
		return err
	})
	if err != nil {
		if t != nil {
			s.seq.take(t)
		}
		return fmt.Errorf("postgres: %w", unavailable(err))
	}
	s.awaitPublished(t)
	s.commits.Add(1)
	s.committed.Add(1)
	if s.opts.Observer != nil {
		s.opts.Observer.ObserveCommit(1)
	}
	for _, ev := range events {
		switch ev.Type {
		case store.EventDelete:
			s.deleted.Add(1)
		case store.EventPrune:
			s.deleted.Add(int64(len(ev.UIDs)))
		}
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// SetRead marks the messages with these IDs read or unread. Unknown IDs are ignored.
func (s *Store) SetRead(ctx context.Context, ids []string, read bool) error {
	return s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		return s.setRead(ctx, tx, "m.id = ANY($2)", []any{ids}, read)
	})
}

// SetReadMatching marks every message f selects read or unread.
func (s *Store) SetReadMatching(ctx context.Context, f store.Filter, read bool) error {
	return s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		alts, err := s.expand(ctx, tx, f)
		if err != nil {
			return nil, err
		}
		a := args{nil} // $1 is the read flag
		cond := where(f, alts, &a)
		return s.setRead(ctx, tx, cond, a[1:], read)
	})
}

// setRead sets read on the messages cond selects; cond's placeholders start at $2.
func (s *Store) setRead(ctx context.Context, tx pgx.Tx, cond string, condArgs []any, read bool) ([]store.Event, error) {
	rows, err := tx.Query(ctx, "UPDATE messages AS m SET read = $1 WHERE m.read <> $1 AND "+cond+" RETURNING m.uid, m.id",
		append([]any{read}, condArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("set read: %w", err)
	}
	var events []store.Event
	n := note{Type: noteRead, Read: &read}
	for rows.Next() {
		ev := store.Event{Type: store.EventUpdate, Read: &read}
		if err := rows.Scan(&ev.UID, &ev.ID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("set read: %w", err)
		}
		events = append(events, ev)
		n.UIDs, n.IDs = append(n.UIDs, ev.UID), append(n.IDs, ev.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("set read: %w", err)
	}
	if len(events) == 0 {
		return nil, nil
	}
	delta := int64(len(events))
	if read {
		delta = -delta
	}
	if _, err := tx.Exec(ctx, "UPDATE counters SET unread = unread + $1", delta); err != nil {
		return nil, fmt.Errorf("set read: %w", err)
	}
	return events, s.notify(ctx, tx, n, events)
}

// Delete deletes the messages with these IDs. Unknown IDs are ignored.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	return s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		return s.deleteWhere(ctx, tx, "m.id = ANY($1)", []any{ids}, false)
	})
}

// DeleteMatching deletes every message f selects and returns how many it deleted.
func (s *Store) DeleteMatching(ctx context.Context, f store.Filter) (int, error) {
	if isZero(f) {
		st, err := s.Stats(ctx)
		if err != nil {
			return 0, err
		}
		return st.Total, s.DeleteAll(ctx)
	}
	n := 0
	err := s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		alts, err := s.expand(ctx, tx, f)
		if err != nil {
			return nil, err
		}
		var a args
		cond := where(f, alts, &a)
		evs, err := s.deleteWhere(ctx, tx, cond, a, false)
		n = len(evs)
		return evs, err
	})
	return n, err
}

// deleteWhere deletes the messages cond selects (its placeholders start at $1), keeps the
// counters right, and announces them: one EventDelete each, or one EventPrune for retention.
func (s *Store) deleteWhere(ctx context.Context, tx pgx.Tx, cond string, condArgs []any, prune bool) ([]store.Event, error) {
	rows, err := tx.Query(ctx, "DELETE FROM messages AS m WHERE "+cond+" RETURNING m.uid, m.id, m.read, m.size", condArgs...)
	if err != nil {
		return nil, fmt.Errorf("delete: %w", err)
	}
	var events []store.Event
	var unread, size int64
	n := note{Type: noteDelete}
	if prune {
		n.Type = notePrune
	}
	for rows.Next() {
		var ev store.Event
		var read bool
		var sz int64
		if err := rows.Scan(&ev.UID, &ev.ID, &read, &sz); err != nil {
			rows.Close()
			return nil, fmt.Errorf("delete: %w", err)
		}
		ev.Type = store.EventDelete
		events = append(events, ev)
		if !read {
			unread++
		}
		size += sz
		n.UIDs, n.IDs = append(n.UIDs, ev.UID), append(n.IDs, ev.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delete: %w", err)
	}
	if len(events) == 0 {
		return nil, nil
	}
	if _, err := tx.Exec(ctx, "UPDATE counters SET total = total - $1, unread = unread - $2, size = size - $3",
		len(events), unread, size); err != nil {
		return nil, fmt.Errorf("delete: %w", err)
	}
	if prune {
		events = []store.Event{{Type: store.EventPrune, UIDs: n.UIDs}}
		n.IDs = nil
	}
	return events, s.notify(ctx, tx, n, events)
}

// DeleteAll deletes every message.
func (s *Store) DeleteAll(ctx context.Context) error {
	var total int64
	err := s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		if err := tx.QueryRow(ctx, "SELECT total FROM counters").Scan(&total); err != nil {
			return nil, err
		}
		// The vocabulary stays: other processes remember which words it holds.
		if _, err := tx.Exec(ctx, "TRUNCATE messages CASCADE"); err != nil { // and every table that refers to it
			return nil, fmt.Errorf("delete all: %w", err)
		}
		if _, err := tx.Exec(ctx, "UPDATE counters SET total = 0, unread = 0, size = 0"); err != nil {
			return nil, fmt.Errorf("delete all: %w", err)
		}
		evs := []store.Event{store.TruncateEvent(total)}
		return evs, s.notify(ctx, tx, note{Type: noteTruncate}, evs)
	})
	if err == nil {
		s.deleted.Add(total)
	}
	return err
}

// SetTags replaces the tags of the messages with these IDs.
func (s *Store) SetTags(ctx context.Context, ids []string, tags []string) error {
	clean := store.NormalizeTags(tags)
	return s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		var events []store.Event
		n := note{Type: noteTags}
		for _, id := range ids {
			var uid int64
			err := tx.QueryRow(ctx, "SELECT uid FROM messages WHERE id = $1", id).Scan(&uid)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("set tags: %w", err)
			}
			if _, err := tx.Exec(ctx, "DELETE FROM tags WHERE uid = $1", uid); err != nil {
				return nil, fmt.Errorf("set tags: %w", err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO tags (tag, uid) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING", clean, uid); err != nil {
				return nil, fmt.Errorf("set tags: %w", err)
			}
			events = append(events, store.Event{Type: store.EventUpdate, ID: id, UID: uid, Tags: clean})
			n.UIDs, n.IDs = append(n.UIDs, uid), append(n.IDs, id)
		}
		if len(events) == 0 {
			return nil, nil
		}
		return events, s.notify(ctx, tx, n, events)
	})
}

// RenameTag renames a tag on every message that has it.
func (s *Store) RenameTag(ctx context.Context, old, name string) error {
	name = store.CleanTag(name)
	if name == "" {
		return fmt.Errorf("postgres: rename tag: the new name is empty")
	}
	return s.retag(ctx, old, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO tags (tag, uid) SELECT $1, uid FROM tags WHERE tag = $2 ON CONFLICT DO NOTHING", name, old); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM tags WHERE tag = $1 AND tag <> $2", old, name)
		return err
	})
}

// DeleteTag removes a tag from every message.
func (s *Store) DeleteTag(ctx context.Context, tag string) error {
	return s.retag(ctx, tag, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM tags WHERE tag = $1", tag)
		return err
	})
}

// retag runs fn and announces the new tags of every message that had tag.
func (s *Store) retag(ctx context.Context, tag string, fn func(pgx.Tx) error) error {
	return s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		rows, err := tx.Query(ctx, "SELECT m.uid, m.id FROM tags t JOIN messages m ON m.uid = t.uid WHERE t.tag = $1", tag)
		if err != nil {
			return nil, fmt.Errorf("tags: %w", err)
		}
		var events []store.Event
		n := note{Type: noteTags}
		for rows.Next() {
			ev := store.Event{Type: store.EventUpdate}
			if err := rows.Scan(&ev.UID, &ev.ID); err != nil {
				rows.Close()
				return nil, fmt.Errorf("tags: %w", err)
			}
			events = append(events, ev)
			n.UIDs, n.IDs = append(n.UIDs, ev.UID), append(n.IDs, ev.ID)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("tags: %w", err)
		}
		if err := fn(tx); err != nil {
			return nil, fmt.Errorf("tags: %w", err)
		}
		if len(events) == 0 {
			return nil, nil
		}
		tags, err := tagsOf(ctx, tx, n.UIDs)
		if err != nil {
			return nil, fmt.Errorf("tags: %w", err)
		}
		for i := range events {
			events[i].Tags = tags[events[i].UID]
		}
		return events, s.notify(ctx, tx, n, events)
	})
}

// tagsOf returns the sorted tags of each of uids (an empty list for none).
func tagsOf(ctx context.Context, q querier, uids []int64) (map[int64][]string, error) {
	out := make(map[int64][]string, len(uids))
	for _, uid := range uids {
		out[uid] = []string{}
	}
	rows, err := q.Query(ctx, `SELECT uid, tag FROM tags WHERE uid = ANY($1) ORDER BY uid, tag COLLATE "C"`, uids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var uid int64
		var tag string
		if err := rows.Scan(&uid, &tag); err != nil {
			return nil, err
		}
		out[uid] = append(out[uid], tag)
	}
	return out, rows.Err()
}
