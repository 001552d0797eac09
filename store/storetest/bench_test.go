package storetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/store/postgres"
)

// corpusMix is the shared corpus's real-world messages (receipts, newsletters with HTML,
// attachments, other charsets, broken ones): the realistic mix ingest is measured on.
func corpusMix(b *testing.B) [][]byte {
	b.Helper()
	files, _ := filepath.Glob(filepath.Join(corpusDir(b, "messages"), "*.eml"))
	var mix [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if len(raw) < 1<<20 { // the mix of everyday mail; the corpus's giants are tested elsewhere
			mix = append(mix, raw)
		}
	}
	return mix
}

// BenchmarkIngest16 stores the corpus mix from 16 concurrent clients, each message made unique
// (its own Message-ID and a unique token in the subject), on each engine in one run.
func BenchmarkIngest16(b *testing.B) {
	mix := corpusMix(b)
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
			for c := range 16 {
				wg.Go(func() {
					for {
						i := n.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						raw := mix[int(i)%len(mix)]
						msg := append([]byte(fmt.Sprintf("Message-ID: <bench-%d-%d@letterbox.test>\r\nX-Token: tok%dx%d\r\n", c, i, i, c)), raw...)
						if _, err := e.Add(context.Background(), store.Envelope{MailFrom: "bench@example.com", Recipients: []string{"dev@example.com"}},
							bytes.NewReader(msg)); err != nil {
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
			if st.Commits > 0 {
				b.ReportMetric(float64(st.Writes)/float64(st.Commits), "msgs/commit")
			}
		})
	}
}
