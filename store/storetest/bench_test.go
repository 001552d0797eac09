package storetest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/store/postgres"
)

// BenchmarkIngest16 stores the realistic mix (internal/realmail: receipts, resets, newsletters
// with HTML, attachments, other charsets, tokens of their own in every message) from 16
// concurrent clients, on each engine in one run: only their ratio holds on a shared machine.
func BenchmarkIngest16(b *testing.B) {
	load, err := realmail.Load("mix")
	if err != nil {
		b.Fatal(err)
	}
	pool := realmail.NewPool(load, b.N, 512<<20)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engines := []struct {
		name string
		open func(b *testing.B) store.Engine
	}{
		{"sqlite", func(b *testing.B) store.Engine {
			s, err := store.Open(context.Background(), store.Options{Path: filepath.Join(b.TempDir(), "i.db"), Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) store.Engine {
			s, err := postgres.Open(context.Background(), pgtest.Database(b), store.Options{Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			e := eng.open(b)
			defer e.Close()
			var n atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range 16 {
				wg.Go(func() {
					for {
						i := n.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						m := pool.At(int(i))
						if _, err := e.Add(context.Background(), store.Envelope{MailFrom: m.From, Recipients: m.To},
							bytes.NewReader(m.Raw)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			el := time.Since(start)
			st, _ := e.Stats(context.Background())
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			b.ReportMetric(float64(pool.MeanSize()), "bytes/msg")
			if st.Commits > 0 {
				b.ReportMetric(float64(st.Writes)/float64(st.Commits), "msgs/commit")
			}
		})
	}
}
