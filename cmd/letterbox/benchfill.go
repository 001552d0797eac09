package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/letterbox-mail/letterbox/internal/realmail"
)

// runBenchFill fills a catcher, run as a child process of its own, with the realistic mix (or the
// mix at one size) and reports what the issue of speed on real mail is judged by: the fill rate by tenths (with the
// server's CPU a message and latency), the peak and idle memory after the fill and after a
// restart, the time of a to: search and a word search that each match one message in twenty,
// and the database's size a message.
func runBenchFill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("letterbox bench fill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	total := fs.Int("messages", 100000, "messages to fill the catcher with (a multiple of 10)")
	clients := fs.Int("clients", 16, "concurrent SMTP connections")
	idle := fs.Duration("idle", 10*time.Second, "how long the catcher idles before its memory is read")
	loadName := fs.String("load", "mix", "messages to fill with: mix (natural sizes), 4k or 100k (the mix at about that size)")
	size := fs.Int("size", 0, "fill with the realistic mix at about this many bytes a message instead of --load")
	dir := fs.String("dir", "", "directory for the database (default: a temporary one, removed afterwards)")
	server := fs.String("server", "", "command line of the catcher to measure, with {db}, {smtp} and {http} for its database\n"+
		"file and listen addresses (default: this letterbox)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *total < 10 || *total%10 != 0 || *clients < 1 {
		return errors.New("--messages must be a positive multiple of 10 and --clients positive")
	}
	msgSize, label, err := fillSize(*loadName, *size)
	if err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "letterbox-fill-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	f := &filler{stdout: stdout, stderr: stderr, db: filepath.Join(*dir, "fill.db"), command: *server, idle: *idle}

	// The messages are generated first, so that the fill measures the catcher, not the generator.
	// Twenty recipients: each address, and each sending org's name, is in one message in twenty.
	fmt.Fprintf(stdout, "generating %d messages of %s...\n", *total, label)
	g := realmail.New(realmail.Options{Recipients: len(realmail.Orgs()), Size: msgSize})
	msgs := make([]realmail.Message, *total)
	var wg sync.WaitGroup
	var bytes atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < *total; i += 2 {
				msgs[i] = g.Message(i)
				bytes.Add(int64(len(msgs[i].Raw)))
			}
		})
	}
	wg.Wait()
	fmt.Fprintf(stdout, "%d messages, %d bytes on average; %d clients\n", *total, bytes.Load()/int64(*total), *clients)

	if err := f.start(ctx); err != nil {
		return err
	}
	defer f.stop()
	if err := f.fill(ctx, msgs, *clients); err != nil {
		return err
	}
	org := realmail.Orgs()[3]
	searches := []string{"to:customer7@example.com", org}
	if err := f.settle(ctx, "after the fill", searches); err != nil {
		return err
	}
	if err := f.stop(); err != nil {
		return err
	}
	if st, err := os.Stat(f.db); err == nil {
		wal, _ := os.Stat(f.db + "-wal")
		size := st.Size()
		if wal != nil {
			size += wal.Size()
		}
		fmt.Fprintf(stdout, "database: %d bytes after a clean stop, %d bytes a message (raw mail: %d)\n", size, size/int64(*total), bytes.Load()/int64(*total))
		if free, ok := sqliteFreeBytes(f.db); ok {
			fmt.Fprintf(stdout, "database: %d bytes of it in free pages, %d bytes a message in use\n", free, (size-free)/int64(*total))
		}
	}
	if err := f.start(ctx); err != nil {
		return err
	}
	return f.settle(ctx, "after a restart", searches)
}

// fillSize returns the message size a fill's generator is given for a load name or an explicit
// size (0: the natural mix), and how to describe it. Only the mix's loads fill: the lorem load
// sends every message to one address, so its searches would match them all.
func fillSize(load string, size int) (int, string, error) {
	if size < 0 || size > 0 && size < 512 {
		return 0, "", errors.New("--size must be at least 512")
	}
	if size > 0 {
		return size, fmt.Sprintf("the realistic mix at about %d bytes", size), nil
	}
	switch load {
	case "mix":
		return 0, "the realistic mix", nil
	case "4k":
		return 4 << 10, "the realistic mix at about 4 KB (load 4k)", nil
	case "100k":
		return 100 << 10, "the realistic mix at about 100 KB (load 100k)", nil
	}
	return 0, "", fmt.Errorf("--load %q: bench fill has mix, 4k and 100k", load)
}

// sqliteFreeBytes reads from an SQLite database file's header how many bytes its free pages
// hold (pages a delete or an index merge released, which the file keeps for later writes).
func sqliteFreeBytes(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:16]) != "SQLite format 3\x00" {
		return 0, false
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	return int64(binary.BigEndian.Uint32(h[36:40])) * pageSize, true
}

// filler runs the catcher under measurement.
type filler struct {
	stdout, stderr io.Writer
	db, command    string
	idle           time.Duration

	cmd        *exec.Cmd
	log        *tail
	smtp, http string
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// start runs the catcher and waits until it answers.
func (f *filler) start(ctx context.Context) error {
	var args []string
	if f.command == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		args = []string{exe, "--db", f.db, "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--pop3", "off", "--imap", "off"}
	} else {
		smtpAddr, err := freeAddr()
		if err != nil {
			return err
		}
		httpAddr, err := freeAddr()
		if err != nil {
			return err
		}
		f.smtp, f.http = smtpAddr, httpAddr
		args = strings.Fields(strings.NewReplacer("{db}", f.db, "{smtp}", smtpAddr, "{http}", httpAddr).Replace(f.command))
	}
	f.cmd = exec.CommandContext(ctx, args[0], args[1:]...)
	// Its configuration is the command line's alone (LETTERBOX_TEST_* let tests run it).
	f.cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "LETTERBOX_") && !strings.HasPrefix(kv, "LETTERBOX_TEST_")
	})
	f.log = &tail{max: 8 << 10}
	f.cmd.Stderr = f.log // its log, of which the end is shown if it fails
	out, err := f.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := f.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", args[0], err)
	}
	lines := bufio.NewScanner(out)
	if f.command == "" {
		// letterbox prints its addresses, then a line starting "ready".
		for lines.Scan() {
			if fields := strings.Fields(lines.Text()); len(fields) == 2 {
				switch fields[0] {
				case "smtp":
					f.smtp = fields[1]
				case "http":
					f.http = strings.TrimPrefix(fields[1], "http://")
				}
			}
			if strings.HasPrefix(lines.Text(), "ready") {
				break
			}
		}
	}
	go io.Copy(io.Discard, out)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + f.http + "/api/v1/messages?limit=1"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the catcher did not answer within 30s; its log ends:\n%s", f.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the catcher with SIGTERM and waits for it (a clean shutdown).
func (f *filler) stop() error {
	if f.cmd == nil || f.cmd.Process == nil {
		return nil
	}
	cmd := f.cmd
	f.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("catcher: %w; its log ends:\n%s", err, f.log)
	}
	return nil
}

// fill sends msgs over clients connections and prints each tenth's figures.
func (f *filler) fill(ctx context.Context, msgs []realmail.Message, clients int) error {
	tenth := len(msgs) / 10
	conns := make([]*smtp.Client, clients)
	for i := range conns {
		c, err := smtp.Dial(f.smtp)
		if err == nil {
			err = c.Hello("fill.client")
		}
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		conns[i] = c
		defer c.Close()
	}
	fmt.Fprintf(f.stdout, "%-16s %9s %11s %9s %9s\n", "messages", "msgs/s", "server CPU", "p50", "p99")
	var first, last float64
	start := time.Now()
	cpuStart := procCPU(f.cmd.Process.Pid)
	for part := range 10 {
		var next atomic.Int64
		latencies := make([][]time.Duration, clients)
		errs := make(chan error, clients)
		t0, cpu0 := time.Now(), procCPU(f.cmd.Process.Pid)
		var wg sync.WaitGroup
		for c, cl := range conns {
			wg.Go(func() {
				for ctx.Err() == nil {
					i := int(next.Add(1)) - 1
					if i >= tenth {
						return
					}
					s := time.Now()
					if err := sendOne(cl, msgs[part*tenth+i]); err != nil {
						errs <- fmt.Errorf("message %d: %w", part*tenth+i, err)
						return
					}
					latencies[c] = append(latencies[c], time.Since(s))
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		elapsed, cpu := time.Since(t0), procCPU(f.cmd.Process.Pid)-cpu0
		all := slices.Concat(latencies...)
		slices.Sort(all)
		rate := float64(tenth) / elapsed.Seconds()
		if part == 0 {
			first = rate
		}
		last = rate
		fmt.Fprintf(f.stdout, "%7d-%-8d %9.0f %8.3f ms %9s %9s\n", part*tenth+1, (part+1)*tenth, rate,
			float64(cpu.Microseconds())/1000/float64(tenth), all[len(all)/2].Round(10*time.Microsecond), all[len(all)*99/100].Round(10*time.Microsecond))
	}
	elapsed := time.Since(start)
	cpu := procCPU(f.cmd.Process.Pid) - cpuStart
	fmt.Fprintf(f.stdout, "fill: %d messages in %s, %.0f msgs/s, %.3f ms server CPU a message; last tenth at %.0f%% of the first's rate\n",
		len(msgs), elapsed.Round(time.Millisecond), float64(len(msgs))/elapsed.Seconds(), float64(cpu.Microseconds())/1000/float64(len(msgs)), last*100/first)
	for _, c := range conns {
		c.Quit()
	}
	return nil
}

// settle lets the catcher idle, reports its memory, runs the searches and reports their times
// and the memory after them.
func (f *filler) settle(ctx context.Context, when string, searches []string) error {
	pid := f.cmd.Process.Pid
	select {
	case <-time.After(f.idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	rss, hwm := procMemory(pid)
	fmt.Fprintf(f.stdout, "%s: idle RSS %.1f MB after %s (peak %.1f MB)\n", when, rss, f.idle, hwm)
	for _, q := range searches {
		var times []time.Duration
		matches := -1
		for range 21 {
			t0 := time.Now()
			n, err := f.search(q)
			if err != nil {
				return err
			}
			times = append(times, time.Since(t0))
			matches = n
		}
		firstRun := times[0]
		slices.Sort(times)
		fmt.Fprintf(f.stdout, "%s: search %-26q %5d matches: first %s, p50 %s, max %s\n", when, q, matches,
			firstRun.Round(10*time.Microsecond), times[len(times)/2].Round(10*time.Microsecond), times[len(times)-1].Round(10*time.Microsecond))
	}
	rss, _ = procMemory(pid)
	fmt.Fprintf(f.stdout, "%s: RSS %.1f MB after the searches\n", when, rss)
	return nil
}

// search runs one API search for a page of 50 and returns the number of matches.
func (f *filler) search(q string) (int, error) {
	resp, err := http.Get("http://" + f.http + "/api/v1/search?limit=50&query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var res struct {
		MessagesCount int `json:"messages_count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		return 0, fmt.Errorf("search %q: status %d, %v", q, resp.StatusCode, err)
	}
	return res.MessagesCount, nil
}

// procCPU returns the user and system CPU time process pid has used (Linux).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// procMemory returns process pid's resident and peak resident memory in MB (Linux).
func procMemory(pid int) (rss, peak float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "VmRSS:":
				rss = kb / 1024
			case "VmHWM:":
				peak = kb / 1024
			}
		}
	}
	return rss, peak
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
