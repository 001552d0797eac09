package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
)

// childEnv makes the test binary run the letterbox command (TestMain), so that a test can start
// real letterbox processes, and kill them.
const childEnv = "LETTERBOX_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// process is a letterbox process the test started.
type process struct {
	cmd   *exec.Cmd
	addrs map[string]string
	log   *watchedLog // its stderr
}

// startProcess starts letterbox in a process of its own with args, on loopback port 0 for every
// listener, and waits for its addresses.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	args = append([]string{"--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--pop3", "127.0.0.1:0", "--imap", "127.0.0.1:0"}, args...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1", "GOGC=400")
	wl := &watchedLog{t: t, changed: make(chan struct{})}
	cmd.Stderr = wl
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, addrs: map[string]string{}, log: wl}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("letterbox exited before it was ready")
			}
			if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(line, "  ") {
				p.addrs[f[0]] = strings.TrimPrefix(f[1], "http://")
			}
			if strings.HasPrefix(line, "ready") {
				go func() {
					for range lines {
					}
				}()
				return p
			}
		case <-deadline:
			t.Fatal("letterbox was not ready within 30s")
		}
	}
}

// deliver sends one message over SMTP and returns the ID from the 250 reply ("queued as ID").
func deliver(addr, subject string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tc := textproto.NewConn(c)
	expect := func(code int) (string, error) {
		_, msg, err := tc.ReadResponse(code)
		return msg, err
	}
	if _, err := expect(220); err != nil {
		return "", err
	}
	for _, step := range []struct {
		cmd  string
		code int
	}{{"HELO client.test", 250}, {"MAIL FROM:<app@example.com>", 250}, {"RCPT TO:<dev@example.com>", 250}, {"DATA", 354}} {
		if err := tc.PrintfLine("%s", step.cmd); err != nil {
			return "", err
		}
		if _, err := expect(step.code); err != nil {
			return "", err
		}
	}
	w := tc.DotWriter()
	fmt.Fprintf(w, "From: app@example.com\r\nTo: dev@example.com\r\nSubject: %s\r\n\r\nHello from process A.\r\n", subject)
	if err := w.Close(); err != nil {
		return "", err
	}
	msg, err := expect(250)
	if err != nil {
		return "", err
	}
	_, id, ok := strings.Cut(msg, "queued as ")
	if !ok {
		return "", fmt.Errorf("no ID in %q", msg)
	}
	tc.PrintfLine("QUIT")
	return strings.TrimSpace(id), nil
}

// TestTwoProcessesShareOneDatabase starts two letterbox processes on one PostgreSQL database:
// mail sent over SMTP to A reaches B's websocket, /api/v1/wait, IMAP IDLE, POP3 and API; read
// state and deletes made in one reach the other.
func TestTwoProcessesShareOneDatabase(t *testing.T) {
	url := pgtest.Database(t)
	a := startProcess(t, "--db", url)
	b := startProcess(t, "--db", url)

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+b.addrs["http"]+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	frames := make(chan map[string]any, 64)
	go func() {
		for {
			var f map[string]any
			if err := ws.ReadJSON(&f); err != nil {
				close(frames)
				return
			}
			frames <- f
		}
	}()
	waitFor := func(typ string) map[string]any {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case f, ok := <-frames:
				if !ok {
					t.Fatalf("websocket closed waiting for %q", typ)
				}
				if f["Type"] == typ {
					return f
				}
			case <-timeout:
				t.Fatalf("no %q websocket event from B within 10s", typ)
			}
		}
	}
	waitFor("stats")

	imap := dialText(t, b.addrs["imap"])
	imap.expect("* OK")
	imap.send("a LOGIN dev@example.com x")
	imap.expectTagged("a OK")
	imap.send("b SELECT INBOX")
	imap.expectTagged("b OK")
	imap.send("c IDLE")
	imap.expect("+")

	type waitResult struct {
		body string
		err  error
		at   time.Time
	}
	waited := make(chan waitResult, 1)
	go func() {
		res, err := http.Get("http://" + b.addrs["http"] + "/api/v1/wait?query=subject:crossing&timeout=20s")
		if err != nil {
			waited <- waitResult{err: err}
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		waited <- waitResult{body: fmt.Sprintf("%d %s", res.StatusCode, body), at: time.Now()}
	}()
	// The wait request is registered before the mail is sent.
	waitActive(t, b.addrs["http"])

	id, err := deliver(a.addrs["smtp"], "crossing")
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	f := waitFor("new")
	if data, _ := f["Data"].(map[string]any); data["ID"] != id {
		t.Fatalf("B's websocket announced %v, want %s", f["Data"], id)
	}
	t.Logf("websocket of B: %v after A's 250", time.Since(sent))
	if line := imap.expect("* "); !strings.Contains(line, "EXISTS") {
		t.Fatalf("B's IMAP IDLE: %q, want EXISTS", line)
	}
	t.Logf("IMAP IDLE of B: %v after A's 250", time.Since(sent))
	w := <-waited
	if w.err != nil || !strings.HasPrefix(w.body, "200 ") || !strings.Contains(w.body, id) {
		t.Fatalf("B's /api/v1/wait: %q %v", w.body, w.err)
	}
	imap.send("DONE")
	imap.expectTagged("c OK")

	pop := dialText(t, b.addrs["pop3"])
	pop.expect("+OK")
	pop.send("USER dev@example.com")
	pop.expect("+OK")
	pop.send("PASS x")
	pop.expect("+OK")
	pop.send("STAT")
	pop.expect("+OK 1 ")
	pop.send("QUIT")

	// The SMTP session's record, written by A, reaches B's websocket once it ended, and B's API.
	var session map[string]any
	for session == nil {
		data, _ := waitFor("session")["Data"].(map[string]any)
		if out, _ := data["Outcome"].(string); out != "" {
			session = data
		}
	}
	if session["Messages"] != 1.0 || session["Helo"] != "client.test" {
		t.Fatalf("B's session event: %v", session)
	}
	res, err := http.Get("http://" + b.addrs["http"] + "/api/v1/session/" + session["ID"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var detail struct {
		MessageIDs []string
		Transcript []struct{ Dir, Text string }
	}
	err = json.NewDecoder(res.Body).Decode(&detail)
	res.Body.Close()
	if err != nil || len(detail.MessageIDs) != 1 || detail.MessageIDs[0] != id || len(detail.Transcript) < 8 ||
		!strings.Contains(fmt.Sprint(detail.Transcript), "RCPT TO:<dev@example.com>") {
		t.Fatalf("B's /api/v1/session of A's session: %+v, %v", detail, err)
	}

	// Read state set through B reaches A's websocket; a delete through A reaches B's IMAP.
	wsA, _, err := websocket.DefaultDialer.Dial("ws://"+a.addrs["http"]+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wsA.Close()
	var stats map[string]any
	wsA.ReadJSON(&stats)
	req, _ := http.NewRequest("PUT", "http://"+b.addrs["http"]+"/api/v1/messages", strings.NewReader(`{"IDs":["`+id+`"],"Read":true}`))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("mark read through B: %v %v", res, err)
	}
	wsA.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f struct {
			Type string
			Data json.RawMessage
		}
		if err := wsA.ReadJSON(&f); err != nil {
			t.Fatalf("A's websocket: %v", err)
		}
		if f.Type == "update" {
			if !strings.Contains(string(f.Data), `"Read":true`) {
				t.Fatalf("A's update: %s", f.Data)
			}
			break
		}
	}
	imap.send("d IDLE")
	imap.expect("+")
	req, _ = http.NewRequest("DELETE", "http://"+a.addrs["http"]+"/api/v1/messages", strings.NewReader(`{"IDs":["`+id+`"]}`))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("delete through A: %v %v", res, err)
	}
	for { // the read flag set through B may be announced first
		line := imap.expect("* ")
		if strings.Contains(line, "EXPUNGE") {
			break
		}
		if !strings.Contains(line, "FETCH") {
			t.Fatalf("B's IMAP IDLE after a delete in A: %q", line)
		}
	}
	imap.send("DONE")
	imap.expectTagged("d OK")
}

// waitActive polls the process's /metrics until one /api/v1/wait request is waiting: a message
// committed after that is seen by the request (it lists, then waits on events).
func waitActive(t *testing.T, httpAddr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + httpAddr + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if strings.Contains(string(body), "letterbox_http_wait_requests 1") {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the wait request did not arrive within 5s")
}

// TestKillOneProcessUnderLoad sends mail from several clients to process A while B runs on the
// same database, kills A with SIGKILL mid-way, and checks through B that every message A
// acknowledged with 250 is stored, and that B takes mail on.
func TestKillOneProcessUnderLoad(t *testing.T) {
	url := pgtest.Database(t)
	a := startProcess(t, "--db", url, "--pop3", "off", "--imap", "off")
	b := startProcess(t, "--db", url, "--pop3", "off", "--imap", "off")

	var mu sync.Mutex
	var acked []string
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 2000; i++ {
				id, err := deliver(a.addrs["smtp"], fmt.Sprintf("load %d-%d", c, i))
				if err != nil {
					return // A is gone (or refused): nothing was acknowledged
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages acknowledged in 30s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := a.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no flush
		t.Fatal(err)
	}
	wg.Wait()
	stop()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d messages acknowledged before the kill", len(acked))
	for _, id := range acked {
		res, err := http.Get("http://" + b.addrs["http"] + "/api/v1/message/" + id + "/headers")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("message %s was acknowledged by A but B answers %d", id, res.StatusCode)
		}
	}
	if _, err := deliver(b.addrs["smtp"], "after the kill"); err != nil {
		t.Fatalf("B after A's death: %v", err)
	}
}

// watchedLog is a process's stderr: sent to t.Log, and kept, so that a test can wait for a line.
type watchedLog struct {
	t       *testing.T
	mu      sync.Mutex
	text    strings.Builder
	changed chan struct{} // closed and replaced at every write
}

func (w *watchedLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text.Write(p)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

// waitFor waits until the log has had n lines containing s since the start.
func (w *watchedLog) waitFor(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		w.mu.Lock()
		got, ch := strings.Count(w.text.String(), s), w.changed
		w.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("the log did not say %q %d times within 20s", s, n)
		}
	}
}
