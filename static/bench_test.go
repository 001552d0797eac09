package static_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	"github.com/letterbox-mail/letterbox/store"
)

// BenchmarkInbox measures the web inbox in Chromium over a store of 100,000
// messages (LETTERBOX_BENCH_MESSAGES changes the number). Seeding takes a few
// minutes, so the seeded database is kept in the temporary directory and
// reused by later runs. Run with -benchtime=5x or so:
//
//	go test ./static/ -run '^$' -bench Inbox -benchtime 5x
//
// Figures: first-paint (first contentful paint and first list rows, from
// navigation start), open (click to message shown; frame = to the HTML body
// loaded in its iframe), scroll (jump to the middle of the list until its rows
// are filled), stream (JS heap and DOM nodes after 1,000 new messages arrived
// over the websocket, after garbage collection, against before).
func BenchmarkInbox(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("LETTERBOX_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	// Each run works on a copy, so it starts from exactly n messages.
	path := filepath.Join(b.TempDir(), "letterbox.db")
	if err := copyFile(seededDB(b, n), path); err != nil {
		b.Fatal(err)
	}
	s := newStackAt(b, path)
	ctx := browser(b, 1280, 800)
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, performance.Enable, performance.EnableParams{})
		return err
	})); err != nil {
		b.Fatal(err)
	}

	b.Run("first-paint", func(b *testing.B) {
		var fcp, rows []float64
		for b.Loop() {
			open(b, ctx, s.url)
			waitJS(b, ctx, `performance.getEntriesByName('letterbox:list-rendered').length > 0`, 10*time.Second)
			v := eval[[]float64](b, ctx, `[performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1,
				performance.getEntriesByName('letterbox:list-rendered')[0].startTime]`)
			fcp = append(fcp, v[0])
			rows = append(rows, v[1])
		}
		b.ReportMetric(median(fcp), "fcp-ms")
		b.ReportMetric(median(rows), "rows-ms")
		b.ReportMetric(0, "ns/op")
	})

	b.Run("open", func(b *testing.B) {
		open(b, ctx, s.url)
		var open, frame []float64
		i := 0
		for b.Loop() {
			i = i%12 + 1
			do(b, ctx, chromedp.Evaluate[chromedp.Void](`performance.clearMarks('letterbox:frame-loaded'); performance.clearMeasures('letterbox:open')`))
			// Measured in the page from the click to the message shown, not from here.
			do(b, ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`window.__t0 = performance.now(); document.querySelector('#list-rows li:nth-child(%d) a').click()`, i)))
			waitJS(b, ctx, `performance.getEntriesByName('letterbox:open').length > 0 && (!document.getElementById('tab-html') || performance.getEntriesByName('letterbox:frame-loaded').length > 0)`, 10*time.Second)
			v := eval[[]float64](b, ctx, `[performance.getEntriesByName('letterbox:open-end')[0].startTime - window.__t0,
				document.getElementById('tab-html') ? performance.getEntriesByName('letterbox:frame-loaded')[0].startTime - window.__t0 : -1]`)
			open = append(open, v[0])
			if v[1] >= 0 {
				frame = append(frame, v[1])
			}
		}
		b.ReportMetric(median(open), "open-ms")
		b.ReportMetric(median(frame), "frame-ms")
		b.ReportMetric(0, "ns/op")
	})

	b.Run("scroll", func(b *testing.B) {
		open(b, ctx, s.url)
		var ms []float64
		k := 0
		for b.Loop() {
			k++
			// Jump to a different far position each time, so nothing is cached.
			frac := []float64{0.5, 0.25, 0.75, 0.9, 0.1, 0.6}[k%6]
			v := eval[float64](b, ctx, fmt.Sprintf(`new Promise(resolve => {
				const l = document.getElementById('list'); const t0 = performance.now();
				l.scrollTop = (l.scrollHeight - l.clientHeight) * %g;
				const check = () => document.querySelectorAll('#list-rows .row.loading').length === 0 && document.querySelectorAll('#list-rows .row').length > 0
					? resolve(performance.now() - t0) : requestAnimationFrame(check);
				requestAnimationFrame(check); })`, frac))
			ms = append(ms, v)
		}
		b.ReportMetric(median(ms), "fill-ms")
		b.ReportMetric(0, "ns/op")
	})

	b.Run("stream-1000", func(b *testing.B) {
		open(b, ctx, s.url)
		heap0, nodes0 := tabMemory(b, ctx)
		var heap1, nodes1, heapMax float64
		for b.Loop() {
			before := eval[int](b, ctx, `window.letterbox.list.total`)
			var wg sync.WaitGroup
			var addErr atomic.Value
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < 1000; i += 4 {
						env := store.Envelope{MailFrom: "stream@example.com", Recipients: []string{"dev@example.com"}}
						if _, err := s.store.Add(context.Background(), env, bytes.NewReader(benchMessage(1_000_000+i))); err != nil {
							addErr.Store(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if err, _ := addErr.Load().(error); err != nil {
				b.Fatal(err)
			}
			waitJS(b, ctx, fmt.Sprintf(`window.letterbox.list.total === %d`, before+1000), 30*time.Second)
			heap1, nodes1 = tabMemory(b, ctx)
			heapMax = max(heapMax, heap1)
		}
		// Before the first 1,000 and after the last: with -benchtime 9x, 9,000 messages streamed in.
		b.ReportMetric(heap0/1e6, "heap-start-MB")
		b.ReportMetric(heap1/1e6, "heap-end-MB")
		b.ReportMetric(heapMax/1e6, "heap-max-MB")
		b.ReportMetric(nodes0, "nodes-start")
		b.ReportMetric(nodes1, "nodes-end")
		b.ReportMetric(0, "ns/op")
	})
}

// tabMemory collects garbage and returns the tab's JS heap and DOM node count.
func tabMemory(b testing.TB, ctx context.Context) (heap, nodes float64) {
	b.Helper()
	if _, err := chromedp.Call(ctx, heapprofiler.CollectGarbage, cdp.Empty{}); err != nil {
		b.Fatal(err)
	}
	m, err := chromedp.Call(ctx, performance.GetMetrics, cdp.Empty{})
	if err != nil {
		b.Fatal(err)
	}
	for _, x := range m.Metrics {
		switch x.Name {
		case "JSHeapUsedSize":
			heap = x.Value
		case "Nodes":
			nodes = x.Value
		}
	}
	return heap, nodes
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// seededDB returns a database file holding n messages, made once and kept in
// the temporary directory for later runs.
func seededDB(b testing.TB, n int) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("letterbox-static-bench-v2-%d.db", n))
	if _, err := os.Stat(path + ".done"); err == nil {
		return path
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Path: path, Hostname: "letterbox.test"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	const workers = 16
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				env := store.Envelope{MailFrom: "app@example.com", Recipients: []string{fmt.Sprintf("user%d@example.com", i%500)},
					Helo: "app.test", RemoteAddr: "127.0.0.1:40000", Received: start.Add(time.Duration(i-n) * time.Second)}
				if _, err := st.Add(ctx, env, bytes.NewReader(benchMessage(i))); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.Logf("seeded %d messages in %v", n, time.Since(start))
	if err := os.WriteFile(path+".done", nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

var benchSubjects = []string{"Your order has shipped", "Reset your password", "Invoice %d is ready", "Welcome to Acme",
	"Weekly digest", "[ci] build %d failed", "Meeting invitation", "Your receipt #%d", "Verify your email address", "New comment on your post"}

// benchMessage is a realistic message of about 2-4 KB.
func benchMessage(i int) []byte {
	subject := benchSubjects[i%len(benchSubjects)]
	if bytes.Contains([]byte(subject), []byte("%d")) {
		subject = fmt.Sprintf(subject, i)
	}
	m := mail{
		From:    fmt.Sprintf("Service %d <noreply%d@service%d.test>", i%37, i%37, i%11),
		To:      fmt.Sprintf("User %d <user%d@example.com>", i%500, i%500),
		Subject: subject,
		Text:    fmt.Sprintf("Hello user %d,\r\n\r\n%s\r\nMessage number %d.\r\n", i%500, lorem, i),
	}
	if i%3 == 0 {
		m.HTML = fmt.Sprintf("<html><body><h1>%s</h1><p>%s</p></body></html>", subject, lorem)
	}
	if i%10 == 0 {
		m.Attach = []attachment{{Name: fmt.Sprintf("file-%d.txt", i), Type: "text/plain", Data: []byte(lorem)}}
	}
	return m.bytes()
}

const lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et " +
	"dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo " +
	"consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. " +
	"Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.\r\n" +
	"Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem aperiam, " +
	"eaque ipsa quae ab illo inventore veritatis et quasi architecto beatae vitae dicta sunt explicabo.\r\n"

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
