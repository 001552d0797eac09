package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// Queue is what the Worker needs from the store; *store.Store has it.
type Queue interface {
	ClaimRelay(ctx context.Context, now time.Time, lease time.Duration) (*store.RelayJob, error)
	FinishRelay(ctx context.Context, job int64, out store.RelayOutcome) error
	AddRelay(ctx context.Context, id string, job store.RelayJob) (store.RelayJob, error)
	NextRelayDue(ctx context.Context) (time.Time, bool, error)
	RetryRelaysNow(ctx context.Context) (int, error)
	Message(ctx context.Context, id string) (*store.Message, error)
	Raw(ctx context.Context, id string) ([]byte, error)
	Subscribe(buffer int) *store.Subscription
}

var _ Queue = (*store.Store)(nil)

// Defaults of WorkerOptions.
const (
	DefaultRetryDelay  = 30 * time.Second
	DefaultMaxDelay    = time.Hour
	DefaultMaxAttempts = 16
	DefaultIdlePoll    = time.Minute
)

// WorkerOptions configure a Worker. The zero value is valid.
type WorkerOptions struct {
	// RetryDelay is the wait after the first temporary failure; it doubles after each one, up to
	// MaxDelay. Defaults DefaultRetryDelay and DefaultMaxDelay.
	RetryDelay, MaxDelay time.Duration
	// MaxAttempts is how many tries a job gets before it fails for good. Default DefaultMaxAttempts
	// (about ten hours with the default delays).
	MaxAttempts int
	// IdlePoll is how often an idle worker looks at the queue anyway (jobs another process
	// queued). Default DefaultIdlePoll.
	IdlePoll time.Duration
	// Logger receives one record per delivery. nil discards.
	Logger *slog.Logger
}

// Worker delivers the store's queued relay jobs through a Relay, one at a time, never holding
// an SMTP client waiting: it runs beside the servers, woken by the store's events.
type Worker struct {
	relay *Relay
	q     Queue
	opts  WorkerOptions
	log   *slog.Logger

	stop context.CancelFunc
	done chan struct{}
	once sync.Once

	sent, deferred, failed atomic.Int64
}

// WorkerStats count the worker's delivery attempts since it was made.
type WorkerStats struct {
	Sent     int64 // the relay took the message
	Deferred int64 // a temporary failure: tried again later
	Failed   int64 // given up: refused for good, or out of attempts
}

// Stats returns the worker's counters.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{Sent: w.sent.Load(), Deferred: w.deferred.Load(), Failed: w.failed.Load()}
}

// NewWorker returns a Worker; Start runs it.
func NewWorker(r *Relay, q Queue, opts WorkerOptions) *Worker {
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxDelay < opts.RetryDelay {
		opts.MaxDelay = opts.RetryDelay
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.IdlePoll <= 0 {
		opts.IdlePoll = DefaultIdlePoll
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{relay: r, q: q, opts: opts, log: log.With("component", "relay"), done: make(chan struct{})}
}

// Start runs the worker in the background until Stop. Queued jobs waiting for a retry are made
// due at once.
func (w *Worker) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	go func() {
		defer close(w.done)
		w.run(ctx)
	}()
}

// Stop ends the worker and waits for it: a delivery in progress is abandoned and its job queued
// again, due at once, so the next start (or another process) sends it. Safe to call twice.
func (w *Worker) Stop() {
	w.once.Do(func() {
		if w.stop != nil {
			w.stop()
			<-w.done
		}
	})
}

// lease is how long a claimed job stays claimed: longer than any delivery may take.
func (w *Worker) lease() time.Duration { return w.relay.client.timeout + 30*time.Second }

func (w *Worker) run(ctx context.Context) {
	sub := w.q.Subscribe(0)
	defer func() { sub.Close() }()
	// What waited for a retry is tried at once: the relay may have been fixed meanwhile.
	if n, err := w.q.RetryRelaysNow(ctx); err != nil {
		w.log.Error("relay queue unreadable", "err", err)
	} else if n > 0 {
		w.log.Info("retrying queued relay jobs", "jobs", n)
	}
	for {
		for w.runOne(ctx) {
		}
		if ctx.Err() != nil {
			return
		}
		wait := w.opts.IdlePoll
		if due, ok, err := w.q.NextRelayDue(ctx); err == nil && ok {
			wait = min(wait, max(time.Until(due), time.Millisecond))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case evs, ok := <-sub.Events():
			timer.Stop()
			if !ok {
				if errors.Is(sub.Err(), store.ErrClosed) {
					return
				}
				sub = w.q.Subscribe(0) // fell behind: the queue itself is in the store
				continue
			}
			if !hasQueued(evs) {
				continue
			}
		}
	}
}

// hasQueued reports whether a commit's events queued a relay job.
func hasQueued(evs []store.Event) bool {
	for _, ev := range evs {
		if ev.Type == store.EventRelay && ev.Relay != nil && ev.Relay.State == store.RelayQueued {
			return true
		}
	}
	return false
}

// runOne claims and delivers one due job; false when none was due (or the store failed).
func (w *Worker) runOne(ctx context.Context) bool {
	job, err := w.q.ClaimRelay(ctx, time.Now(), w.lease())
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("claim failed", "err", err)
		}
		return false
	}
	if job == nil {
		return false
	}
	out := w.deliver(ctx, job)
	if ctx.Err() != nil {
		// Stopping: the job goes back, due now.
		out = store.RelayOutcome{State: store.RelayQueued, Reply: "interrupted by shutdown; will be retried"}
	}
	finish, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.q.FinishRelay(finish, job.Job, out); err != nil && !errors.Is(err, store.ErrNotFound) {
		w.log.Error("recording the outcome failed", "job", job.Job, "err", err)
	}
	return ctx.Err() == nil
}

// deliver sends one job and says what became of it.
func (w *Worker) deliver(ctx context.Context, job *store.RelayJob) store.RelayOutcome {
	m, err := w.q.Message(ctx, job.ID)
	if err != nil {
		return w.retryOrFail(job, fmt.Errorf("read message: %w", err), errors.Is(err, store.ErrNotFound))
	}
	raw, err := w.q.Raw(ctx, job.ID)
	if err != nil {
		return w.retryOrFail(job, fmt.Errorf("read message: %w", err), errors.Is(err, store.ErrNotFound))
	}
	res, dropped, err := w.relay.Forward(ctx, Stored{MailFrom: m.Envelope.MailFrom, Raw: raw}, job.Recipients)
	if err != nil {
		var re *RecipientError
		var de *DeliveryError
		permanent := errors.As(err, &re) || errors.As(err, &de) && de.Permanent()
		return w.retryOrFail(job, err, permanent)
	}
	reply := res.Reply
	if len(dropped) > 0 {
		reply += "; not sent (allowed-/blocked-recipients): " + strings.Join(dropped, ", ")
	}
	var again []string
	for _, r := range res.Refused {
		reply += "; refused " + r.String()
		if !r.Permanent() {
			again = append(again, r.Recipient)
		}
	}
	if len(again) > 0 && job.Attempts < w.opts.MaxAttempts {
		// Sent to the others; the recipients refused for now get a job of their own.
		next := store.RelayJob{Kind: job.Kind, Recipients: again, Attempts: job.Attempts, Due: time.Now().Add(w.delay(job.Attempts)), Reply: "deferred: " + reply}
		if _, err := w.q.AddRelay(context.WithoutCancel(ctx), job.ID, next); err != nil {
			w.log.Error("queueing the deferred recipients failed", "id", job.ID, "err", err)
		}
	}
	w.sent.Add(1)
	w.log.Info("relayed", "id", job.ID, "to", strings.Join(res.Accepted, ","), "reply", res.Reply, "attempt", job.Attempts)
	return store.RelayOutcome{State: store.RelaySent, Reply: reply}
}

// retryOrFail queues the job again after its backoff, or fails it when the error is permanent
// or it is out of attempts.
func (w *Worker) retryOrFail(job *store.RelayJob, err error, permanent bool) store.RelayOutcome {
	if permanent || job.Attempts >= w.opts.MaxAttempts {
		w.failed.Add(1)
		w.log.Warn("relay failed", "id", job.ID, "attempt", job.Attempts, "err", err)
		return store.RelayOutcome{State: store.RelayFailed, Reply: err.Error()}
	}
	d := w.delay(job.Attempts)
	w.deferred.Add(1)
	w.log.Info("relay deferred", "id", job.ID, "attempt", job.Attempts, "retry_in", d.String(), "err", err)
	return store.RelayOutcome{State: store.RelayQueued, Retry: time.Now().Add(d), Reply: err.Error()}
}

// delay is the wait after the attempts-th try: RetryDelay doubled for each earlier try, at most
// MaxDelay.
func (w *Worker) delay(attempts int) time.Duration {
	d := w.opts.RetryDelay
	for i := 1; i < attempts && d < w.opts.MaxDelay; i++ {
		d *= 2
	}
	return min(d, w.opts.MaxDelay)
}
