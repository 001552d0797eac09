package webui

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
)

// BenchmarkMailHogList250 is GET /api/v2/messages?limit=250, over loopback HTTP, (MailHog's largest page, what
// cypress-mailhog and the npm mailhog client fetch) over 250 messages of the realistic mix:
// receipts, resets, newsletters with HTML, attachments, other charsets.
func BenchmarkMailHogList250(b *testing.B) {
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(b.TempDir(), "mh.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for i := range 250 {
		m := realmail.Mix(i)
		if _, err := st.Add(context.Background(), store.Envelope{MailFrom: m.From, Recipients: m.To, Helo: "app.test", RemoteAddr: "127.0.0.1:4000"},
			bytes.NewReader(m.Raw)); err != nil {
			b.Fatal(err)
		}
	}
	srv, err := New(Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	var size int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := http.Get(ts.URL + "/api/v2/messages?limit=250")
		if err != nil {
			b.Fatal(err)
		}
		size, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("%d %v", res.StatusCode, err)
		}
	}
	b.ReportMetric(float64(size)/1024, "KB/response")
}
