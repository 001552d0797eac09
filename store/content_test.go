package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"testing"

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
