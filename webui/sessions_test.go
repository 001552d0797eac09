package webui

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// smtpSession runs raw SMTP lines against addr, each expecting its code, then QUIT.
func smtpSession(t *testing.T, addr string, steps ...any) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := textproto.NewConn(nc)
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(steps); i += 2 {
		line, code := steps[i].(string), steps[i+1].(int)
		if err := c.PrintfLine("%s", line); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := c.ReadResponse(code); err != nil {
			t.Fatalf("%s: %v %s", line, err, msg)
		}
	}
	c.PrintfLine("QUIT")
	c.ReadResponse(221)
}

// waitSessionEvent reads websocket events until a "session" event of a session that has ended
// (each read has its own deadline).
func waitSessionEvent(t *testing.T, read func() map[string]any) map[string]any {
	t.Helper()
	for {
		ev := read()
		if ev["Type"] != "session" {
			continue
		}
		if d, _ := ev["Data"].(map[string]any); d["Outcome"] != "" {
			return d
		}
	}
}

// TestSessionsAPI: SMTP sessions through the API: the list (newest first, filters), one session
// with its transcript, the websocket event, the message naming its session, and AUTH PLAIN's
// password nowhere in what the API answers.
func TestSessionsAPI(t *testing.T) {
	const password = "hunter2-not-for-logs"
	e := newEnv(t, Options{})
	addr, _ := e.startSMTP()
	ws := e.wsDial("/api/events")
	read := func() map[string]any { return next(t, ws) }

	// A probe that stores nothing.
	smtpSession(t, addr, "EHLO probe.test", 250, "MAIL FROM:<probe@verifier.test>", 250, "RCPT TO:<user@example.com>", 250)
	probe := waitSessionEvent(t, read)
	if probe["Helo"] != "probe.test" || probe["Outcome"] != "quit" || fmt.Sprint(probe["Messages"]) != "0" {
		t.Errorf("probe event %v", probe)
	}

	// A session that authenticates and stores a message.
	plain := base64.StdEncoding.EncodeToString([]byte("\x00carol\x00" + password))
	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: with a session\r\n\r\nhello\r\n."
	smtpSession(t, addr, "EHLO app.test", 250, "AUTH PLAIN "+plain, 235, "MAIL FROM:<a@example.com>", 250,
		"RCPT TO:<b@example.com>", 250, "DATA", 354, msg, 250)
	sent := waitSessionEvent(t, read)
	id, _ := sent["ID"].(string)
	if sent["AuthUsername"] != "carol" || sent["AuthMechanism"] != "PLAIN" || fmt.Sprint(sent["Messages"]) != "1" {
		t.Errorf("session event %v", sent)
	}

	_, body := e.do("GET", "/api/v1/sessions", "")
	var list SessionList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Total != 2 || list.Count != 2 || list.Sessions[0].ID != id || list.Sessions[1].ID != probe["ID"] {
		t.Fatalf("list %s", body)
	}
	for q, want := range map[string]int{"?messages=true": 1, "?messages=false": 1, "?outcome=quit": 2, "?outcome=timeout": 0,
		"?remote=127.0.0.1": 2, "?remote=" + list.Sessions[0].RemoteAddr: 1, "?limit=1": 2, "?remote=192.0.2.1": 0} {
		var l SessionList
		_, b := e.do("GET", "/api/v1/sessions"+q, "")
		if err := json.Unmarshal(b, &l); err != nil || l.Total != want {
			t.Errorf("%s: total %d, want %d (%s)", q, l.Total, want, b)
		}
	}
	if res, b := e.do("GET", "/api/v1/sessions?messages=perhaps", ""); res.StatusCode != 400 {
		t.Errorf("bad filter: %d %s", res.StatusCode, b)
	}

	res, body := e.do("GET", "/api/v1/session/"+id, "")
	if res.StatusCode != 200 {
		t.Fatalf("GET session: %d %s", res.StatusCode, body)
	}
	var d SessionDetail
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, l := range d.Transcript {
		fmt.Fprintf(&text, "%s %s\n", l.Dir, l.Text)
	}
	if !strings.Contains(text.String(), "C AUTH PLAIN ***\n") || len(d.MessageIDs) != 1 {
		t.Errorf("session detail %s", body)
	}
	var m Message
	_, mbody := e.do("GET", "/api/v1/message/"+d.MessageIDs[0], "")
	if err := json.Unmarshal(mbody, &m); err != nil || m.SessionID != id || m.Subject != "with a session" {
		t.Errorf("message's session %q (%v)", m.SessionID, err)
	}
	for _, path := range []string{"/api/v1/sessions", "/api/v1/session/" + id, "/api/v1/message/" + d.MessageIDs[0]} {
		_, b := e.do("GET", path, "")
		if strings.Contains(string(b), password) || strings.Contains(string(b), plain) {
			t.Errorf("%s shows the password", path)
		}
	}
	if res, _ := e.do("GET", "/api/v1/session/nosuchsession", ""); res.StatusCode != 404 {
		t.Errorf("unknown session: %d", res.StatusCode)
	}
	if res, b := e.do("DELETE", "/api/v1/sessions", ""); res.StatusCode != 200 || string(b) != "ok" {
		t.Errorf("DELETE: %d %s", res.StatusCode, b)
	}
	_, body = e.do("GET", "/api/v1/sessions", "")
	if !strings.Contains(string(body), `"total":0`) {
		t.Errorf("after DELETE: %s", body)
	}
}
