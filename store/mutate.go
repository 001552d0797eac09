package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// inList returns "?, ?, ..." for n values and the values as []any.
func inList[T any](vals []T) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", "), args
}

// chunks calls fn on slices of at most 500 values, to stay inside SQLite's parameter limits.
func chunks[T any](vals []T, fn func([]T) error) error {
	for len(vals) > 0 {
		n := min(len(vals), 500)
		if err := fn(vals[:n]); err != nil {
			return err
		}
		vals = vals[n:]
	}
	return nil
}

// SetRead marks the messages with these IDs read or unread. Unknown IDs are ignored.
func (s *Store) SetRead(ctx context.Context, ids []string, read bool) error {
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		var events []Event
		err := chunks(ids, func(part []string) error {
			in, args := inList(part)
			evs, err := setRead(ctx, tx, "m.id IN ("+in+")", args, read)
			events = append(events, evs...)
			return err
		})
		return events, err
	})
}

// SetReadMatching marks every message f selects read or unread.
func (s *Store) SetReadMatching(ctx context.Context, f Filter, read bool) error {
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		f := s.expand(f)
		where, args := f.where()
		return setRead(ctx, tx, where, args, read)
	})
}

func setRead(ctx context.Context, tx dbtx, where string, args []any, read bool) ([]Event, error) {
	flag := 0
	if read {
		flag = 1
	}
	rows, err := tx.QueryContext(ctx, "UPDATE messages AS m SET read = ? WHERE m.read != ? AND "+where+" RETURNING uid, id",
		append([]any{flag, flag}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: set read: %w", err)
	}
	defer rows.Close()
	var events []Event
	for rows.Next() {
		ev := Event{Type: EventUpdate, Read: &read}
		if err := rows.Scan(&ev.UID, &ev.ID); err != nil {
			return nil, fmt.Errorf("store: set read: %w", err)
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: set read: %w", err)
	}
	return events, nil
}

// Delete deletes the messages with these IDs. Unknown IDs are ignored.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		var events []Event
		err := chunks(ids, func(part []string) error {
			in, args := inList(part)
			evs, err := s.deleteWhere(ctx, tx, "id IN ("+in+")", args)
			events = append(events, evs...)
			return err
		})
		return events, err
	})
}

// DeleteMatching deletes every message f selects and returns how many it deleted.
func (s *Store) DeleteMatching(ctx context.Context, f Filter) (int, error) {
	if f.isZero() {
		st, err := s.Stats(ctx)
		if err != nil {
			return 0, err
		}
		return st.Total, s.DeleteAll(ctx)
	}
	n := 0
	err := s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		uids, _, err := s.selectIDs(ctx, tx, f)
		if err != nil {
			return nil, fmt.Errorf("store: delete: %w", err)
		}
		var events []Event
		err = chunks(uids, func(part []int64) error {
			in, args := inList(part)
			evs, err := s.deleteWhere(ctx, tx, "uid IN ("+in+")", args)
			events = append(events, evs...)
			return err
		})
		n = len(events)
		return events, err
	})
	return n, err
}

func (s *Store) deleteWhere(ctx context.Context, tx dbtx, where string, args []any) ([]Event, error) {
	rows, err := tx.QueryContext(ctx, "DELETE FROM messages WHERE "+where+" RETURNING uid, id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: delete: %w", err)
	}
	defer rows.Close()
	var events []Event
	for rows.Next() {
		ev := Event{Type: EventDelete}
		if err := rows.Scan(&ev.UID, &ev.ID); err != nil {
			return nil, fmt.Errorf("store: delete: %w", err)
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: delete: %w", err)
	}
	return events, nil
}

// DeleteAll deletes every message.
func (s *Store) DeleteAll(ctx context.Context) error {
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		var total int64
		if err := tx.QueryRowContext(ctx, "SELECT total FROM counters").Scan(&total); err != nil {
			return nil, fmt.Errorf("store: delete all: %w", err)
		}
		for _, q := range []string{
			"DELETE FROM parts", "DELETE FROM contents", "DELETE FROM recipients", "DELETE FROM tags",
			"INSERT INTO fts(fts) VALUES ('delete-all')", "DELETE FROM fts_pending",
			"DROP TRIGGER messages_del", "DELETE FROM messages",
			`CREATE TRIGGER messages_del AFTER DELETE ON messages BEGIN
				UPDATE counters SET total = total - 1, unread = unread - (OLD.read = 0), size = size - OLD.size;
				DELETE FROM fts WHERE rowid = OLD.uid;
				DELETE FROM fts_pending WHERE uid = OLD.uid;
			END`,
			"UPDATE counters SET total = 0, unread = 0, size = 0",
			// The vocabulary starts afresh too (it is otherwise never pruned).
			"DELETE FROM terms",
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return nil, fmt.Errorf("store: delete all: %w", err)
			}
		}
		s.lexicon.reset()
		s.unindexed = 0
		return []Event{{Type: EventTruncate, count: total}}, nil
	})
}

// SetTags replaces the tags of the messages with these IDs.
func (s *Store) SetTags(ctx context.Context, ids []string, tags []string) error {
	clean := normalizeTags(tags)
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		var events []Event
		for _, id := range ids {
			var uid int64
			err := tx.QueryRowContext(ctx, "SELECT uid FROM messages WHERE id = ?", id).Scan(&uid)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("store: set tags: %w", err)
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM tags WHERE uid = ?", uid); err != nil {
				return nil, fmt.Errorf("store: set tags: %w", err)
			}
			for _, t := range clean {
				if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO tags (tag, uid) VALUES (?, ?)", t, uid); err != nil {
					return nil, fmt.Errorf("store: set tags: %w", err)
				}
			}
			events = append(events, Event{Type: EventUpdate, ID: id, UID: uid, Tags: clean})
		}
		return events, nil
	})
}

// RenameTag renames a tag on every message that has it.
func (s *Store) RenameTag(ctx context.Context, old, name string) error {
	name = cleanTag(name)
	if name == "" {
		return fmt.Errorf("store: rename tag: the new name is empty")
	}
	return s.retag(ctx, old, func(ctx context.Context, tx dbtx) error {
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO tags (tag, uid) SELECT ?, uid FROM tags WHERE tag = ?", name, old); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM tags WHERE tag = ? AND tag != ?", old, name)
		return err
	})
}

// DeleteTag removes a tag from every message.
func (s *Store) DeleteTag(ctx context.Context, tag string) error {
	return s.retag(ctx, tag, func(ctx context.Context, tx dbtx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM tags WHERE tag = ?", tag)
		return err
	})
}

// retag runs fn and announces the new tags of every message that had tag.
func (s *Store) retag(ctx context.Context, tag string, fn func(context.Context, dbtx) error) error {
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		rows, err := tx.QueryContext(ctx, "SELECT m.uid, m.id FROM tags t JOIN messages m ON m.uid = t.uid WHERE t.tag = ?", tag)
		if err != nil {
			return nil, fmt.Errorf("store: tags: %w", err)
		}
		var events []Event
		for rows.Next() {
			ev := Event{Type: EventUpdate}
			if err := rows.Scan(&ev.UID, &ev.ID); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: tags: %w", err)
			}
			events = append(events, ev)
		}
		rows.Close()
		if err := fn(ctx, tx); err != nil {
			return nil, fmt.Errorf("store: tags: %w", err)
		}
		for i := range events {
			tags, err := queryStrings(ctx, tx, "SELECT tag FROM tags WHERE uid = ? ORDER BY tag", events[i].UID)
			if err != nil {
				return nil, fmt.Errorf("store: tags: %w", err)
			}
			if tags == nil {
				tags = []string{}
			}
			events[i].Tags = tags
		}
		return events, nil
	})
}

func normalizeTags(tags []string) []string {
	set := map[string]bool{}
	for _, t := range tags {
		if t = cleanTag(t); t != "" {
			set[t] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
