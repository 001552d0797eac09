package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/netguard"
)

// stored is a message as letterbox keeps it: its trace fields first.
const stored = "Return-Path: <bounce@app.test>\r\n" +
	"Received: from app ([127.0.0.1])\r\n\tby catcher (letterbox) with ESMTP id x;\r\n\tTue, 02 Jan 2024 03:04:05 +0000\r\n" +
	"From: The App <app@app.test>\r\n" +
	"To: alice@example.com\r\n" +
	"Bcc: secret@example.com\r\n" +
	"Subject: hello\r\n" +
	"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n" +
	"Message-ID: <orig@app.test>\r\n" +
	"\r\n" +
	"Hi.\r\nFrom here on, a body line.\r\n"

func newRelay(t *testing.T, cfg Config, ts *testServer, opts Options) *Relay {
	t.Helper()
	if ts != nil {
		cfg.Host, cfg.Port = "127.0.0.1", ts.port
		opts.RootCAs = ts.pool
	}
	if opts.Hostname == "" {
		opts.Hostname = "relay.test"
	}
	opts.Timeout = 10 * time.Second
	r, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDeliverEachAuthAndTLSMode(t *testing.T) {
	plainSrv, tlsSrv := startServer(t, false), startServer(t, true)
	for _, auth := range []string{"none", "plain", "login", "cram-md5"} {
		for _, mode := range []string{"plain", "starttls", "tls"} {
			t.Run(auth+"/"+mode, func(t *testing.T) {
				ts := plainSrv
				cfg := Config{Auth: auth, Username: testUser, Password: testPassword, Secret: testPassword}
				switch mode {
				case "starttls":
					cfg.STARTTLS = true
				case "tls":
					cfg.TLS, ts = true, tlsSrv
				}
				n := ts.count()
				res, err := newRelay(t, cfg, ts, Options{}).Release(context.Background(), Stored{MailFrom: "bounce@app.test", Raw: []byte(stored)}, []string{"Bob <bob@example.com>"})
				if err != nil {
					t.Fatal(err)
				}
				got := ts.wait(n)
				if !strings.HasPrefix(res.Reply, "250 2.0.0 queued as T") || !slices.Equal(res.Accepted, []string{"bob@example.com"}) {
					t.Errorf("result %+v", res)
				}
				wantUser, wantMech := "", ""
				if auth != "none" {
					wantUser, wantMech = testUser, strings.ToUpper(auth)
				}
				if got.Username != wantUser || got.Mech != wantMech {
					t.Errorf("server saw user %q mechanism %q, want %q %q", got.Username, got.Mech, wantUser, wantMech)
				}
				if got.TLS != (mode != "plain") {
					t.Errorf("TLS %v in mode %s", got.TLS, mode)
				}
				if got.Helo != "relay.test" {
					t.Errorf("EHLO %q, want relay.test", got.Helo)
				}
				if got.From != "bounce@app.test" || !slices.Equal(got.To, []string{"bob@example.com"}) {
					t.Errorf("envelope %q %q", got.From, got.To)
				}
			})
		}
	}
}

func TestWrongPasswordIsPermanentAndNotShown(t *testing.T) {
	ts := startServer(t, false)
	const wrong = "wrong-Passw0rd"
	r := newRelay(t, Config{Auth: "login", Username: testUser, Password: wrong, STARTTLS: true}, ts, Options{})
	_, err := r.Release(context.Background(), Stored{Raw: []byte(stored)}, []string{"bob@example.com"})
	var de *DeliveryError
	if !errors.As(err, &de) || de.Stage != "auth" || !de.Permanent() {
		t.Fatalf("got %v, want a permanent auth DeliveryError", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("the password is in the error: %v", err)
	}
	if ts.count() != 0 {
		t.Error("sent despite failing AUTH")
	}
}

func TestCertificateIsVerified(t *testing.T) {
	ts := startServer(t, false)
	// Without the test CA the server's certificate is unknown: refused, but not for good.
	r, _ := New(Config{Host: "127.0.0.1", Port: ts.port, STARTTLS: true}, Options{ClientOptions: ClientOptions{Timeout: 10 * time.Second}})
	_, err := r.Release(context.Background(), Stored{Raw: []byte(stored)}, []string{"bob@example.com"})
	var de *DeliveryError
	if !errors.As(err, &de) || de.Stage != "tls" || de.Permanent() {
		t.Fatalf("got %v, want a temporary tls DeliveryError", err)
	}
	// allow-insecure skips the check, as in Mailpit.
	r, _ = New(Config{Host: "127.0.0.1", Port: ts.port, STARTTLS: true, AllowInsecure: true}, Options{ClientOptions: ClientOptions{Timeout: 10 * time.Second}})
	if _, err := r.Release(context.Background(), Stored{Raw: []byte(stored)}, []string{"bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	if !ts.wait(0).TLS {
		t.Error("not over TLS")
	}
}

func TestRefusedRecipients(t *testing.T) {
	ts := startServer(t, false)
	r := newRelay(t, Config{}, ts, Options{})
	ctx := context.Background()
	res, err := r.Release(ctx, Stored{Raw: []byte(stored)}, []string{"refused@example.com", "bob@example.com", "later@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Accepted, []string{"bob@example.com"}) || len(res.Refused) != 2 ||
		!res.Refused[0].Permanent() || res.Refused[1].Permanent() ||
		!strings.Contains(res.Refused[0].String(), "550") || !strings.Contains(res.Refused[0].String(), "user unknown") {
		t.Errorf("result %+v", res)
	}
	if got := ts.wait(0); !slices.Equal(got.To, []string{"bob@example.com"}) {
		t.Errorf("server got %q", got.To)
	}
	_, err = r.Release(ctx, Stored{Raw: []byte(stored)}, []string{"refused@example.com"})
	var de *DeliveryError
	if !errors.As(err, &de) || de.Stage != "rcpt" || !de.Permanent() || !strings.Contains(err.Error(), "user unknown") {
		t.Errorf("all refused: %v", err)
	}
	_, err = r.Release(ctx, Stored{Raw: []byte(stored)}, []string{"later@example.com"})
	if !errors.As(err, &de) || de.Permanent() {
		t.Errorf("451: %v, want temporary", err)
	}
	if ts.count() != 1 {
		t.Errorf("%d messages arrived, want 1", ts.count())
	}
}

func TestReleaseRewritesAsMailpitDoes(t *testing.T) {
	ts := startServer(t, false)
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	ctx := context.Background()

	r := newRelay(t, Config{}, ts, Options{Now: func() time.Time { return now }})
	if _, err := r.Release(ctx, Stored{Raw: []byte(stored)}, []string{"bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	got := ts.wait(0)
	h := parseHeader([]byte(got.Data))
	if _, ok := h.get("Return-Path"); ok {
		t.Error("Return-Path passed on")
	}
	if _, ok := h.get("Bcc"); ok {
		t.Error("Bcc passed on")
	}
	if v, _ := h.get("Date"); v != "Tue, 04 Mar 2025 05:06:07 +0000" {
		t.Errorf("Date %q", v)
	}
	if v, _ := h.get("Message-ID"); v == "<orig@app.test>" || !strings.HasSuffix(v, "@relay.test>") {
		t.Errorf("Message-ID %q, want a new one", v)
	}
	if v, _ := h.get("Received"); !strings.Contains(v, "letterbox") {
		t.Errorf("the trace Received is gone: %q", v)
	}
	if got.From != "app@app.test" || !strings.HasSuffix(got.Data, "\r\n\r\nHi.\r\nFrom here on, a body line.\r\n") {
		t.Errorf("envelope sender %q (want the From address when none was stored), body %q", got.From, got.Data)
	}

	r = newRelay(t, Config{PreserveMessageIDs: true, ReturnPath: "bounces@relay.test", OverrideFrom: "Relay <relay@relay.test>"}, ts, Options{})
	if _, err := r.Release(ctx, Stored{MailFrom: "bounce@app.test", Raw: []byte(stored)}, []string{"bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	got = ts.wait(1)
	h = parseHeader([]byte(got.Data))
	if v, _ := h.get("Message-ID"); v != "<orig@app.test>" {
		t.Errorf("preserve-message-ids: %q", v)
	}
	if v, _ := h.get("From"); v != `"The App" <relay@relay.test>` {
		t.Errorf("override-from: From %q", v)
	}
	if v, _ := h.get("X-Original-From"); v != "app@app.test" {
		t.Errorf("X-Original-From %q", v)
	}
	if got.From != "relay@relay.test" {
		t.Errorf("envelope sender %q, want override-from", got.From)
	}

	r = newRelay(t, Config{ReturnPath: "bounces@relay.test"}, ts, Options{})
	r.Release(ctx, Stored{MailFrom: "bounce@app.test", Raw: []byte(stored)}, []string{"bob@example.com"})
	if got := ts.wait(2); got.From != "bounces@relay.test" {
		t.Errorf("return-path: envelope sender %q", got.From)
	}
}

func TestForwardKeepsTheMessage(t *testing.T) {
	ts := startServer(t, false)
	r := newRelay(t, Config{BlockedRecipients: `@blocked\.test$`}, ts, Options{})
	res, dropped, err := r.Forward(context.Background(), Stored{MailFrom: "bounce@app.test", Raw: []byte(stored)}, []string{"alice@example.com", "x@blocked.test"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dropped, []string{"x@blocked.test"}) || !slices.Equal(res.Accepted, []string{"alice@example.com"}) {
		t.Errorf("dropped %q accepted %q", dropped, res.Accepted)
	}
	got := ts.wait(0)
	h := parseHeader([]byte(got.Data))
	if v, _ := h.get("Message-ID"); v != "<orig@app.test>" {
		t.Errorf("Message-ID %q changed", v)
	}
	if v, _ := h.get("Date"); v != "Mon, 01 Jan 2024 00:00:00 +0000" {
		t.Errorf("Date %q changed", v)
	}
	if _, ok := h.get("Return-Path"); ok || got.From != "bounce@app.test" {
		t.Errorf("Return-Path kept %v, envelope sender %q", ok, got.From)
	}
	if _, _, err := r.Forward(context.Background(), Stored{Raw: []byte(stored)}, []string{"y@blocked.test"}); err == nil {
		t.Error("forwarded with every recipient blocked")
	}
}

func TestCheckRecipients(t *testing.T) {
	cfg := Config{Host: "h", AllowedRecipients: `@example\.com$`, BlockedRecipients: `^no-`}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := cfg.CheckRecipients([]string{"a@example.com", "B <b@example.com>"})
	if err != nil || !slices.Equal(got, []string{"a@example.com", "b@example.com"}) {
		t.Errorf("got %q, %v", got, err)
	}
	_, err = cfg.CheckRecipients([]string{"a@other.com", "no-reply@example.com", "not an address", "c@example.com"})
	var re *RecipientError
	if !errors.As(err, &re) || !slices.Equal(re.NotAllowed, []string{"a@other.com"}) || !slices.Equal(re.Blocked, []string{"no-reply@example.com"}) || !slices.Equal(re.Invalid, []string{"not an address"}) {
		t.Errorf("got %v", err)
	}
	if _, err := cfg.CheckRecipients(nil); !errors.Is(err, ErrNoRecipients) {
		t.Error("no recipients accepted")
	}
}

func TestMailHogReleaseHosts(t *testing.T) {
	ts := startServer(t, false)
	ctx := context.Background()
	m := Stored{MailFrom: "bounce@app.test", Raw: []byte(stored)}
	port := strings.TrimPrefix(ts.addr, "127.0.0.1:")
	req := MailHogRelease{Host: "127.0.0.1", Port: port, Email: "bob@example.com", Username: testUser, Password: testPassword, Mechanism: "PLAIN"}

	// Nothing configured: nowhere.
	r := newRelay(t, Config{}, nil, Options{})
	var he *HostError
	if _, err := r.ReleaseMailHog(ctx, m, req); !errors.As(err, &he) {
		t.Fatalf("unconfigured: %v, want a HostError", err)
	}
	// "*" means public hosts only: loopback is still refused, by netguard.
	r = newRelay(t, Config{}, nil, Options{ReleaseHosts: []string{"*"}})
	if _, err := r.ReleaseMailHog(ctx, m, req); !errors.Is(err, netguard.ErrBlocked) {
		t.Fatalf("with *: %v, want netguard.ErrBlocked", err)
	}
	// A listed host may be private; the request's credentials are used (STARTTLS when offered).
	r = newRelay(t, Config{}, nil, Options{ReleaseHosts: []string{"mail.test", "127.0.0.1:" + port}})
	res, err := r.ReleaseMailHog(ctx, m, req)
	if err != nil {
		t.Fatal(err)
	}
	got := ts.wait(0)
	if got.Username != testUser || !got.TLS || !slices.Equal(got.To, []string{"bob@example.com"}) || res.Reply == "" {
		t.Errorf("server saw %+v", got)
	}
	if strings.HasPrefix(got.Data, "Return-Path:") || !strings.Contains(got.Data, "Message-ID: <orig@app.test>") {
		t.Errorf("sent %q", got.Data)
	}
	// CRAMMD5, MailHog's name.
	req.Mechanism = "CRAMMD5"
	if _, err := r.ReleaseMailHog(ctx, m, req); err != nil {
		t.Fatal(err)
	}
	if got := ts.wait(1); got.Mech != "CRAM-MD5" {
		t.Errorf("mechanism %q", got.Mech)
	}
	// The configured relay's host and port: its own settings and rules apply.
	r = newRelay(t, Config{AllowedRecipients: `@allowed\.test$`}, ts, Options{})
	var re *RecipientError
	if _, err := r.ReleaseMailHog(ctx, m, req); !errors.As(err, &re) {
		t.Errorf("to the relay, a recipient outside allowed-recipients: %v", err)
	}
	for _, bad := range []struct {
		field string
		req   MailHogRelease
	}{
		{"Port", MailHogRelease{Host: "h", Port: "smtp", Email: "a@b.c"}},
		{"Host", MailHogRelease{Email: "a@b.c"}},
		{"Email", MailHogRelease{Host: "h"}},
		{"Mechanism", MailHogRelease{Host: "127.0.0.1", Port: port, Email: "a@b.c", Username: "u", Mechanism: "GSSAPI"}},
	} {
		r := newRelay(t, Config{}, nil, Options{ReleaseHosts: []string{"h", "127.0.0.1"}})
		var fe *FieldError
		if _, err := r.ReleaseMailHog(ctx, m, bad.req); !errors.As(err, &fe) || fe.Field != bad.field {
			t.Errorf("%s: %v", bad.field, err)
		}
	}
}

func TestLoadMailpitConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.yml")
	os.WriteFile(path, []byte(`# a Mailpit relay config, unchanged
host: smtp.example.com
port: 587
starttls: true
allow-insecure: false
auth: login
username: user@example.com
password: "p4ss: word"
return-path: bounces@example.com
override-from: "Sender <sender@example.com>"
allowed-recipients: '@example\.com$'
blocked-recipients: '^noreply@'
preserve-message-ids: true
forward-smtp-errors: true
some-future-key: 1
`), 0o600)
	cfg, unknown, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{Host: "smtp.example.com", Port: 587, STARTTLS: true, Auth: "login", Username: "user@example.com",
		Password: "p4ss: word", ReturnPath: "bounces@example.com", OverrideFrom: "sender@example.com",
		AllowedRecipients: `@example\.com$`, BlockedRecipients: `^noreply@`, PreserveMessageIDs: true, ForwardSMTPErrors: true}
	cfg.allowed, cfg.blocked = nil, nil
	if cfg != want {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
	if !slices.Equal(unknown, []string{"some-future-key"}) {
		t.Errorf("unknown keys %q", unknown)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("relay", "config", cfg)
	if strings.Contains(logged.String(), "p4ss") || !strings.Contains(logged.String(), "smtp.example.com:587") {
		t.Errorf("log line %q", logged.String())
	}
	r, _ := New(cfg, Options{})
	if info := r.Info(); !info.Enabled || info.SMTPServer != "smtp.example.com:587" || info.OverrideFrom != "sender@example.com" {
		t.Errorf("Info %+v", info)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "host"},
		{Config{Host: "h", Port: 70000}, "port"},
		{Config{Host: "smtp.example.com:587"}, "give the port as port"},
		{Config{Host: "h", STARTTLS: true, TLS: true}, "starttls and tls"},
		{Config{Host: "h", Auth: "plain", Username: "u"}, "auth plain"},
		{Config{Host: "h", Auth: "cram", Username: "u"}, "auth cram-md5"},
		{Config{Host: "h", Auth: "ntlm"}, "auth"},
		{Config{Host: "h", AllowedRecipients: "("}, "allowed-recipients"},
		{Config{Host: "h", BlockedRecipients: "["}, "blocked-recipients"},
		{Config{Host: "h", OverrideFrom: "nope"}, "override-from"},
		{Config{Host: "h", ReturnPath: "nope"}, "return-path"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want it to name %q", tc.cfg, err, tc.want)
		}
	}
	if c := (Config{Host: "[::1]", Port: 2525}); c.Validate() != nil || c.Dest().Addr() != "[::1]:2525" {
		t.Errorf("IPv6 host: %+v, %v", c, c.Validate())
	}
	c := Config{Host: "h", Auth: "CRAM", Username: "u", Secret: "s", RecipientAllowlist: "x"}
	if err := c.Validate(); err != nil || c.Auth != "cram-md5" || c.Port != 25 || c.AllowedRecipients != "x" {
		t.Errorf("defaults: %+v %v", c, err)
	}
}

func TestCRAMMD5RFC2195(t *testing.T) {
	c := &cramMD5Client{username: "tim", secret: "tanstaaftanstaaf"}
	got, _ := c.Next([]byte("<1896.697170952@postoffice.reston.mci.net>"))
	if string(got) != "tim b913a602c7eda7a495b4e6e7334d3890" {
		t.Errorf("got %q", got)
	}
}

func TestHeaderEdits(t *testing.T) {
	h := parseHeader([]byte("A: 1\nB: folded\n two\nA: 3\n\nbody\nA: not a header\n"))
	if h.eol != "\n" {
		t.Errorf("eol %q", h.eol)
	}
	if v, _ := h.get("b"); v != "folded two" {
		t.Errorf("B %q", v)
	}
	h.set("a", "new")
	h.add("C", "4")
	if got := string(h.bytes()); got != "a: new\nB: folded\n two\nC: 4\n\nbody\nA: not a header\n" {
		t.Errorf("got %q", got)
	}
	h = parseHeader([]byte("Subject: only a header"))
	h.set("Date", "x")
	if got := string(h.bytes()); got != "Subject: only a header\r\nDate: x\r\n" {
		t.Errorf("header without body: %q", got)
	}
}

// remote makes r's client treat every connection as leaving this machine, as a relay on
// another host would be (the test servers can listen on loopback only).
func remote(r *Relay) *Relay {
	r.client.local = func(net.Conn) bool { return false }
	return r
}

// TestPasswordNeverInTheClearOffThisMachine: a PLAIN or LOGIN password goes to a server off this
// machine only over TLS whose certificate was verified (or with allow-insecure); CRAM-MD5 sends
// none. The server never sees an AUTH attempt otherwise, and nothing is sent.
func TestPasswordNeverInTheClearOffThisMachine(t *testing.T) {
	ts := startServer(t, false)
	ctx := context.Background()
	m := Stored{MailFrom: "bounce@app.test", Raw: []byte(stored)}
	port := strings.TrimPrefix(ts.addr, "127.0.0.1:")
	for _, auth := range []string{"plain", "login"} {
		// The configured relay without starttls or tls: refused before AUTH, for good.
		r := remote(newRelay(t, Config{Auth: auth, Username: testUser, Password: testPassword}, ts, Options{}))
		_, err := r.Release(ctx, m, []string{"bob@example.com"})
		var de *DeliveryError
		if !errors.As(err, &de) || de.Stage != "auth" || !errors.Is(err, errInsecureAuth) || !de.Permanent() {
			t.Errorf("%s in the clear: %v, want a permanent auth error", auth, err)
		}
		// allow-insecure is the operator saying so.
		r = remote(newRelay(t, Config{Auth: auth, Username: testUser, Password: testPassword, AllowInsecure: true}, ts, Options{}))
		if _, err := r.Release(ctx, m, []string{"bob@example.com"}); err != nil {
			t.Errorf("%s with allow-insecure: %v", auth, err)
		}
	}
	if n := ts.count(); n != 2 {
		t.Fatalf("%d messages arrived, want the 2 sent with allow-insecure", n)
	}

	// A MailHog release to a listed host upgrades with STARTTLS; with a password for a remote
	// host the certificate must verify: unknown, nothing is sent and no AUTH is tried.
	req := MailHogRelease{Host: "127.0.0.1", Port: port, Email: "bob@example.com", Username: testUser, Password: testPassword, Mechanism: "PLAIN"}
	r := remote(newRelay(t, Config{}, nil, Options{ReleaseHosts: []string{"127.0.0.1"}}))
	_, err := r.ReleaseMailHog(ctx, m, req)
	var de *DeliveryError
	if !errors.As(err, &de) || de.Stage != "tls" {
		t.Errorf("password to a remote host with an unknown certificate: %v, want a tls error", err)
	}
	// Known: sent, authenticated, over TLS.
	r = remote(newRelay(t, Config{}, nil, Options{ReleaseHosts: []string{"127.0.0.1"}, ClientOptions: ClientOptions{RootCAs: ts.pool}}))
	if _, err := r.ReleaseMailHog(ctx, m, req); err != nil {
		t.Fatalf("password to a remote host with a verified certificate: %v", err)
	}
	if got := ts.wait(2); got.Username != testUser || !got.TLS {
		t.Errorf("server saw user %q TLS %v", got.Username, got.TLS)
	}
	// Without a password the upgrade is not verified: an unknown certificate still gets TLS.
	req.Username, req.Password = "", ""
	r = remote(newRelay(t, Config{}, nil, Options{ReleaseHosts: []string{"127.0.0.1"}}))
	if _, err := r.ReleaseMailHog(ctx, m, req); err != nil {
		t.Fatalf("no password, unknown certificate: %v", err)
	}
	if got := ts.wait(3); got.Username != "" || !got.TLS {
		t.Errorf("server saw user %q TLS %v", got.Username, got.TLS)
	}
	// CRAM-MD5 sends no password: allowed in the clear.
	r = remote(newRelay(t, Config{Auth: "cram-md5", Username: testUser, Secret: testPassword}, ts, Options{}))
	if _, err := r.Release(ctx, m, []string{"bob@example.com"}); err != nil {
		t.Errorf("cram-md5 in the clear: %v", err)
	}
	if got := ts.wait(4); got.Mech != "CRAM-MD5" || got.TLS {
		t.Errorf("server saw mechanism %q TLS %v", got.Mech, got.TLS)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.authFail != 0 || len(ts.messages) != 5 {
		t.Errorf("%d failed AUTH attempts, %d messages; want 0 and 5", ts.authFail, len(ts.messages))
	}
}
