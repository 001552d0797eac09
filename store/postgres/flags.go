package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/store"
)

// IMAP's \Deleted flag, as store.Store keeps it (store/flags.go): in the database, so that the
// IMAP sessions of every process see it (EventFlag crosses processes) and EXPUNGE deletes what
// any of them flagged.

var _ store.FlagEngine = (*Store)(nil)

// SetDeleted sets or clears the \Deleted flag of the messages with these IDs.
func (s *Store) SetDeleted(ctx context.Context, ids []string, deleted bool) error {
	return s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		rows, err := tx.Query(ctx, "UPDATE messages SET deleted = $1 WHERE deleted <> $1 AND id = ANY($2) RETURNING uid, id", deleted, ids)
		if err != nil {
			return nil, fmt.Errorf("set deleted: %w", err)
		}
		var events []store.Event
		n := note{Type: noteFlag, Del: &deleted}
		for rows.Next() {
			ev := store.Event{Type: store.EventFlag, Deleted: &deleted}
			if err := rows.Scan(&ev.UID, &ev.ID); err != nil {
				rows.Close()
				return nil, fmt.Errorf("set deleted: %w", err)
			}
			events = append(events, ev)
			n.UIDs, n.IDs = append(n.UIDs, ev.UID), append(n.IDs, ev.ID)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("set deleted: %w", err)
		}
		if len(events) == 0 {
			return nil, nil
		}
		return events, s.notify(ctx, tx, n, events)
	})
}

// DeletedUIDs returns the UIDs of the messages flagged \Deleted, in order.
func (s *Store) DeletedUIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, "SELECT uid FROM messages WHERE deleted ORDER BY uid")
	if err == nil {
		var uids []int64
		if uids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err == nil {
			if uids == nil {
				uids = []int64{}
			}
			return uids, nil
		}
	}
	return nil, fmt.Errorf("postgres: deleted: %w", unavailable(err))
}

// Expunge deletes those of the messages with these IDs that are flagged \Deleted, and returns
// their IDs.
func (s *Store) Expunge(ctx context.Context, ids []string) ([]string, error) {
	var gone []string
	err := s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		evs, err := s.deleteWhere(ctx, tx, "m.deleted AND m.id = ANY($1)", []any{ids}, false)
		gone = gone[:0]
		for _, ev := range evs {
			gone = append(gone, ev.ID)
		}
		return evs, err
	})
	if err != nil {
		return nil, err
	}
	return gone, nil
}
