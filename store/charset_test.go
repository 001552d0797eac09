package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/store"
)

// TestCharsets: a declared charset is honoured; 8-bit text that declares none (or US-ASCII, the
// default) is read as UTF-8 when it is valid UTF-8 (raw UTF-8 from tools and scripts), and as
// Windows-1252 otherwise.
func TestCharsets(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	cases := []struct {
		name, raw, text, html string
	}{
		{"no content type, UTF-8", "Subject: a\r\n\r\nÜber Ábc € ok\r\n", "Über Ábc € ok", ""},
		{"us-ascii declared, UTF-8", "Subject: a\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nnaïve café\r\n", "naïve café", ""},
		{"no charset, Latin-1 bytes", "Subject: a\r\nContent-Type: text/plain\r\n\r\n\xdcber caf\xe9\r\n", "Über café", ""},
		{"ISO-8859-1 declared", "Subject: a\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n\xdcber\r\n", "Über", ""},
		{"UTF-8 declared", "Subject: a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nÜber\r\n", "Über", ""},
		{"HTML only, raw UTF-8", "Subject: a\r\nContent-Type: text/html\r\n\r\n<p>Grüße</p>\r\n", "Grüße", "<p>Grüße</p>"},
		{"HTML only, meta charset", "Subject: a\r\nContent-Type: text/html\r\n\r\n<meta charset=\"iso-8859-1\"><p>Gr\xfc\xdfe</p>\r\n", "Grüße", "<meta charset=\"iso-8859-1\"><p>Grüße</p>"},
		{"HTML only, no charset anywhere, Latin-1", "Subject: a\r\nContent-Type: text/html\r\n\r\n<p>Gr\xfc\xdfe</p>\r\n", "Grüße", "<p>Grüße</p>"},
		{"alternative without charsets", "Subject: a\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nGrüße\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Grüße</p>\r\n--b--\r\n", "Grüße", "<p>Grüße</p>"},
	}
	for _, c := range cases {
		sum := add(t, s, store.Envelope{}, []byte(c.raw))
		m, err := s.Message(ctx, sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimRight(m.Text, "\r\n") != c.text || strings.TrimRight(m.HTML, "\r\n") != c.html {
			t.Errorf("%s: text %q html %q, want %q %q", c.name, m.Text, m.HTML, c.text, c.html)
		}
	}
}
