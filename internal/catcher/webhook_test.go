package catcher

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/smtptest"
)

// The webhook counters reach /metrics.
func TestWebhookMetrics(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	c, err := New(context.Background(), Config{SMTP: "127.0.0.1:0", HTTP: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "c.db"),
		Metrics: true, WebhookURLs: []string{hook.URL + "/a?token=hidden", hook.URL + "/a?token=other"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sendPlain(t, c.Addr("smtp"), "Subject: counted\r\n\r\nhi\r\n")
	want := `letterbox_webhook_events_total{outcome="delivered",url="` + hook.URL + `/a #2"} 1`
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + c.Addr("http") + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		text := string(body)
		if strings.Contains(text, want) && strings.Contains(text, `letterbox_webhook_events_total{outcome="delivered",url="`+hook.URL+`/a"} 1`) {
			if strings.Contains(text, "hidden") {
				t.Error("/metrics shows a webhook URL's query")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in:\n%s", want, text)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendPlain sends one message over SMTP without STARTTLS (the certificate is self-signed).
func sendPlain(t *testing.T, addr, msg string) {
	t.Helper()
	if err := smtptest.Send(addr, "a@example.com", []string{"b@example.com"}, msg); err != nil {
		t.Fatal(err)
	}
}
