package webui

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

	"github.com/gorilla/websocket"

	"github.com/letterbox-mail/letterbox/store"
)

// TestShutdownEndsLongRequests: Shutdown returns promptly with a websocket client connected and
// a wait request pending; the client gets a going-away close, and Serve returns ErrServerClosed.
func TestShutdownEndsLongRequests(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "s.db"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	base := "http://" + l.Addr().String()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+l.Addr().String()+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadMessage(); err != nil { // stats
		t.Fatal(err)
	}
	waited := make(chan int, 1)
	go func() {
		res, err := http.Get(base + "/api/v1/wait?query=never&timeout=60s")
		if err != nil {
			waited <- 0
			return
		}
		res.Body.Close()
		waited <- res.StatusCode
	}()
	// Make sure the wait request is in the server before shutting down.
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		closed := srv.closed
		srv.mu.Unlock()
		if closed {
			t.Fatal("closed early")
		}
		if n := countLongLived(srv); n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond) // polling a counter with a deadline, not waiting for an outcome
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("websocket after shutdown: %v", err)
	}
	if code := <-waited; code != http.StatusServiceUnavailable {
		t.Errorf("pending wait answered %d, want 503", code)
	}
	if _, err := http.Get(base + "/livez"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("server still answering: %v", err)
	}
}

func countLongLived(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}
