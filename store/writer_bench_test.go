package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/realmail"
)

// BenchmarkPrepare measures the CPU work Add does before the writer sees a message (parse,
// compress, encode), on one goroutine, for each load of internal/realmail (512 messages, cycled).
func BenchmarkPrepare(b *testing.B) {
	for _, name := range realmail.Loads {
		b.Run(name, func(b *testing.B) {
			if os.Getenv("GOGC") == "" {
				defer debug.SetGCPercent(debug.SetGCPercent(400))
			}
			s := tempStore(b)
			load, err := realmail.Load(name)
			if err != nil {
				b.Fatal(err)
			}
			pool := realmail.NewPool(load, 512, 128<<20)
			b.ReportAllocs()
			cpu0 := cpuNow()
			i := 0
			for b.Loop() {
				m := pool.At(i)
				s.prepare(Envelope{MailFrom: m.From, Recipients: m.To}, nil, m.Raw)
				i++
			}
			b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/msg")
		})
	}
}

// BenchmarkWriter measures the writer alone: batches of 1 to 64 prepared messages of the
// realistic mix, each batch one durable transaction (a commit costs about as much for one
// message as for a dozen).
func BenchmarkWriter(b *testing.B) {
	for _, batch := range []int{1, 8, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			if os.Getenv("GOGC") == "" {
				defer debug.SetGCPercent(debug.SetGCPercent(400))
			}
			s := tempStore(b)
			ctx := context.Background()
			const pool = 256
			recs := make([]*record, pool)
			for i := range recs {
				m := realmail.Mix(i)
				recs[i] = s.prepare(Envelope{MailFrom: m.From, Recipients: m.To}, nil, m.Raw)
			}
			replies := make([]chan writeResult, batch)
			for i := range replies {
				replies[i] = make(chan writeResult, 1)
			}
			b.ResetTimer()
			cpu0 := cpuNow()
			start := time.Now()
			n := 0
			for n < b.N {
				// Hold the writer in a transaction while the batch is queued, so that it takes
				// the whole batch at once.
				release := make(chan struct{})
				held := make(chan struct{})
				hold := writeReq{reply: make(chan writeResult, 1), change: func(context.Context, dbtx) ([]Event, error) {
					close(held)
					<-release
					return nil, nil
				}}
				s.writes <- hold
				<-held
				for i := range batch {
					r := *recs[(n+i)%pool]
					r.sum.ID = newID()
					s.writes <- writeReq{rec: &r, reply: replies[i]}
				}
				close(release)
				<-hold.reply
				for i := range batch {
					if res := <-replies[i]; res.err != nil {
						b.Fatal(res.err)
					}
				}
				n += batch
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/1000/float64(n), "cpu-ms/msg")
			_ = ctx
		})
	}
}

// tempStore opens a store in a temporary directory, closed when the test ends.
func tempStore(t testing.TB) *Store {
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "letterbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
