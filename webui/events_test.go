package webui

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsDial connects to a websocket path of e.
func (e *testEnv) wsDial(path string) *websocket.Conn {
	e.t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url, "http")+path, http.Header{"Origin": {e.url}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// next reads one event frame (with a deadline, so a missing event fails instead of hanging).
func next(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read event: %v", err)
	}
	var ev map[string]any
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.UseNumber()
	if err := d.Decode(&ev); err != nil {
		t.Fatalf("event %s: %v", data, err)
	}
	return ev
}

// nextOfType skips stats events, which may come at any time after changes.
func nextOfType(t *testing.T, c *websocket.Conn, typ string) map[string]any {
	t.Helper()
	for {
		ev := next(t, c)
		if ev["Type"] == typ {
			return ev
		}
		if ev["Type"] != "stats" {
			t.Fatalf("got %v, want a %s event", ev, typ)
		}
	}
}

func TestWebsocketEventOrder(t *testing.T) {
	e := newEnv(t, Options{Version: "9.9", StatsInterval: 20 * time.Millisecond})
	e.add(msg{subject: "Before", text: "x"})
	c := e.wsDial("/api/events")
	ev := next(t, c)
	checkShape(t, "stats", ev, map[string]any{"Type": "string", "Data": map[string]any{"Total": "number", "Unread": "number", "Version": "string"}})
	if ev["Type"] != "stats" || num(field(ev, "Data", "Total")) != 1 || field(ev, "Data", "Version") != "9.9" {
		t.Fatalf("first event %v, want stats", ev)
	}
	sum := e.add(msg{subject: "Live", text: "hello", to: []string{"bob@example.org"}})
	ev = next(t, c)
	if ev["Type"] != "new" {
		t.Fatalf("after Add: %v, want new", ev)
	}
	checkShape(t, "new", ev["Data"], summaryShape)
	// Identical to the list item.
	list := e.getJSON("/api/v1/messages")
	if a, b := mustJSON(t, ev["Data"]), mustJSON(t, field(list, "messages").([]any)[0]); string(a) != string(b) {
		t.Errorf("new event data\n%s\ndiffers from list item\n%s", a, b)
	}
	// Rate-limited stats follow.
	ev = nextOfType(t, c, "stats")
	if num(field(ev, "Data", "Total")) != 2 {
		t.Errorf("stats after new: %v", ev)
	}
	e.expectOK("PUT", "/api/v1/messages", `{"IDs":["`+sum.ID+`"],"Read":true}`)
	ev = nextOfType(t, c, "update")
	if field(ev, "Data", "ID") != sum.ID || field(ev, "Data", "Read") != true {
		t.Errorf("update: %v", ev)
	}
	e.expectOK("PUT", "/api/v1/tags", `{"IDs":["`+sum.ID+`"],"Tags":["t1"]}`)
	ev = nextOfType(t, c, "update")
	if field(ev, "Data", "ID") != sum.ID || string(mustJSON(t, field(ev, "Data", "Tags"))) != `["t1"]` {
		t.Errorf("tags update: %v", ev)
	}
	e.expectOK("DELETE", "/api/v1/messages", `{"IDs":["`+sum.ID+`"]}`)
	ev = nextOfType(t, c, "delete")
	if field(ev, "Data", "ID") != sum.ID {
		t.Errorf("delete: %v", ev)
	}
	e.expectOK("DELETE", "/api/v1/messages", `{}`)
	ev = nextOfType(t, c, "truncate")
	if ev["Data"] != nil {
		t.Errorf("truncate data: %v", ev)
	}
	ev = nextOfType(t, c, "stats")
	if num(field(ev, "Data", "Total")) != 0 {
		t.Errorf("stats after truncate: %v", ev)
	}
}

func TestWebsocketLaggingClientDisconnected(t *testing.T) {
	e := newEnv(t, Options{EventBuffer: 1})
	// The client's server side stalls on its first commit's events, as a slow client would.
	stalled, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e.srv.eventHook = func() {
		once.Do(func() {
			close(stalled)
			<-release
		})
	}
	c := e.wsDial("/api/events")
	if ev := next(t, c); ev["Type"] != "stats" {
		t.Fatalf("first: %v", ev)
	}
	e.add(msg{subject: "first", text: "x"})
	<-stalled
	// Two more commits against a buffer of one: the client falls behind and is dropped.
	e.add(msg{subject: "second", text: "x"})
	e.add(msg{subject: "third", text: "x"})
	close(release)
	// The client gets what was sent before, then an error event and a close.
	sawError := false
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			if !sawError {
				t.Fatalf("no error event before the connection ended: %v", err)
			}
			if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.CloseTryAgainLater {
				t.Errorf("close: %v", err)
			}
			return
		}
		if strings.Contains(string(data), `"third"`) {
			t.Errorf("an event after the client fell behind was sent: %s", data)
		}
		if strings.Contains(string(data), `"Type":"error"`) {
			sawError = true
		}
	}
}

// TestWebsocketBulkChange: a change of many messages at once reaches a client with a small
// buffer whole (one commit is one delivery), rather than dropping it.
func TestWebsocketBulkChange(t *testing.T) {
	e := newEnv(t, Options{EventBuffer: 1})
	var ids []string
	for i := range 200 {
		ids = append(ids, e.add(msg{subject: "m" + strconv.Itoa(i), text: "x"}).ID)
	}
	c := e.wsDial("/api/events")
	if ev := next(t, c); ev["Type"] != "stats" {
		t.Fatalf("first: %v", ev)
	}
	b, _ := json.Marshal(map[string]any{"IDs": ids, "Read": true})
	e.expectOK("PUT", "/api/v1/messages", string(b))
	for range ids {
		if ev := nextOfType(t, c, "update"); field(ev, "Data", "Read") != true {
			t.Fatalf("update: %v", ev)
		}
	}
}

func TestMailHogWebsocketAndSSE(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.wsDial("/api/v2/websocket")
	req, _ := http.NewRequest("GET", e.url+"/api/v1/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("SSE content type %q", res.Header.Get("Content-Type"))
	}
	sum := e.add(msg{subject: "Hog", text: "oink"})
	ev := next(t, c)
	if ev["ID"] != sum.ID+"@"+mhHost || field(ev, "Content", "Headers", "Subject").([]any)[0] != "Hog" {
		t.Errorf("MailHog websocket message: %v", ev)
	}
	buf := make([]byte, 64<<10)
	got := ""
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(got, "\n\n") && time.Now().Before(deadline) {
		n, err := res.Body.Read(buf)
		got += string(buf[:n])
		if err != nil {
			break
		}
	}
	line, _, _ := strings.Cut(got[strings.Index(got, "data: ")+6:], "\n")
	var m MHMessage
	if err := json.Unmarshal([]byte(line), &m); err != nil || m.ID != sum.ID+"@"+mhHost {
		t.Errorf("SSE: %v %q", err, got)
	}
}

func TestWaitPromptAndTimeout(t *testing.T) {
	e := newEnv(t, Options{})
	old := e.add(msg{subject: "Old reset", text: "x"})
	// Already there: immediate.
	v := e.getJSON("/api/v1/wait?query=" + url.QueryEscape("subject:reset") + "&timeout=5s")
	checkShape(t, "wait", v, listShape)
	if ids(v)[0] != old.ID {
		t.Errorf("wait: %v", v)
	}
	// since=ID: only later messages count; arrives during the request.
	type result struct {
		v   any
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		c := e
		res, err := http.Get(c.url + "/api/v1/wait?query=" + url.QueryEscape("subject:reset") + "&since=" + old.ID + "&timeout=10s")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		var v any
		d := json.NewDecoder(res.Body)
		d.UseNumber()
		err = d.Decode(&v)
		if res.StatusCode != 200 {
			err = &url.Error{Op: res.Status}
		}
		done <- result{v: v, err: err, at: time.Now()}
	}()
	// Nothing matching yet: the request must still be waiting.
	e.add(msg{subject: "Unrelated", text: "x"})
	select {
	case r := <-done:
		t.Fatalf("wait returned before a match: %v %v", r.v, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	added := time.Now()
	fresh := e.add(msg{subject: "New reset", text: "x"})
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if got := ids(r.v); len(got) != 1 || got[0] != fresh.ID {
			t.Errorf("wait since: %v", got)
		}
		if lat := r.at.Sub(added); lat > 2*time.Second {
			t.Errorf("wait took %v after the message was stored", lat)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return after a matching message")
	}
	// count=2 and since=time.
	since := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	v = e.getJSON("/api/v1/wait?query=reset&count=2&since=" + url.QueryEscape(since) + "&timeout=2s")
	if num(field(v, "messages_count")) != 2 {
		t.Errorf("count=2: %v", v)
	}
	// Timeout: 408 with a JSON error.
	start := time.Now()
	res, body := e.do("GET", "/api/v1/wait?query=nothing-like-this&timeout=200ms", "")
	if res.StatusCode != 408 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("timeout: %d %s", res.StatusCode, body)
	}
	var we WaitError
	if err := json.Unmarshal(body, &we); err != nil || !strings.Contains(we.Error, "timed out") || we.Count != 1 {
		t.Errorf("timeout body: %s", body)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Errorf("returned before the timeout")
	}
	for _, bad := range []string{"timeout=forever", "timeout=0s", "since=not-an-id", "count=-1", "query=is:nope"} {
		if res, body := e.do("GET", "/api/v1/wait?"+bad, ""); res.StatusCode != 400 {
			t.Errorf("%s: %d %s", bad, res.StatusCode, body)
		}
	}
}

func TestWebsocketPingPong(t *testing.T) {
	// The live client below has one PingInterval to answer each ping before the server's pong
	// deadline (2 × PingInterval) passes: 250ms, so a loaded machine's scheduling stalls (tens of
	// milliseconds under -race) do not read as a dead client.
	e := newEnv(t, Options{PingInterval: 250 * time.Millisecond})
	// A live client answers pings (gorilla does so while reading) and stays connected.
	c := e.wsDial("/api/events")
	pings := make(chan struct{}, 10)
	c.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for i := range 4 { // four pings span more than twice the pong deadline
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatalf("ping %d not received", i)
		}
	}
	// A client that never answers (a raw connection that stops reading) is dropped.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The server closes the connection after 2 × PingInterval without a pong: reading then
	// reaches EOF (after the handshake, stats and pings).
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("silent client not disconnected: %v", err)
	}
	// The live client is still connected.
	select {
	case <-pings:
	case <-time.After(5 * time.Second):
		t.Fatal("live client lost its pings")
	}
}
