package store

import (
	"context"
	"fmt"
)

// IMAP's \Deleted flag lives in the store (migration 0008), not in an IMAP server's memory: every
// IMAP session, of every process sharing a database, sees the flags any of them set, and EXPUNGE
// deletes what any of them flagged. The web inbox and the API neither show nor change it.

// EventFlag is published when messages' \Deleted flag changes; Event.ID, UID and Deleted are set.
const EventFlag EventType = "flag"

// FlagEngine is the part of the Engine contract that keeps IMAP's \Deleted flag.
type FlagEngine interface {
	// SetDeleted sets or clears the \Deleted flag of the messages with these IDs (unknown IDs
	// are ignored) and publishes an EventFlag for each that changed.
	SetDeleted(ctx context.Context, ids []string, deleted bool) error
	// DeletedUIDs returns the UIDs of the messages flagged \Deleted, in order.
	DeletedUIDs(ctx context.Context) ([]int64, error)
	// Expunge deletes those of the messages with these IDs that are flagged \Deleted when it
	// runs (another session may have cleared the flag), and returns their IDs.
	Expunge(ctx context.Context, ids []string) ([]string, error)
}

var _ FlagEngine = (*Store)(nil)

// SetDeleted sets or clears the \Deleted flag of the messages with these IDs.
func (s *Store) SetDeleted(ctx context.Context, ids []string, deleted bool) error {
	flag := 0
	if deleted {
		flag = 1
	}
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		var events []Event
		err := chunks(ids, func(part []string) error {
			in, args := inList(part)
			rows, err := tx.QueryContext(ctx, "UPDATE messages SET deleted = ? WHERE deleted != ? AND id IN ("+in+") RETURNING uid, id",
				append([]any{flag, flag}, args...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				ev := Event{Type: EventFlag, Deleted: &deleted}
				if err := rows.Scan(&ev.UID, &ev.ID); err != nil {
					return err
				}
				events = append(events, ev)
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("store: set deleted: %w", err)
		}
		return events, nil
	})
}

// DeletedUIDs returns the UIDs of the messages flagged \Deleted, in order.
func (s *Store) DeletedUIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.readDB.QueryContext(ctx, "SELECT uid FROM messages WHERE deleted = 1 ORDER BY uid")
	if err != nil {
		return nil, fmt.Errorf("store: deleted: %w", err)
	}
	defer rows.Close()
	uids := []int64{}
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, fmt.Errorf("store: deleted: %w", err)
		}
		uids = append(uids, uid)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: deleted: %w", err)
	}
	return uids, nil
}

// Expunge deletes those of the messages with these IDs that are flagged \Deleted.
func (s *Store) Expunge(ctx context.Context, ids []string) ([]string, error) {
	var gone []string
	err := s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		gone = gone[:0]
		var events []Event
		err := chunks(ids, func(part []string) error {
			in, args := inList(part)
			evs, err := s.deleteWhere(ctx, tx, "deleted = 1 AND id IN ("+in+")", args)
			events = append(events, evs...)
			return err
		})
		for _, ev := range events {
			gone = append(gone, ev.ID)
		}
		return events, err
	})
	if err != nil {
		return nil, err
	}
	return gone, nil
}
