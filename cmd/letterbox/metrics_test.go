package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"
)

// scrape GETs /metrics with the given basic credentials ("" for none) and returns the status and
// the samples by name (with labels, as written).
func scrape(t *testing.T, addr, user, pass string) (int, map[string]float64, []string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return res.StatusCode, nil, nil
	}
	samples := map[string]float64{}
	var families []string
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			families = append(families, strings.Fields(f)[0])
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return res.StatusCode, samples, families
}

// waitSample polls /metrics until name has value want, or fails after a few seconds.
func waitSample(t *testing.T, addr, user, pass, name string, want float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, got, _ := scrape(t, addr, user, pass)
		if got[name] == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got[name], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	auth := filepath.Join(dir, "users")
	if err := os.WriteFile(auth, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs, cancel, done := startBinary(t, "--db", filepath.Join(dir, "m.db"), "--smtp", "127.0.0.1:0",
		"--http", "127.0.0.1:0", "--pop3", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--http-auth-file", auth, "--max-message-size", "4096")
	defer func() { cancel(); <-done }()
	web := addrs["http"]

	if code, _, _ := scrape(t, web, "", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without credentials: %d, want 401 (the API's authentication)", code)
	}
	code, before, families := scrape(t, web, "alice", "s3cret")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, f := range families {
		if !strings.HasPrefix(f, "letterbox_") {
			t.Errorf("family %s is not named letterbox_*", f)
		}
	}
	for _, name := range []string{"letterbox_database_up", "letterbox_messages", "letterbox_smtp_sessions_open",
		"letterbox_smtp_messages_accepted_total", `letterbox_clients{protocol="websocket"}`, `letterbox_clients{protocol="imap"}`,
		`letterbox_clients{protocol="pop3"}`, "letterbox_ingest_duration_seconds_count", "letterbox_store_commit_messages_count",
		"letterbox_database_bytes", "letterbox_go_goroutines"} {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if before["letterbox_database_up"] != 1 || before["letterbox_messages"] != 0 {
		t.Errorf("before any mail: up %v, messages %v", before["letterbox_database_up"], before["letterbox_messages"])
	}

	// A websocket client and an IMAP session are counted while connected.
	h := http.Header{}
	h.Set("Authorization", "Basic "+basic("alice", "s3cret"))
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+web+"/api/events", h)
	if err != nil {
		t.Fatal(err)
	}
	imap := dialText(t, addrs["imap"])
	imap.expect("* OK")
	waitSample(t, web, "alice", "s3cret", `letterbox_clients{protocol="websocket"}`, 1)
	waitSample(t, web, "alice", "s3cret", `letterbox_clients{protocol="imap"}`, 1)

	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: counted\r\n\r\nhello\r\n"
	sendPlain(t, addrs["smtp"], "a@example.com", "b@example.com", msg)
	sendPlain(t, addrs["smtp"], "a@example.com", "b@example.com", msg)
	after := waitSample(t, web, "alice", "s3cret", "letterbox_smtp_sessions_open", 0)
	for name, want := range map[string]float64{
		"letterbox_messages":                      2,
		"letterbox_messages_unread":               2,
		"letterbox_messages_stored_total":         2,
		"letterbox_smtp_messages_accepted_total":  2,
		"letterbox_smtp_sessions_total":           2,
		"letterbox_ingest_duration_seconds_count": 2,
	} {
		if after[name] != want {
			t.Errorf("after two messages %s = %v, want %v", name, after[name], want)
		}
	}
	if after["letterbox_messages_bytes"] <= float64(2*len(msg)) || after["letterbox_smtp_accepted_bytes_total"] != float64(2*len(msg)) {
		t.Errorf("bytes: stored %v, accepted %v (message %d bytes)", after["letterbox_messages_bytes"], after["letterbox_smtp_accepted_bytes_total"], len(msg))
	}
	if after["letterbox_store_commit_messages_sum"] < 2 {
		t.Errorf("commit sizes sum %v, want at least 2", after["letterbox_store_commit_messages_sum"])
	}
	// The writer indexes the two messages once it idles, in one batch or two.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, got, _ := scrape(t, web, "alice", "s3cret")
		if n := got["letterbox_store_index_batch_seconds_count"]; n >= 1 && n <= 2 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("index batches: %v, want 1 or 2", n)
		}
	}
	// A message over --max-message-size is rejected, and counted; a delete through the API too.
	if err := sendErr(addrs["smtp"], "Subject: big\r\n\r\n"+strings.Repeat("x", 5000)+"\r\n"); err == nil {
		t.Fatal("a message over --max-message-size was accepted")
	}
	waitSample(t, web, "alice", "s3cret", "letterbox_smtp_messages_rejected_total", 1)
	req, _ := http.NewRequest("GET", "http://"+web+"/api/v1/messages", nil)
	req.SetBasicAuth("alice", "s3cret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Messages []struct{ ID string } }
	err = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if err != nil || len(list.Messages) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	req, _ = http.NewRequest("DELETE", "http://"+web+"/api/v1/messages", strings.NewReader(`{"IDs":["`+list.Messages[0].ID+`"]}`))
	req.SetBasicAuth("alice", "s3cret")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("delete: %v %v", res, err)
	}
	waitSample(t, web, "alice", "s3cret", "letterbox_messages_deleted_total", 1)
	waitSample(t, web, "alice", "s3cret", "letterbox_messages", 1)
	ws.Close()
	imap.c.Close()
	waitSample(t, web, "alice", "s3cret", `letterbox_clients{protocol="websocket"}`, 0)
	waitSample(t, web, "alice", "s3cret", `letterbox_clients{protocol="imap"}`, 0)
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestMetricsRefusedByRules: a recipient an --smtp-rules rule refuses is counted.
func TestMetricsRefusedByRules(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte("rules:\n  - stage: rcpt\n    to: \"bounce-*@*\"\n    reply: {code: 550, text: unknown}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs, cancel, done := startBinary(t, "--db", filepath.Join(dir, "r.db"), "--smtp", "127.0.0.1:0",
		"--http", "127.0.0.1:0", "--pop3", "off", "--imap", "off", "--smtp-rules", rules)
	defer func() { cancel(); <-done }()
	c, err := smtp.Dial(addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bounce-1@example.com"); err == nil {
		t.Fatal("the rule did not refuse the recipient")
	}
	waitSample(t, addrs["http"], "", "", "letterbox_smtp_refused_by_rules_total", 1)
}

func TestMetricsOff(t *testing.T) {
	addrs, cancel, done := startBinary(t, "--db", filepath.Join(t.TempDir(), "off.db"), "--smtp", "off",
		"--http", "127.0.0.1:0", "--pop3", "off", "--imap", "off", "--metrics=false")
	defer func() { cancel(); <-done }()
	if code, _, _ := scrape(t, addrs["http"], "", ""); code != http.StatusNotFound {
		t.Fatalf("/metrics with --metrics=false: %d, want 404", code)
	}
}

// --log-format json writes one JSON object a line; an unknown format is refused.
func TestLogFormat(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--db", filepath.Join(t.TempDir(), "j.db"), "--smtp", "127.0.0.1:0", "--http", "off",
			"--pop3", "off", "--imap", "off", "--log-format", "json", "--log-level", "debug"}, pw, &logs, func(string) string { return "" })
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var smtpAddr string
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "smtp" {
			smtpAddr = f[1]
		}
		if strings.HasPrefix(sc.Text(), "ready") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	sendPlain(t, smtpAddr, "a@example.com", "b@example.com", "Subject: logged\r\n\r\nhi\r\n")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n"))
	if len(lines) < 2 {
		t.Fatalf("only %d log lines: %s", len(lines), logs.Bytes())
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal(l, &rec); err != nil || rec["msg"] == nil || rec["level"] == nil || rec["time"] == nil {
			t.Errorf("not a JSON log record: %s (%v)", l, err)
		}
	}

	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"--log-format", "xml"}, io.Discard, &errOut, func(string) string { return "" }); code != 2 ||
		!strings.Contains(errOut.String(), "use text or json") {
		t.Fatalf("--log-format xml: exit %d, %q", code, errOut.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the program's goroutines to write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// sendErr sends msg over SMTP and returns the first error, the final reply's included.
func sendErr(addr, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail("a@example.com"); err != nil {
		return err
	}
	if err := c.Rcpt("b@example.com"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	io.WriteString(w, msg)
	return w.Close()
}
