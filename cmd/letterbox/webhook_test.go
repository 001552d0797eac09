package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/webhook"
)

func TestWebhookFlags(t *testing.T) {
	env := map[string]string{"LETTERBOX_WEBHOOK_SECRET": "from-env"}
	cfg, err := parseConfig([]string{"--webhook-url", "http://a.test/1", "--webhook-url", "http://b.test/2"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.WebhookURLs, []string{"http://a.test/1", "http://b.test/2"}) || cfg.WebhookSecret != "from-env" {
		t.Errorf("flags: %v %q", cfg.WebhookURLs, cfg.WebhookSecret)
	}
	env = map[string]string{"LETTERBOX_WEBHOOK_URL": "http://a.test/1 http://b.test/2"}
	if cfg, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard); err != nil || len(cfg.WebhookURLs) != 2 {
		t.Errorf("from the environment: %v %v", cfg.WebhookURLs, err)
	}
}

// The binary posts a signed webhook for a message it received over SMTP.
func TestServeSendsWebhooks(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer hook.Close()
	addrs, cancel, done := startBinary(t, "--db", filepath.Join(t.TempDir(), "w.db"), "--smtp", "127.0.0.1:0",
		"--http", "off", "--pop3", "off", "--imap", "off", "--webhook-url", hook.URL+"/in", "--webhook-secret", "s3")
	defer func() { cancel(); <-done }()
	sendPlain(t, addrs["smtp"], "a@example.com", "b@example.com", "Subject: hooked\r\n\r\nhello\r\n")
	select {
	case r := <-got:
		body := <-bodies
		if r.URL.Path != "/in" || webhook.Verify("s3", r.Header, body, 0) != nil {
			t.Errorf("webhook %s %v: %s", r.URL.Path, r.Header, body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook within 10s")
	}
	if code := run(t.Context(), []string{"--db", filepath.Join(t.TempDir(), "x.db"), "--smtp", "127.0.0.1:0", "--http", "off",
		"--pop3", "off", "--imap", "off", "--webhook-url", "ftp://nope"}, io.Discard, io.Discard, func(string) string { return "" }); code == 0 {
		t.Error("an ftp:// webhook URL was accepted")
	}
}
