package webui

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/relay"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
)

// upstream is a second catcher (letterbox's own SMTP server over its own store) standing for
// the real server a release goes to.
type upstream struct {
	st   *store.Store
	addr string
	port int
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "upstream.db")})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtpd.New(st, smtpd.Options{Hostname: "upstream.test"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, smtpd.ErrServerClosed) {
			t.Errorf("upstream Serve: %v", err)
		}
		st.Close()
	})
	return &upstream{st: st, addr: l.Addr().String(), port: l.Addr().(*net.TCPAddr).Port}
}

// messages returns what the upstream stored, oldest first.
func (u *upstream) messages(t *testing.T) []*store.Message {
	t.Helper()
	entries, err := u.st.Index(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.Message
	for _, e := range entries {
		m, err := u.st.Message(context.Background(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func newRelayEnv(t *testing.T, cfg relay.Config, releaseHosts ...string) *testEnv {
	t.Helper()
	r, err := relay.New(cfg, relay.Options{ClientOptions: relay.ClientOptions{Hostname: "catcher.test", Timeout: 10 * time.Second}, ReleaseHosts: releaseHosts})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Options{Relay: r})
	e.srv.opts.RelayLog = e.st
	return e
}

func relayStatusOf(t *testing.T, e *testEnv, id string) RelayStatus {
	t.Helper()
	res, body := e.do("GET", "/api/v1/message/"+id+"/relay", "")
	var st RelayStatus
	if res.StatusCode != 200 || json.Unmarshal(body, &st) != nil {
		t.Fatalf("relay status: %d %s", res.StatusCode, body)
	}
	return st
}

func TestReleaseThroughTheConfiguredRelay(t *testing.T) {
	up := startUpstream(t)
	e := newRelayEnv(t, relay.Config{Host: "127.0.0.1", Port: up.port, Auth: "plain", Username: "relayuser", Password: "hunter2-secret",
		AllowedRecipients: `@example\.(com|org)$`, BlockedRecipients: `^blocked@`})
	sum := e.add(msg{subject: "Release me", text: "hello", to: []string{"bob@example.com"}})

	// /api/v1/webui reports the relay, never its password.
	res, body := e.do("GET", "/api/v1/webui", "")
	if res.StatusCode != 200 || strings.Contains(string(body), "hunter2") {
		t.Fatalf("webui: %d %s", res.StatusCode, body)
	}
	var cfg WebUIConfig
	json.Unmarshal(body, &cfg)
	if !cfg.MessageRelay.Enabled || cfg.MessageRelay.SMTPServer != up.addr || cfg.MessageRelay.AllowedRecipients != `@example\.(com|org)$` {
		t.Errorf("MessageRelay %+v", cfg.MessageRelay)
	}

	// Outside allowed-recipients, or blocked: 400 and nothing sent, nothing recorded.
	for _, to := range []string{`["carol@elsewhere.net"]`, `["blocked@example.com"]`, `["not an address"]`, `[]`} {
		res, body = e.do("POST", "/api/v1/message/"+sum.ID+"/release", `{"To":`+to+`}`)
		if res.StatusCode != 400 || to == `[]` && !strings.Contains(string(body), "no recipients (To)") {
			t.Errorf("To %s: %d %s, want 400", to, res.StatusCode, body)
		}
	}
	if n := len(up.messages(t)); n != 0 {
		t.Fatalf("%d messages went out for refused releases", n)
	}

	res, body = e.do("POST", "/api/v1/message/"+sum.ID+"/release", `{"To":["Carol <carol@example.org>"]}`)
	if res.StatusCode != 200 || string(body) != "ok" || !strings.HasPrefix(res.Header.Get("X-Relay-Reply"), "250 ") {
		t.Fatalf("release: %d %q reply %q", res.StatusCode, body, res.Header.Get("X-Relay-Reply"))
	}
	got := up.messages(t)
	if len(got) != 1 || got[0].Subject != "Release me" || strings.Join(got[0].Envelope.Recipients, ",") != "carol@example.org" || got[0].Username != "relayuser" {
		t.Fatalf("upstream got %+v", got)
	}
	st := relayStatusOf(t, e, sum.ID)
	if st.State != "sent" || len(st.Jobs) != 1 || st.Jobs[0].Kind != "release" || !strings.HasPrefix(st.Jobs[0].Reply, "250 ") {
		t.Errorf("relay status %+v", st)
	}

	// "latest" works as for the other message paths; a missing message is 404.
	if res, _ := e.do("POST", "/api/v1/message/latest/release", `{"To":["dave@example.com"]}`); res.StatusCode != 200 {
		t.Errorf("latest: %d", res.StatusCode)
	}
	if res, _ := e.do("POST", "/api/v1/message/nope/release", `{"To":["dave@example.com"]}`); res.StatusCode != 404 {
		t.Errorf("missing: %d", res.StatusCode)
	}

	// MailHog's release naming the configured relay goes through it, with its settings.
	res, body = e.do("POST", "/api/v1/messages/"+sum.ID+"/release", `{"Host":"127.0.0.1","Port":"`+strconv.Itoa(up.port)+`","Email":"erin@example.com","Username":"x","Password":"y","Mechanism":"PLAIN"}`)
	var reply struct{ Reply string }
	if res.StatusCode != 200 || json.Unmarshal(body, &reply) != nil || !strings.HasPrefix(reply.Reply, "250 ") {
		t.Errorf("MailHog release: %d %s", res.StatusCode, body)
	}
	if got := up.messages(t); len(got) != 3 || got[2].Username != "relayuser" {
		t.Errorf("upstream has %d messages; last from user %q", len(got), got[len(got)-1].Username)
	}
	// A host the request names and the operator did not allow: 400, nothing sent.
	res, body = e.do("POST", "/api/v1/messages/"+sum.ID+"/release", `{"Host":"localhost","Port":1025,"Email":"erin@example.com"}`)
	if res.StatusCode != 400 || !strings.Contains(string(body), "--release-hosts") {
		t.Errorf("unlisted host: %d %s", res.StatusCode, body)
	}
}

func TestReleaseFailureIsRecordedAndAnswered502(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there
	e := newRelayEnv(t, relay.Config{Host: "127.0.0.1", Port: port})
	sum := e.add(msg{subject: "Nowhere", text: "x", to: []string{"bob@example.com"}})
	res, body := e.do("POST", "/api/v1/message/"+sum.ID+"/release", `{"To":["bob@example.com"]}`)
	if res.StatusCode != 502 || !strings.Contains(string(body), "connect") {
		t.Errorf("release to a dead relay: %d %s", res.StatusCode, body)
	}
	if st := relayStatusOf(t, e, sum.ID); st.State != "failed" || !strings.Contains(st.Jobs[0].Reply, "connect") {
		t.Errorf("status %+v", st)
	}
}

func TestReleaseWithoutARelay(t *testing.T) {
	e := newEnv(t, Options{})
	sum := e.add(msg{subject: "No relay", text: "x", to: []string{"bob@example.com"}})
	if res, body := e.do("POST", "/api/v1/message/"+sum.ID+"/release", `{"To":["bob@example.com"]}`); res.StatusCode != 400 || !strings.Contains(string(body), "no relay configured") {
		t.Errorf("Mailpit release: %d %s", res.StatusCode, body)
	}
	if res, _ := e.do("POST", "/api/v1/messages/"+sum.ID+"/release", `{"Host":"127.0.0.1","Port":"25","Email":"bob@example.com"}`); res.StatusCode != 400 {
		t.Errorf("MailHog release: %d", res.StatusCode)
	}
	res, body := e.do("GET", "/api/v1/webui", "")
	var cfg WebUIConfig
	json.Unmarshal(body, &cfg)
	if res.StatusCode != 200 || cfg.MessageRelay.Enabled {
		t.Errorf("webui %s", body)
	}
	if st := relayStatusOf(t, e, sum.ID); st.State != "" || len(st.Jobs) != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestMboxDownload(t *testing.T) {
	e := newEnv(t, Options{})
	e.add(msg{subject: "Invoice one", text: "From the top", to: []string{"bob@example.com"}})
	e.add(msg{subject: "Newsletter", text: "x", to: []string{"bob@example.com"}})
	e.add(msg{subject: "Invoice two", text: "y", to: []string{"bob@example.com"}})
	res, body := e.do("GET", "/api/v1/mbox?query=subject:invoice", "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/mbox" || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment; filename=\"letterbox-") {
		t.Fatalf("mbox: %d %v", res.StatusCode, res.Header)
	}
	s := string(body)
	if strings.Count(s, "\nFrom alice@example.com ")+btoi(strings.HasPrefix(s, "From alice@example.com ")) != 2 ||
		!strings.Contains(s, "\r\n>From the top\r\n") || strings.Contains(s, "Newsletter") ||
		strings.Index(s, "Invoice one") > strings.Index(s, "Invoice two") {
		t.Errorf("mbox:\n%s", s)
	}
	// A search that does not parse is 400 naming it, before any mbox is sent.
	if res, body := e.do("GET", "/api/v1/mbox?query=header:", ""); res.StatusCode != 400 || !strings.Contains(string(body), "header:") ||
		res.Header.Get("Content-Disposition") != "" {
		t.Errorf("bad query: %d %v %s, want 400", res.StatusCode, res.Header, body)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
