package webui

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/static"
	"github.com/letterbox-mail/letterbox/store"
)

const attachmentMsg = "From: Carol <carol@example.com>\r\n" +
	"To: Bob <bob@example.org>\r\n" +
	"Reply-To: replies@example.com\r\n" +
	"Subject: With files\r\n" +
	"Message-ID: <files@example.com>\r\n" +
	"List-Unsubscribe: <mailto:unsub@example.com>, <https://example.com/unsub?u=1>\r\n" +
	"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
	"X-Campaign: spring\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/related; boundary=\"rel\"\r\n" +
	"\r\n" +
	"--rel\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p>Logo: <img src=\"cid:logo@x\"> <img src=\"https://tracker.example/p.gif\"></p><script>alert(1)</script>\r\n" +
	"--rel\r\n" +
	"Content-Type: image/png\r\n" +
	"Content-ID: <logo@x>\r\n" +
	"Content-Disposition: inline; filename=\"logo.png\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"iVBORw0KGgo=\r\n" +
	"--rel--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/pdf; name=\"report.pdf\"\r\n" +
	"Content-Disposition: attachment; filename=\"report.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQK\r\n" +
	"--outer\r\n" +
	"Content-Type: image/svg+xml\r\n" +
	"Content-Disposition: attachment; filename=\"evil.svg\"\r\n" +
	"\r\n" +
	"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>\r\n" +
	"--outer--\r\n"

func TestMessagesListShape(t *testing.T) {
	e := newEnv(t, Options{})
	// Empty store: lists are [] not null.
	v := e.getJSON("/api/v1/messages")
	checkShape(t, "empty", v, listShape)
	if string(mustJSON(t, field(v, "messages"))) != "[]" || string(mustJSON(t, field(v, "tags"))) != "[]" {
		t.Errorf("empty lists not []: %v", v)
	}
	a := e.add(msg{subject: "First", text: "one", to: []string{"Bob <bob@example.org>"}})
	b := e.add(msg{subject: "Second", text: "two", to: []string{"bob@example.org"}, cc: []string{"Cee <cc@example.net>"}})
	v = e.getJSON("/api/v1/messages")
	checkShape(t, "list", v, listShape)
	if got := ids(v); !slices.Equal(got, []string{b.ID, a.ID}) {
		t.Fatalf("order %v, want newest first %v", got, []string{b.ID, a.ID})
	}
	if num(field(v, "total")) != 2 || num(field(v, "unread")) != 2 || num(field(v, "count")) != 2 ||
		num(field(v, "messages_count")) != 2 || num(field(v, "messages_unread")) != 2 || num(field(v, "start")) != 0 {
		t.Errorf("counts: %v", v)
	}
	first := field(v, "messages").([]any)[0].(map[string]any)
	if first["Subject"] != "Second" || field(first, "From", "Address") != "alice@example.com" ||
		field(first, "From", "Name") != "Alice Example" || first["MessageID"] != "second@example.com" ||
		first["Snippet"] != "two" || first["Read"] != false {
		t.Errorf("summary: %v", first)
	}
	if cc := first["Cc"].([]any); len(cc) != 1 || field(cc[0], "Address") != "cc@example.net" || field(cc[0], "Name") != "Cee" {
		t.Errorf("Cc: %v", cc)
	}
	// Paging.
	v = e.getJSON("/api/v1/messages?start=1&limit=1")
	if got := ids(v); !slices.Equal(got, []string{a.ID}) || num(field(v, "count")) != 1 || num(field(v, "start")) != 1 ||
		num(field(v, "messages_count")) != 2 {
		t.Errorf("page 2: %v", v)
	}
	if res, body := e.do("GET", "/api/v1/messages?limit=x", ""); res.StatusCode != 400 || !strings.Contains(string(body), "limit") {
		t.Errorf("bad limit: %d %s", res.StatusCode, body)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var attachmentShape = map[string]any{
	"PartID": "string", "FileName": "string", "ContentType": "string", "ContentID": "string", "Size": "number",
	"Checksums": map[string]any{"MD5": "string", "SHA1": "string", "SHA256": "string"},
}

var messageShape = map[string]any{
	"ID": "string", "MessageID": "string", "Read": "bool", "From": addrShape,
	"To": []any{addrShape}, "Cc": []any{addrShape}, "Bcc": []any{addrShape}, "ReplyTo": []any{addrShape},
	"ReturnPath": "string", "Subject": "string",
	"ListUnsubscribe": map[string]any{"Header": "string", "Links": []any{"string"}, "Errors": "string", "HeaderPost": "string"},
	"Date":            "time", "Created": "time", "Tags": []any{"string"}, "Username": "string", "Text": "string", "HTML": "string",
	"Size": "number", "Inline": []any{attachmentShape}, "Attachments": []any{attachmentShape},
	"Envelope": map[string]any{"MailFrom": "string", "Recipients": []any{"string"}, "Helo": "string",
		"RemoteAddr": "string", "Username": "string", "TLS": "bool"},
	"SessionID":   "string",
	"Structure":   "object",
	"ParseErrors": []any{"string"},
	"HeadersList": []any{map[string]any{"Name": "string", "Value": "string"}},
}

func TestMessageFullAndMarksRead(t *testing.T) {
	e := newEnv(t, Options{})
	sum := e.addRaw(store.Envelope{MailFrom: "bounce@example.com", Recipients: []string{"bob@example.org", "hidden@example.org"},
		Username: "smtpuser", TLS: true}, attachmentMsg)
	v := e.getJSON("/api/v1/message/" + sum.ID)
	checkShape(t, "message", v, messageShape)
	m := v.(map[string]any)
	if m["Read"] != true {
		t.Errorf("Read = %v, want true after opening", m["Read"])
	}
	if m["ReturnPath"] != "bounce@example.com" || m["Subject"] != "With files" || m["Username"] != "smtpuser" {
		t.Errorf("ReturnPath/Subject/Username: %v %v %v", m["ReturnPath"], m["Subject"], m["Username"])
	}
	lu := m["ListUnsubscribe"].(map[string]any)
	if links := lu["Links"].([]any); len(links) != 2 || links[0] != "mailto:unsub@example.com" || lu["HeaderPost"] != "List-Unsubscribe=One-Click" || lu["Errors"] != "" {
		t.Errorf("ListUnsubscribe: %v", lu)
	}
	if !strings.Contains(m["HTML"].(string), "cid:logo@x") {
		t.Errorf("HTML: %q", m["HTML"])
	}
	inl, att := m["Inline"].([]any), m["Attachments"].([]any)
	if len(inl) != 1 || field(inl[0], "ContentID") != "logo@x" || field(inl[0], "FileName") != "logo.png" {
		t.Errorf("Inline: %v", inl)
	}
	if len(att) != 2 || field(att[0], "FileName") != "report.pdf" || field(att[0], "ContentType") != "application/pdf" ||
		field(att[0], "Checksums", "SHA256") == "" {
		t.Errorf("Attachments: %v", att)
	}
	env := m["Envelope"].(map[string]any)
	if env["MailFrom"] != "bounce@example.com" || env["TLS"] != true || len(env["Recipients"].([]any)) != 2 || env["Helo"] != "client.test" {
		t.Errorf("Envelope: %v", env)
	}
	if bcc := m["Bcc"].([]any); len(bcc) != 1 || field(bcc[0], "Address") != "hidden@example.org" {
		t.Errorf("Bcc: %v", bcc)
	}
	hl := m["HeadersList"].([]any)
	var names []string
	for _, h := range hl {
		names = append(names, field(h, "Name").(string))
	}
	if i, j := slices.Index(names, "From"), slices.Index(names, "X-Campaign"); i < 0 || j < i {
		t.Errorf("HeadersList order: %v", names)
	}
	if field(m, "Structure", "ContentType") != "multipart/mixed" {
		t.Errorf("Structure: %v", m["Structure"])
	}
	// The list shows it read now.
	if l := e.getJSON("/api/v1/messages"); num(field(l, "unread")) != 0 {
		t.Errorf("unread after opening: %v", field(l, "unread"))
	}
	// Summary counts attachments.
	if l := e.getJSON("/api/v1/messages"); num(field(l, "messages").([]any)[0].(map[string]any)["Attachments"]) != 2 {
		t.Errorf("summary Attachments: %v", l)
	}
	// Missing message: 404 text.
	if res, body := e.do("GET", "/api/v1/message/nope", ""); res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("missing: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
}

func TestLatest(t *testing.T) {
	e := newEnv(t, Options{})
	if res, _ := e.do("GET", "/api/v1/message/latest", ""); res.StatusCode != 404 {
		t.Errorf("latest on empty store: %d", res.StatusCode)
	}
	a := e.add(msg{subject: "Alpha one", text: "x"})
	b := e.add(msg{subject: "Beta two", text: "y"})
	if id := e.getJSON("/api/v1/message/latest").(map[string]any)["ID"]; id != b.ID {
		t.Errorf("latest = %v, want %s", id, b.ID)
	}
	if id := e.getJSON("/api/v1/message/latest?query=" + url.QueryEscape("subject:alpha")).(map[string]any)["ID"]; id != a.ID {
		t.Errorf("latest?query = %v, want %s", id, a.ID)
	}
	if res, body := e.do("GET", "/api/v1/message/latest/raw", ""); res.StatusCode != 200 || !strings.Contains(string(body), "Subject: Beta two") {
		t.Errorf("latest/raw: %d %s", res.StatusCode, body)
	}
	if res, body := e.do("GET", "/view/latest.txt", ""); res.StatusCode != 200 || strings.TrimSpace(string(body)) != "y" {
		t.Errorf("view/latest.txt: %d %q", res.StatusCode, body)
	}
}

func TestHeadersRawPart(t *testing.T) {
	e := newEnv(t, Options{})
	sum := e.addRaw(store.Envelope{}, attachmentMsg)
	h := e.getJSON("/api/v1/message/" + sum.ID + "/headers").(map[string]any)
	if v, ok := h["X-Campaign"].([]any); !ok || len(v) != 1 || v[0] != "spring" {
		t.Errorf("headers X-Campaign: %v", h["X-Campaign"])
	}
	if _, ok := h["Received"]; !ok {
		t.Errorf("headers lack the trace Received: %v", h)
	}
	res, body := e.do("GET", "/api/v1/message/"+sum.ID+"/raw", "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		!strings.HasSuffix(string(body), attachmentMsg) || res.Header.Get("Content-Disposition") != "" {
		t.Errorf("raw: %d %v", res.StatusCode, res.Header)
	}
	res, _ = e.do("GET", "/api/v1/message/"+sum.ID+"/raw?dl=1", "")
	if !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("raw?dl=1 Content-Disposition %q", res.Header.Get("Content-Disposition"))
	}
	m, err := e.st.Message(t.Context(), sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(m.Attachments, m.Inline...) {
		res, body := e.do("GET", "/api/v1/message/"+sum.ID+"/part/"+p.PartID, "")
		if res.StatusCode != 200 || int64(len(body)) != p.Size {
			t.Errorf("part %s: %d, %d bytes", p.PartID, res.StatusCode, len(body))
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("part %s headers: %v", p.PartID, res.Header)
		}
		disp := res.Header.Get("Content-Disposition")
		switch p.FileName {
		case "logo.png":
			if !strings.HasPrefix(disp, "inline") || res.Header.Get("Content-Type") != "image/png" {
				t.Errorf("png: %q %q", disp, res.Header.Get("Content-Type"))
			}
		case "report.pdf", "evil.svg":
			if !strings.HasPrefix(disp, "attachment") {
				t.Errorf("%s disposition %q, want attachment", p.FileName, disp)
			}
		}
	}
	if res, _ := e.do("GET", "/api/v1/message/"+sum.ID+"/part/9.9", ""); res.StatusCode != 404 {
		t.Errorf("missing part: %d", res.StatusCode)
	}
}

func TestViewHTMLSandboxAndCID(t *testing.T) {
	e := newEnv(t, Options{})
	sum := e.addRaw(store.Envelope{}, attachmentMsg)
	res, body := e.do("GET", "/view/"+sum.ID+".html", "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("view: %d %v", res.StatusCode, res.Header)
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "sandbox;") || strings.Contains(csp, "script") || strings.Contains(csp, "http") ||
		!strings.Contains(csp, "img-src 'self' data: cid:") || !strings.Contains(csp, "frame-ancestors 'self'") {
		t.Errorf("view CSP %q", csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") == "DENY" {
		t.Errorf("view headers: %v", res.Header)
	}
	m, _ := e.st.Message(t.Context(), sum.ID)
	want := "../api/v1/message/" + sum.ID + "/part/" + m.Inline[0].PartID
	if !strings.Contains(string(body), `src="`+want+`"`) || strings.Contains(string(body), "cid:logo") {
		t.Errorf("cid not rewritten to %s: %s", want, body)
	}
	// The rewritten reference works relative to /view/.
	ref, _ := url.Parse(e.url + "/view/" + sum.ID + ".html")
	if res, _ := e.do("GET", ref.ResolveReference(&url.URL{Path: want}).Path, ""); res.StatusCode != 200 {
		t.Errorf("inline image: %d", res.StatusCode)
	}
	res, _ = e.do("GET", "/view/"+sum.ID+".html?remote=1", "")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox;") || !strings.Contains(csp, "img-src *") || strings.Contains(csp, "script") {
		t.Errorf("remote CSP %q", csp)
	}
	res, _ = e.do("GET", "/view/"+sum.ID+".txt", "")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") || !strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("txt: %d %v", res.StatusCode, res.Header)
	}
	if res, _ := e.do("GET", "/view/"+sum.ID+".exe", ""); res.StatusCode != 404 {
		t.Errorf(".exe: %d", res.StatusCode)
	}
	if res, _ := e.do("GET", "/view/nope.html", ""); res.StatusCode != 404 {
		t.Errorf("missing view: %d", res.StatusCode)
	}
}

func TestSetReadDeleteSearch(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.add(msg{subject: "Invoice 1", text: "pay"})
	b := e.add(msg{subject: "Welcome", text: "hello"})
	c := e.add(msg{subject: "Invoice 2", text: "pay again"})
	unread := func() int { return num(field(e.getJSON("/api/v1/messages"), "unread")) }
	// IDs, as text/plain (some clients do that).
	e.expectOK("PUT", "/api/v1/messages", `{"IDs":["`+a.ID+`"],"Read":true}`, "Content-Type", "text/plain")
	if unread() != 2 {
		t.Errorf("unread after marking one: %d", unread())
	}
	// Search.
	e.expectOK("PUT", "/api/v1/messages", `{"Read":true,"Search":"subject:invoice"}`)
	if unread() != 1 {
		t.Errorf("unread after search: %d", unread())
	}
	// Neither: all.
	e.expectOK("PUT", "/api/v1/messages", `{"Read":false}`)
	if unread() != 3 {
		t.Errorf("unread after all: %d", unread())
	}
	if res, _ := e.do("PUT", "/api/v1/messages", `{"IDs":["x"],"Search":"a"}`); res.StatusCode != 400 {
		t.Errorf("IDs and Search: %d", res.StatusCode)
	}
	if res, body := e.do("PUT", "/api/v1/messages", `{nope`); res.StatusCode != 400 || !strings.Contains(string(body), "JSON") {
		t.Errorf("bad JSON: %d %s", res.StatusCode, body)
	}
	// Search envelope.
	v := e.getJSON("/api/v1/search?query=invoice")
	checkShape(t, "search", v, listShape)
	if got := ids(v); !slices.Equal(got, []string{c.ID, a.ID}) || num(field(v, "messages_count")) != 2 || num(field(v, "total")) != 3 {
		t.Errorf("search: %v", v)
	}
	if res, body := e.do("GET", "/api/v1/search?query="+url.QueryEscape("is:bogus"), ""); res.StatusCode != 400 || !strings.Contains(string(body), "is:bogus") {
		t.Errorf("bad query: %d %s", res.StatusCode, body)
	}
	// Delete by search; empty query refused.
	if res, _ := e.do("DELETE", "/api/v1/search?query=", ""); res.StatusCode != 400 {
		t.Errorf("DELETE search without query: %d", res.StatusCode)
	}
	e.expectOK("DELETE", "/api/v1/search?query="+url.QueryEscape("subject:invoice"), "")
	if got := ids(e.getJSON("/api/v1/messages")); !slices.Equal(got, []string{b.ID}) {
		t.Errorf("after delete search: %v", got)
	}
	// Delete by IDs, then all (no body).
	d := e.add(msg{subject: "D", text: "d"})
	e.expectOK("DELETE", "/api/v1/messages", `{"IDs":["`+d.ID+`"]}`)
	if got := ids(e.getJSON("/api/v1/messages")); !slices.Equal(got, []string{b.ID}) {
		t.Errorf("after delete IDs: %v", got)
	}
	e.expectOK("DELETE", "/api/v1/messages", `{}`)
	if num(field(e.getJSON("/api/v1/messages"), "total")) != 0 {
		t.Errorf("not all deleted")
	}
}

func TestTags(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.add(msg{subject: "A", text: "a"})
	b := e.add(msg{subject: "B", text: "b"})
	if v := e.getJSON("/api/v1/tags"); string(mustJSON(t, v)) != "[]" {
		t.Errorf("no tags: %s", mustJSON(t, v))
	}
	e.expectOK("PUT", "/api/v1/tags", `{"IDs":["`+a.ID+`","`+b.ID+`"],"Tags":["red","blue"]}`)
	if v := e.getJSON("/api/v1/tags"); string(mustJSON(t, v)) != `["blue","red"]` {
		t.Errorf("tags: %s", mustJSON(t, v))
	}
	e.expectOK("PUT", "/api/v1/tags/red", `{"Name":"green"}`)
	e.expectOK("DELETE", "/api/v1/tags/blue", "")
	if v := e.getJSON("/api/v1/tags"); string(mustJSON(t, v)) != `["green"]` {
		t.Errorf("tags after rename/delete: %s", mustJSON(t, v))
	}
	l := e.getJSON("/api/v1/search?query=tag:green")
	if num(field(l, "messages_count")) != 2 || string(mustJSON(t, field(l, "tags"))) != `["green"]` {
		t.Errorf("tag search: %v", l)
	}
	if res, _ := e.do("PUT", "/api/v1/tags/green", `{}`); res.StatusCode != 400 {
		t.Errorf("rename without Name: %d", res.StatusCode)
	}
}

func TestInfoWebUIHealth(t *testing.T) {
	e := newEnv(t, Options{Version: "1.2.3", SMTPAddr: "127.0.0.1:1025", Database: "/tmp/x.db", Label: "dev box",
		SMTPStats: func() SMTPStats { return SMTPStats{Accepted: 7, AcceptedSize: 700, Rejected: 1} }})
	e.add(msg{subject: "A", text: "a"})
	v := e.getJSON("/api/v1/info")
	checkShape(t, "info", v, map[string]any{
		"Version": "string", "LatestVersion": "string", "Database": "string", "DatabaseSize": "number",
		"Messages": "number", "Unread": "number", "Tags": "object",
		"RuntimeStats": map[string]any{"Uptime": "number", "Memory": "number", "MessagesDeleted": "number",
			"SMTPAccepted": "number", "SMTPAcceptedSize": "number", "SMTPRejected": "number", "SMTPIgnored": "number"},
	})
	if field(v, "Version") != "1.2.3" || num(field(v, "Messages")) != 1 || num(field(v, "DatabaseSize")) <= 0 ||
		num(field(v, "RuntimeStats", "Memory")) <= 0 || num(field(v, "RuntimeStats", "SMTPAccepted")) != 7 ||
		num(field(v, "RuntimeStats", "SMTPRejected")) != 1 {
		t.Errorf("info: %v", v)
	}
	w := e.getJSON("/api/v1/webui")
	if field(w, "Label") != "dev box" || field(w, "SMTPAddr") != "127.0.0.1:1025" || field(w, "MessageRelay", "Enabled") != false {
		t.Errorf("webui: %v", w)
	}
	for _, p := range []string{"/livez", "/readyz"} {
		if res, body := e.do("GET", p, ""); res.StatusCode != 200 || string(body) != "ok" {
			t.Errorf("%s: %d %s", p, res.StatusCode, body)
		}
	}
}

func TestInboxPage(t *testing.T) {
	e := newEnv(t, Options{})
	res, body := e.do("GET", "/", "")
	if res.StatusCode != 200 || !strings.Contains(string(body), "<title>inbox") {
		t.Fatalf("inbox: %d %s", res.StatusCode, body)
	}
	if res.Header.Get("Content-Security-Policy") != inboxCSP || res.Header.Get("X-Frame-Options") != "DENY" ||
		res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("inbox headers: %v", res.Header)
	}
	if res, _ := e.do("GET", "/app.js", ""); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Errorf("asset: %d %v", res.StatusCode, res.Header)
	}
	if res, _ := e.do("GET", "/nope.js", ""); res.StatusCode != 404 {
		t.Errorf("missing asset: %d", res.StatusCode)
	}
	if res, _ := e.do("GET", "/api/v2/jim", ""); res.StatusCode != 404 {
		t.Errorf("jim: %d", res.StatusCode)
	}
}

// TestRealInbox serves the real web inbox under the policy it was written for.
func TestRealInbox(t *testing.T) {
	if inboxCSP != static.CSP {
		t.Errorf("inbox CSP differs from static.CSP:\n%s\n%s", inboxCSP, static.CSP)
	}
	e := newEnv(t, Options{Static: static.Files})
	res, body := e.do("GET", "/", "")
	if res.StatusCode != 200 || !strings.Contains(string(body), "<html") || res.Header.Get("Content-Security-Policy") != static.CSP {
		t.Errorf("inbox: %d %v", res.StatusCode, res.Header)
	}
	if res, _ := e.do("GET", "/app.js", ""); res.StatusCode != 200 {
		t.Errorf("app.js: %d", res.StatusCode)
	}
}
