package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/store"
)

// The relay queue, as store.Store's (store/relayqueue.go): several workers, in one process or
// several, never claim one job at once (every write takes the counters row lock first).

// autoRelay, in the transaction that inserted recs, queues a relay job for each of them that
// Options.RelayMatching selects, and returns the jobs' events by message UID.
func (s *Store) autoRelay(ctx context.Context, tx pgx.Tx, recs []*store.Prepared) (map[int64]store.Event, error) {
	if s.opts.RelayMatching == nil || len(recs) == 0 {
		return nil, nil
	}
	f := *s.opts.RelayMatching
	alts, err := s.expand(ctx, tx, f)
	if err != nil {
		return nil, err
	}
	uids := make([]int64, len(recs))
	for i, p := range recs {
		uids[i] = p.Summary.UID
	}
	a := args{uids}
	rows, err := tx.Query(ctx, "SELECT m.uid FROM messages m WHERE m.uid = ANY($1) AND "+where(f, alts, &a), a...)
	if err != nil {
		return nil, fmt.Errorf("auto-relay: %w", err)
	}
	matched, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("auto-relay: %w", err)
	}
	is := map[int64]bool{}
	for _, uid := range matched {
		is[uid] = true
	}
	evs := map[int64]store.Event{}
	now := time.Now()
	for _, p := range recs {
		if !is[p.Summary.UID] || len(p.RelayTo) == 0 {
			continue
		}
		job := store.RelayJob{ID: p.Summary.ID, UID: p.Summary.UID, Kind: store.RelayAuto, Recipients: p.RelayTo, State: store.RelayQueued, Due: now}
		if err := insertRelayJob(ctx, tx, &job, now); err != nil {
			return nil, err
		}
		evs[job.UID] = store.RelayEvent(job)
	}
	return evs, nil
}

// insertRelayJob inserts job (its UID set) and fills in its number and times.
func insertRelayJob(ctx context.Context, tx pgx.Tx, job *store.RelayJob, now time.Time) error {
	to, err := json.Marshal(job.Recipients)
	if err != nil {
		return fmt.Errorf("relay job: %w", err)
	}
	if job.Due.IsZero() {
		job.Due = now
	}
	job.Created, job.Updated = now.UTC().Truncate(time.Microsecond), now.UTC().Truncate(time.Microsecond)
	job.Due = job.Due.UTC().Truncate(time.Microsecond)
	err = tx.QueryRow(ctx, `INSERT INTO relay_jobs (uid, kind, recipients, state, attempts, due, created, updated, reply)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING job`,
		job.UID, job.Kind, clean(string(to)), string(job.State), job.Attempts, job.Due.UnixMicro(), job.Created.UnixMicro(),
		job.Updated.UnixMicro(), clean(job.Reply)).Scan(&job.Job)
	if err != nil {
		return fmt.Errorf("relay job: %w", err)
	}
	return nil
}

// relayNote is the notification of relay job changes.
func relayNote(jobs ...store.RelayJob) note {
	n := note{Type: noteRelay}
	for _, j := range jobs {
		n.UIDs, n.IDs = append(n.UIDs, j.Job), append(n.IDs, j.ID)
	}
	return n
}

// AddRelay records a relay job for the message id (see store.Store.AddRelay).
func (s *Store) AddRelay(ctx context.Context, id string, job store.RelayJob) (store.RelayJob, error) {
	if job.State == "" {
		job.State = store.RelayQueued
	}
	if job.Kind == "" {
		job.Kind = store.RelayRelease
	}
	if job.Recipients == nil {
		job.Recipients = []string{}
	}
	job.ID = id
	err := s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		err := tx.QueryRow(ctx, "SELECT uid FROM messages WHERE id = $1", id).Scan(&job.UID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("relay job: %w", err)
		}
		if err := insertRelayJob(ctx, tx, &job, time.Now()); err != nil {
			return nil, err
		}
		evs := []store.Event{store.RelayEvent(job)}
		return evs, s.notify(ctx, tx, relayNote(job), evs)
	})
	return job, err
}

// relayColumns are what scanRelayJob reads, from relay_jobs j joined to messages m.
const relayColumns = "j.job, m.id, j.uid, j.kind, j.recipients, j.state, j.attempts, j.due, j.created, j.updated, j.reply"

func scanRelayJob(row pgx.Row) (store.RelayJob, error) {
	var j store.RelayJob
	var to, state string
	var due, created, updated int64
	if err := row.Scan(&j.Job, &j.ID, &j.UID, &j.Kind, &to, &state, &j.Attempts, &due, &created, &updated, &j.Reply); err != nil {
		return j, err
	}
	j.State = store.RelayState(state)
	j.Due, j.Created, j.Updated = micros(due), micros(created), micros(updated)
	if err := json.Unmarshal([]byte(to), &j.Recipients); err != nil {
		return j, fmt.Errorf("recipients: %w", err)
	}
	return j, nil
}

// ClaimRelay takes the job that has been due longest, queued or with a lapsed claim, marks it
// sending until now+lease, counts the attempt, and returns it; nil when no job is due.
func (s *Store) ClaimRelay(ctx context.Context, now time.Time, lease time.Duration) (*store.RelayJob, error) {
	var claimed *store.RelayJob
	err := s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		var job int64
		err := tx.QueryRow(ctx, `SELECT job FROM relay_jobs WHERE state IN ('queued', 'sending') AND due <= $1
			ORDER BY due, job LIMIT 1`, now.UnixMicro()).Scan(&job)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("claim relay job: %w", err)
		}
		j, err := scanRelayJob(tx.QueryRow(ctx, `UPDATE relay_jobs j SET state = 'sending', attempts = attempts + 1, due = $1, updated = $2
			FROM messages m WHERE j.job = $3 AND m.uid = j.uid RETURNING `+relayColumns, now.Add(lease).UnixMicro(), now.UnixMicro(), job))
		if err != nil {
			return nil, fmt.Errorf("claim relay job: %w", err)
		}
		claimed = &j
		evs := []store.Event{store.RelayEvent(j)}
		return evs, s.notify(ctx, tx, relayNote(j), evs)
	})
	return claimed, err
}

// FinishRelay records the outcome of the claimed job; store.ErrNotFound when the job is gone.
func (s *Store) FinishRelay(ctx context.Context, job int64, out store.RelayOutcome) error {
	switch out.State {
	case store.RelaySent, store.RelayFailed, store.RelayQueued:
	default:
		return fmt.Errorf("postgres: relay outcome %q: not sent, failed or queued", out.State)
	}
	return s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		now := time.Now()
		due := now
		if out.State == store.RelayQueued && !out.Retry.IsZero() {
			due = out.Retry
		}
		j, err := scanRelayJob(tx.QueryRow(ctx, `UPDATE relay_jobs j SET state = $1, due = $2, updated = $3, reply = $4
			FROM messages m WHERE j.job = $5 AND m.uid = j.uid RETURNING `+relayColumns,
			string(out.State), due.UnixMicro(), now.UnixMicro(), clean(out.Reply), job))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("finish relay job: %w", err)
		}
		evs := []store.Event{store.RelayEvent(j)}
		return evs, s.notify(ctx, tx, relayNote(j), evs)
	})
}

// RelayJobs returns the relay history of the message id, oldest first; store.ErrNotFound when
// the message does not exist.
func (s *Store) RelayJobs(ctx context.Context, id string) ([]store.RelayJob, error) {
	var uid int64
	if err := s.pool.QueryRow(ctx, "SELECT uid FROM messages WHERE id = $1", id).Scan(&uid); errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("postgres: relay jobs: %w", unavailable(err))
	}
	return s.relayJobs(ctx, "j.uid = $1", uid)
}

// relayJobs reads the jobs cond selects, in job order.
func (s *Store) relayJobs(ctx context.Context, cond string, args ...any) ([]store.RelayJob, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+relayColumns+" FROM relay_jobs j JOIN messages m ON m.uid = j.uid WHERE "+cond+" ORDER BY j.job", args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: relay jobs: %w", unavailable(err))
	}
	defer rows.Close()
	jobs := []store.RelayJob{}
	for rows.Next() {
		j, err := scanRelayJob(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: relay jobs: %w", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: relay jobs: %w", unavailable(err))
	}
	return jobs, nil
}

// NextRelayDue returns when the next queued or claimed job falls due; ok is false when none is.
func (s *Store) NextRelayDue(ctx context.Context) (due time.Time, ok bool, err error) {
	var us *int64
	if err := s.pool.QueryRow(ctx, `SELECT min(due) FROM relay_jobs WHERE state IN ('queued', 'sending')`).Scan(&us); err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: next relay job: %w", unavailable(err))
	}
	if us == nil {
		return time.Time{}, false, nil
	}
	return micros(*us), true, nil
}

// RetryRelaysNow makes every queued relay job due now (one being sent is left to its worker)
// and returns how many it changed.
func (s *Store) RetryRelaysNow(ctx context.Context) (int, error) {
	n := 0
	err := s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		now := time.Now().UnixMicro()
		tag, err := tx.Exec(ctx, `UPDATE relay_jobs SET due = $1 WHERE state = 'queued' AND due > $1`, now)
		if err != nil {
			return nil, fmt.Errorf("retry relay jobs: %w", err)
		}
		n = int(tag.RowsAffected())
		return nil, nil
	})
	return n, err
}
