package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mailFromReply opens an SMTP session and returns MAIL FROM's error (nil when accepted).
func mailFromReply(t *testing.T, addr, from string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Mail(from)
}

func wantRefused(t *testing.T, err error, code int, msg string) {
	t.Helper()
	te, ok := err.(*textproto.Error)
	if !ok || te.Code != code || te.Msg != msg {
		t.Fatalf("MAIL FROM: %v, want %d %s", err, code, msg)
	}
}

// TestRulesFileAndSIGHUP: letterbox reads --smtp-rules at start and again on SIGHUP; a file that
// no longer holds is reported and the rules in force stay.
func TestRulesFileAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	write := func(body string) {
		if err := os.WriteFile(rules, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - stage: mail\n    from: first@*\n    reply: {code: 550, enhanced: 5.7.1, text: first rule}\n")
	p := startProcess(t, "--db", filepath.Join(dir, "lb.db"), "--smtp-rules", rules, "--chaos-seed", "1")
	wantRefused(t, mailFromReply(t, p.addrs["smtp"], "first@example.com"), 550, "5.7.1 first rule")

	write("rules:\n  - stage: mail\n    from: second@*\n    reply: {code: 451, enhanced: 4.7.1, text: second rule}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.log.waitFor(t, "SMTP rules file reloaded", 1)
	wantRefused(t, mailFromReply(t, p.addrs["smtp"], "second@example.com"), 451, "4.7.1 second rule")
	if err := mailFromReply(t, p.addrs["smtp"], "first@example.com"); err != nil {
		t.Errorf("first rule still in force: %v", err)
	}

	write("rules:\n  - stage: mail\n    reply: {code: 200}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.log.waitFor(t, "SMTP rules not reloaded", 1)
	p.log.waitFor(t, "rules[0].reply.code", 1)
	wantRefused(t, mailFromReply(t, p.addrs["smtp"], "second@example.com"), 451, "4.7.1 second rule")
	res, err := http.Get("http://" + p.addrs["http"] + "/api/v1/chaos/rules")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"from":"second@*"`) {
		t.Errorf("rules in force: %s", body)
	}
	// Every refusal is counted in Mailpit's RuntimeStats.
	res, err = http.Get("http://" + p.addrs["http"] + "/api/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ RuntimeStats struct{ SMTPRejected int } }
	json.NewDecoder(res.Body).Decode(&info)
	res.Body.Close()
	if info.RuntimeStats.SMTPRejected != 3 {
		t.Errorf("SMTPRejected %d, want the 3 refusals", info.RuntimeStats.SMTPRejected)
	}
}

// TestBadRulesFileAtStart: letterbox refuses to start with a rule that does not hold, naming it.
func TestBadRulesFileAtStart(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.json")
	os.WriteFile(rules, []byte(`{"rules":[{"stage":"rcpt","reply":{"code":550,"enhanced":"4.1.1"}}]}`), 0o600)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"--db", filepath.Join(dir, "lb.db"), "--smtp", "127.0.0.1:0", "--http", "off",
		"--pop3", "off", "--imap", "off", "--smtp-rules", rules}, io.Discard, &stderr, func(string) string { return "" })
	if code == 0 || !strings.Contains(stderr.String(), "rules[0].reply.enhanced") || !strings.Contains(stderr.String(), rules) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
