package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/catcher"
	"github.com/letterbox-mail/letterbox/relay"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
)

// relayPassword is the password the relay tests give; it must show up nowhere.
const relayPassword = "Rel4y-pässword-never-shown"

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as PEM files.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	cert, err := smtpd.GenerateCertificate("upstream.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	return certFile, keyFile
}

// startUpstream starts a second letterbox process as the real SMTP server the relay delivers
// to, with STARTTLS and implicit TLS.
func startUpstream(t *testing.T, args ...string) *process {
	t.Helper()
	cert, key := writeCert(t)
	return startProcess(t, append([]string{"--db", filepath.Join(t.TempDir(), "upstream.db"), "--hostname", "upstream.test",
		"--smtps", "127.0.0.1:0", "--smtp-tls-cert", cert, "--smtp-tls-key", key}, args...)...)
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitUntil polls cond every 20 ms until it holds, failing the test after the timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// relayState reads GET /api/v1/message/{id}/relay from a catcher.
func relayState(t *testing.T, httpAddr, id string) (state string, attempts int, reply string) {
	t.Helper()
	var st struct {
		State string
		Jobs  []struct {
			Attempts int
			Reply    string
		}
	}
	getJSON(t, "http://"+httpAddr+"/api/v1/message/"+id+"/relay", &st)
	if len(st.Jobs) == 0 {
		return st.State, 0, ""
	}
	j := st.Jobs[len(st.Jobs)-1]
	return st.State, j.Attempts, j.Reply
}

func post(t *testing.T, url, body string) (int, string, http.Header) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// TestReleaseToASecondLetterboxEachAuthAndTLS releases through each auth mechanism over
// STARTTLS and implicit TLS (and none in the clear) to a second letterbox process, which records
// the username and, in its Received: field, that TLS and AUTH were used.
func TestReleaseToASecondLetterboxEachAuthAndTLS(t *testing.T) {
	up := startUpstream(t)
	type mode struct{ auth, tls string }
	modes := []mode{{"none", "none"}}
	for _, a := range []string{"none", "plain", "login", "cram-md5"} {
		modes = append(modes, mode{a, "starttls"}, mode{a, "tls"})
	}
	for i, m := range modes {
		t.Run(m.auth+"/"+m.tls, func(t *testing.T) {
			cfg := relay.Config{Host: "127.0.0.1", Port: port(t, up.addrs["smtp"]), Auth: m.auth, AllowInsecure: true}
			if m.auth != "none" {
				cfg.Username, cfg.Password, cfg.Secret = "relayuser", relayPassword, relayPassword
			}
			switch m.tls {
			case "starttls":
				cfg.STARTTLS = true
			case "tls":
				cfg.TLS, cfg.Port = true, port(t, up.addrs["smtps"])
			}
			var logs syncBuffer
			c := startCatcher(t, catcher.Config{Relay: &cfg, Logger: newTestLogger(&logs)})
			subject := fmt.Sprintf("release %d %s %s", i, m.auth, m.tls)
			sum, err := c.Store.Add(context.Background(), store.Envelope{MailFrom: "app@example.com", Recipients: []string{"bob@example.com"}},
				strings.NewReader("From: app@example.com\r\nTo: bob@example.com\r\nSubject: "+subject+"\r\n\r\nhello\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			code, body, hdr := post(t, "http://"+c.Addr("http")+"/api/v1/message/"+sum.ID+"/release", `{"To":["carol@example.com"]}`)
			if code != 200 || body != "ok" || !strings.HasPrefix(hdr.Get("X-Relay-Reply"), "250 ") {
				t.Fatalf("release: %d %q %q", code, body, hdr.Get("X-Relay-Reply"))
			}
			var got *apiMessage
			for _, msg := range messages(t, up.addrs["http"]) {
				if msg.Subject == subject {
					got = &msg
				}
			}
			if got == nil {
				t.Fatal("the second letterbox did not get it")
			}
			if strings.Join(got.Envelope.Recipients, ",") != "carol@example.com" || got.Envelope.MailFrom != "app@example.com" {
				t.Errorf("envelope %+v", got.Envelope)
			}
			var headers map[string][]string
			getJSON(t, "http://"+up.addrs["http"]+"/api/v1/message/"+got.ID+"/headers", &headers)
			received := headers["Received"][0]
			want := "with ESMTP"
			if m.tls != "none" {
				want += "S"
			}
			if m.auth != "none" {
				want += "A"
			}
			if !strings.Contains(received, want+" id ") {
				t.Errorf("upstream Received %q, want %q", received, want)
			}
			var full struct{ Username string }
			getJSON(t, "http://"+up.addrs["http"]+"/api/v1/message/"+got.ID, &full)
			if wantUser := map[bool]string{true: "", false: "relayuser"}[m.auth == "none"]; full.Username != wantUser {
				t.Errorf("upstream username %q, want %q", full.Username, wantUser)
			}
			// The password is in no log, API answer or database of the relaying letterbox.
			_, webui, _ := get(t, "http://"+c.Addr("http")+"/api/v1/webui")
			_, status, _ := get(t, "http://"+c.Addr("http")+"/api/v1/message/"+sum.ID+"/relay")
			c.Close()
			db, _ := os.ReadFile(c.cfgDB)
			wal, _ := os.ReadFile(c.cfgDB + "-wal")
			for where, b := range map[string][]byte{"log": logs.Bytes(), "webui": []byte(webui), "relay status": []byte(status), "database": append(db, wal...)} {
				if bytes.Contains(b, []byte(relayPassword)) {
					t.Errorf("the password is in the %s", where)
				}
			}
		})
	}
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// testCatcher is a letterbox assembled in the test process (the relaying side).
type testCatcher struct {
	*catcher.Catcher
	cfgDB string
}

func startCatcher(t *testing.T, cfg catcher.Config) *testCatcher {
	t.Helper()
	if cfg.DB == "" {
		cfg.DB = filepath.Join(t.TempDir(), "relaying.db")
	}
	cfg.HTTP, cfg.SMTP = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = newTestLogger(testLog{t})
	}
	c, err := catcher.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testCatcher{Catcher: c, cfgDB: cfg.DB}
}

// TestReleaseRefusedBySecondLetterbox: the second letterbox refuses the message (too big for its
// --max-message-size): the release answers 502 with its reply, and the history says failed.
func TestReleaseRefusedBySecondLetterbox(t *testing.T) {
	up := startUpstream(t, "--max-message-size", "300")
	c := startCatcher(t, catcher.Config{Relay: &relay.Config{Host: "127.0.0.1", Port: port(t, up.addrs["smtp"])}})
	sum, _ := c.Store.Add(context.Background(), store.Envelope{MailFrom: "app@example.com", Recipients: []string{"bob@example.com"}},
		strings.NewReader("From: app@example.com\r\nTo: bob@example.com\r\nSubject: too big\r\n\r\n"+strings.Repeat("x", 400)+"\r\n"))
	code, body, _ := post(t, "http://"+c.Addr("http")+"/api/v1/message/"+sum.ID+"/release", `{"To":["carol@example.com"]}`)
	if code != 502 || !strings.Contains(body, "552") {
		t.Fatalf("release: %d %q", code, body)
	}
	if state, _, reply := relayState(t, c.Addr("http"), sum.ID); state != "failed" || !strings.Contains(reply, "552") {
		t.Errorf("history: %s %q", state, reply)
	}
	if n := len(messages(t, up.addrs["http"])); n != 0 {
		t.Errorf("the second letterbox stored %d", n)
	}
}

// freePort returns a loopback address nobody listens on (yet).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestAutoRelayRelayDownThenUpArrivesOnce: letterbox relays every new message to a relay that
// is down: the message stays queued, retried with backoff, while SMTP clients get their 250 at
// once; when the relay (a second letterbox process) comes up it arrives, once.
func TestAutoRelayRelayDownThenUpArrivesOnce(t *testing.T) {
	relayAddr := freePort(t)
	a := startProcess(t, "--db", filepath.Join(t.TempDir(), "a.db"), "--relay-host", "127.0.0.1", "--relay-port", strconv.Itoa(port(t, relayAddr)),
		"--relay-matching", "subject:forward", "--relay-retry-delay", "50ms")
	id, err := deliver(a.addrs["smtp"], "please forward this")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := deliver(a.addrs["smtp"], "keep this one here")
	waitUntil(t, 20*time.Second, "retries while the relay is down", func() bool {
		state, attempts, _ := relayState(t, a.addrs["http"], id)
		return state == "queued" && attempts >= 2
	})
	_, _, reply := relayState(t, a.addrs["http"], id)
	if !strings.Contains(reply, "connect") {
		t.Errorf("reply while down: %q", reply)
	}
	up := startUpstream(t, "--smtp", relayAddr)
	waitUntil(t, 20*time.Second, "the message at the second letterbox", func() bool { return len(messages(t, up.addrs["http"])) > 0 })
	waitUntil(t, 10*time.Second, "state sent", func() bool { s, _, _ := relayState(t, a.addrs["http"], id); return s == "sent" })
	got := messages(t, up.addrs["http"])
	if len(got) != 1 || got[0].Subject != "please forward this" {
		t.Fatalf("the second letterbox has %+v", got)
	}
	// Sent, nothing left queued: it cannot arrive twice.
	if s, _, _ := relayState(t, a.addrs["http"], other); s != "" {
		t.Errorf("a message the search does not match was relayed: %q", s)
	}
	var list struct{ Messages []struct{ ID string } }
	getJSON(t, "http://"+a.addrs["http"]+"/api/v1/messages", &list)
	for _, m := range list.Messages {
		if s, _, _ := relayState(t, a.addrs["http"], m.ID); s == "queued" || s == "sending" {
			t.Errorf("%s still %s", m.ID, s)
		}
	}
	_, samples, _ := scrape(t, a.addrs["http"], "", "")
	if samples[`letterbox_relay_deliveries_total{outcome="sent"}`] != 1 || samples[`letterbox_relay_deliveries_total{outcome="deferred"}`] < 2 ||
		samples[`letterbox_relay_deliveries_total{outcome="failed"}`] != 0 {
		t.Errorf("relay metrics: sent %v deferred %v failed %v", samples[`letterbox_relay_deliveries_total{outcome="sent"}`],
			samples[`letterbox_relay_deliveries_total{outcome="deferred"}`], samples[`letterbox_relay_deliveries_total{outcome="failed"}`])
	}
}

// TestAutoRelayNeverHoldsTheSMTPClient: the relay takes connections and never answers. While
// the worker's delivery of the first message hangs there (for up to the client's two-minute
// timeout), SMTP clients still get their 250 at once (deliver gives up after 30 s) and their
// messages wait in the queue: relaying runs beside the SMTP sessions, never inside them.
func TestAutoRelayNeverHoldsTheSMTPClient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c // held open, never written to
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range accepted {
			c.Close()
		}
	})
	a := startProcess(t, "--db", filepath.Join(t.TempDir(), "a.db"), "--relay-host", "127.0.0.1",
		"--relay-port", strconv.Itoa(port(t, l.Addr().String())), "--relay-all")
	first, err := deliver(a.addrs["smtp"], "first, stuck at the relay")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-accepted:
		// Held until the test ends: a connection nothing refers to is closed by the collector's
		// finalizer, and the worker's delivery then fails with EOF instead of hanging.
		t.Cleanup(func() { c.Close() })
	case <-time.After(20 * time.Second):
		t.Fatal("the relay worker never connected to the relay")
	}
	var next []string
	for i := range 3 {
		id, err := deliver(a.addrs["smtp"], fmt.Sprintf("next %d", i))
		if err != nil {
			t.Fatalf("an SMTP client was held by the hanging relay: %v", err)
		}
		next = append(next, id)
	}
	if s, attempts, _ := relayState(t, a.addrs["http"], first); s != "sending" || attempts != 1 {
		t.Errorf("the first message's relay is %q after %d attempts, want sending, 1", s, attempts)
	}
	for _, id := range next {
		if s, attempts, _ := relayState(t, a.addrs["http"], id); s != "queued" || attempts != 0 {
			t.Errorf("%s: relay %q after %d attempts, want queued behind the first", id, s, attempts)
		}
	}
}

// TestAutoRelaySurvivesAKill: with the relay down, the relaying letterbox tries once and waits
// (an hour) to retry; killed with SIGKILL and started again on the same database with the relay
// (a second letterbox process) up, it retries at once and delivers the queued message once.
func TestAutoRelaySurvivesAKill(t *testing.T) {
	relayAddr := freePort(t)
	db := filepath.Join(t.TempDir(), "a.db")
	args := []string{"--db", db, "--relay-host", "127.0.0.1", "--relay-port", strconv.Itoa(port(t, relayAddr)), "--relay-all", "--relay-retry-delay", "1h"}
	a := startProcess(t, args...)
	id, err := deliver(a.addrs["smtp"], "queued across a kill")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the first try", func() bool {
		s, attempts, _ := relayState(t, a.addrs["http"], id)
		return s == "queued" && attempts == 1
	})
	a.cmd.Process.Kill()
	a.cmd.Wait()

	up := startUpstream(t, "--smtp", relayAddr)
	a = startProcess(t, args...)
	waitUntil(t, 20*time.Second, "state sent after the restart", func() bool { s, _, _ := relayState(t, a.addrs["http"], id); return s == "sent" })
	if _, attempts, _ := relayState(t, a.addrs["http"], id); attempts != 2 {
		t.Errorf("%d attempts, want 2", attempts)
	}
	got := messages(t, up.addrs["http"])
	if len(got) != 1 || got[0].Subject != "queued across a kill" {
		t.Fatalf("the second letterbox has %+v", got)
	}
}

// TestRelayFlags: the flags and a Mailpit relay file make the same relay; bad settings are
// refused naming the key or flag.
func TestRelayFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "relay.yml")
	os.WriteFile(file, []byte("host: smtp.example.com\nport: 587\nstarttls: true\nauth: plain\nusername: u\npassword: from-file\nallowed-recipients: '@example\\.com$'\n"), 0o600)
	env := map[string]string{"LETTERBOX_RELAY_PASSWORD": "from-env"}
	cfg, err := parseConfig([]string{"--relay-config", file, "--relay-port", "2525"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Relay.config
	if r == nil || r.Host != "smtp.example.com" || r.Port != 2525 || !r.STARTTLS || r.Auth != "plain" || r.Password != "from-env" || r.AllowedRecipients != `@example\.com$` {
		t.Errorf("relay config %+v", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--relay-matching", "subject:x"}, "need a relay"},
		{[]string{"--relay-port", "25"}, "--relay-port: no relay host"},
		{[]string{"--relay-host", "h", "--relay-auth", "login"}, "needs username and password"},
		{[]string{"--relay-host", "h", "--relay-blocked-recipients", "("}, "blocked-recipients"},
		{[]string{"--relay-config", filepath.Join(dir, "missing.yml")}, "relay config"},
		{[]string{"--relay-host", "h", "--relay-retries", "0"}, "--relay-retries"},
	} {
		_, err := parseConfig(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	// A search that does not parse is refused when the catcher is built.
	_, err = catcher.New(context.Background(), catcher.Config{DB: filepath.Join(dir, "x.db"), Relay: &relay.Config{Host: "h", Port: 25}, RelayMatching: "header:"})
	if err == nil || !strings.Contains(err.Error(), "--relay-matching") {
		t.Errorf("bad --relay-matching: %v", err)
	}
}

// newTestLogger logs at debug level to w.
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestRelayRefusedRecipient: the second letterbox accepts only bob@example.com
// (--smtp-accept-recipients): a release to bob and nobody reaches bob and answers 502 naming
// nobody's 550; a release to nobody alone sends nothing; auto-relay to nobody fails at the
// first try (a 5xx is final), while bob's copy goes through.
func TestRelayRefusedRecipient(t *testing.T) {
	up := startUpstream(t, "--smtp-accept-recipients", "bob@example.com")
	c := startCatcher(t, catcher.Config{Relay: &relay.Config{Host: "127.0.0.1", Port: port(t, up.addrs["smtp"])}})
	sum, _ := c.Store.Add(context.Background(), store.Envelope{MailFrom: "app@example.com", Recipients: []string{"x@example.com"}},
		strings.NewReader("From: app@example.com\r\nTo: x@example.com\r\nSubject: refused in part\r\n\r\nhello\r\n"))
	url := "http://" + c.Addr("http") + "/api/v1/message/" + sum.ID + "/release"
	code, body, _ := post(t, url, `{"To":["bob@example.com","nobody@example.com"]}`)
	if code != 502 || !strings.Contains(body, "sent to bob@example.com") || !strings.Contains(body, "<nobody@example.com>: 550 5.1.1") {
		t.Errorf("partly refused release: %d %q", code, body)
	}
	code, body, _ = post(t, url, `{"To":["nobody@example.com"]}`)
	if code != 502 || !strings.Contains(body, "every recipient refused") || !strings.Contains(body, "550 5.1.1") {
		t.Errorf("refused release: %d %q", code, body)
	}
	got := messages(t, up.addrs["http"])
	if len(got) != 1 || strings.Join(got[0].Envelope.Recipients, ",") != "bob@example.com" {
		t.Fatalf("the second letterbox has %+v", got)
	}

	auto := startProcess(t, "--db", filepath.Join(t.TempDir(), "auto.db"), "--relay-host", "127.0.0.1", "--relay-port", strconv.Itoa(port(t, up.addrs["smtp"])), "--relay-all")
	sendPlain(t, auto.addrs["smtp"], "app@example.com", "nobody@example.com", "From: app@example.com\r\nTo: nobody@example.com\r\nSubject: to nobody\r\n\r\nhello\r\n")
	id := messages(t, auto.addrs["http"])[0].ID
	waitUntil(t, 20*time.Second, "the refused auto-relay to fail", func() bool { s, _, _ := relayState(t, auto.addrs["http"], id); return s == "failed" })
	if _, attempts, reply := relayState(t, auto.addrs["http"], id); attempts != 1 || !strings.Contains(reply, "550 5.1.1") {
		t.Errorf("failed after %d attempts: %q", attempts, reply)
	}
}
