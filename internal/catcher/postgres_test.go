package catcher

import (
	"context"
	"errors"
	"net/http"
	"net/smtp"
	"net/textproto"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
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
	send := func(subject string) error { // without STARTTLS: the certificate is self-signed
		cl, err := smtp.Dial(c.Addr("smtp"))
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
		return w.Close()
	}
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

	proxy.Cut()
	err = send("while cut off")
	var se *textproto.Error
	if !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("SMTP without the database: %v, want 451", err)
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
