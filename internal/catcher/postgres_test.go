package catcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/store"
)

// TestLostDatabase cuts a PostgreSQL-backed catcher off its database: SMTP answers 451 (never
// 250), the API and /readyz 503; once the database is back it reconnects by itself and stores
// mail again.
func TestLostDatabase(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.Database(t))
	c, err := New(context.Background(), Config{SMTP: "127.0.0.1:0", HTTP: "127.0.0.1:0", DB: url, Hostname: "catcher.test", Metrics: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(subject string) error { return sendOne(c.Addr("smtp"), subject) }
	get := func(path string) int {
		t.Helper()
		res, err := http.Get("http://" + c.Addr("http") + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if err := send("before"); err != nil {
		t.Fatal(err)
	}
	if code := get("/readyz"); code != 200 {
		t.Fatalf("readyz with the database: %d", code)
	}
	if body := metricsText(t, c.Addr("http")); !strings.Contains(body, "\nletterbox_database_up 1\n") ||
		!strings.Contains(body, "\nletterbox_messages 1\n") || strings.Contains(body, "\nletterbox_database_bytes 0\n") {
		t.Errorf("/metrics on PostgreSQL with one message:\n%s", body)
	}

	proxy.Cut()
	err = send("while cut off")
	var se *textproto.Error
	if !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("SMTP without the database: %v, want 451", err)
	}
	if body := metricsText(t, c.Addr("http")); !strings.Contains(body, "\nletterbox_database_up 0\n") {
		t.Errorf("/metrics without the database: no letterbox_database_up 0")
	}
	for _, path := range []string{"/readyz", "/api/v1/messages", "/api/v1/search?query=before"} {
		if code := get(path); code != http.StatusServiceUnavailable {
			t.Errorf("%s without the database: %d, want 503", path, code)
		}
	}

	proxy.Restore()
	deadline := time.Now().Add(20 * time.Second)
	for get("/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("not ready 20s after the database came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := send("after"); err != nil {
		t.Fatalf("SMTP after the database came back: %v", err)
	}
	st, err := c.Store.Stats(context.Background())
	if err != nil || st.Total != 2 {
		t.Fatalf("after: %+v %v (want the two messages acknowledged)", st, err)
	}
}

// metricsText returns the body of /metrics.
func metricsText(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestLostDatabaseUnderLoad cuts the database off while clients keep sending: every message
// acknowledged with 250, before, during or after the cut, is stored once it is back, and every
// refusal meanwhile is a 4xx.
func TestLostDatabaseUnderLoad(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.Database(t))
	c, err := New(context.Background(), Config{SMTP: "127.0.0.1:0", HTTP: "127.0.0.1:0", DB: url, Hostname: "catcher.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var acked []string
	refused := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for n := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				subject := fmt.Sprintf("load-%d-%d", n, i)
				err := sendOne(c.Addr("smtp"), subject)
				mu.Lock()
				var se *textproto.Error
				switch {
				case err == nil:
					acked = append(acked, subject)
				case errors.As(err, &se) && se.Code >= 400 && se.Code < 500:
					refused++
				default:
					t.Errorf("%s: %v, want 250 or a 4xx", subject, err)
				}
				mu.Unlock()
			}
		})
	}
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return len(acked), refused }
	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitUntil("50 acknowledged", func() bool { n, _ := count(); return n >= 50 })
	proxy.Cut()
	waitUntil("refusals while cut off", func() bool { _, r := count(); return r >= 5 })
	proxy.Restore()
	n0, _ := count()
	waitUntil("mail acknowledged again", func() bool { n, _ := count(); return n >= n0+50 })
	close(stop)
	wg.Wait()
	res, err := c.Store.Search(context.Background(), store.Filter{}, store.Page{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, m := range res.Messages {
		stored[m.Subject] = true
	}
	for _, s := range acked {
		if !stored[s] {
			t.Errorf("%s was acknowledged with 250 and is not stored", s)
		}
	}
	t.Logf("%d acknowledged, %d refused with 4xx, %d stored", len(acked), refused, len(res.Messages))
}

// sendOne sends one message with subject over SMTP (no STARTTLS) and returns the first error.
func sendOne(addr, subject string) error {
	cl, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Mail("a@example.com"); err != nil {
		return err
	}
	if err := cl.Rcpt("b@example.com"); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	w.Write([]byte("Subject: " + subject + "\r\n\r\nbody\r\n"))
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}
