package store

import (
	"context"
	"fmt"
	"time"
)

// pruneBatch is how many messages one retention transaction deletes, so ingest never waits long.
const pruneBatch = 500

// retention deletes messages beyond MaxMessages or older than MaxAge, in small batches, whenever
// the writer reports the limit exceeded and every PruneInterval.
func (s *Store) retention() {
	defer s.done.Done()
	if s.opts.MaxMessages <= 0 && s.opts.MaxAge <= 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(s.opts.PruneInterval)
	defer t.Stop()
	for {
		if err := s.Prune(context.Background()); err != nil {
			s.log.Warn("retention failed", "err", err)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.pruneNow:
		}
	}
}

// Prune applies the retention limits now, and returns when they hold.
func (s *Store) Prune(ctx context.Context) error {
	for {
		var n int
		err := s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
			var uids []int64
			var err error
			if uids, err = s.expired(ctx, tx); err != nil || len(uids) == 0 {
				return nil, err
			}
			in, args := inList(uids)
			if _, err := tx.ExecContext(ctx, "DELETE FROM messages WHERE uid IN ("+in+")", args...); err != nil {
				return nil, fmt.Errorf("store: prune: %w", err)
			}
			n = len(uids)
			return []Event{{Type: EventPrune, UIDs: uids}}, nil
		})
		if err != nil {
			return err
		}
		if n < pruneBatch {
			if s.opts.MaxAge > 0 {
				return s.pruneOldSessions(ctx, time.Now().Add(-s.opts.MaxAge))
			}
			return nil
		}
		select {
		case <-s.stop:
			return nil
		default:
		}
	}
}

// expired returns up to pruneBatch UIDs, oldest first, that the limits say must go.
func (s *Store) expired(ctx context.Context, tx dbtx) ([]int64, error) {
	excess := 0
	if s.opts.MaxMessages > 0 {
		var total int
		if err := tx.QueryRowContext(ctx, "SELECT total FROM counters").Scan(&total); err != nil {
			return nil, fmt.Errorf("store: prune: %w", err)
		}
		excess = max(total-s.opts.MaxMessages, 0)
	}
	cutoff := int64(-1)
	if s.opts.MaxAge > 0 {
		cutoff = time.Now().Add(-s.opts.MaxAge).UnixMicro()
	}
	rows, err := tx.QueryContext(ctx, `SELECT uid FROM messages WHERE uid IN (
			SELECT uid FROM messages ORDER BY uid LIMIT ?
		) OR created < ? ORDER BY uid LIMIT ?`, excess, cutoff, pruneBatch)
	if err != nil {
		return nil, fmt.Errorf("store: prune: %w", err)
	}
	defer rows.Close()
	var uids []int64
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, fmt.Errorf("store: prune: %w", err)
		}
		uids = append(uids, uid)
	}
	return uids, rows.Err()
}
