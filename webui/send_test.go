package webui

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// tinyPNG is a 1x1 PNG.
var tinyPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

func TestSendWithA5MBAttachmentAndAnInlineImage(t *testing.T) {
	e := newEnv(t, Options{Hostname: "catcher.test"})
	e.srv.opts.Sessions = e.st
	sub := e.st.Subscribe(0)
	defer sub.Close()
	big := make([]byte, 5<<20)
	rand.Read(big)
	sum := sha256.Sum256(big)
	body, _ := json.Marshal(map[string]any{
		"From":    map[string]string{"Email": "app@example.com", "Name": "The App"},
		"To":      []map[string]string{{"Email": "alice@example.com", "Name": "Alice"}},
		"Cc":      []map[string]string{{"Email": "carol@example.com"}},
		"Bcc":     []string{"audit@example.com"},
		"ReplyTo": []map[string]string{{"Email": "help@example.com"}},
		"Subject": "Your report",
		"Text":    "See the attachment.",
		"HTML":    `<p>See the attachment. <img src="cid:logo"></p>`,
		"Attachments": []map[string]string{
			{"Content": base64.StdEncoding.EncodeToString(big), "Filename": "report.bin", "ContentType": "application/octet-stream"},
			{"Content": base64.StdEncoding.EncodeToString(tinyPNG), "Filename": "logo.png", "ContentID": "logo"},
		},
		"Headers": map[string]string{"X-Campaign": "reports"},
		"Tags":    []string{"report", "api"},
	})
	res, out := e.do("POST", "/api/v1/send", string(body), "Content-Type", "application/json")
	if res.StatusCode != 200 {
		t.Fatalf("send: %d %s", res.StatusCode, out)
	}
	var reply struct{ ID string }
	if err := json.Unmarshal(out, &reply); err != nil || reply.ID == "" {
		t.Fatalf("reply %s", out)
	}
	// The same event an SMTP message gets, once committed.
	select {
	case evs := <-sub.Events():
		if len(evs) == 0 || evs[0].Type != store.EventNew || evs[0].ID != reply.ID {
			t.Errorf("events %+v", evs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no new-message event")
	}
	m, err := e.st.Message(context.Background(), reply.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Your report" || m.From.Address != "app@example.com" || m.Envelope.MailFrom != "app@example.com" {
		t.Errorf("message %q from %q envelope %q", m.Subject, m.From.Address, m.Envelope.MailFrom)
	}
	if strings.Join(m.Envelope.Recipients, ",") != "alice@example.com,carol@example.com,audit@example.com" {
		t.Errorf("envelope recipients %q", m.Envelope.Recipients)
	}
	if len(m.Bcc) != 1 || m.Bcc[0].Address != "audit@example.com" {
		t.Errorf("Bcc %+v", m.Bcc)
	}
	if strings.Join(m.Tags, ",") != "api,report" {
		t.Errorf("tags %q", m.Tags)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Size != 5<<20 || m.Attachments[0].Checksums.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("attachments %+v", m.Attachments)
	}
	if len(m.Inline) != 1 || m.Inline[0].ContentID != "logo" || m.Inline[0].ContentType != "image/png" {
		t.Errorf("inline %+v", m.Inline)
	}
	if r := m.HeaderValues("Received"); len(r) != 1 || !strings.Contains(r[0], "with HTTP id "+reply.ID) || !strings.Contains(r[0], "127.0.0.1") {
		t.Errorf("Received %q", r)
	}
	if v := m.HeaderValues("X-Campaign"); len(v) != 1 || v[0] != "reports" {
		t.Errorf("X-Campaign %q", v)
	}
	if id := m.MessageID; !strings.HasSuffix(id, "@catcher.test") {
		t.Errorf("Message-ID %q", id)
	}
	// A session record says it came from the API, and the message names it.
	var full struct{ SessionID string }
	json.Unmarshal(mustGet(t, e, "/api/v1/message/"+reply.ID), &full)
	var sess struct {
		Outcome, RemoteAddr, Helo string
		Ended                     *time.Time
		Messages                  int
		MessageIDs                []string
		Transcript                []struct{ Dir, Text string }
	}
	if full.SessionID == "" || json.Unmarshal(mustGet(t, e, "/api/v1/session/"+full.SessionID), &sess) != nil {
		t.Fatalf("no session for the sent message (SessionID %q)", full.SessionID)
	}
	var lines []string
	for _, l := range sess.Transcript {
		lines = append(lines, l.Dir+" "+l.Text)
	}
	transcript := strings.Join(lines, "\n")
	if sess.Outcome != "api" || sess.Ended == nil || sess.Messages != 1 || len(sess.MessageIDs) != 1 || sess.MessageIDs[0] != reply.ID ||
		!strings.HasPrefix(sess.RemoteAddr, "127.0.0.1:") ||
		!strings.Contains(transcript, "* POST /api/v1/send: Mailpit's send API over HTTP, not SMTP") ||
		!strings.Contains(transcript, "* envelope recipient <audit@example.com>") ||
		!strings.Contains(transcript, "stored as "+reply.ID) {
		t.Errorf("session %+v\n%s", sess, transcript)
	}

	// The inline image is served from the message's parts, as for SMTP mail.
	res, png := e.do("GET", "/api/v1/message/"+reply.ID+"/part/"+m.Inline[0].PartID, "")
	if res.StatusCode != 200 || !bytes.Equal(png, tinyPNG) {
		t.Errorf("inline part: %d, %d bytes", res.StatusCode, len(png))
	}
}

func TestSendBadInputIs400NamingTheFieldAndStoresNothing(t *testing.T) {
	e := newEnv(t, Options{})
	for _, tc := range []struct {
		body, want string
	}{
		{`{"To":[{"Email":"a@example.com"}]}`, "From.Email: required"},
		{`{"From":{"Email":"not-an-address"},"To":[{"Email":"a@example.com"}]}`, "From.Email: \"not-an-address\" is not an email address"},
		{`{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.com"},{"Email":"b@"}]}`, "To[1].Email"},
		{`{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.com"}],"Attachments":[{"Content":"***","Filename":"x"}]}`, "Attachments[0].Content: not base64"},
		{`{"From":{"Email":"a@example.com"}}`, "To: no recipients"},
		{`{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.com"}],"Headers":{"From":"x@y.z"}}`, "Headers.From: cannot be set"},
		{`{"From":"a@example.com","To":[{"Email":"b@example.com"}]}`, "From: expected an object, got a JSON string"},
		{`{"From":{"Email":"a@example.com"},"To":"b@example.com"}`, "To: expected an array"},
		{`{"From":`, "not valid JSON"},
		{``, "empty request body"},
	} {
		res, out := e.do("POST", "/api/v1/send", tc.body)
		var reply struct{ Error string }
		json.Unmarshal(out, &reply)
		if res.StatusCode != 400 || !strings.Contains(reply.Error, tc.want) || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s, want 400 with %q", tc.body, res.StatusCode, out, tc.want)
		}
	}
	if st, _ := e.st.Stats(context.Background()); st.Total != 0 {
		t.Errorf("%d messages stored from bad requests", st.Total)
	}
}

func TestSendOverMaxMessageSizeIs413(t *testing.T) {
	e := newEnv(t, Options{MaxMessageSize: 100 << 10})
	att := make([]byte, 90<<10) // under the limit, but base64 takes it over
	body, _ := json.Marshal(map[string]any{
		"From": map[string]string{"Email": "a@example.com"}, "To": []map[string]string{{"Email": "b@example.com"}},
		"Attachments": []map[string]string{{"Content": base64.StdEncoding.EncodeToString(att), "Filename": "a.bin"}},
	})
	res, out := e.do("POST", "/api/v1/send", string(body))
	if res.StatusCode != 413 || !strings.Contains(string(out), "over the limit of 102400") {
		t.Errorf("message over the limit: %d %s", res.StatusCode, out)
	}
	// A body far too large is cut off before it is read whole.
	huge := `{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.com"}],"Text":"` + strings.Repeat("x", 2<<20) + `"}`
	res, out = e.do("POST", "/api/v1/send", huge)
	if res.StatusCode != 413 {
		t.Errorf("huge body: %d %s", res.StatusCode, out)
	}
	if st, _ := e.st.Stats(context.Background()); st.Total != 0 {
		t.Errorf("%d messages stored", st.Total)
	}
	// Under the limit it is stored.
	res, out = e.do("POST", "/api/v1/send", `{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.com"}],"Text":"small"}`)
	if res.StatusCode != 200 {
		t.Errorf("small: %d %s", res.StatusCode, out)
	}
}

func TestSendFromAForeignSiteIsRefused(t *testing.T) {
	e := newEnv(t, Options{})
	res, _ := e.do("POST", "/api/v1/send", `{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.com"}]}`, "Origin", "https://evil.example")
	if res.StatusCode != 403 {
		t.Errorf("cross-site send: %d", res.StatusCode)
	}
}

// mustGet GETs path and returns the body of a 200.
func mustGet(t *testing.T, e *testEnv, path string) []byte {
	t.Helper()
	res, body := e.do("GET", path, "")
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	return body
}
