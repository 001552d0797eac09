// Package inproc lets an http.Client call an http.Handler of the same process directly, without
// a listener or a socket: letterbox's MCP tools use the HTTP API through the client package this
// way when they run inside letterbox itself.
package inproc

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Transport returns a RoundTripper that serves each request with handler() and streams the
// response back as it is written. handler is called for every request, so that it may be set
// after the client is made.
func Transport(handler func() http.Handler) http.RoundTripper {
	return roundTripper(handler)
}

type roundTripper func() http.Handler

// RoundTrip runs the handler in a goroutine and returns once it has sent its header.
func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	// A request cancelled before it is sent never reaches the handler, as with net/http's
	// Transport. Without this check the handler's goroutine could answer before the wait below
	// notices the cancellation, and a cancelled request would succeed.
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	h := rt()
	if h == nil {
		return nil, fmt.Errorf("inproc: no handler for %s %s", req.Method, req.URL)
	}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &writer{header: http.Header{}, body: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				pw.CloseWithError(fmt.Errorf("inproc: handler panicked: %v", p))
				w.writeHeader(http.StatusInternalServerError)
				return
			}
			w.writeHeader(http.StatusOK) // a handler that wrote nothing answered 200
			pw.Close()
		}()
		h.ServeHTTP(w, in)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
	}
	// A handler that returns because the request was cancelled (its context done) "answers" 200
	// as it goes: the request failed all the same.
	if err := req.Context().Err(); err != nil {
		pr.CloseWithError(err)
		return nil, err
	}
	res := &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          pr,
		ContentLength: -1,
		Request:       req,
	}
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		res.ContentLength = n
	}
	return res, nil
}

// writer is the handler's http.ResponseWriter: its header goes out at the first Write or
// WriteHeader, its body through a pipe.
type writer struct {
	header http.Header
	body   *io.PipeWriter

	once   sync.Once
	ready  chan struct{}
	status int
	sent   http.Header
}

func (w *writer) Header() http.Header { return w.header }

func (w *writer) WriteHeader(code int) { w.writeHeader(code) }

func (w *writer) writeHeader(code int) {
	w.once.Do(func() {
		w.status, w.sent = code, w.header.Clone()
		close(w.ready)
	})
}

func (w *writer) Write(p []byte) (int, error) {
	w.writeHeader(http.StatusOK)
	return w.body.Write(p)
}

// Flush does nothing: every Write reaches the reader at once.
func (w *writer) Flush() {}
