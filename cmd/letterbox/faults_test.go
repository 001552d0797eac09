package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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

// getStatusJSON GETs url and decodes its JSON body; it returns the status and the body.
func getStatusJSON(t *testing.T, url string, out any) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode == 200 {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: %v (%s)", url, err, body)
		}
	}
	return res.StatusCode, string(body)
}

// TestFaultFlags: --chaos-triggers (which enables chaos; its trigger refuses AUTH), --smtp-accept-recipients @FILE (VRFY and
// RCPT), --max-sessions, --invite-jim and --enable-chaos, through the letterbox command.
func TestFaultFlags(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "recipients.txt")
	os.WriteFile(list, []byte("alice@example.com\n*@team.test\n"), 0o600)
	p := startProcess(t, "--db", filepath.Join(dir, "a.db"), "--chaos-triggers", "Authentication:530:100", "--chaos-seed", "1",
		"--smtp-accept-recipients", "@"+list, "--max-sessions", "2")
	httpURL := "http://" + p.addrs["http"]
	var chaos struct {
		Authentication, Recipient struct{ ErrorCode, Probability int }
	}
	if code, body := getStatusJSON(t, httpURL+"/api/v1/chaos", &chaos); code != 200 || chaos.Authentication.ErrorCode != 530 || chaos.Authentication.Probability != 100 {
		t.Errorf("/api/v1/chaos with --chaos-triggers: %d %s", code, body)
	}
	session := func(helo string, run func(c *smtp.Client)) {
		t.Helper()
		c, err := smtp.Dial(p.addrs["smtp"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello(helo); err != nil {
			t.Fatal(err)
		}
		run(c)
		c.Quit() // net/smtp's Auth has quit already when it failed

	}
	session("s1.test", func(c *smtp.Client) {
		if err := c.Verify("alice@example.com"); err != nil {
			t.Errorf("VRFY a listed address: %v", err)
		}
	})
	session("s2.test", func(c *smtp.Client) {
		var te *textproto.Error
		if err := c.Verify("mallory@example.com"); !errors.As(err, &te) || te.Code != 550 ||
			te.Msg != "5.1.1 <mallory@example.com>: Recipient address rejected: User unknown" {
			t.Errorf("VRFY an unlisted address: %v", err)
		}
	})
	session("s3.test", func(c *smtp.Client) {
		if err := c.Mail("app@example.com"); err != nil {
			t.Fatal(err)
		}
		var te *textproto.Error
		if err := c.Rcpt("nobody@example.com"); !errors.As(err, &te) || te.Code != 550 ||
			te.Msg != "5.1.1 <nobody@example.com>: Recipient address rejected: User unknown" {
			t.Errorf("RCPT an unlisted address: %v", err)
		}
		if err := c.Rcpt("bob@team.test"); err != nil {
			t.Errorf("RCPT a listed address: %v", err)
		}
	})
	session("s4.test", func(c *smtp.Client) {
		var te *textproto.Error
		if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); !errors.As(err, &te) || te.Code != 530 {
			t.Errorf("AUTH under the Authentication trigger: %v", err)
		}
	})
	// --max-sessions 2: the two newest stay.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var l struct {
			Total    int                     `json:"total"`
			Sessions []struct{ Helo string } `json:"sessions"`
		}
		getStatusJSON(t, httpURL+"/api/v1/sessions", &l)
		var helos []string
		for _, s := range l.Sessions {
			helos = append(helos, s.Helo)
		}
		if l.Total == 2 && slices.Equal(helos, []string{"s4.test", "s3.test"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions kept: %d %v, want the newest two", l.Total, helos)
		}
		time.Sleep(20 * time.Millisecond)
	}

	q := startProcess(t, "--db", filepath.Join(dir, "b.db"), "--invite-jim")
	var jim map[string]float64
	if code, body := getStatusJSON(t, "http://"+q.addrs["http"]+"/api/v2/jim", &jim); code != 200 || jim["AcceptChance"] != 0.99 || jim["DisconnectChance"] != 0.005 {
		t.Errorf("/api/v2/jim with --invite-jim: %d %s", code, body)
	}
	if code, body := getStatusJSON(t, "http://"+q.addrs["http"]+"/api/v1/chaos", nil); code != 400 || body != "Chaos is not enabled" {
		t.Errorf("/api/v1/chaos without --enable-chaos: %d %q", code, body)
	}
	r := startProcess(t, "--db", filepath.Join(dir, "c.db"), "--enable-chaos")
	if code, body := getStatusJSON(t, "http://"+r.addrs["http"]+"/api/v1/chaos", &chaos); code != 200 || chaos.Recipient.Probability != 0 {
		t.Errorf("/api/v1/chaos with --enable-chaos: %d %s", code, body)
	}
	if code, _ := getStatusJSON(t, "http://"+r.addrs["http"]+"/api/v2/jim", nil); code != 404 {
		t.Errorf("/api/v2/jim without --invite-jim: %d", code)
	}
}
