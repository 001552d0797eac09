package webui

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/smtpd"
)

// startSMTP serves real SMTP into e's store and returns its address.
func (e *testEnv) startSMTP() (string, *smtpd.Server) {
	e.t.Helper()
	srv, err := smtpd.New(e.st, smtpd.Options{Hostname: "mx.test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.serveSMTP(srv), srv
}

// serveSMTP serves srv on 127.0.0.1:0 until the test ends and returns its address.
func (e *testEnv) serveSMTP(srv *smtpd.Server) string {
	e.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, smtpd.ErrServerClosed) {
			e.t.Errorf("smtpd Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// TestThroughSMTP sends real SMTP and checks the websocket (stats, then new after the 250), the
// wait endpoint, the message's envelope, and the SMTP counters in /api/v1/info.
func TestThroughSMTP(t *testing.T) {
	var smtpSrv *smtpd.Server
	e := newEnv(t, Options{SMTPStats: func() SMTPStats {
		st := smtpSrv.Stats()
		return SMTPStats{Accepted: st.SMTPAccepted, AcceptedSize: st.SMTPAcceptedSize, Rejected: st.SMTPRejected, Ignored: st.SMTPIgnored}
	}})
	addr, srv := e.startSMTP()
	smtpSrv = srv
	c := e.wsDial("/api/events")
	if ev := next(t, c); ev["Type"] != "stats" {
		t.Fatalf("first event %v", ev)
	}
	waited := make(chan *http.Response, 1)
	go func() {
		res, err := http.Get(e.url + "/api/v1/wait?timeout=10s&query=" + url.QueryEscape("to:dev@app.test subject:\"verify your email\""))
		if err != nil {
			t.Error(err)
		}
		waited <- res
	}()
	raw := "From: App <noreply@app.test>\r\nTo: dev@app.test\r\nSubject: Verify your email\r\n\r\nClick https://app.test/verify?t=abc\r\n"
	sendSMTP(t, addr, "noreply@app.test", []string{"dev@app.test"}, raw)
	acked := time.Now()
	ev := nextOfType(t, c, "new")
	if field(ev, "Data", "Subject") != "Verify your email" {
		t.Errorf("new event: %v", ev)
	}
	select {
	case res := <-waited:
		if res == nil {
			t.Fatal("wait failed")
		}
		defer res.Body.Close()
		var l List
		if err := json.NewDecoder(res.Body).Decode(&l); err != nil || res.StatusCode != 200 || len(l.Messages) != 1 {
			t.Fatalf("wait: %d %v %+v", res.StatusCode, err, l)
		}
		t.Logf("wait answered %v after the 250", time.Since(acked))
		m := e.getJSON("/api/v1/message/" + l.Messages[0].ID)
		if field(m, "Envelope", "MailFrom") != "noreply@app.test" || field(m, "Envelope", "Helo") == "" ||
			field(m, "Envelope", "Recipients").([]any)[0] != "dev@app.test" {
			t.Errorf("envelope: %v", field(m, "Envelope"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not answer after the SMTP 250")
	}
	info := e.getJSON("/api/v1/info")
	if num(field(info, "RuntimeStats", "SMTPAccepted")) != 1 || num(field(info, "RuntimeStats", "SMTPAcceptedSize")) < len(raw) {
		t.Errorf("SMTP counters: %v", field(info, "RuntimeStats"))
	}
}

// sendSMTP sends one message in plain text (no STARTTLS) and returns after the 250.
func sendSMTP(t *testing.T, addr, from string, to []string, raw string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // reads the 250
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}
