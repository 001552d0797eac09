package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

func TestConfigFlagsEnvAndDefaults(t *testing.T) {
	env := map[string]string{
		"LETTERBOX_SMTP":         "127.0.0.1:2525",
		"LETTERBOX_HTTP":         "off",
		"LETTERBOX_MAX_AGE":      "72h",
		"LETTERBOX_DB":           "/env/path.db",
		"LETTERBOX_IMAP":         "0.0.0.0:1",
		"XDG_DATA_HOME":          "/xdg",
		"LETTERBOX_LOG_LEVEL":    "",
		"LETTERBOX_MAX_MESSAGES": "10",
	}
	cfg, err := parseConfig([]string{"--db", "/flag/path.db", "--imap", "off"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"smtp from env", cfg.SMTP, "127.0.0.1:2525"},
		{"http off from env", cfg.HTTP, "off"},
		{"db: flag wins over env", cfg.DB, "/flag/path.db"},
		{"imap: flag wins over env", cfg.IMAP, "off"},
		{"pop3 default", cfg.POP3, "127.0.0.1:1110"},
		{"smtps default off", cfg.SMTPS, "off"},
		{"max age", cfg.MaxAge.String(), "72h0m0s"},
		{"log level default", cfg.LogLevel, "info"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.MaxMessages != 10 {
		t.Errorf("max messages %d", cfg.MaxMessages)
	}
	if got := defaultDBPath(); !strings.HasSuffix(got, filepath.Join("letterbox", "letterbox.db")) {
		t.Errorf("default db path %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--max-age", "soon"}, nil, "invalid value"},
		{nil, map[string]string{"LETTERBOX_MAX_MESSAGES": "many"}, "LETTERBOX_MAX_MESSAGES"},
		{[]string{"--smtp-tls-cert", "x.pem"}, nil, "go together"},
		{[]string{"--max-message-size", "0"}, nil, "must be positive"},
		{[]string{"stray"}, nil, "unexpected argument"},
	} {
		_, err := parseConfig(c.args, func(k string) string { return c.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: got %v, want an error containing %q", c.args, c.env, err, c.want)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, io.Discard, func(string) string { return "" }); code != 0 || !strings.HasPrefix(out.String(), "letterbox ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"--help"}, io.Discard, &out, func(string) string { return "" }); code != 0 || !strings.Contains(out.String(), "LETTERBOX_SMTP") {
		t.Fatalf("help: %d %q", code, out.String())
	}
}

// startBinary runs the program in-process on port 0 and returns the addresses it printed.
func startBinary(t *testing.T, args ...string) (map[string]string, context.CancelFunc, <-chan int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, args, pw, testLog{t}, func(string) string { return "" })
		pw.Close()
		done <- code
	}()
	addrs := map[string]string{}
	sc := bufio.NewScanner(pr)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("letterbox exited before listening: %d", <-done)
			}
			f := strings.Fields(line)
			if len(f) == 2 && strings.HasPrefix(line, "  ") {
				addrs[f[0]] = strings.TrimPrefix(f[1], "http://")
			}
			if strings.HasPrefix(line, "ready") {
				go func() {
					for range lines {
					}
				}()
				return addrs, cancel, done
			}
		case <-deadline:
			t.Fatal("letterbox did not print its addresses within 10s")
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestServeCatchesMailAndShutsDownCleanly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sub", "letterbox.db")
	addrs, cancel, done := startBinary(t, "--db", db, "--smtp", "127.0.0.1:0", "--http", "off",
		"--pop3", "off", "--imap", "off", "--hostname", "catcher.test")
	defer cancel()
	if addrs["database"] != db {
		t.Errorf("database line %q, want %q", addrs["database"], db)
	}
	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: through the binary\r\n\r\nhello\r\n"
	sendPlain(t, addrs["smtp"], "a@example.com", "b@example.com", msg)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no clean shutdown within 15s")
	}
	st, err := store.Open(context.Background(), store.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := st.Search(context.Background(), store.Filter{}, store.Page{})
	if err != nil || res.Total != 1 || res.Messages[0].Subject != "through the binary" {
		t.Fatalf("after restart: %+v %v", res, err)
	}
	m, _ := st.Message(context.Background(), res.Messages[0].ID)
	if r := m.HeaderValues("Received"); len(r) != 1 || !strings.Contains(r[0], "by catcher.test (letterbox)") {
		t.Errorf("Received: %q", r)
	}
}

func TestServeRefusesBusyPort(t *testing.T) {
	addrs, cancel, done := startBinary(t, "--db", filepath.Join(t.TempDir(), "a.db"), "--smtp", "127.0.0.1:0",
		"--http", "off", "--pop3", "off", "--imap", "off")
	defer func() { cancel(); <-done }()
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"--db", filepath.Join(t.TempDir(), "b.db"), "--smtp", addrs["smtp"],
		"--http", "off", "--pop3", "off", "--imap", "off"}, io.Discard, &errOut, func(string) string { return "" })
	if code == 0 || !strings.Contains(errOut.String(), "smtp") {
		t.Fatalf("second instance on the same port: exit %d, %q", code, errOut.String())
	}
}

// sendPlain sends one message without STARTTLS (the certificate is self-signed).
func sendPlain(t *testing.T, addr, from, to, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

// One message through the whole binary: in over SMTP, out through the API, POP3 and IMAP.
func TestServeAllServersSeeTheSameMessage(t *testing.T) {
	addrs, cancel, done := startBinary(t, "--db", filepath.Join(t.TempDir(), "all.db"), "--smtp", "127.0.0.1:0",
		"--http", "127.0.0.1:0", "--pop3", "127.0.0.1:0", "--imap", "127.0.0.1:0")
	defer func() { cancel(); <-done }()
	for _, name := range []string{"http", "pop3", "imap"} {
		if addrs[name] == "" {
			t.Fatalf("letterbox did not print a %s address: %v", name, addrs)
		}
	}
	sendPlain(t, addrs["smtp"], "a@example.com", "bob@example.com", "Subject: everywhere\r\n\r\nhello all\r\n")

	resp, err := http.Get("http://" + addrs["http"] + "/api/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"Subject":"everywhere"`) {
		t.Fatalf("API: %d %s", resp.StatusCode, body)
	}

	pop := dialText(t, addrs["pop3"])
	pop.expect("+OK")
	pop.send("USER bob@example.com")
	pop.expect("+OK")
	pop.send("PASS anything")
	pop.expect("+OK")
	pop.send("STAT")
	pop.expect("+OK 1 ")
	pop.send("QUIT")

	imap := dialText(t, addrs["imap"])
	imap.expect("* OK")
	imap.send("a LOGIN bob@example.com x")
	imap.expectTagged("a OK")
	imap.send("b SELECT INBOX")
	if !strings.Contains(imap.expectTagged("b OK"), "* 1 EXISTS") {
		t.Fatal("IMAP SELECT did not report the message")
	}
	imap.send("c LOGOUT")
}

type textConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialText(t *testing.T, addr string) *textConn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &textConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (tc *textConn) send(line string) {
	if _, err := io.WriteString(tc.c, line+"\r\n"); err != nil {
		tc.t.Fatal(err)
	}
}

func (tc *textConn) expect(prefix string) string {
	tc.t.Helper()
	line, err := tc.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, prefix) {
		tc.t.Fatalf("got %q (%v), want a line starting %q", line, err, prefix)
	}
	return line
}

// expectTagged reads lines up to the tagged reply and returns them all.
func (tc *textConn) expectTagged(prefix string) string {
	tc.t.Helper()
	var all strings.Builder
	tag := strings.Fields(prefix)[0] + " "
	for {
		line, err := tc.r.ReadString('\n')
		if err != nil {
			tc.t.Fatalf("reading to %q: %v (got %q)", prefix, err, all.String())
		}
		all.WriteString(line)
		if strings.HasPrefix(line, tag) {
			if !strings.HasPrefix(line, prefix) {
				tc.t.Fatalf("got %q, want %q", line, prefix)
			}
			return all.String()
		}
	}
}
