package deliverability

import (
	"context"
	"testing"
	"time"
)

// Concurrent requests for one report compute it once; but when the caller computing it goes
// away first (its context ends, so its lookups were cut short), a caller still waiting computes
// the report again under its own context instead of getting the truncated one.
func TestCacheWaiterOutlivesTheComputingCaller(t *testing.T) {
	c := newCache(10, time.Minute)
	firstCtx, cancelFirst := context.WithCancel(context.Background())
	started, finish := make(chan struct{}), make(chan struct{})
	firstDone := make(chan *Report, 1)
	go func() {
		rep, _ := c.get(firstCtx, "m1", false, func() (*Report, error) {
			close(started)
			<-finish
			return &Report{Summary: "cut short"}, nil
		})
		firstDone <- rep
	}()
	<-started

	computed := make(chan struct{}, 1)
	second := make(chan *Report, 1)
	go func() {
		rep, err := c.get(context.Background(), "m1", false, func() (*Report, error) {
			computed <- struct{}{}
			return &Report{Summary: "whole"}, nil
		})
		if err != nil {
			t.Error(err)
		}
		second <- rep
	}()
	waitForWaiters(t, c, "m1", 1)
	select {
	case <-computed:
		t.Fatal("the second caller computed while the first computation ran")
	default:
	}
	cancelFirst()
	close(finish)
	if rep := <-firstDone; rep == nil || rep.Summary != "cut short" {
		t.Errorf("first caller got %+v", rep)
	}
	select {
	case rep := <-second:
		if rep == nil || rep.Summary != "whole" {
			t.Errorf("second caller got %+v, want its own report", rep)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second caller never answered")
	}
	again := func() (*Report, error) { return &Report{Summary: "computed a third time"}, nil }
	if rep, _ := c.get(context.Background(), "m1", false, again); rep == nil || rep.Summary != "whole" || !rep.Cached {
		t.Errorf("cached: %+v (want the second caller's report, not the one cut short)", rep)
	}
}

// Without cancellation, the waiting caller shares the first computation.
func TestCacheComputesOnce(t *testing.T) {
	c := newCache(10, time.Minute)
	started, finish := make(chan struct{}), make(chan struct{})
	n := 0
	compute := func() (*Report, error) {
		n++
		close(started)
		<-finish
		return &Report{Summary: "one"}, nil
	}
	first := make(chan *Report, 1)
	go func() { rep, _ := c.get(context.Background(), "m1", false, compute); first <- rep }()
	<-started
	second := make(chan *Report, 1)
	go func() { rep, _ := c.get(context.Background(), "m1", false, compute); second <- rep }()
	waitForWaiters(t, c, "m1", 1)
	close(finish)
	for _, ch := range []chan *Report{first, second} {
		if rep := <-ch; rep == nil || rep.Summary != "one" {
			t.Errorf("got %+v", rep)
		}
	}
	if n != 1 {
		t.Errorf("computed %d times", n)
	}
}

// waitForWaiters waits until n callers wait for the computation of key.
func waitForWaiters(t *testing.T, c *cache, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		cl := c.running[key]
		ok := cl != nil && cl.waiters == n
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never %d callers waiting for %s", n, key)
		}
		time.Sleep(time.Millisecond)
	}
}
