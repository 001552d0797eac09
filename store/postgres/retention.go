package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/store"
)

// pruneBatch is how many messages one retention transaction deletes, so ingest never waits long.
const pruneBatch = 500

// retention applies MaxMessages and MaxAge every PruneInterval and when this process's ingest
// exceeded MaxMessages.
func (s *Store) retention() {
	defer s.done.Done()
	if s.opts.MaxMessages <= 0 && s.opts.MaxAge <= 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(s.opts.PruneInterval)
	defer t.Stop()
	for {
		if err := s.Prune(s.stopCtx); err != nil && s.stopCtx.Err() == nil {
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

// Prune applies the retention limits now. With several processes on one database, one prunes
// at a time (a transaction-level advisory lock); the others find nothing left to do or skip.
func (s *Store) Prune(ctx context.Context) error {
	for {
		var n int
		err := s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
			var got bool
			if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", lockRetention).Scan(&got); err != nil || !got {
				return nil, err
			}
			excess := 0
			if s.opts.MaxMessages > 0 {
				var total int
				if err := tx.QueryRow(ctx, "SELECT total FROM counters").Scan(&total); err != nil {
					return nil, err
				}
				excess = max(total-s.opts.MaxMessages, 0)
			}
			cutoff := int64(-1)
			if s.opts.MaxAge > 0 {
				cutoff = time.Now().Add(-s.opts.MaxAge).UnixMicro()
			}
			evs, err := s.deleteWhere(ctx, tx, `m.uid IN (SELECT uid FROM messages WHERE uid IN (
					SELECT uid FROM messages ORDER BY uid LIMIT $1) OR created < $2 ORDER BY uid LIMIT $3)`,
				[]any{excess, cutoff, pruneBatch}, true)
			if len(evs) > 0 {
				n = len(evs[0].UIDs)
			}
			return evs, err
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
