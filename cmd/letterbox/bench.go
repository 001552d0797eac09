package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
)

// runBench sends messages over SMTP from concurrent clients and reports throughput and latency.
// Without --target it starts its own catcher (durable store in a temporary directory) in this
// process and also reports the process's CPU time per message. "bench fill" is runBenchFill.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "fill" {
		return runBenchFill(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("letterbox bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "SMTP address of a running catcher to measure (default: start one in this process)")
	clients := fs.Int("clients", 16, "concurrent SMTP connections")
	total := fs.Int("messages", 20000, "messages to send in all")
	loadName := fs.String("load", "mix", "messages to send: "+strings.Join(realmail.Loads, ", ")+" (see internal/realmail)")
	size := fs.Int("size", 0, "send the realistic mix at about this many bytes a message instead of --load")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clients < 1 || *total < 1 || *size < 0 || *size > 0 && *size < 512 {
		return fmt.Errorf("--clients and --messages must be positive and --size at least 512")
	}
	load, err := benchLoad(*loadName, *size)
	if err != nil {
		return err
	}
	addr := *target
	var usage func() time.Duration
	var st *store.Store
	if addr == "" {
		dir, err := os.MkdirTemp("", "letterbox-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		st, err = store.Open(ctx, store.Options{Path: filepath.Join(dir, "bench.db"), Logger: log})
		if err != nil {
			return err
		}
		defer st.Close()
		srv, err := smtpd.New(st, smtpd.Options{Hostname: "bench.local", Logger: log})
		if err != nil {
			return err
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go srv.Serve(l)
		defer srv.Close()
		addr = l.Addr().String()
		usage = processCPU
		fmt.Fprintf(stdout, "catcher: letterbox in this process, database in %s (synchronous=FULL)\n", dir)
	} else {
		fmt.Fprintf(stdout, "catcher: %s\n", addr)
	}
	// Generated before the clock starts (up to 256 MB of them, cycled beyond), so that the
	// process's CPU is the catcher's and the clients' SMTP work, not the generator's.
	pool := realmail.NewPool(load, *total, 256<<20)
	fmt.Fprintf(stdout, "sending %d messages (%s, %d bytes on average) over %d connections\n", *total, loadLabel(*loadName, *size), pool.MeanSize(), *clients)

	var next atomic.Int64
	latencies := make([][]time.Duration, *clients)
	errs := make(chan error, *clients)
	var cpu0 time.Duration
	if usage != nil {
		cpu0 = usage()
	}
	var stats0 store.Stats
	if st != nil {
		var err error
		if stats0, err = st.Stats(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := smtp.Dial(addr)
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			if err := cl.Hello("bench.client"); err != nil {
				errs <- err
				return
			}
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(*total) {
					break
				}
				t0 := time.Now()
				if err := sendOne(cl, pool.At(int(i)-1)); err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
				latencies[c] = append(latencies[c], time.Since(t0))
			}
			cl.Quit()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return err
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 {
		return fmt.Errorf("no message was sent")
	}
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	fmt.Fprintf(stdout, "sent %d in %s: %.0f messages/s\n", len(all), elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds())
	fmt.Fprintf(stdout, "latency per message (MAIL to 250 after DATA): p50 %s  p90 %s  p99 %s  max %s\n",
		pct(0.50).Round(time.Microsecond), pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), all[len(all)-1].Round(time.Microsecond))
	if usage != nil {
		cpu := usage() - cpu0
		fmt.Fprintf(stdout, "process CPU (catcher and clients): %s, %.3f ms per message\n", cpu.Round(time.Millisecond), float64(cpu.Microseconds())/1000/float64(len(all)))
	}
	if st != nil {
		stats, err := st.Stats(ctx)
		if err != nil {
			return err
		}
		commits := stats.Commits - stats0.Commits
		fmt.Fprintf(stdout, "group commit: %d transactions, %.1f messages each\n", commits, float64(stats.Writes-stats0.Writes)/float64(max(commits, 1)))
	}
	return nil
}

// sendOne sends one message on an open connection.
func sendOne(cl *smtp.Client, m realmail.Message) error {
	if err := cl.Mail(m.From, nil); err != nil {
		return err
	}
	for _, to := range m.To {
		if err := cl.Rcpt(to, nil); err != nil {
			return err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(m.Raw); err != nil {
		return err
	}
	return w.Close()
}

// benchLoad returns the messages bench sends: the named load, or with size the mix at that size.
func benchLoad(name string, size int) (func(int) realmail.Message, error) {
	if size > 0 {
		return realmail.New(realmail.Options{Size: size}).Message, nil
	}
	return realmail.Load(name)
}

func loadLabel(name string, size int) string {
	if size > 0 {
		return fmt.Sprintf("the realistic mix at about %d bytes", size)
	}
	return "load " + name
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
