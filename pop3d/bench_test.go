package pop3d_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/pop3d"
	"github.com/letterbox-mail/letterbox/store"
)

const (
	benchMessages   = 100_000
	benchRecipients = 100 // user0@example.com … user99@example.com, 1,000 messages each
	benchVersion    = 2   // bump when the seeded content or the store's on-disk format changes
)

// benchStore opens a store holding benchMessages messages. The database is seeded once, with
// concurrent Add calls, and cached under os.TempDir() for later runs.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("letterbox-pop3d-bench-v%d-%d.db", benchVersion, benchMessages))
	if _, err := os.Stat(path); err != nil {
		seed(b, path)
	}
	st, err := store.Open(context.Background(), store.Options{Path: path, Hostname: "bench.test",
		Logger: slog.New(slog.NewTextHandler(testWriter{b}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// seed fills a new database next to path and renames it into place once complete.
func seed(b *testing.B, path string) {
	start := time.Now()
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	st, err := store.Open(context.Background(), store.Options{Path: tmp, Hostname: "bench.test",
		Logger: slog.New(slog.NewTextHandler(testWriter{b}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > benchMessages {
					return
				}
				rcpt := fmt.Sprintf("user%d@example.com", i%benchRecipients)
				raw := fmt.Sprintf("From: App <app@example.net>\r\nTo: %s\r\nSubject: Notification %d\r\n"+
					"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <n%d@example.net>\r\n\r\n%s",
					rcpt, i, i, strings.Repeat("Something happened in your account; here are the details.\r\n", 8))
				if _, err := st.Add(context.Background(), store.Envelope{MailFrom: "app@example.net", Recipients: []string{rcpt}},
					strings.NewReader(raw)); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("seed: %v", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(tmp + suffix); err == nil {
			if err := os.Rename(tmp+suffix, path+suffix); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d messages into %s in %v", benchMessages, path, time.Since(start).Round(time.Millisecond))
}

// BenchmarkLoginUIDL measures a POP3 session that logs in and lists every unique-id (what a
// client leaving mail on the server does at each check): for the whole store (100,000 messages)
// and for one recipient's maildrop (1,000 of them).
func BenchmarkLoginUIDL(b *testing.B) {
	st := benchStore(b)
	srv := start(b, st, pop3d.Options{Logger: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct {
		name, user string
		want       int
	}{
		{"all-100000", "all", benchMessages},
		{"recipient-1000", "user7@example.com", benchMessages / benchRecipients},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				if n := loginUIDL(b, srv.addr, tc.user); n != tc.want {
					b.Fatalf("UIDL listed %d messages, want %d", n, tc.want)
				}
			}
			// CPU time (server and client, both in this process) says what wall time hides when
			// other processes compete for the cores.
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
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

// loginUIDL runs USER, PASS, UIDL, QUIT on a new connection and returns the number of UIDL lines.
func loginUIDL(b *testing.B, addr, user string) int {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 64<<10)
	expect := func() {
		line, err := r.ReadSlice('\n')
		if err != nil || !bytes.HasPrefix(line, []byte("+OK")) {
			b.Fatalf("got %q, %v", line, err)
		}
	}
	expect()
	fmt.Fprintf(conn, "USER %s\r\nPASS x\r\nUIDL\r\n", user)
	expect()
	expect()
	expect()
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if string(line) == ".\r\n" {
			break
		}
		n++
	}
	fmt.Fprintf(conn, "QUIT\r\n")
	expect()
	return n
}
