package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/store"
)

// BenchmarkPropagation measures how long a message stored by one process takes to reach the
// subscribers (API, websocket, wait, IMAP IDLE) of another on the same database: from Add's
// return in A to B's event. It fails when the 99th percentile is 100 ms or more, the bound
// issue 14 sets (the servers publish what they get from the store without waiting).
func BenchmarkPropagation(b *testing.B) {
	ctx := context.Background()
	url := pgtest.Database(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := Open(ctx, url, store.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	bb, err := Open(ctx, url, store.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer bb.Close()
	sub := bb.Subscribe(0)
	defer sub.Close()
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		sum, err := a.Add(ctx, store.Envelope{}, msg(fmt.Sprint("p", i)))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for found := false; !found; {
			select {
			case evs := <-sub.Events():
				for _, ev := range evs {
					found = found || ev.ID == sum.ID
				}
			case <-time.After(5 * time.Second):
				b.Fatal("no event in B within 5s")
			}
		}
		durs = append(durs, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
	p99 := durs[len(durs)*99/100]
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	if p99 >= 100*time.Millisecond {
		b.Errorf("p99 %v: another process sees a message later than 100 ms after the 250", p99)
	}
}
