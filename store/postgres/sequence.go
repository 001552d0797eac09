package postgres

import (
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/store"
)

// sequencer publishes the changes of every process, this one's included, in commit order: each
// notification carries a number (counters.seq) given under the lock every writer takes, and only
// the listener publishes, in that order. A commit of this process registers its events under
// its numbers before it commits, and waits after the commit until the listener has published
// them (so that when Add or a change returns, its events are in every subscriber's queue).
type sequencer struct {
	mu        sync.Mutex
	next      int64                   // the number the listener publishes next
	local     map[int64][]store.Event // this process's events by number, until published
	txs       map[pgx.Tx]int64        // the last number each open transaction took
	published chan struct{}           // closed and replaced whenever next moves
}

func newSequencer() *sequencer {
	return &sequencer{local: map[int64][]store.Event{}, txs: map[pgx.Tx]int64{}, published: make(chan struct{})}
}

// register records the events of tx's notifications first..last (they go with the last).
func (q *sequencer) register(tx pgx.Tx, first, last int64, evs []store.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for n := first; n < last; n++ {
		q.local[n] = nil
	}
	q.local[last] = evs
	q.txs[tx] = last
}

// take returns the last number tx took (0 when it sent no notification) and forgets tx. The
// events registered stay: if tx committed after all (an error on COMMIT's reply), the listener
// still publishes them; if not, the numbers are given again and registered anew.
func (q *sequencer) take(tx pgx.Tx) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.txs[tx]
	delete(q.txs, tx)
	return n
}

// start sets the next number to publish: the one after last, the number the database is at.
func (q *sequencer) start(last int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next = last + 1
	for n := range q.local {
		if n <= last {
			delete(q.local, n)
		}
	}
	q.advanceLocked()
}

// claim tells the listener what to do with notification n: skip it (published already or
// before this process listened), or publish it, with this process's events when it was its own.
// gap is set when notifications before n were lost.
func (q *sequencer) claim(n int64) (evs []store.Event, known, skip, gap bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n < q.next {
		return nil, false, true, false
	}
	evs, known = q.local[n]
	return evs, known, false, n > q.next
}

// done records notification n as published.
func (q *sequencer) done(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.local, n)
	q.next = n + 1
	q.advanceLocked()
}

func (q *sequencer) advanceLocked() {
	close(q.published)
	q.published = make(chan struct{})
}

// wait returns once notification n is published, or after timeout or when stop is closed (false).
func (q *sequencer) wait(n int64, timeout time.Duration, stop <-chan struct{}) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		q.mu.Lock()
		ok, ch := q.next > n, q.published
		q.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		case <-stop:
			return false
		}
	}
}

// publishWait is how long a commit waits for the listener to publish its events before it
// returns anyway (the change is committed; the listener is reconnecting and its subscribers
// will reload).
const publishWait = 5 * time.Second

// awaitPublished waits for the events of tx, which committed, to be published.
func (s *Store) awaitPublished(tx pgx.Tx) { s.awaitSeq(s.seq.take(tx)) }

// awaitSeq waits for notification n (0: none) to be published.
func (s *Store) awaitSeq(n int64) {
	if n > 0 && !s.seq.wait(n, publishWait, s.stopCtx.Done()) {
		s.log.Warn("a change was committed but the listener has not published it (yet)", "seq", n)
	}
}
