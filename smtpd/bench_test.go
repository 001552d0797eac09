package smtpd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
)

// BenchmarkSMTPIngest measures letterbox end to end over loopback: 16 clients, each on its own
// persistent connection, send messages to a Server over a real, durable store, for each load of
// internal/realmail: mix (the realistic mix, the headline), 4k and 100k (the mix at those sizes,
// as ../shared/tools/smtpload sends) and lorem (the old repetitive message).
//
// The clients run in a child process (the test binary again, see helperLoad), which generates
// the messages before the timed section, so that the CPU this process uses is the server's alone:
// server-ms/msg is this process's user+system CPU (getrusage RUSAGE_SELF) over the timed section
// divided by the messages, client-ms/msg the child's. A CPU profile (-cpuprofile) likewise shows
// the server only. Like cmd/letterbox, the server side runs with GOGC=400 unless GOGC is set.
// LETTERBOX_BENCH_CLIENTS sets another number of clients; msgs/commit is the store's average batch.
func BenchmarkSMTPIngest(b *testing.B) {
	for _, name := range realmail.Loads {
		b.Run(name, func(b *testing.B) {
			st, err := store.Open(context.Background(), store.Options{
				Path:   filepath.Join(b.TempDir(), "bench.db"),
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			benchIngest(b, st, name)
		})
	}
}

// BenchmarkSMTPIngestDiscard is BenchmarkSMTPIngest with a Deliverer that reads and drops each
// message: the cost of the SMTP side alone (go-smtp and this package), the ceiling for the rest.
func BenchmarkSMTPIngestDiscard(b *testing.B) {
	for _, name := range realmail.Loads {
		b.Run(name, func(b *testing.B) {
			benchIngest(b, deliverFunc(func(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error) {
				_, err := io.Copy(io.Discard, raw)
				return store.Summary{ID: "discarded"}, err
			}), name)
		})
	}
}

// BenchmarkSMTPTranscripts is what recording the sessions costs: the mix load over a real store,
// with transcripts recorded and without (a Deliverer that hides the store's RecordSession), for
// clients on persistent connections (16, as BenchmarkSMTPIngest) and for clients that connect
// for each message (16 at a time), where every message has a session row and a record of its own.
func BenchmarkSMTPTranscripts(b *testing.B) {
	for _, mode := range []string{"persistent", "per-message"} {
		for _, rec := range []string{"recorded", "unrecorded"} {
			b.Run(mode+"/"+rec, func(b *testing.B) {
				st, err := store.Open(context.Background(), store.Options{
					Path:   filepath.Join(b.TempDir(), "bench.db"),
					Logger: slog.New(slog.DiscardHandler),
				})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				var d Deliverer = st
				if rec == "unrecorded" {
					d = unrecorded{st}
				}
				if mode == "per-message" {
					b.Setenv(helperPerMsg, "1")
				}
				benchIngest(b, d, "mix")
			})
		}
	}
}

// unrecorded is the store without its RecordSession: the server then records no sessions.
type unrecorded struct{ st *store.Store }

func (u unrecorded) Add(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error) {
	return u.st.Add(ctx, env, raw)
}

func (u unrecorded) Expect() (withdraw func()) { return u.st.Expect() }

func benchIngest(b *testing.B, d Deliverer, load string) {
	// Run with the garbage collector target cmd/letterbox sets, unless GOGC is given.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	srv, err := New(d, Options{Hostname: "bench.test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	clients := 16
	if v, _ := strconv.Atoi(os.Getenv("LETTERBOX_BENCH_CLIENTS")); v > 0 {
		clients = v
	}
	cmd, stdin, out := helperCommand(b, "load", helperAddr+"="+l.Addr().String(),
		helperCount+"="+strconv.Itoa(b.N), helperConns+"="+strconv.Itoa(clients), helperLoadName+"="+load)
	if line := readHelperLine(b, out); line != "READY" {
		b.Fatalf("load helper: %q", line)
	}
	before := srv.Stats()
	stats0, _ := storeStats(d)
	cpu0 := cpuTime(syscall.RUSAGE_SELF)
	b.ResetTimer()
	start := time.Now()
	fmt.Fprintln(stdin)
	done := readHelperLine(b, out)
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime(syscall.RUSAGE_SELF) - cpu0

	if done != "DONE 0" {
		b.Fatalf("load helper: %q", done)
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("load helper: %v", err)
	}
	if got := srv.Stats().SMTPAccepted - before.SMTPAccepted; got != int64(b.N) {
		b.Fatalf("%d messages accepted, want %d", got, b.N)
	}
	if stats1, ok := storeStats(d); ok {
		b.ReportMetric(float64(stats1.Writes-stats0.Writes)/float64(stats1.Commits-stats0.Commits), "msgs/commit")
	}
	clientCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/1000/n, "server-ms/msg")
	b.ReportMetric(float64(clientCPU.Microseconds())/1000/n, "client-ms/msg")
}

// storeStats returns the store's statistics when d is a store.
func storeStats(d Deliverer) (store.Stats, bool) {
	if u, ok := d.(unrecorded); ok {
		d = u.st
	}
	st, ok := d.(*store.Store)
	if !ok {
		return store.Stats{}, false
	}
	stats, err := st.Stats(context.Background())
	return stats, err == nil
}

// cpuTime returns the user and system CPU time used so far.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
