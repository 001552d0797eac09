package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// benchVersion names the cached benchmark database; change it when the seeded data or the
// store's schema changes.
const benchVersion = "v2" // bump when the seeded content or the store's on-disk format changes

const (
	benchMessages = 100_000
	benchSize     = 4 << 10
)

// benchVocabulary is a deterministic list of made-up words: the first ones are frequent
// (Zipf-like draws), the last ones rare.
func benchVocabulary() []string {
	r := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	seen := map[string]bool{}
	var words []string
	for len(words) < 5000 {
		n := 4 + r.IntN(6)
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[r.IntN(len(letters))]
		}
		if w := string(b); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// benchMessage makes message i: about 4 KB, one of 1,000 recipients, Zipf-distributed words.
func benchMessage(i int, vocab []string) (store.Envelope, string) {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	z := rand.NewZipf(r, 1.1, 2, uint64(len(vocab)-1))
	to := fmt.Sprintf("user%d@example.com", i%1000)
	var b strings.Builder
	fmt.Fprintf(&b, "From: Sender %d <sender%d@shop.example>\r\nTo: %s\r\nSubject: Order %d %s %s\r\n", i%50, i%50, to, i, vocab[z.Uint64()], vocab[z.Uint64()])
	fmt.Fprintf(&b, "Message-ID: <bench-%d@shop.example>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", i)
	line := 0
	for b.Len() < benchSize {
		b.WriteString(vocab[z.Uint64()])
		if line++; line%12 == 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("\r\n")
	return store.Envelope{MailFrom: fmt.Sprintf("sender%d@shop.example", i%50), Recipients: []string{to}}, b.String()
}

// benchStore opens the cached 100,000-message database, seeding it (concurrently, so the store's
// group commit batches) when it is not there yet.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(os.TempDir(), "letterbox-webui-bench-"+benchVersion+".db")
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".seeding"
		for _, s := range []string{"", "-wal", "-shm"} {
			os.Remove(tmp + s)
		}
		st, err := store.Open(ctx, store.Options{Path: tmp, Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		seedBench(b, st)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d messages in %v", benchMessages, time.Since(start))
		for _, s := range []string{"-wal", "-shm"} {
			os.Remove(tmp + s) // empty after a clean close
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	st, err := store.Open(ctx, store.Options{Path: path, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchServer returns the handler over the cached store.
// seedBench adds the benchmarks' benchMessages messages to st from 64 clients.
func seedBench(b *testing.B, st interface {
	Add(context.Context, store.Envelope, io.Reader) (store.Summary, error)
}) {
	ctx := context.Background()
	vocab := benchVocabulary()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 64 {
		wg.Go(func() {
			for i := range work {
				env, raw := benchMessage(i, vocab)
				if _, err := st.Add(ctx, env, strings.NewReader(raw)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	for i := range benchMessages {
		work <- i
	}
	close(work)
	wg.Wait()
}

func benchServer(b *testing.B) (http.Handler, *store.Store) {
	st := benchStore(b)
	srv, err := New(Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	return srv.Handler(), st
}

// measure runs b.N requests made by path(i) and reports their median and 95th percentile.
func measure(b *testing.B, h http.Handler, path func(i int) string) {
	b.Helper()
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest("GET", "http://127.0.0.1"+path(i), nil)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		durs = append(durs, time.Since(t0))
		if rec.Code != 200 {
			b.Fatalf("%s: %d %s", req.URL, rec.Code, rec.Body.String())
		}
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durs[len(durs)*95/100].Microseconds())/1000, "p95-ms")
	// For lists, how many messages matched (what the query had to count).
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1"+path(0), nil))
	var l List
	if json.Unmarshal(rec.Body.Bytes(), &l) == nil && l.Messages != nil {
		b.ReportMetric(float64(l.MessagesCount), "matches")
	}
}

// BenchmarkList100k is the first page of 50 over 100,000 messages.
func BenchmarkList100k(b *testing.B) {
	h, _ := benchServer(b)
	b.Run("first-page", func(b *testing.B) {
		measure(b, h, func(int) string { return "/api/v1/messages?limit=50" })
	})
	b.Run("deep-page", func(b *testing.B) {
		measure(b, h, func(int) string { return "/api/v1/messages?start=90000&limit=50" })
	})
}

// BenchmarkSearch100k searches 100,000 messages: a rare word, a common word, part of a word, to:
// and subject:.
func BenchmarkSearch100k(b *testing.B) {
	h, _ := benchServer(b)
	vocab := benchVocabulary()
	for _, tc := range []struct{ name, q string }{
		{"rare-word", vocab[3000]},
		{"mid-word", vocab[300]},
		{"common-word", vocab[20]},
		{"inside-word", vocab[300][2:]},     // found inside words through the vocabulary
		{"short-fragment", vocab[300][1:4]}, // three letters: inside many words
		{"to", "to:user123@example.com"},
		{"subject", "subject:" + vocab[200]},
		{"none", "nosuchwordanywhere"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			measure(b, h, func(int) string { return "/api/v1/search?limit=50&query=" + url.QueryEscape(tc.q) })
		})
	}
}

// BenchmarkOpen100k opens random messages (GET /api/v1/message/{ID}, which marks them read).
func BenchmarkOpen100k(b *testing.B) {
	h, st := benchServer(b)
	entries, err := st.Index(context.Background(), store.Filter{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	b.Run("message", func(b *testing.B) {
		measure(b, h, func(int) string { return "/api/v1/message/" + entries[r.IntN(len(entries))].ID })
	})
	b.Run("view-txt", func(b *testing.B) {
		measure(b, h, func(int) string { return "/view/" + entries[r.IntN(len(entries))].ID + ".txt" })
	})
}

// BenchmarkIdleRSS reports the resident memory of this process with the 100,000-message store
// open and a list served, after a GC.
func BenchmarkIdleRSS(b *testing.B) {
	h, _ := benchServer(b)
	for range b.N {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/api/v1/messages", nil))
	}
	runtime.GC()
	debug.FreeOSMemory()
	b.ReportMetric(float64(rssKB())/1024, "rss-MB")
}

// rssKB reads VmRSS from /proc (Linux); 0 elsewhere.
func rssKB() int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// BenchmarkWaitLatency measures how long /api/v1/wait takes to answer after Add returns
// (the message is committed) on a real loopback connection.
func BenchmarkWaitLatency(b *testing.B) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(b.TempDir(), "w.db"), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	var last string
	durs := make([]time.Duration, 0, b.N)
	for i := range b.N {
		q := ts.URL + "/api/v1/wait?timeout=10s&query=" + url.QueryEscape("subject:wait"+strconv.Itoa(i))
		if last != "" {
			q += "&since=" + last
		}
		type result struct {
			at  time.Time
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := http.Get(q)
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					err = fmt.Errorf("status %d", res.StatusCode)
				}
			}
			done <- result{time.Now(), err}
		}()
		// Let the request reach the server and subscribe (it then waits); an early Add is
		// still found by its search, so this only makes the measurement honest.
		time.Sleep(2 * time.Millisecond)
		sum, err := st.Add(ctx, store.Envelope{MailFrom: "a@b.c", Recipients: []string{"d@e.f"}},
			strings.NewReader("Subject: wait"+strconv.Itoa(i)+"\r\n\r\nbody\r\n"))
		if err != nil {
			b.Fatal(err)
		}
		added := time.Now()
		r := <-done
		if r.err != nil {
			b.Fatal(r.err)
		}
		durs = append(durs, r.at.Sub(added))
		last = sum.ID
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durs[len(durs)*95/100].Microseconds())/1000, "p95-ms")
}
