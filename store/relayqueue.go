package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RelayState is where a relay job stands.
type RelayState string

// The states of a relay job.
const (
	RelayQueued  RelayState = "queued"  // waiting for its due time
	RelaySending RelayState = "sending" // claimed by a worker until its due time (a lease)
	RelaySent    RelayState = "sent"    // the relay accepted it
	RelayFailed  RelayState = "failed"  // given up: refused for good, or out of retries
)

// The kinds of relay job.
const (
	RelayAuto    = "auto"    // queued by auto-relay (Options.RelayMatching)
	RelayRelease = "release" // a release asked for through the API
)

// RelayJob is one attempt to hand a message to the relay, and its outcome so far.
type RelayJob struct {
	Job        int64      // the job's own number
	ID         string     // the message's ID
	UID        int64      // the message's UID
	Kind       string     // RelayAuto or RelayRelease
	Recipients []string   // the addresses it is (or was) sent to
	State      RelayState // where it stands
	Attempts   int        // tries so far
	Due        time.Time  // queued: when it may be tried; sending: when the claim lapses
	Created    time.Time
	Updated    time.Time
	Reply      string // the relay's last answer, or why it failed
}

// EventRelay is published when a message's relay job changes; Event.ID, UID and Relay are set.
const EventRelay EventType = "relay"

// autoRelay, in the writer's transaction that inserted recs, queues a relay job for each of them
// that Options.RelayMatching selects (and that is still there), and returns each job's EventRelay.
func (s *Store) autoRelay(ctx context.Context, tx dbtx, recs []*record) (map[*record]Event, error) {
	if s.opts.RelayMatching == nil || len(recs) == 0 {
		return nil, nil
	}
	f := s.expand(*s.opts.RelayMatching)
	uids := make([]int64, len(recs))
	for i, r := range recs {
		uids[i] = r.sum.UID
	}
	in, args := inList(uids)
	where, wargs := f.where()
	rows, err := tx.QueryContext(ctx, "SELECT m.uid FROM messages m WHERE m.uid IN ("+in+") AND "+where, append(args, wargs...)...)
	if err != nil {
		return nil, fmt.Errorf("store: auto-relay: %w", err)
	}
	matched := map[int64]bool{}
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: auto-relay: %w", err)
		}
		matched[uid] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: auto-relay: %w", err)
	}
	events := map[*record]Event{}
	now := time.Now()
	for _, r := range recs {
		if !matched[r.sum.UID] || len(r.relayTo) == 0 {
			continue
		}
		job := RelayJob{ID: r.sum.ID, UID: r.sum.UID, Kind: RelayAuto, Recipients: r.relayTo, State: RelayQueued, Due: now}
		if err := insertRelayJob(ctx, tx, &job, now); err != nil {
			return nil, err
		}
		events[r] = relayEvent(job)
	}
	return events, nil
}

func relayEvent(job RelayJob) Event {
	return Event{Type: EventRelay, ID: job.ID, UID: job.UID, Relay: &job}
}

// insertRelayJob inserts job (its UID set) and fills in its number and times.
func insertRelayJob(ctx context.Context, tx dbtx, job *RelayJob, now time.Time) error {
	to, err := json.Marshal(job.Recipients)
	if err != nil {
		return fmt.Errorf("store: relay job: %w", err)
	}
	if job.Due.IsZero() {
		job.Due = now
	}
	job.Created, job.Updated = now.UTC().Truncate(time.Microsecond), now.UTC().Truncate(time.Microsecond)
	job.Due = job.Due.UTC().Truncate(time.Microsecond)
	err = tx.QueryRowContext(ctx, `INSERT INTO relay_jobs (uid, kind, recipients, state, attempts, due, created, updated, reply)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING job`,
		job.UID, job.Kind, string(to), string(job.State), job.Attempts, job.Due.UnixMicro(), job.Created.UnixMicro(), job.Updated.UnixMicro(), job.Reply).Scan(&job.Job)
	if err != nil {
		return fmt.Errorf("store: relay job: %w", err)
	}
	return nil
}

// AddRelay records a relay job for the message id: a release to queue (State RelayQueued, or
// zero) or one already done (RelaySent, RelayFailed). Due zero means now. It returns the job as
// stored; ErrNotFound when the message does not exist.
func (s *Store) AddRelay(ctx context.Context, id string, job RelayJob) (RelayJob, error) {
	if job.State == "" {
		job.State = RelayQueued
	}
	if job.Kind == "" {
		job.Kind = RelayRelease
	}
	if job.Recipients == nil {
		job.Recipients = []string{}
	}
	job.ID = id
	err := s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		err := tx.QueryRowContext(ctx, "SELECT uid FROM messages WHERE id = ?", id).Scan(&job.UID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("store: relay job: %w", err)
		}
		if err := insertRelayJob(ctx, tx, &job, time.Now()); err != nil {
			return nil, err
		}
		return []Event{relayEvent(job)}, nil
	})
	return job, err
}

// relayColumns are what scanRelayJob reads, from relay_jobs j joined to messages m.
const relayColumns = "j.job, m.id, j.uid, j.kind, j.recipients, j.state, j.attempts, j.due, j.created, j.updated, j.reply"

func scanRelayJob(row scanner) (RelayJob, error) {
	var j RelayJob
	var to, state string
	var due, created, updated int64
	if err := row.Scan(&j.Job, &j.ID, &j.UID, &j.Kind, &to, &state, &j.Attempts, &due, &created, &updated, &j.Reply); err != nil {
		return j, err
	}
	j.State = RelayState(state)
	j.Due, j.Created, j.Updated = time.UnixMicro(due).UTC(), time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	if err := json.Unmarshal([]byte(to), &j.Recipients); err != nil {
		return j, fmt.Errorf("recipients: %w", err)
	}
	return j, nil
}

// ClaimRelay takes the job that has been due longest, queued or with a lapsed claim (its worker
// stopped), marks it sending until now+lease, counts the attempt, and returns it; nil when no
// job is due. Several workers, in one process or several, never claim one job at once.
func (s *Store) ClaimRelay(ctx context.Context, now time.Time, lease time.Duration) (*RelayJob, error) {
	var claimed *RelayJob
	err := s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		var job int64
		err := tx.QueryRowContext(ctx, `SELECT job FROM relay_jobs INDEXED BY relay_jobs_due
			WHERE state IN ('queued', 'sending') AND due <= ? ORDER BY due, job LIMIT 1`, now.UnixMicro()).Scan(&job)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("store: claim relay job: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE relay_jobs SET state = 'sending', attempts = attempts + 1, due = ?, updated = ? WHERE job = ?`,
			now.Add(lease).UnixMicro(), now.UnixMicro(), job); err != nil {
			return nil, fmt.Errorf("store: claim relay job: %w", err)
		}
		j, err := scanRelayJob(tx.QueryRowContext(ctx, "SELECT "+relayColumns+" FROM relay_jobs j JOIN messages m ON m.uid = j.uid WHERE j.job = ?", job))
		if err != nil {
			return nil, fmt.Errorf("store: claim relay job: %w", err)
		}
		claimed = &j
		return []Event{relayEvent(j)}, nil
	})
	return claimed, err
}

// RelayOutcome is what became of a claimed job.
type RelayOutcome struct {
	State RelayState // RelaySent, RelayFailed, or RelayQueued to try again at Retry
	Retry time.Time  // when to try again (RelayQueued)
	Reply string     // the relay's answer, or the error
}

// FinishRelay records the outcome of the claimed job. ErrNotFound when the job is gone (its
// message was deleted meanwhile).
func (s *Store) FinishRelay(ctx context.Context, job int64, out RelayOutcome) error {
	switch out.State {
	case RelaySent, RelayFailed, RelayQueued:
	default:
		return fmt.Errorf("store: relay outcome %q: not sent, failed or queued", out.State)
	}
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		now := time.Now()
		due := now
		if out.State == RelayQueued && !out.Retry.IsZero() {
			due = out.Retry
		}
		res, err := tx.ExecContext(ctx, `UPDATE relay_jobs SET state = ?, due = ?, updated = ?, reply = ? WHERE job = ?`,
			string(out.State), due.UnixMicro(), now.UnixMicro(), out.Reply, job)
		if err != nil {
			return nil, fmt.Errorf("store: finish relay job: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, ErrNotFound
		}
		j, err := scanRelayJob(tx.QueryRowContext(ctx, "SELECT "+relayColumns+" FROM relay_jobs j JOIN messages m ON m.uid = j.uid WHERE j.job = ?", job))
		if err != nil {
			return nil, fmt.Errorf("store: finish relay job: %w", err)
		}
		return []Event{relayEvent(j)}, nil
	})
}

// RelayJobs returns the relay history of the message id, oldest first (empty when it was never
// relayed); ErrNotFound when the message does not exist.
func (s *Store) RelayJobs(ctx context.Context, id string) ([]RelayJob, error) {
	var uid int64
	if err := s.readDB.QueryRowContext(ctx, "SELECT uid FROM messages WHERE id = ?", id).Scan(&uid); errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("store: relay jobs: %w", err)
	}
	rows, err := s.readDB.QueryContext(ctx, "SELECT "+relayColumns+" FROM relay_jobs j JOIN messages m ON m.uid = j.uid WHERE j.uid = ? ORDER BY j.job", uid)
	if err != nil {
		return nil, fmt.Errorf("store: relay jobs: %w", err)
	}
	defer rows.Close()
	jobs := []RelayJob{}
	for rows.Next() {
		j, err := scanRelayJob(rows)
		if err != nil {
			return nil, fmt.Errorf("store: relay jobs: %w", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: relay jobs: %w", err)
	}
	return jobs, nil
}

// NextRelayDue returns when the next queued or claimed job falls due; ok is false when none is
// waiting.
func (s *Store) NextRelayDue(ctx context.Context) (due time.Time, ok bool, err error) {
	var us sql.NullInt64
	if err := s.readDB.QueryRowContext(ctx, `SELECT min(due) FROM relay_jobs INDEXED BY relay_jobs_due WHERE state IN ('queued', 'sending')`).Scan(&us); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next relay job: %w", err)
	}
	if !us.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMicro(us.Int64).UTC(), true, nil
}

// relayRecipients are where auto-relay sends a message: its envelope recipients, or, for a
// message that had none (imported), the addresses of its To, Cc and Bcc fields, each once.
func relayRecipients(envelope []string, sum *Summary) []string {
	if len(envelope) > 0 {
		return append([]string(nil), envelope...)
	}
	var out []string
	seen := map[string]bool{}
	for _, list := range [][]Address{sum.To, sum.Cc, sum.Bcc} {
		for _, a := range list {
			if k := strings.ToLower(a.Address); a.Address != "" && !seen[k] {
				seen[k] = true
				out = append(out, a.Address)
			}
		}
	}
	return out
}

// RetryRelaysNow makes every queued relay job due now (a job being sent is left to its worker)
// and returns how many it changed: a restarted relay worker tries at once what was waiting.
func (s *Store) RetryRelaysNow(ctx context.Context) (int, error) {
	n := 0
	err := s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		now := time.Now().UnixMicro()
		res, err := tx.ExecContext(ctx, `UPDATE relay_jobs SET due = ? WHERE state = 'queued' AND due > ?`, now, now)
		if err != nil {
			return nil, fmt.Errorf("store: retry relay jobs: %w", err)
		}
		m, _ := res.RowsAffected()
		n = int(m)
		return nil, nil
	})
	return n, err
}
