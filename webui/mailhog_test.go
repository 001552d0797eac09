package webui

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/store"
)

var mhPathShape = map[string]any{"Relays": "null", "Mailbox": "string", "Domain": "string", "Params": "string"}

var mhMessageShape = map[string]any{
	"ID":      "string",
	"From":    mhPathShape,
	"To":      []any{mhPathShape},
	"Content": map[string]any{"Headers": "object", "Body": "string", "Size": "number", "MIME": "null"},
	"Created": "time",
	"MIME":    "any",
	"Raw":     map[string]any{"From": "string", "To": []any{"string"}, "Data": "string", "Helo": "string"},
}

func TestMailHogAPI(t *testing.T) {
	e := newEnv(t, Options{})
	plain := e.add(msg{subject: "Plain hog", text: "oink", to: []string{"Bob <bob@example.org>"},
		env: store.Envelope{MailFrom: "sender@example.com", Recipients: []string{"bob@example.org"}, Helo: "hog.local"}})
	multi := e.addRaw(store.Envelope{MailFrom: "carol@example.com", Recipients: []string{"bob@example.org", "x@y.z"}}, attachmentMsg)

	v := e.getJSON("/api/v2/messages")
	checkShape(t, "v2", v, map[string]any{"total": "number", "count": "number", "start": "number", "items": []any{mhMessageShape}})
	items := field(v, "items").([]any)
	if num(field(v, "total")) != 2 || len(items) != 2 || field(items[0], "ID") != multi.ID+"@"+mhHost {
		t.Fatalf("v2 messages: %v", v)
	}
	p := items[1].(map[string]any)
	if field(p, "From", "Mailbox") != "sender" || field(p, "From", "Domain") != "example.com" ||
		field(p["To"].([]any)[0], "Mailbox") != "bob" || field(p, "Raw", "Helo") != "hog.local" || field(p, "Raw", "From") != "sender@example.com" {
		t.Errorf("paths: %v", p)
	}
	hdrs := field(p, "Content", "Headers").(map[string]any)
	if s := hdrs["Subject"].([]any); s[0] != "Plain hog" {
		t.Errorf("Subject header: %v", hdrs)
	}
	if _, ok := hdrs["Content-Type"]; !ok {
		t.Errorf("exact-case Content-Type missing: %v", hdrs)
	}
	if b := field(p, "Content", "Body").(string); strings.TrimSpace(b) != "oink" {
		t.Errorf("Body %q", b)
	}
	if p["MIME"] != nil {
		t.Errorf("MIME of a plain message: %v", p["MIME"])
	}
	if !strings.Contains(field(p, "Raw", "Data").(string), "Subject: Plain hog") {
		t.Errorf("Raw.Data: %v", field(p, "Raw", "Data"))
	}
	// Multipart: one part per top-level part, attachment headers visible.
	m := items[0].(map[string]any)
	parts := field(m, "MIME", "Parts").([]any)
	if len(parts) != 3 {
		t.Fatalf("parts: %d", len(parts))
	}
	if cd := field(parts[1], "Headers", "Content-Disposition").([]any)[0]; cd != `attachment; filename="report.pdf"` {
		t.Errorf("part 1 Content-Disposition %v", cd)
	}
	if b := field(parts[1], "Body").(string); strings.TrimSpace(b) != "JVBERi0xLjQK" {
		t.Errorf("part body (still encoded) %q", b)
	}
	// Paging and limit.
	if v := e.getJSON("/api/v2/messages?start=1&limit=1"); num(field(v, "count")) != 1 || field(field(v, "items").([]any)[0], "ID") != plain.ID+"@"+mhHost {
		t.Errorf("v2 page: %v", v)
	}
	// Search.
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"kind=from&query=sender", 1}, // the envelope sender; the From header is alice@example.com
		{"kind=from&query=alice", 1},
		{"kind=from&query=carol", 1},
		{"kind=from&query=bob", 0},
		{"kind=to&query=bob", 2},
		{"kind=to&query=x@y.z", 1}, // an envelope recipient in no header
		{"kind=to&query=xample.org", 2},
		{"kind=containing&query=oink", 1},
		{"kind=containing&query=report.pdf", 1},
	} {
		v := e.getJSON("/api/v2/search?" + tc.q)
		if num(field(v, "total")) != tc.want || num(field(v, "count")) != tc.want {
			t.Errorf("v2 search %s: %v", tc.q, field(v, "total"))
		}
	}
	for _, bad := range []string{"kind=subject&query=x", "kind=from&query="} {
		if res, _ := e.do("GET", "/api/v2/search?"+bad, ""); res.StatusCode != 400 {
			t.Errorf("v2 search %s: %d", bad, res.StatusCode)
		}
	}
	// v1 single message, download, part download.
	one := e.getJSON("/api/v1/messages/" + url.PathEscape(plain.ID+"@"+mhHost))
	checkShape(t, "v1 message", one, mhMessageShape)
	res, body := e.do("GET", "/api/v1/messages/"+multi.ID+"/download", "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "message/rfc822" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") || !strings.HasSuffix(string(body), attachmentMsg) {
		t.Errorf("download: %d %v", res.StatusCode, res.Header)
	}
	res, body = e.do("GET", "/api/v1/messages/"+multi.ID+"/mime/part/1/download", "")
	if res.StatusCode != 200 || string(body) != "%PDF-1.4\n" || !strings.Contains(res.Header.Get("Content-Disposition"), "report.pdf") {
		t.Errorf("part download: %d %q %v", res.StatusCode, body, res.Header)
	}
	if res, _ := e.do("GET", "/api/v1/messages/"+multi.ID+"/mime/part/7/download", ""); res.StatusCode != 404 {
		t.Errorf("missing part: %d", res.StatusCode)
	}
	// DELETE one: 200, empty body.
	res, body = e.do("DELETE", "/api/v1/messages/"+plain.ID+"@"+mhHost, "")
	if res.StatusCode != 200 || len(body) != 0 {
		t.Errorf("delete: %d %q", res.StatusCode, body)
	}
	if res, _ := e.do("GET", "/api/v1/messages/"+plain.ID, ""); res.StatusCode != 404 {
		t.Errorf("deleted message: %d", res.StatusCode)
	}
	if res, _ := e.do("DELETE", "/api/v1/messages/"+plain.ID, ""); res.StatusCode != 404 {
		t.Errorf("delete missing: %d", res.StatusCode)
	}
}

func TestMailHogParts(t *testing.T) {
	body := "preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b \r\n\r\ntwo\r\n--b--\r\nepilogue"
	m := mhParts(`multipart/mixed; boundary="b"`, []byte(body), 0)
	if m == nil || len(m.Parts) != 2 || m.Parts[0].Body != "one" || m.Parts[0].Headers["Content-Type"][0] != "text/plain" ||
		m.Parts[1].Body != "two" || m.Parts[0].Size != 3 {
		t.Errorf("parts %+v", m)
	}
	if mhParts("text/plain", []byte(body), 0) != nil {
		t.Error("parts of a text/plain body")
	}
	for raw, want := range map[string]int{"Subject: a\r\n\r\nbody": 14, "Subject: lf\n\nbody\r\n\r\nmore": 13, "Subject: none": 13} {
		if got := headerEnd([]byte(raw)); got != want {
			t.Errorf("headerEnd(%q) = %d, want %d", raw, got, want)
		}
	}
}

// TestMailHogDeleteAllAndSize: what the npm mailhog client reads: Content.Size is the whole raw
// message (as MailHog counts DATA), and DELETE /api/v1/messages without a body answers 200 with
// an empty body (its client parses any other answer as JSON).
func TestMailHogDeleteAllAndSize(t *testing.T) {
	e := newEnv(t, Options{})
	sum := e.addRaw(store.Envelope{}, attachmentMsg)
	raw, err := e.st.Raw(t.Context(), sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, body := e.do("GET", "/api/v2/messages", "")
	var l MHList
	if err := json.Unmarshal(body, &l); err != nil || len(l.Items) != 1 {
		t.Fatalf("list %s: %v", body, err)
	}
	if c := l.Items[0].Content; c.Size != len(raw) || c.Size != int(sum.Size) || !strings.HasSuffix(string(raw), c.Body) {
		t.Errorf("Content.Size %d, want the raw size %d", c.Size, len(raw))
	}
	res, data := e.do("DELETE", "/api/v1/messages", "")
	if res.StatusCode != 200 || len(data) != 0 {
		t.Errorf("DELETE without a body: %d %q, want 200 and nothing", res.StatusCode, data)
	}
	if _, body := e.do("GET", "/api/v2/messages", ""); !strings.Contains(string(body), `"total":0`) {
		t.Errorf("after DELETE: %s", body)
	}
}
