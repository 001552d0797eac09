// Package sender delivers letterbox's webhooks: it POSTs a JSON event to operator-given URLs for
// each message the store commits, the body being Mailpit's webhook body (the message summary, as
// GET /api/v1/messages lists it). The wire format (headers, signature) is package webhook's,
// which receivers import to verify deliveries without importing this one.
//
// Deliveries never hold up mail: the store announces a message after its commit without ever
// blocking, and the Sender only puts the event on each URL's bounded queue (a full queue drops
// it, counted). Workers send from the queues and retry network errors and 408, 425, 429 and 5xx
// answers with exponential backoff (and Retry-After); any other answer ends the delivery, as
// does the last attempt. Every outcome is counted (Stats) and failures are logged.
//
// With a secret each attempt is signed (webhook.Sign): webhook.HeaderTimestamp carries the Unix
// time and webhook.HeaderSignature "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
//
// Connections go through netguard: the host of each configured URL may be a private or loopback
// address (the operator named it), but neither a redirect nor a DNS answer can lead a delivery
// to a private address of a host the operator did not name.
package sender

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/letterbox-mail/letterbox/netguard"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/webui"
)

// Source is what the Sender needs from the store: its change events.
type Source interface {
	Subscribe(buffer int) *store.Subscription
}

var _ Source = (*store.Store)(nil)

// Defaults of Options.
const (
	DefaultQueueSize   = 1000
	DefaultWorkers     = 2
	DefaultMaxAttempts = 6
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = time.Minute
	DefaultTimeout     = 10 * time.Second
)

// Options configure a Sender. Apart from URLs, the zero value of each field is its default.
type Options struct {
	// URLs are the http:// or https:// endpoints each event is POSTed to. Required.
	URLs []string
	// Secret, when set, signs every attempt (see webhook.HeaderSignature).
	Secret string
	// Logger receives failures (warn) and deliveries (debug). nil discards.
	Logger *slog.Logger
	// Version is sent in the User-Agent: letterbox/Version. Default "dev".
	Version string
	// Guard makes the connections. nil means netguard.New with its defaults.
	Guard *netguard.Guard
	// QueueSize is how many events may wait for one URL; more are dropped. Default 1000.
	QueueSize int
	// Workers is how many deliveries to one URL may be in progress at once. Default 2.
	Workers int
	// MaxAttempts is the most attempts at one delivery. Default 6.
	MaxAttempts int
	// Backoff is the wait before the first retry; it doubles at each retry up to MaxBackoff.
	// Defaults 1s and 1m.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one attempt. Default 10s.
	Timeout time.Duration
}

// Stats count what happened to events, for one URL or all.
type Stats struct {
	Queued    int64 // events put on a queue
	Delivered int64 // events the URL answered with 2xx
	Retries   int64 // attempts after the first
	Failed    int64 // events given up: attempts used up, or an answer not worth retrying
	Dropped   int64 // events not sent: the queue was full, or the Sender shut down first
	Lagged    int64 // times the store's event stream was lost (events in the gap were sent nowhere)
}

// URLStats are one URL's counters. URL is shown without user information, query or fragment.
type URLStats struct {
	URL string
	Stats
}

// Sender delivers the events of a Source. Its methods are safe for concurrent use.
type Sender struct {
	src     Source
	opts    Options
	log     *slog.Logger
	client  *http.Client
	targets []*target
	lagged  atomic.Int64

	ctx    context.Context // cancelled when Shutdown's grace is over
	cancel context.CancelFunc

	mu           sync.Mutex
	sub          *store.Subscription
	started      bool
	stopped      bool
	dispatchDone chan struct{}
	workers      sync.WaitGroup
}

// target is one URL, its queue and counters.
type target struct {
	url                                         string // as configured
	shown                                       string // for logs and Stats: no credentials, query or fragment
	host                                        string
	queue                                       chan *event
	queued, delivered, retries, failed, dropped atomic.Int64
}

// event is one delivery, shared by every target.
type event struct {
	id   string // webhook.HeaderDelivery
	msg  string // the message's ID, for logs
	body []byte
}

// New returns a Sender of src's new-message events to opts.URLs; it sends nothing until Start.
func New(src Source, opts Options) (*Sender, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("webhook: no URL")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Guard == nil {
		opts.Guard = netguard.New(netguard.Options{})
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.QueueSize, DefaultQueueSize)
	def(&opts.Workers, DefaultWorkers)
	def(&opts.MaxAttempts, DefaultMaxAttempts)
	defDur(&opts.Backoff, DefaultBackoff)
	defDur(&opts.MaxBackoff, DefaultMaxBackoff)
	defDur(&opts.Timeout, DefaultTimeout)
	s := &Sender{src: src, opts: opts, log: opts.Logger.With("component", "webhook"), client: opts.Guard.HTTPClient(opts.Timeout)}
	for _, raw := range opts.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("webhook: URL %q: want http://host/... or https://host/...", redact(raw))
		}
		s.targets = append(s.targets, &target{url: raw, shown: redact(raw), host: u.Hostname(), queue: make(chan *event, opts.QueueSize)})
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// redact returns a URL without user information, query or fragment, for logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Start subscribes to the source and starts sending. Events committed before Start are not sent.
func (s *Sender) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	s.sub = s.src.Subscribe(0)
	s.dispatchDone = make(chan struct{})
	go s.dispatch(s.sub)
	for _, t := range s.targets {
		for range s.opts.Workers {
			s.workers.Add(1)
			go s.work(t)
		}
	}
}

// dispatch turns new-message events into deliveries on every queue, never waiting for one. It is
// the only goroutine that sends on the queues.
func (s *Sender) dispatch(sub *store.Subscription) {
	defer close(s.dispatchDone)
	for {
		for evs := range sub.Events() {
			for _, ev := range evs {
				// Another process sharing the database sends the webhooks of what it received.
				if ev.Type == store.EventNew && ev.Summary != nil && !ev.Remote {
					s.enqueue(ev.Summary)
				}
			}
		}
		if !errors.Is(sub.Err(), store.ErrLagged) {
			return // closed by Shutdown or by the store
		}
		s.lagged.Add(1)
		s.log.Warn("fell behind the store's events; messages stored meanwhile get no webhook")
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		sub = s.src.Subscribe(0)
		s.sub = sub
		s.mu.Unlock()
	}
}

func (s *Sender) enqueue(sum *store.Summary) {
	body, err := json.Marshal(webui.NewSummary(*sum))
	if err != nil {
		s.log.Error("encoding a webhook body", "message", sum.ID, "err", err)
		return
	}
	ev := &event{id: newID(), msg: sum.ID, body: body}
	for _, t := range s.targets {
		// dispatch is the queues' only sender, so a queue with room takes the event without
		// blocking; counting it first means no one sees it delivered before it is counted queued.
		if len(t.queue) < cap(t.queue) {
			t.queued.Add(1)
			t.queue <- ev
			continue
		}
		if n := t.dropped.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th... drop
			s.log.Warn("webhook queue full: event dropped", "url", t.shown, "message", sum.ID, "dropped", n, "queue", s.opts.QueueSize)
		}
	}
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// work sends t's queued events until the queue is closed.
func (s *Sender) work(t *target) {
	defer s.workers.Done()
	for ev := range t.queue {
		if s.ctx.Err() != nil {
			t.dropped.Add(1)
			continue
		}
		s.deliver(t, ev)
	}
}

// Shutdown stops taking events, delivers those queued until ctx is done, then abandons the
// rest (counted as dropped). It is safe to call more than once.
func (s *Sender) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	started, sub := s.started, s.sub
	s.mu.Unlock()
	if !started {
		s.cancel()
		return nil
	}
	sub.Close()
	<-s.dispatchDone
	for _, t := range s.targets {
		close(t.queue)
	}
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("webhook: shutdown: %w", ctx.Err())
		s.cancel()
		<-done
	}
	s.cancel()
	return err
}

// Close abandons every queued and in-progress delivery and stops.
func (s *Sender) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Shutdown(ctx)
	return nil
}

// Stats returns each URL's counters, in the order of Options.URLs.
func (s *Sender) Stats() []URLStats {
	out := make([]URLStats, 0, len(s.targets))
	for _, t := range s.targets {
		st := Stats{Queued: t.queued.Load(), Delivered: t.delivered.Load(), Retries: t.retries.Load(),
			Failed: t.failed.Load(), Dropped: t.dropped.Load(), Lagged: s.lagged.Load()}
		out = append(out, URLStats{URL: t.shown, Stats: st})
	}
	return out
}

// Total returns the counters of every URL added up.
func (s *Sender) Total() Stats {
	var sum Stats
	for _, u := range s.Stats() {
		sum.Queued += u.Queued
		sum.Delivered += u.Delivered
		sum.Retries += u.Retries
		sum.Failed += u.Failed
		sum.Dropped += u.Dropped
	}
	sum.Lagged = s.lagged.Load()
	return sum
}

// drain reads and discards a response body (bounded), so that it is read to its end.
func drain(r io.Reader) { io.Copy(io.Discard, io.LimitReader(r, 64<<10)) }
