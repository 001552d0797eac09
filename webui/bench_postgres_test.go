package webui

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/store/postgres"
)

// benchPostgres opens the 100,000 messages of benchStore in a PostgreSQL database kept on the
// server of LETTERBOX_TEST_POSTGRES (seeded on first use; drop letterbox_bench_<version> to reseed).
func benchPostgres(b *testing.B) *postgres.Store {
	b.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	u, existed := pgtest.Kept(b, "letterbox_bench_"+benchVersion)
	st, err := postgres.Open(ctx, u, store.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if stats, err := st.Stats(ctx); err != nil || (existed && stats.Total == benchMessages) {
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	if err := st.DeleteAll(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	seedBench(b, st)
	b.Logf("seeded %d messages in PostgreSQL in %v", benchMessages, time.Since(start))
	return st
}

// BenchmarkPostgres100k lists and searches 100,000 messages on PostgreSQL, the same requests as
// BenchmarkList100k and BenchmarkSearch100k on SQLite.
func BenchmarkPostgres100k(b *testing.B) {
	st := benchPostgres(b)
	srv, err := New(Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	vocab := benchVocabulary()
	b.Run("list-first-page", func(b *testing.B) {
		measure(b, h, func(int) string { return "/api/v1/messages?limit=50" })
	})
	b.Run("list-deep-page", func(b *testing.B) {
		measure(b, h, func(int) string { return "/api/v1/messages?start=90000&limit=50" })
	})
	for _, tc := range []struct{ name, q string }{
		{"rare-word", vocab[3000]},
		{"mid-word", vocab[300]},
		{"common-word", vocab[20]},
		{"inside-word", vocab[300][2:]},
		{"short-fragment", vocab[300][1:4]},
		{"to", "to:user123@example.com"},
		{"subject", "subject:" + vocab[200]},
		{"none", "nosuchwordanywhere"},
	} {
		b.Run("search-"+tc.name, func(b *testing.B) {
			measure(b, h, func(int) string { return "/api/v1/search?limit=50&query=" + url.QueryEscape(tc.q) })
		})
	}
}
