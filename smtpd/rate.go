package smtpd

import (
	"sync"
	"sync/atomic"
	"time"
)

// rate paces one direction of a connection to a number of bytes per second.
type rate struct {
	on        atomic.Bool // bps is set
	mu        sync.Mutex
	bps       int
	next      time.Time     // when the bytes passed so far are due
	overslept time.Duration // how late the last wait woke, at most rateCatchUp
}

// rateCatchUp bounds the time a rate makes up for having overslept: a stall longer than this
// (the machine was busy) is not followed by a burst of bytes.
const rateCatchUp = 100 * time.Millisecond

func (r *rate) set(bps int) {
	r.mu.Lock()
	r.bps, r.next, r.overslept = bps, time.Time{}, 0
	r.mu.Unlock()
	r.on.Store(bps > 0)
}

// restart begins a transfer of its own (a message): its bytes are paced from its first one,
// whatever the connection owed before.
func (r *rate) restart() {
	if !r.on.Load() {
		return
	}
	r.mu.Lock()
	r.next, r.overslept = time.Time{}, 0
	r.mu.Unlock()
}

// wait sleeps until n more bytes are due at the rate. The bytes are due n/bps after those before
// them, and never earlier than now less what the last wait overslept: time the direction spent
// idle (the client thinking, the other direction talking) earns no burst, so no stretch of the
// transfer goes faster than the rate, while a sleep that woke late is made up by the next bytes,
// so that the rate holds over a transfer on a busy machine.
func (r *rate) wait(s *Server, n int) {
	if !r.on.Load() || n == 0 {
		return
	}
	r.mu.Lock()
	if earliest := time.Now().Add(-r.overslept); r.next.Before(earliest) {
		r.next = earliest
	}
	r.next = r.next.Add(time.Duration(int64(n) * int64(time.Second) / int64(r.bps)))
	due := r.next
	r.mu.Unlock()
	if !s.wait(time.Until(due)) {
		return
	}
	late := min(max(time.Since(due), 0), rateCatchUp)
	r.mu.Lock()
	r.overslept = late
	r.mu.Unlock()
}
