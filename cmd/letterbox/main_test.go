package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
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
			if _, ok := addrs["smtp"]; ok {
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
