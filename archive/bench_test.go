package archive

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/mbox"
	"github.com/letterbox-mail/letterbox/store"
)

// benchMessages is how many messages of the realistic mix the ingest and export benchmarks move.
const benchMessages = 2000

// writeBenchMbox writes messages 0..n-1 of the realistic mix into an mbox file.
func writeBenchMbox(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "mix.mbox")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := mbox.NewWriter(f, mbox.MboxRD)
	gen := realmail.New(realmail.Options{})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		m := gen.Message(i)
		if err := w.Write(m.From, t0.Add(time.Duration(i)*time.Second), m.Raw); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// BenchmarkIngestMbox ingests an mbox of 2,000 messages of the realistic mix into a fresh store,
// storing 1 message at a time and 8 at once (the default: the store group-commits them).
func BenchmarkIngestMbox(b *testing.B) {
	path := writeBenchMbox(b, benchMessages)
	fi, _ := os.Stat(path)
	for _, parallel := range []int{1, 8} {
		b.Run("parallel="+strconv.Itoa(parallel), func(b *testing.B) {
			b.SetBytes(fi.Size())
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(b.TempDir(), "lb.db")})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				stats, err := Ingest(context.Background(), []string{path}, st, IngestOptions{Parallel: parallel})
				elapsed += time.Since(start)
				if err != nil || stats.Messages != benchMessages || stats.Skipped != 0 {
					b.Fatalf("ingest: %+v, %v", stats, err)
				}
				b.StopTimer()
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(benchMessages*b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkExportMbox exports a store of 2,000 messages of the realistic mix as one mbox.
func BenchmarkExportMbox(b *testing.B) {
	path := writeBenchMbox(b, benchMessages)
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(b.TempDir(), "lb.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := Ingest(context.Background(), []string{path}, st, IngestOptions{}); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	b.SetBytes(fi.Size())
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		dest := filepath.Join(b.TempDir(), "out.mbox")
		n, err := Export(context.Background(), st, store.Filter{}, FormatMbox, dest, ExportOptions{})
		if err != nil || n != benchMessages {
			b.Fatalf("export: %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(benchMessages*b.N)/time.Since(start).Seconds(), "msgs/s")
}
