package store_test

import (
	"bytes"
	"context"
	"os"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
)

// BenchmarkStoreIngest measures Add with 16 concurrent callers, durable (synchronous=FULL), no
// network, for each load of internal/realmail: mix (the realistic mix, the headline), 4k and 100k
// (the mix at those sizes) and lorem (the old repetitive message, to compare with earlier figures).
// The messages are generated before the timed section (up to 256 MB of them, cycled beyond), so
// cpu-ms/msg is the store's alone. It runs with the garbage collector target cmd/letterbox sets
// (GOGC=400) unless GOGC is given.
func BenchmarkStoreIngest(b *testing.B) {
	for _, name := range realmail.Loads {
		b.Run(name, func(b *testing.B) {
			load, err := realmail.Load(name)
			if err != nil {
				b.Fatal(err)
			}
			benchStoreIngest(b, realmail.NewPool(load, b.N, 256<<20))
		})
	}
}

func benchStoreIngest(b *testing.B, pool *realmail.Pool) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	s := openStore(b, store.Options{})
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := pool.At(int(n.Add(1)) - 1)
			if _, err := s.Add(ctx, store.Envelope{MailFrom: m.From, Recipients: m.To}, bytes.NewReader(m.Raw)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/msg")
	b.ReportMetric(float64(pool.MeanSize()), "bytes/msg")
	if st, err := s.Stats(ctx); err == nil {
		b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "msgs/commit")
	}
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParse measures parsing the realistic mix (512 messages of internal/realmail, cycled):
// as the store does (its own cutting of the parts, enmime for each), enmime alone with the
// store's options, and enmime with its defaults (charset detection on), to show what each saves.
func BenchmarkParse(b *testing.B) {
	pool := realmail.NewPool(realmail.New(realmail.Options{}).Message, 512, 64<<20)
	for _, c := range []struct {
		name  string
		parse func(raw []byte) error
	}{
		{"store", func(raw []byte) error { _, err := store.Parse(raw); return err }},
		{"enmime-store-options", func(raw []byte) error {
			_, err := enmime.NewParser(store.ParserOptions()...).ReadEnvelope(bytes.NewReader(raw))
			return err
		}},
		{"enmime-defaults", func(raw []byte) error { _, err := enmime.NewParser().ReadEnvelope(bytes.NewReader(raw)); return err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(pool.MeanSize()))
			i := 0
			for b.Loop() {
				if err := c.parse(pool.At(i).Raw); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkParseCorpus parses every message of the shared corpus, as the store does and with
// enmime alone: the gain on real mail of all shapes, not only on the benchmark message.
func BenchmarkParseCorpus(b *testing.B) {
	var msgs [][]byte
	for _, f := range corpusFiles(b) {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, raw)
	}
	p := enmime.NewParser(store.ParserOptions()...)
	for _, c := range []struct {
		name  string
		parse func(raw []byte)
	}{
		{"store", func(raw []byte) { store.Parse(raw) }},
		{"enmime-store-options", func(raw []byte) { p.ReadEnvelope(bytes.NewReader(raw)) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				for _, raw := range msgs {
					c.parse(raw)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(msgs)), "us/msg")
		})
	}
}
