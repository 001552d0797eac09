package smtptest_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/catcher"
	"github.com/letterbox-mail/letterbox/internal/smtptest"
	"github.com/letterbox-mail/letterbox/store"
)

func TestSend(t *testing.T) {
	c, err := catcher.New(context.Background(), catcher.Config{SMTP: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := smtptest.Send(c.Addr("smtp"), "a@example.com", []string{"b@example.com", "c@example.com"}, "Subject: hi\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := c.Store.Search(t.Context(), store.Filter{}, store.Page{})
	if err != nil || res.Total != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	m, _ := c.Store.Message(t.Context(), res.Messages[0].ID)
	if strings.Join(m.Envelope.Recipients, ",") != "b@example.com,c@example.com" || m.Subject != "hi" {
		t.Errorf("%+v", m.Envelope)
	}
	if err := smtptest.Send("127.0.0.1:1", "a@example.com", []string{"b@example.com"}, "x"); err == nil {
		t.Error("no server: no error")
	}
}
