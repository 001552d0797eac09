package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/webui"
)

// server starts a real webui server over a temporary store.
func server(t *testing.T) (*client.Client, *store.Store) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(t.TempDir(), "c.db"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := webui.New(webui.Options{Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	c, err := client.New("http://" + l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func add(t *testing.T, st *store.Store, to, subject, body string) store.Summary {
	t.Helper()
	raw := "From: App <app@example.com>\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nX-Kind: test\r\n\r\n" + body + "\r\n"
	sum, err := st.Add(context.Background(), store.Envelope{MailFrom: "app@example.com", Recipients: []string{to}}, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestClient(t *testing.T) {
	ctx := t.Context()
	c, st := server(t)
	a := add(t, st, "bob@example.org", "Hello Bob", "first")
	b := add(t, st, "carol@example.org", "Hello Carol", "second")

	l, err := c.Messages(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != 2 || l.Count != 2 || l.Messages[0].ID != b.ID || l.Messages[1].To[0].Address != "bob@example.org" {
		t.Errorf("Messages: %+v", l)
	}
	if l, err = c.Messages(ctx, 1, 1); err != nil || l.Count != 1 || l.Messages[0].ID != a.ID {
		t.Errorf("Messages page: %+v %v", l, err)
	}
	l, err = c.Search(ctx, "to:carol", 0, 10)
	if err != nil || l.MessagesCount != 1 || l.Messages[0].Subject != "Hello Carol" {
		t.Errorf("Search: %+v %v", l, err)
	}
	if _, err := c.Search(ctx, "is:bogus", 0, 0); err == nil || err.(*client.Error).Status != 400 {
		t.Errorf("bad search: %v", err)
	}
	m, err := c.Message(ctx, a.ID)
	if err != nil || m.Subject != "Hello Bob" || !m.Read || strings.TrimSpace(m.Text) != "first" || m.Envelope.MailFrom != "app@example.com" {
		t.Errorf("Message: %+v %v", m, err)
	}
	if m, err := c.Message(ctx, "latest"); err != nil || m.ID != b.ID {
		t.Errorf("latest: %v", err)
	}
	raw, err := c.Raw(ctx, a.ID)
	if err != nil || !strings.Contains(string(raw), "X-Kind: test") {
		t.Errorf("Raw: %v", err)
	}
	if _, err := c.Message(ctx, "missing"); err == nil || err.(*client.Error).Status != 404 {
		t.Errorf("missing: %v", err)
	}
	if err := c.SetRead(ctx, []string{a.ID}, false); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.Messages(ctx, 0, 0); l.Unread != 1 {
		t.Errorf("unread after SetRead: %d", l.Unread)
	}

	// Wait: a message that arrives later.
	done := make(chan *client.List, 1)
	go func() {
		l, err := c.Wait(ctx, "subject:welcome", client.WaitOptions{SinceID: b.ID, Timeout: 10 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- l
	}()
	w := add(t, st, "dave@example.org", "Welcome Dave", "third")
	select {
	case l := <-done:
		if l == nil || len(l.Messages) != 1 || l.Messages[0].ID != w.ID {
			t.Errorf("Wait: %+v", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return")
	}
	_, err = c.Wait(ctx, "subject:never", client.WaitOptions{Count: 1, Timeout: 100 * time.Millisecond})
	if !errors.Is(err, client.ErrTimeout) {
		t.Errorf("Wait timeout: %v", err)
	}
	var herr *client.Error
	if !errors.As(err, &herr) || herr.Status != http.StatusRequestTimeout {
		t.Errorf("timeout error: %v", err)
	}

	if err := c.Delete(ctx, []string{a.ID}); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.Messages(ctx, 0, 0); l.Total != 2 {
		t.Errorf("after Delete: %d", l.Total)
	}
	if err := c.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.Messages(ctx, 0, 0); l.Total != 0 || l.Messages == nil {
		t.Errorf("after DeleteAll: %+v", l)
	}
	if _, err := client.New("ftp://x"); err == nil {
		t.Errorf("ftp URL accepted")
	}
}
