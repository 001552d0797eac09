package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
)

// Environment of the helper process (the test binary run again by TestDurabilityKill and
// BenchmarkSMTPIngest).
const (
	helperEnv      = "LETTERBOX_SMTPD_HELPER"      // "serve" or "load"
	helperDB       = "LETTERBOX_SMTPD_DB"          // serve: database path
	helperAddr     = "LETTERBOX_SMTPD_ADDR"        // load: server address
	helperCount    = "LETTERBOX_SMTPD_COUNT"       // load: messages to send
	helperConns    = "LETTERBOX_SMTPD_CONNS"       // load: concurrent connections
	helperLoadName = "LETTERBOX_SMTPD_LOAD"        // load: which internal/realmail load (default mix)
	helperPerMsg   = "LETTERBOX_SMTPD_PER_MESSAGE" // load: "1" sends each message on a connection of its own
)

// TestHelperProcess is not a test: run as a child process it either serves SMTP over a store
// until killed ("serve"), or sends a load to a server ("load"). See helperCommand.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "serve":
		os.Exit(helperServe())
	case "load":
		os.Exit(helperLoad())
	}
}

// helperCommand starts the test binary as a helper of the given mode and returns it with its
// standard input and output. The process is killed when the test ends.
func helperCommand(t testing.TB, mode string, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, stdin, bufio.NewReader(stdout)
}

// readHelperLine reads one line the helper prints, failing after a deadline.
func readHelperLine(t testing.TB, r *bufio.Reader) string {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		s, _ := r.ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		return s
	case <-time.After(5 * time.Minute):
		t.Fatal("helper process printed nothing")
		return ""
	}
}

// helperServe opens the store at $LETTERBOX_SMTPD_DB with its default (durable) settings, serves
// SMTP on 127.0.0.1:0 and prints "ADDR <address>".
func helperServe() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.Open(context.Background(), store.Options{Path: os.Getenv(helperDB), Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, err := New(st, Options{Hostname: "child.test", Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", l.Addr())
	if err := srv.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return 1
}

// TestDurabilityKill kills a server process with SIGKILL while several clients send to it, then
// checks that every message acknowledged with 250 is in the database, byte for byte.
func TestDurabilityKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	db := filepath.Join(t.TempDir(), "kill.db")
	cmd, _, out := helperCommand(t, "serve", helperDB+"="+db)
	addr, ok := strings.CutPrefix(readHelperLine(t, out), "ADDR ")
	if !ok {
		t.Fatal("helper did not print its address")
	}

	const clients = 8
	killAt := 500 // acknowledged messages before the kill
	if raceEnabled {
		killAt = 150
	}
	var (
		mu     sync.Mutex
		acked  = map[string][]byte{} // ID -> the exact bytes sent
		count  atomic.Int64
		enough = make(chan struct{})
		once   sync.Once
		killed atomic.Bool
		wg     sync.WaitGroup
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := sendUntilFailure(addr, i, func(id string, msg []byte) {
				mu.Lock()
				acked[id] = msg
				mu.Unlock()
				if count.Add(1) >= int64(killAt) {
					once.Do(func() { close(enough) })
				}
			})
			if !killed.Load() {
				t.Errorf("client %d failed before the kill: %v", i, err)
				once.Do(func() { close(enough) })
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(5 * time.Minute):
		t.Fatal("load did not reach the kill point")
	}
	killed.Store(true)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()

	st, err := store.Open(context.Background(), store.Options{Path: db, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("reopening after SIGKILL: %v", err)
	}
	defer st.Close()
	mu.Lock()
	defer mu.Unlock()
	for id, msg := range acked {
		raw, err := st.Raw(context.Background(), id)
		if err != nil {
			t.Errorf("acknowledged message %s lost: %v", id, err)
			break
		}
		if !bytes.HasSuffix(raw, msg) {
			t.Errorf("acknowledged message %s damaged: stored %d bytes", id, len(raw))
			break
		}
		m, err := st.Message(context.Background(), id)
		if err != nil {
			t.Errorf("message %s: %v", id, err)
		} else if want := msg[bytes.Index(msg, []byte("\r\n\r\n"))+4:]; normalize(m.Text) != normalize(string(want)) {
			t.Errorf("message %s: parsed text differs from the body sent:\n%q\nwant\n%q", id, m.Text, want)
		}
		if t.Failed() {
			break // one damaged message says enough
		}
	}
	stats, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages acknowledged before SIGKILL, all present; %d in the database", len(acked), stats.Total)
	if len(acked) < killAt {
		t.Errorf("only %d messages acknowledged", len(acked))
	}
}

// sendUntilFailure sends messages on one connection until an error, calling ack for each 250.
func sendUntilFailure(addr string, client int, ack func(id string, msg []byte)) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	text := textproto.NewConn(conn)
	if _, _, err := text.ReadResponse(220); err != nil {
		return err
	}
	if err := sendCmd(text, 250, "EHLO client%d.test", client); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(client), 1))
	for seq := 0; ; seq++ {
		body := randomLines(rng, 100+rng.IntN(8000))
		msg := fmt.Appendf(nil, "From: c%d@example.com\r\nTo: r@example.com\r\nSubject: durability %d/%d\r\n"+
			"Message-ID: <%d.%d@durability.test>\r\n\r\n%s", client, client, seq, client, seq, body)
		if err := sendCmd(text, 250, "MAIL FROM:<c%d@example.com>", client); err != nil {
			return err
		}
		if err := sendCmd(text, 250, "RCPT TO:<r@example.com>"); err != nil {
			return err
		}
		if err := sendCmd(text, 354, "DATA"); err != nil {
			return err
		}
		w := text.DotWriter()
		w.Write(msg)
		if err := w.Close(); err != nil {
			return err
		}
		_, reply, err := text.ReadResponse(250)
		if err != nil {
			return err
		}
		id, ok := strings.CutPrefix(reply, "2.0.0 Ok: queued as ")
		if !ok {
			return fmt.Errorf("unexpected reply %q", reply)
		}
		ack(id, msg)
	}
}

func sendCmd(text *textproto.Conn, code int, format string, args ...any) error {
	if err := text.PrintfLine(format, args...); err != nil {
		return err
	}
	_, _, err := text.ReadResponse(code)
	return err
}

// randomLines returns about n bytes of printable lines, CRLF-terminated, some starting with a dot.
func randomLines(rng *rand.Rand, n int) []byte {
	const chars = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?-"
	var b bytes.Buffer
	for b.Len() < n {
		line := 1 + rng.IntN(120)
		if rng.IntN(10) == 0 {
			b.WriteByte('.')
		}
		for range line {
			b.WriteByte(chars[rng.IntN(len(chars))])
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// helperLoad connects $LETTERBOX_SMTPD_CONNS clients to $LETTERBOX_SMTPD_ADDR, generates the
// messages of the load $LETTERBOX_SMTPD_LOAD (internal/realmail; up to 256 MB of them, cycled
// beyond), prints "READY", waits for a line on standard input, sends $LETTERBOX_SMTPD_COUNT
// messages over the connections, quits, and prints "DONE <failures>".
func helperLoad() int {
	addr := os.Getenv(helperAddr)
	total, _ := strconv.Atoi(os.Getenv(helperCount))
	conns, _ := strconv.Atoi(os.Getenv(helperConns))
	name := os.Getenv(helperLoadName)
	if name == "" {
		name = "mix"
	}
	load, err := realmail.Load(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pool := realmail.NewPool(load, total, 256<<20)
	if os.Getenv(helperPerMsg) == "1" {
		return helperLoadPerMessage(addr, total, conns, pool)
	}
	clients := make([]*smtp.Client, conns)
	for i := range clients {
		c, err := smtp.Dial(addr)
		if err == nil {
			err = c.Hello(fmt.Sprintf("bench%d.test", i))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		clients[i] = c
	}
	fmt.Println("READY")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return 1
	}
	var (
		next     atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(total) {
					break
				}
				m := pool.At(int(n) - 1)
				if err := c.SendMail(m.From, m.To, bytes.NewReader(m.Raw)); err != nil {
					if failures.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "send:", err)
					}
					c.Reset()
				}
			}
			c.Quit()
		}()
	}
	wg.Wait()
	fmt.Printf("DONE %d\n", failures.Load())
	return 0
}

// helperLoadPerMessage is helperLoad for applications that connect for each message: conns
// workers each dial, greet, send one message and QUIT, over and over.
func helperLoadPerMessage(addr string, total, conns int, pool *realmail.Pool) int {
	fmt.Println("READY")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return 1
	}
	var (
		next     atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(total) {
					break
				}
				m := pool.At(int(n) - 1)
				c, err := smtp.Dial(addr)
				if err == nil {
					err = c.Hello(fmt.Sprintf("bench%d.test", i))
				}
				if err == nil {
					err = c.SendMail(m.From, m.To, bytes.NewReader(m.Raw))
				}
				if err == nil {
					err = c.Quit()
				}
				if err != nil && failures.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "send:", err)
				}
				if c != nil {
					c.Close()
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("DONE %d\n", failures.Load())
	return 0
}

// normalize makes text comparable whatever line ends the parser produced.
func normalize(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}
