package catcher

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartServesEveryListenerAndShutsDown(t *testing.T) {
	c, err := New(context.Background(), Config{
		SMTP: "127.0.0.1:0", SMTPS: "127.0.0.1:0", HTTP: "127.0.0.1:0", POP3: "127.0.0.1:0", IMAP: "127.0.0.1:0",
		DB: filepath.Join(t.TempDir(), "c.db"), Hostname: "catcher.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ep := range c.Endpoints() {
		names = append(names, ep.Name)
		if strings.HasSuffix(ep.Addr, ":0") {
			t.Errorf("%s: address %q not resolved after Start", ep.Name, ep.Addr)
		}
		conn, err := net.Dial("tcp", ep.Addr)
		if err != nil {
			t.Errorf("%s: %v", ep.Name, err)
			continue
		}
		conn.Close()
	}
	if got := strings.Join(names, ","); got != "smtp,smtps,http,pop3,imap" {
		t.Errorf("endpoints %s", got)
	}
	if c.Addr("imaps") != "" || c.SMTP == nil || c.HTTP == nil {
		t.Errorf("imaps %q, SMTP %v, HTTP %v", c.Addr("imaps"), c.SMTP, c.HTTP)
	}
	res, err := http.Get("http://" + c.Addr("http") + "/livez")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("livez: %v %v", res, err)
	}
	res.Body.Close()
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if _, err := net.Dial("tcp", c.Addr("smtp")); err == nil {
		t.Error("SMTP still listening after Shutdown")
	}
}

func TestStartNamesTheBusyListener(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c, err := New(context.Background(), Config{SMTP: "127.0.0.1:0", IMAP: busy.Addr().String(), DB: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err == nil || !strings.HasPrefix(err.Error(), "imap: ") {
		t.Fatalf("Start on a busy port: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Error("no DB accepted")
	}
	if _, err := New(context.Background(), Config{DB: filepath.Join(t.TempDir(), "c.db"), TLSCert: "/missing.pem", TLSKey: "/missing.key"}); err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Errorf("missing certificate: %v", err)
	}
	if _, err := New(context.Background(), Config{DB: filepath.Join(t.TempDir(), "c.db"), HTTP: "127.0.0.1:0", HTTPAuthFile: "/missing"}); err == nil || !strings.HasPrefix(err.Error(), "http: ") {
		t.Errorf("missing auth file: %v", err)
	}
}
