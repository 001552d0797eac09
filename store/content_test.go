package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jhillyerd/enmime/v2"
	"github.com/letterbox-mail/letterbox/store"
)

// A message and its raw bytes are kept together, compressed: opening a large one (whose body
// is read without decompressing the whole raw message) and downloading it give back exactly
// what was stored, for a small message and one of several megabytes.
func TestStoredContentRoundTrip(t *testing.T) {
	s := openStore(t, store.Options{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1 << 10, 3 << 20} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(data)
		var lines bytes.Buffer
		for len(enc) > 76 {
			lines.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		lines.WriteString(enc + "\r\n")
		raw := []byte(fmt.Sprintf("From: a@example.com\r\nTo: b@example.com\r\nSubject: size %d\r\n"+
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n"+
			"--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the file, %d bytes.\r\n"+
			"--zz\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n"+
			"Content-Transfer-Encoding: base64\r\n\r\n%s--zz--\r\n", size, size, lines.String()))
		sum := add(t, s, store.Envelope{MailFrom: "a@example.com", Recipients: []string{"b@example.com"}}, raw)

		m, err := s.Message(ctx, sum.ID)
		if err != nil {
			t.Fatalf("size %d: message: %v", size, err)
		}
		if want := fmt.Sprintf("See the file, %d bytes.", size); !bytes.Contains([]byte(m.Text), []byte(want)) {
			t.Fatalf("size %d: text %q", size, m.Text)
		}
		if len(m.Attachments) != 1 || m.Attachments[0].Size != int64(size) || m.Attachments[0].FileName != "data.bin" {
			t.Fatalf("size %d: attachments %+v", size, m.Attachments)
		}
		got, err := s.Raw(ctx, sum.ID)
		if err != nil {
			t.Fatalf("size %d: raw: %v", size, err)
		}
		if !bytes.HasSuffix(got, raw) || !bytes.HasPrefix(got, []byte("Return-Path: <a@example.com>\r\n")) || int64(len(got)) != sum.Size {
			t.Fatalf("size %d: raw differs (%d bytes stored, %d sent)", size, len(got), len(raw))
		}
		_, content, err := s.Part(ctx, sum.ID, m.Attachments[0].PartID)
		if err != nil || !bytes.Equal(content, data) {
			t.Fatalf("size %d: part: %v (%d bytes)", size, err, len(content))
		}
	}
}

// The text and HTML of a message read back exactly as enmime decodes them, whether the store
// keeps them as spans of the raw message (a part in UTF-8 without transfer encoding) or on
// their own (quoted-printable, base64, or too short to be worth a span).
func TestTextAndHTMLReadBack(t *testing.T) {
	s := openStore(t, store.Options{})
	ctx := context.Background()
	long := strings.Repeat("Grüße aus Köln, und danke für die Bestellung. ", 20)
	qp := strings.Repeat("Caf=C3=A9 cr=C3=A8me, =\r\n", 30)
	for _, raw := range []string{
		string(store.Message4K(3)),
		"Subject: short\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nShort text.\r\n",
		"Subject: long\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + long + "\r\n",
		"Subject: qp\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + "\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" +
			long + "</p>\r\n--b--\r\n",
		"Subject: latin1\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<p>" + strings.Repeat("Caf\xe9 ", 100) + "</p>\r\n",
	} {
		env, err := enmime.NewParser(store.ParserOptions()...).ReadEnvelope(strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		sum := add(t, s, store.Envelope{MailFrom: "a@example.com", Recipients: []string{"b@example.com"}}, []byte(raw))
		m, err := s.Message(ctx, sum.ID)
		if err != nil {
			t.Fatalf("%s: %v", sum.Subject, err)
		}
		if m.Text != env.Text || m.HTML != env.HTML {
			t.Errorf("%s: read back\ntext %q\nhtml %q\nwant\ntext %q\nhtml %q", sum.Subject, m.Text, m.HTML, env.Text, env.HTML)
		}
	}
}
