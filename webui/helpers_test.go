package webui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// testEnv is a server on a real loopback listener over a store in a temporary directory.
type testEnv struct {
	t   *testing.T
	st  *store.Store
	srv *Server
	url string // http://127.0.0.1:port
}

// tlog sends logs to t.Log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

func newEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(t.TempDir(), "test.db"), Logger: log, Hostname: "test.local"})
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = st
	opts.Logger = log
	if opts.Sessions == nil {
		opts.Sessions = st
	}
	if opts.Static == nil {
		opts.Static = fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>inbox</title>")}, "app.js": {Data: []byte("// js")}}
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		st.Close()
	})
	return &testEnv{t: t, st: st, srv: srv, url: "http://" + l.Addr().String()}
}

// msg is a message to add.
type msg struct {
	from, subject, text, html string
	to                        []string
	cc                        []string
	extra                     string // more header lines, each ending in \r\n
	env                       store.Envelope
}

func (m msg) raw() string {
	var b strings.Builder
	from := m.from
	if from == "" {
		from = "Alice Example <alice@example.com>"
	}
	b.WriteString("From: " + from + "\r\n")
	if len(m.to) > 0 {
		b.WriteString("To: " + strings.Join(m.to, ", ") + "\r\n")
	}
	if len(m.cc) > 0 {
		b.WriteString("Cc: " + strings.Join(m.cc, ", ") + "\r\n")
	}
	b.WriteString("Subject: " + m.subject + "\r\n")
	b.WriteString("Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n")
	b.WriteString("Message-ID: <" + strings.ReplaceAll(strings.ToLower(m.subject), " ", ".") + "@example.com>\r\n")
	b.WriteString(m.extra)
	b.WriteString("MIME-Version: 1.0\r\n")
	if m.html != "" {
		b.WriteString("Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n")
		b.WriteString("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + m.text + "\r\n")
		b.WriteString("--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + m.html + "\r\n--b1--\r\n")
	} else {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n" + m.text + "\r\n")
	}
	return b.String()
}

// add stores m through the store and returns its summary.
func (e *testEnv) add(m msg) store.Summary {
	e.t.Helper()
	return e.addRaw(m.env, m.raw())
}

func (e *testEnv) addRaw(env store.Envelope, raw string) store.Summary {
	e.t.Helper()
	if env.MailFrom == "" {
		env.MailFrom = "alice@example.com"
	}
	if env.Helo == "" {
		env.Helo = "client.test"
	}
	if env.RemoteAddr == "" {
		env.RemoteAddr = "127.0.0.1:40000"
	}
	if len(env.Recipients) == 0 {
		env.Recipients = []string{"bob@example.org"}
	}
	sum, err := e.st.Add(context.Background(), env, strings.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

// do sends a request and returns the response with its body read.
func (e *testEnv) do(method, path string, body string, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, data
}

// get expects 200 and decodes JSON into a generic value.
func (e *testEnv) getJSON(path string) any {
	e.t.Helper()
	res, data := e.do("GET", path, "")
	if res.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %s", path, res.StatusCode, data)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		e.t.Fatalf("GET %s: %v: %s", path, err, data)
	}
	return v
}

// expectOK expects 200 with the body "ok".
func (e *testEnv) expectOK(method, path, body string, hdr ...string) {
	e.t.Helper()
	res, data := e.do(method, path, body, hdr...)
	if res.StatusCode != 200 || string(data) != "ok" {
		e.t.Fatalf("%s %s: %d %q, want 200 ok", method, path, res.StatusCode, data)
	}
}

// shape describes expected JSON: "string", "number", "bool", "array", "object", "null",
// "time" (RFC 3339 string), or a map/slice of shapes.
type shape = any

// checkShape asserts that v has exactly the keys and types of want (extra keys are errors too).
func checkShape(t *testing.T, where string, v any, want shape) {
	t.Helper()
	switch w := want.(type) {
	case string:
		ok := false
		switch w {
		case "string":
			_, ok = v.(string)
		case "time":
			s, isStr := v.(string)
			_, err := time.Parse(time.RFC3339Nano, s)
			ok = isStr && err == nil
		case "number":
			_, ok = v.(json.Number)
		case "bool":
			_, ok = v.(bool)
		case "array":
			_, ok = v.([]any)
		case "object":
			_, ok = v.(map[string]any)
		case "null":
			ok = v == nil
		case "any":
			ok = true
		}
		if !ok {
			t.Errorf("%s: got %T %v, want %s", where, v, v, w)
		}
	case map[string]any:
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: got %T, want object", where, v)
			return
		}
		for k, sub := range w {
			got, present := m[k]
			if !present {
				t.Errorf("%s.%s: missing", where, k)
				continue
			}
			checkShape(t, where+"."+k, got, sub)
		}
		for k := range m {
			if _, ok := w[k]; !ok {
				t.Errorf("%s.%s: unexpected field", where, k)
			}
		}
	case []any: // array whose every element has shape w[0]
		a, ok := v.([]any)
		if !ok {
			t.Errorf("%s: got %T (%v), want array", where, v, v)
			return
		}
		for i, el := range a {
			checkShape(t, where+"["+strconv.Itoa(i)+"]", el, w[0])
		}
	}
}

var addrShape = map[string]any{"Name": "string", "Address": "string"}

var summaryShape = map[string]any{
	"ID": "string", "MessageID": "string", "Read": "bool", "From": addrShape,
	"To": []any{addrShape}, "Cc": []any{addrShape}, "Bcc": []any{addrShape}, "ReplyTo": []any{addrShape},
	"Subject": "string", "Created": "time", "Username": "string", "Tags": []any{"string"},
	"Size": "number", "Attachments": "number", "Snippet": "string",
}

var listShape = map[string]any{
	"total": "number", "unread": "number", "count": "number", "messages_count": "number",
	"messages_unread": "number", "start": "number", "tags": []any{"string"}, "messages": []any{summaryShape},
}

// ids returns the IDs of a list envelope's messages.
func ids(v any) []string {
	var out []string
	for _, m := range v.(map[string]any)["messages"].([]any) {
		out = append(out, m.(map[string]any)["ID"].(string))
	}
	return out
}

func num(v any) int {
	n, err := v.(json.Number).Int64()
	if err != nil {
		panic(err)
	}
	return int(n)
}

func field(v any, path ...string) any {
	for _, p := range path {
		v = v.(map[string]any)[p]
	}
	return v
}
