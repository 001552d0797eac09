package realmail

import "testing"

// BenchmarkMessage measures generating the natural mix and the sized mixes (the load
// generator's own cost, which benchmarks pay in their clients).
func BenchmarkMessage(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
	}{{"mix", 0}, {"4k", 4096}, {"100k", 100 << 10}} {
		b.Run(c.name, func(b *testing.B) {
			g := New(Options{Size: c.size})
			b.ReportAllocs()
			i, bytes := 0, 0
			for b.Loop() {
				bytes += len(g.Message(i).Raw)
				i++
			}
			b.ReportMetric(float64(bytes)/float64(i), "bytes/msg")
		})
	}
}
