package inproc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTransport(t *testing.T) {
	waiting := make(chan struct{}, 1)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			w.WriteHeader(201)
			w.Write([]byte(r.URL.RawQuery + ":" + string(body)))
		case "/wait":
			waiting <- struct{}{}
			<-r.Context().Done()
		case "/panic":
			panic("boom")
		}
	})
	c := &http.Client{Transport: Transport(func() http.Handler { return h })}
	res, err := c.Post("http://in.process/echo?a=1", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 || res.Header.Get("X-Method") != "POST" || string(body) != "a=1:hello" {
		t.Errorf("%d %v %q", res.StatusCode, res.Header, body)
	}
	res, err = c.Get("http://in.process/nothing")
	if err != nil || res.StatusCode != 200 {
		t.Errorf("silent handler: %v %v", res, err)
	}
	// A request cancelled before it is sent fails without reaching the handler.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://in.process/wait", nil)
	if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	select { // the handler would be called at once: a short look suffices to see that it was
	case <-waiting:
		t.Error("a cancelled request reached the handler")
	case <-time.After(100 * time.Millisecond):
	}
	// One cancelled while the handler waits fails too, although the handler, seeing its context
	// done, returns and so "answers" 200 at the same moment.
	for range 20 {
		ctx, cancel = context.WithCancel(context.Background())
		go func() {
			<-waiting
			cancel()
		}()
		req, _ = http.NewRequestWithContext(ctx, "GET", "http://in.process/wait", nil)
		if res, err := c.Do(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled while waiting: %v %v", res, err)
		}
	}
	res, err = c.Get("http://in.process/panic")
	if err == nil {
		_, err = io.ReadAll(res.Body)
	}
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("panic: %v", err)
	}
	h = nil
	if _, err := c.Get("http://in.process/echo"); err == nil {
		t.Error("no handler: no error")
	}
}
