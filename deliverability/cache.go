package deliverability

import (
	"container/list"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// cache keeps recent reports (least recently used out first) and computes each key once at a time.
type cache struct {
	size int
	ttl  time.Duration

	mu      sync.Mutex
	order   *list.List // of *entry, most recent first
	entries map[string]*list.Element
	running map[string]*call
}

type entry struct {
	key string
	rep *Report
	at  time.Time
}

type call struct {
	done     chan struct{}
	rep      *Report
	err      error
	canceled bool // the computing caller's context ended first: its report is not for others
	waiters  int  // callers waiting for it (under cache.mu)
}

func newCache(size int, ttl time.Duration) *cache {
	return &cache{size: size, ttl: ttl, order: list.New(), entries: map[string]*list.Element{}, running: map[string]*call{}}
}

func cacheKey(id string, ips []netip.Addr, links, follow bool) string {
	var b strings.Builder
	b.WriteString(id)
	for _, ip := range ips {
		b.WriteString(" " + ip.String())
	}
	fmt.Fprintf(&b, " links=%v follow=%v", links, follow)
	return b.String()
}

// get returns the cached report for key, or computes it (once, however many ask at the same time:
// the others wait for that computation, and compute again themselves only if the caller that
// ran it went away before it ended). A returned report is a copy: callers may set its Cached flag.
func (c *cache) get(ctx context.Context, key string, refresh bool, compute func() (*Report, error)) (*Report, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok && !refresh {
		e := el.Value.(*entry)
		if time.Since(e.at) < c.ttl {
			c.order.MoveToFront(el)
			c.mu.Unlock()
			rep := *e.rep
			rep.Cached = true
			return &rep, nil
		}
	}
	if cl, ok := c.running[key]; ok {
		cl.waiters++
		c.mu.Unlock()
		select {
		case <-cl.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if cl.canceled {
			// Computed under a context that ended (its caller went away): lookups cut short
			// show as DNS errors. Compute again under ours.
			return c.get(ctx, key, refresh, compute)
		}
		if cl.err != nil {
			return nil, cl.err
		}
		rep := *cl.rep
		return &rep, nil
	}
	cl := &call{done: make(chan struct{})}
	c.running[key] = cl
	c.mu.Unlock()

	cl.rep, cl.err = compute()
	cl.canceled = ctx.Err() != nil

	c.mu.Lock()
	delete(c.running, key)
	if cl.err == nil && !cl.canceled {
		if el, ok := c.entries[key]; ok {
			c.order.Remove(el)
		}
		c.entries[key] = c.order.PushFront(&entry{key: key, rep: cl.rep, at: time.Now()})
		for c.order.Len() > c.size {
			last := c.order.Back()
			c.order.Remove(last)
			delete(c.entries, last.Value.(*entry).key)
		}
	}
	c.mu.Unlock()
	close(cl.done)
	if cl.err != nil {
		return nil, cl.err
	}
	rep := *cl.rep
	return &rep, nil
}

// Len is how many reports are cached.
func (c *cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
