package compose

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"
)

var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

func TestBuildFullRequest(t *testing.T) {
	big := make([]byte, 300<<10)
	rand.Read(big)
	req := Request{
		From:    Address{Email: "app@example.com", Name: "The App"},
		To:      []Address{{Email: "alice@example.com", Name: "Alice Ünïcode"}, {Email: "Bob <bob@example.com>"}},
		Cc:      []Address{{Email: "carol@example.com"}},
		Bcc:     []string{"dave@example.com", "ALICE@example.com"},
		ReplyTo: []Address{{Email: "support@example.com"}},
		Subject: "Your receipt — №42",
		Text:    "Thanks!",
		HTML:    `<p>Thanks! <img src="cid:logo@app"></p>`,
		Attachments: []Attachment{
			{Content: base64.StdEncoding.EncodeToString(png), Filename: "logo.png", ContentID: "<logo@app>"},
			{Content: "data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(big), Filename: "data.bin"},
			{Content: base64.RawStdEncoding.EncodeToString([]byte("no padding")), Filename: "a.txt", ContentType: "text/plain"},
		},
		Headers: map[string]string{"X-Campaign": "spring", "Message-ID": "<fixed@app>"},
		Tags:    []string{"receipt", "test"},
	}
	m, err := Build(req, Options{Hostname: "catcher.test", Now: func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "app@example.com" {
		t.Errorf("From %q", m.From)
	}
	if want := []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}; !slices.Equal(m.Recipients, want) {
		t.Errorf("Recipients %q, want %q", m.Recipients, want)
	}
	env, err := enmime.ReadEnvelope(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Errors) > 0 {
		t.Errorf("parse errors: %v", env.Errors)
	}
	for name, want := range map[string]string{
		"Subject": "Your receipt — №42", "X-Campaign": "spring", "Message-Id": "<fixed@app>",
		"X-Tags": "receipt, test", "Reply-To": "<support@example.com>", "Date": "Tue, 02 Jan 2024 03:04:05 +0000",
		"Bcc": "",
	} {
		if got := env.GetHeader(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if to := env.GetHeader("To"); !strings.Contains(to, "Alice Ünïcode") || !strings.Contains(to, `"Bob" <bob@example.com>`) {
		t.Errorf("To %q", to)
	}
	if bytes.Contains(m.Raw, []byte("dave@")) {
		t.Error("a Bcc address is in the message")
	}
	if env.Text != "Thanks!" || !strings.Contains(env.HTML, "cid:logo@app") {
		t.Errorf("bodies %q %q", env.Text, env.HTML)
	}
	if len(env.Inlines)+len(env.OtherParts) != 1 || len(env.Attachments) != 2 {
		t.Fatalf("%d inlines, %d other, %d attachments", len(env.Inlines), len(env.OtherParts), len(env.Attachments))
	}
	inline := append(env.Inlines, env.OtherParts...)[0]
	if inline.ContentID != "logo@app" || inline.ContentType != "image/png" || !bytes.Equal(inline.Content, png) {
		t.Errorf("inline %q %q", inline.ContentID, inline.ContentType)
	}
	if a := env.Attachments[0]; a.FileName != "data.bin" || !bytes.Equal(a.Content, big) {
		t.Errorf("attachment %q: %d bytes", a.FileName, len(a.Content))
	}
	if a := env.Attachments[1]; string(a.Content) != "no padding" || a.ContentType != "text/plain" {
		t.Errorf("unpadded attachment %q %q", a.Content, a.ContentType)
	}
	if bytes.Contains(bytes.ReplaceAll(m.Raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("bare LF in the message")
	}
}

func TestBuildGeneratesMessageID(t *testing.T) {
	m, err := Build(Request{From: Address{Email: "a@example.com"}, To: []Address{{Email: "b@example.com"}}}, Options{Hostname: "catcher.test"})
	if err != nil {
		t.Fatal(err)
	}
	env, _ := enmime.ReadEnvelope(bytes.NewReader(m.Raw))
	if id := env.GetHeader("Message-Id"); !strings.HasSuffix(id, "@catcher.test>") || len(id) < 30 {
		t.Errorf("Message-ID %q", id)
	}
}

func TestNewMessageID(t *testing.T) {
	form := regexp.MustCompile(`^<[a-z2-7]{20}@example\.com>$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewMessageID("example.com")
		if !form.MatchString(id) || seen[id] {
			t.Fatalf("Message-ID %q repeated or not <20 base32 characters@example.com>", id)
		}
		seen[id] = true
	}
	if id := NewMessageID(""); !strings.HasSuffix(id, "@localhost>") {
		t.Errorf("no domain: %q", id)
	}
}

func TestBuildRefusesNamingTheField(t *testing.T) {
	ok := func() Request {
		return Request{From: Address{Email: "a@example.com"}, To: []Address{{Email: "b@example.com"}}}
	}
	for _, tc := range []struct {
		field  string
		change func(*Request)
		reason string
	}{
		{"From.Email", func(r *Request) { r.From = Address{} }, "required"},
		{"From.Email", func(r *Request) { r.From.Email = "not an address" }, "is not an email address"},
		{"To[1].Email", func(r *Request) { r.To = append(r.To, Address{Email: "bob@"}) }, "is not an email address"},
		{"Cc[0].Email", func(r *Request) { r.Cc = []Address{{Name: "no address"}} }, "empty"},
		{"Bcc[0].Email", func(r *Request) { r.Bcc = []string{"x y z"} }, "is not an email address"},
		{"ReplyTo[0]", func(r *Request) { r.ReplyTo = []Address{{Email: "a@example.com", Name: "x\r\nBcc: evil@example.com"}} }, "line break"},
		{"To", func(r *Request) { r.To = nil }, "no recipients"},
		{"Attachments[1].Content", func(r *Request) {
			r.Attachments = []Attachment{{Content: "aGk="}, {Content: "not base64!", Filename: "x"}}
		}, "not base64"},
		{"Attachments[0].Content", func(r *Request) { r.Attachments = []Attachment{{Filename: "empty"}} }, "empty"},
		{"Headers.subject", func(r *Request) { r.Headers = map[string]string{"subject": "x"} }, "cannot be set"},
		{"Headers.X-A", func(r *Request) { r.Headers = map[string]string{"X-A": "1\r\nBcc: evil@example.com"} }, "line break"},
		{"Headers.Bad Name", func(r *Request) { r.Headers = map[string]string{"Bad Name": "1"} }, "not a header field name"},
		{"Headers.X-Tags", func(r *Request) { r.Headers = map[string]string{"X-Tags": "a"}; r.Tags = []string{"b"} }, "together with Tags"},
		{"Tags[0]", func(r *Request) { r.Tags = []string{"a,b"} }, "comma"},
	} {
		req := ok()
		tc.change(&req)
		_, err := Build(req, Options{})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
			t.Errorf("%s: got %v, want a FieldError on %s saying %q", tc.field, err, tc.field, tc.reason)
		}
	}
}
