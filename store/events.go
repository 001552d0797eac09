package store

import (
	"errors"
	"sync"
)

// ErrLagged is what Subscription.Err returns after the subscription was dropped because its
// reader fell behind by more than its buffer of commits.
var ErrLagged = errors.New("store: subscriber fell behind and lost events")

// DefaultEventBuffer is the buffer (in commits) Subscribe uses when given 0.
const DefaultEventBuffer = 1024

// Subscription receives the store's change events.
type Subscription struct {
	h      *hub
	ch     chan []Event
	mu     sync.Mutex
	err    error
	closed bool
}

// Events returns the channel of events: the events of one commit at a time, in order (a bulk
// change of thousands of messages is one receive, so that a subscriber reading it promptly never
// falls behind). The slices are shared by every subscriber: read them, never change them. The
// channel is closed after Close, when the store closes, or when the subscriber fell behind (then
// Err returns ErrLagged).
func (s *Subscription) Events() <-chan []Event { return s.ch }

// Err tells why the events channel was closed: ErrLagged, ErrClosed, or nil after Close.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.h.remove(s, nil)
}

// hub fans events out to subscribers without ever blocking the publisher: a subscriber whose
// buffer is full is dropped and told so.
type hub struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	done bool
}

// Subscribe returns a subscription to change events published after this call. buffer is how many
// commits' events may wait unread before the subscriber is dropped (0 means DefaultEventBuffer).
func (s *Store) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultEventBuffer
	}
	return s.hub.subscribe(buffer)
}

func (h *hub) subscribe(buffer int) *Subscription {
	sub := &Subscription{h: h, ch: make(chan []Event, buffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		sub.closed, sub.err = true, ErrClosed
		close(sub.ch)
		return sub
	}
	if h.subs == nil {
		h.subs = map[*Subscription]struct{}{}
	}
	h.subs[sub] = struct{}{}
	return sub
}

// publish sends the events of one commit to every subscriber.
func (h *hub) publish(evs []Event) {
	h.mu.RLock()
	var lagged []*Subscription
	for sub := range h.subs {
		select {
		case sub.ch <- evs:
		default:
			lagged = append(lagged, sub)
		}
	}
	h.mu.RUnlock()
	for _, sub := range lagged {
		h.remove(sub, ErrLagged)
	}
}

func (h *hub) remove(sub *Subscription, why error) {
	h.mu.Lock()
	delete(h.subs, sub)
	h.mu.Unlock()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !sub.closed {
		sub.closed, sub.err = true, why
		close(sub.ch)
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	subs := h.subs
	h.subs, h.done = nil, true
	h.mu.Unlock()
	for sub := range subs {
		sub.mu.Lock()
		if !sub.closed {
			sub.closed, sub.err = true, ErrClosed
			close(sub.ch)
		}
		sub.mu.Unlock()
	}
}
