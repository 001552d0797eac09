package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sendmailLink makes a link named sendmail to the test binary (which runs letterbox, see
// TestMain), as an operator links /usr/sbin/sendmail to letterbox.
func sendmailLink(t *testing.T) string {
	t.Helper()
	link := filepath.Join(t.TempDir(), "sendmail")
	if err := os.Symlink(os.Args[0], link); err != nil {
		t.Fatal(err)
	}
	return link
}

// runChild runs the letterbox test binary (or a link to it) with args and stdin, and returns
// its exit status and stderr.
func runChild(t *testing.T, bin string, stdin string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// apiMessage is the part of a message the sendmail tests look at.
type apiMessage struct {
	ID       string
	Subject  string
	From     struct{ Address, Name string }
	To       []struct{ Address string }
	Bcc      []struct{ Address string }
	Text     string
	Envelope struct {
		MailFrom   string
		Recipients []string
	}
}

// messages lists a catcher's messages (newest first) with their full JSON.
func messages(t *testing.T, httpAddr string) []apiMessage {
	t.Helper()
	var list struct{ Messages []struct{ ID string } }
	getJSON(t, "http://"+httpAddr+"/api/v1/messages", &list)
	var out []apiMessage
	for _, m := range list.Messages {
		var full apiMessage
		getJSON(t, "http://"+httpAddr+"/api/v1/message/"+m.ID, &full)
		out = append(out, full)
	}
	return out
}

// getJSON GETs url and decodes its JSON body into v; anything but 200 fails the test.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if code, body := getStatusJSON(t, url, v); code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
}

func TestSendmailAsPHPRunsIt(t *testing.T) {
	srv := startProcess(t, "--db", filepath.Join(t.TempDir(), "lb.db"))
	link := sendmailLink(t)
	env := []string{"LETTERBOX_SENDMAIL_SMTP_ADDR=" + srv.addrs["smtp"]}

	// PHP's mail() runs sendmail_path through the shell ("sendmail -t -i") and writes the
	// message with LF line endings; the Bcc field must go, its address must still get it.
	msg := "To: Bob <bob@example.com>\nCc: carol@example.com\nBcc: secret@example.com\nFrom: app@example.com\nSubject: Welcome\n\nHello Bob.\n.\nA line with only a dot, above: -i keeps it.\n"
	code, stderr := runChild(t, "/bin/sh", msg, env, "-c", link+" -t -i")
	if code != 0 || stderr != "" {
		t.Fatalf("sendmail -t -i: exit %d, stderr %q", code, stderr)
	}
	got := messages(t, srv.addrs["http"])
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	m := got[0]
	if m.Subject != "Welcome" || m.Envelope.MailFrom != "app@example.com" ||
		strings.Join(m.Envelope.Recipients, ",") != "bob@example.com,carol@example.com,secret@example.com" {
		t.Errorf("message %+v", m)
	}
	if !strings.Contains(m.Text, "Hello Bob.\r\n.\r\nA line with only a dot") {
		t.Errorf("text %q", m.Text)
	}
	res, _ := http.Get("http://" + srv.addrs["http"] + "/api/v1/message/" + m.ID + "/raw")
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if bytes.Contains(raw, []byte("Bcc:")) || bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("stored with a Bcc field or bare LFs:\n%q", raw)
	}
	if !bytes.Contains(raw, []byte("\r\nDate: ")) || !bytes.Contains(raw, []byte("\r\nMessage-ID: <")) {
		t.Errorf("no Date or Message-ID added:\n%s", raw)
	}

	// Without -i a lone dot ends the message (sendmail's old rule); -f sets the envelope
	// sender, -F the name of the From field it adds; recipients as arguments.
	code, stderr = runChild(t, link, "Subject: cron output\n\nline one\n.\nnot sent\n", env, "-FCron Daemon", "-froot@host.test", "-oem", "ops@example.com")
	if code != 0 {
		t.Fatalf("cron style: exit %d %q", code, stderr)
	}
	got = messages(t, srv.addrs["http"])
	if len(got) != 2 {
		t.Fatalf("%d messages", len(got))
	}
	m = got[0]
	if m.From.Name != "Cron Daemon" || m.From.Address != "root@host.test" || m.Envelope.MailFrom != "root@host.test" ||
		strings.Join(m.Envelope.Recipients, ",") != "ops@example.com" || strings.Contains(m.Text, "not sent") {
		t.Errorf("cron message %+v", m)
	}

	// A leading Unix "From " line is not part of the message.
	code, stderr = runChild(t, link, "From app@example.com Tue Jan  2 03:04:05 2024\nFrom: app@example.com\nSubject: unix from\n\nx\n", env, "-i", "ops@example.com")
	if m := messages(t, srv.addrs["http"])[0]; code != 0 || m.Subject != "unix from" || m.From.Address != "app@example.com" {
		t.Errorf("a leading From line: exit %d %q, stored %+v", code, stderr, m)
	}

	// -f '<>' is the null sender (a bounce or an auto-reply); -f '<a@b>' is a@b.
	for _, tc := range []struct{ arg, want string }{{"<>", ""}, {"", ""}, {"<bounce@host.test>", "bounce@host.test"}} {
		code, stderr = runChild(t, link, "From: app@example.com\nSubject: sender ["+tc.arg+"]\n\nx\n", env, "-i", "-f", tc.arg, "ops@example.com")
		if code != 0 {
			t.Fatalf("-f %q: exit %d %q", tc.arg, code, stderr)
		}
		if m := messages(t, srv.addrs["http"])[0]; m.Subject != "sender ["+tc.arg+"]" || m.Envelope.MailFrom != tc.want {
			t.Errorf("-f %q: %q has envelope sender %q, want %q", tc.arg, m.Subject, m.Envelope.MailFrom, tc.want)
		}
	}
}

func TestSendmailThroughPHP(t *testing.T) {
	php, err := exec.LookPath("php")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("php not installed (required under CI=true)")
		}
		t.Skip("php not installed")
	}
	srv := startProcess(t, "--db", filepath.Join(t.TempDir(), "lb.db"))
	link := sendmailLink(t)
	script := `if (!mail("dev@example.com", "Sign-up", "Click here to verify.\nThanks.", "From: app@example.com\r\nX-App: php")) { exit(3); }`
	cmd := exec.Command(php, "-n", "-d", "sendmail_path="+link+" -t -i", "-r", script)
	cmd.Env = append(os.Environ(), childEnv+"=1", "LETTERBOX_SENDMAIL_SMTP_ADDR="+srv.addrs["smtp"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("php mail(): %v %s", err, out)
	}
	got := messages(t, srv.addrs["http"])
	if len(got) != 1 || got[0].Subject != "Sign-up" || got[0].Envelope.MailFrom != "app@example.com" ||
		strings.Join(got[0].Envelope.Recipients, ",") != "dev@example.com" || !strings.Contains(got[0].Text, "Click here to verify.") {
		t.Fatalf("php's message: %+v", got)
	}
}

func TestSendmailExitCodes(t *testing.T) {
	// A catcher that refuses every message: larger than 100 bytes gets 552.
	small := startProcess(t, "--db", filepath.Join(t.TempDir(), "lb.db"), "--max-message-size", "100")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	// A catcher that answers a recipient "later@" with 451, another "gone@" with 550.
	rules := filepath.Join(t.TempDir(), "rules.yml")
	os.WriteFile(rules, []byte("rules:\n"+
		"  - {stage: rcpt, to: \"later@*\", reply: {code: 451, enhanced: \"4.2.0\", text: \"mailbox busy\"}}\n"+
		"  - {stage: rcpt, to: \"gone@*\", reply: {code: 550, enhanced: \"5.1.1\", text: \"user unknown\"}}\n"), 0o600)
	picky := startProcess(t, "--db", filepath.Join(t.TempDir(), "picky.db"), "--smtp-rules", rules)
	big := "To: a@example.com\nFrom: b@example.com\nSubject: big\n\n" + strings.Repeat("x", 500) + "\n"
	for _, tc := range []struct {
		name  string
		addr  string
		stdin string
		args  []string
		code  int
		says  string
	}{
		{"unknown option", small.addrs["smtp"], big, []string{"-q1h"}, exUsage, "unknown option -q1h"},
		{"-f without a value", small.addrs["smtp"], big, []string{"-f"}, exUsage, "needs a value"},
		{"no recipients", small.addrs["smtp"], "Subject: x\n\nbody\n", nil, exDataErr, "no recipients"},
		{"a bad recipient", small.addrs["smtp"], big, []string{"not an address"}, exDataErr, "is not an email address"},
		{"a bad To field", small.addrs["smtp"], "To: a@@b\n\nx\n", []string{"-t"}, exDataErr, "To field does not parse"},
		{"empty input", small.addrs["smtp"], "", []string{"a@example.com"}, exDataErr, "no message"},
		{"refused for good", small.addrs["smtp"], big, []string{"-t", "-i"}, exUnavailable, "552"},
		{"no server", dead, big, []string{"-t", "-i"}, exTempFail, "cannot reach the SMTP server"},
		{"a 4xx: try again", picky.addrs["smtp"], "Subject: x\n\nbody\n", []string{"ok@example.com", "later@example.com"}, exTempFail, "recipient <later@example.com> refused by " + picky.addrs["smtp"] + ": 451 mailbox busy"},
		{"a 5xx recipient", picky.addrs["smtp"], "Subject: x\n\nbody\n", []string{"gone@example.com", "ok@example.com"}, exUnavailable, "recipient <gone@example.com> refused"},
	} {
		code, stderr := runChild(t, os.Args[0], tc.stdin, []string{"LETTERBOX_SENDMAIL_SMTP_ADDR=" + tc.addr}, append([]string{"sendmail"}, tc.args...)...)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != tc.code || len(lines) != 1 || !strings.HasPrefix(lines[0], "letterbox sendmail: ") || !strings.Contains(lines[0], tc.says) {
			t.Errorf("%s: exit %d, stderr %q; want %d and one line saying %q", tc.name, code, stderr, tc.code, tc.says)
		}
	}
	for _, c := range []*process{small, picky} {
		if got := messages(t, c.addrs["http"]); len(got) != 0 {
			t.Errorf("%d messages stored by failing runs (a refused recipient must stop the whole message)", len(got))
		}
	}
	// -S names the server too, and wins over the environment.
	code, stderr := runChild(t, os.Args[0], "To: a@example.com\n\nhi\n", []string{"LETTERBOX_SENDMAIL_SMTP_ADDR=" + small.addrs["smtp"]}, "sendmail", "-t", "-S", dead)
	if code != exTempFail || !strings.Contains(stderr, dead) {
		t.Errorf("-S: exit %d %q", code, stderr)
	}
}

func TestParseSendmailArgs(t *testing.T) {
	env := func(k string) string { return map[string]string{"LETTERBOX_SMTP": "127.0.0.1:2525"}[k] }
	o, err := parseSendmailArgs([]string{"-ti", "-f", "me@x.test", "-FMe Myself", "-oi", "-oem", "-B8BITMIME", "-N", "never", "--", "-weird@x.test", "b@x.test"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if !o.fromHeaders || !o.ignoreDots || o.from != "me@x.test" || o.fullName != "Me Myself" || o.addr != "127.0.0.1:2525" ||
		strings.Join(o.recipients, ",") != "-weird@x.test,b@x.test" {
		t.Errorf("%+v", o)
	}
	for _, cluster := range []string{"-it", "-tiU", "-Uti"} {
		if o, err := parseSendmailArgs([]string{cluster}, func(string) string { return "" }); err != nil || !o.fromHeaders || !o.ignoreDots || len(o.recipients) != 0 {
			t.Errorf("%s: %+v %v, want -t and -i", cluster, o, err)
		}
	}
	o, _ = parseSendmailArgs([]string{"--smtp-addr=h:1", "a@x.test"}, func(string) string { return "" })
	if o.addr != "h:1" || o.ignoreDots || o.fromHeaders {
		t.Errorf("%+v", o)
	}
	o, _ = parseSendmailArgs(nil, func(string) string { return "" })
	if o.addr != "localhost:1025" {
		t.Errorf("default address %q", o.addr)
	}
	if _, err := parseSendmailArgs([]string{"-bs"}, func(string) string { return "" }); err == nil {
		t.Error("-bs accepted")
	}
}
