package imapd_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/store"
)

// benchMessages is how many messages the benchmarks' database holds.
const benchMessages = 100_000

// benchVersion names the cached benchmark database; change it when what seed stores changes.
const benchVersion = "v2" // bump when the seeded content or the store's on-disk format changes

// benchStore opens the benchmark database: 100,000 messages, seeded once (with concurrent
// store.Add calls) and cached under os.TempDir() so that later runs reuse it. The benchmarks only
// read it.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("letterbox-imapd-bench-%s-%d.db", benchVersion, benchMessages))
	if _, err := os.Stat(path); err != nil {
		seed(b, path)
	}
	st, err := store.Open(context.Background(), store.Options{Path: path, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	stats, err := st.Stats(context.Background())
	if err != nil || stats.Total != benchMessages {
		b.Fatalf("benchmark database %s has %d messages (%v); remove it to seed it again", path, stats.Total, err)
	}
	return st
}

// seed fills a new database at path, built under a temporary name and renamed when complete.
func seed(b *testing.B, path string) {
	start := time.Now()
	tmp := path + ".seeding"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(tmp + suffix)
	}
	st, err := store.Open(context.Background(), store.Options{Path: tmp, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > benchMessages {
					return
				}
				env := store.Envelope{MailFrom: "orders@shop.example", Recipients: []string{fmt.Sprintf("customer%d@example.org", i%500)},
					Received: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)}
				if _, err := st.Add(context.Background(), env, bytes.NewReader(benchMessage(i))); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(tmp + suffix)
	}
	b.Logf("seeded %d messages in %v", benchMessages, time.Since(start))
}

// benchMessage is a realistic 2 KB multipart/alternative message.
func benchMessage(i int) []byte {
	para := "Thank you for your order. Your items will ship soon and you can track them from your account. "
	return []byte(fmt.Sprintf("From: Shop <orders@shop.example>\r\nTo: Customer %d <customer%d@example.org>\r\n"+
		"Subject: Your order #%d has shipped\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <order-%d@shop.example>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"+
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>%s</p>\r\n--b1--\r\n",
		i%500, i%500, i, i, strings.Repeat(para, 8), strings.Repeat(para, 8)))
}

// BenchmarkSelect measures SELECT INBOX of 100,000 messages. "store-index": the store read a
// mailbox load makes; "cold": SELECT right after the server starts, which waits for that load
// (Serve starts it); "cached": any later SELECT, the mailbox staying loaded (and kept current by
// the store's events) after the last session left it; "shared": while another session has it
// selected.
func BenchmarkSelect(b *testing.B) {
	st := benchStore(b)
	selectInbox := func(b *testing.B, c *imapclient.Client) {
		d, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			b.Fatal(err)
		}
		if d.NumMessages != benchMessages {
			b.Fatalf("SELECT found %d messages", d.NumMessages)
		}
	}
	b.Run("store-index", func(b *testing.B) { // what a cold SELECT spends in the store
		cpu0 := processCPU()
		for b.Loop() {
			list, err := st.Index(context.Background(), store.Filter{})
			if err != nil || len(list) != benchMessages {
				b.Fatalf("Index: %d, %v", len(list), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/index")
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/index")
	})
	b.Run("cold", func(b *testing.B) {
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			srv, err := imapd.New(imapd.Options{Store: st, Logger: testLogger(b)})
			if err != nil {
				b.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(l)
			c, err := imapclient.DialInsecure(l.Addr().String(), nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Login("me", "secret").Wait(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			cpu0 := processCPU()
			selectInbox(b, c)
			cpu += processCPU() - cpu0
			b.StopTimer()
			c.Close()
			srv.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/select")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/select")
	})
	_, addr := startServer(b, imapd.Options{Store: st})
	for _, mode := range []string{"cached", "shared"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "shared" {
				holder := dial(b, addr, "holder", nil)
				selectInbox(b, holder)
			}
			c := dial(b, addr, "me", nil)
			selectInbox(b, c) // loads the mailbox when nobody had
			if err := c.Unselect().Wait(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				selectInbox(b, c)
				b.StopTimer()
				if err := c.Unselect().Wait(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/select")
		})
	}
}

// BenchmarkUIDFetchEnvelopes measures UID FETCH of 1,000 ENVELOPEs (a client's first page) out
// of 100,000 messages.
func BenchmarkUIDFetchEnvelopes(b *testing.B) {
	st := benchStore(b)
	_, addr := startServer(b, imapd.Options{Store: st})
	c := dial(b, addr, "me", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	start := imap.UID(50_000)
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		msgs, err := c.Fetch(imap.UIDSet{{Start: start, Stop: start + 999}}, &imap.FetchOptions{UID: true, Envelope: true, Flags: true, RFC822Size: true}).Collect()
		if err != nil {
			b.Fatal(err)
		}
		if len(msgs) != 1000 || msgs[0].Envelope == nil || !strings.HasPrefix(msgs[0].Envelope.Subject, "Your order") {
			b.Fatalf("UID FETCH returned %d messages", len(msgs))
		}
		start += 1000
		if start > benchMessages-1000 {
			start = 1
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/1000-envelopes")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/1000-envelopes")
}

// BenchmarkSearch measures UID SEARCH over 100,000 messages: a selective text key, and an OR of
// two keys (two store searches, united in Go) with NOT SEEN.
func BenchmarkSearch(b *testing.B) {
	st := benchStore(b)
	_, addr := startServer(b, imapd.Options{Store: st})
	c := dial(b, addr, "me", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	hdr := func(k, v string) []imap.SearchCriteriaHeaderField {
		return []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}
	}
	for _, bc := range []struct {
		name string
		c    imap.SearchCriteria
		min  int
	}{
		{"subject", imap.SearchCriteria{Header: hdr("Subject", "order #54321")}, 1},
		{"or-not-seen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen},
			Or: [][2]imap.SearchCriteria{{{Header: hdr("Subject", "order #54321")}, {Header: hdr("To", "customer12@example.org")}}}}, 200},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				crit := bc.c
				res, err := c.UIDSearch(&crit, nil).Wait()
				if err != nil {
					b.Fatal(err)
				}
				if n := len(res.AllUIDs()); n < bc.min {
					b.Fatalf("%d results, want at least %d", n, bc.min)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/search")
		})
	}
}

// BenchmarkIdleConnectionMemory measures the server's memory per idle connection: 200 clients
// (in a child process, so that their memory is not counted) log in, SELECT the 100,000-message
// INBOX and IDLE. The figure is heap plus goroutine stacks after GC, divided by the connections.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	const conns = 200
	st := benchStore(b)
	_, addr := startServer(b, imapd.Options{Store: st})
	for b.Loop() {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), "IMAPD_BENCH_CLIENTS="+addr)
		stdin, _ := child.StdinPipe()
		stdout, _ := child.StdoutPipe()
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		out := bufio.NewReader(stdout)
		ask := func(n int) {
			fmt.Fprintf(stdin, "%d\n", n)
			line, err := out.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "ok" {
				b.Fatalf("client process: %q, %v", line, err)
			}
		}
		ask(1) // the first connection loads the shared mailbox; it is not counted
		before := liveBytes()
		ask(conns)
		after := liveBytes()
		stdin.Close()
		child.Wait()
		b.ReportMetric(float64(after-before)/conns, "bytes/idle-conn")
	}
}

// processCPU returns the user and system CPU time this process has used: on a shared machine it
// says more than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveBytes is the heap in use plus goroutine stacks, after a collection.
func liveBytes() uint64 {
	var m runtime.MemStats
	for i := 0; i < 2; i++ {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// TestMain turns the test binary into the idle-client process of BenchmarkIdleConnectionMemory
// when IMAPD_BENCH_CLIENTS is set.
func TestMain(m *testing.M) {
	if addr := os.Getenv("IMAPD_BENCH_CLIENTS"); addr != "" {
		if err := idleClients(addr, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// idleClients reads numbers from in; for each it opens that many connections that log in,
// select INBOX and IDLE, then answers "ok". It keeps them until in ends.
func idleClients(addr string, in io.Reader, out io.Writer) error {
	var held []net.Conn
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			held = append(held, c)
			r := bufio.NewReader(c)
			if _, err := r.ReadString('\n'); err != nil { // greeting
				return err
			}
			fmt.Fprintf(c, "a LOGIN idler secret\r\nb SELECT INBOX\r\nc IDLE\r\n")
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
				if strings.HasPrefix(line, "+ ") {
					break
				}
				if strings.HasPrefix(line, "a NO") || strings.HasPrefix(line, "b NO") || strings.HasPrefix(line, "c BAD") {
					return fmt.Errorf("connection %d: %s", i, line)
				}
			}
		}
		fmt.Fprintln(out, "ok")
	}
	for _, c := range held {
		c.Close()
	}
	return sc.Err()
}
