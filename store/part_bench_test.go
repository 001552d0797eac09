package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
)

// BenchmarkPart measures reading parts of the 100k load (internal/realmail: about 100 KB, a
// base64 attachment), 64 messages cycled: "part" is one Part of the attachment with nothing
// cached (a parse of the message each), "view" what the inbox does to show a message (Message,
// then Part of every attachment and inline part), with the store's cache and without it.
func BenchmarkPart(b *testing.B) {
	ctx := context.Background()
	s := openStore(b, store.Options{})
	load, err := realmail.Load("100k")
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for i := range 64 {
		m := load(i)
		sum, err := s.Add(ctx, store.Envelope{MailFrom: m.From, Recipients: m.To}, bytes.NewReader(m.Raw))
		if err != nil {
			b.Fatal(err)
		}
		if sum.Attachments+sum.Inlines > 0 {
			ids = append(ids, sum.ID)
		}
	}
	if len(ids) == 0 {
		b.Fatal("no message of the load has parts")
	}
	firstPart := func(id string) store.Part {
		m, err := s.Message(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		return append(m.Attachments, m.Inline...)[0]
	}
	parts := make([]store.Part, len(ids))
	for i, id := range ids {
		parts[i] = firstPart(id)
	}
	b.Run("part", func(b *testing.B) {
		defer store.SetPartCache(s, -1)()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, _, err := s.Part(ctx, ids[i%len(ids)], parts[i%len(ids)].PartID); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	view := func(b *testing.B) {
		b.ReportAllocs()
		i, n := 0, 0
		for b.Loop() {
			id := ids[i%len(ids)]
			m, err := s.Message(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range append(m.Attachments, m.Inline...) {
				if _, _, err := s.Part(ctx, id, p.PartID); err != nil {
					b.Fatal(err)
				}
				n++
			}
			i++
		}
		b.ReportMetric(float64(n)/float64(b.N), "parts/op")
	}
	b.Run("view", view)
	b.Run("view-uncached", func(b *testing.B) {
		defer store.SetPartCache(s, -1)()
		view(b)
	})
}

// BenchmarkStoredSize reports the database's bytes per message after b.N messages of the mix
// and of the 100k load and a clean stop (run it with -benchtime 2000x or so).
func BenchmarkStoredSize(b *testing.B) {
	for _, name := range []string{"mix", "100k"} {
		b.Run(name, func(b *testing.B) {
			load, err := realmail.Load(name)
			if err != nil {
				b.Fatal(err)
			}
			benchStoredSize(b, load)
		})
	}
}

func benchStoredSize(b *testing.B, load func(int) realmail.Message) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "letterbox.db")
	s := openStore(b, store.Options{Path: path})
	var raw int64
	for i := 0; b.Loop(); i++ {
		m := load(i)
		if _, err := s.Add(ctx, store.Envelope{MailFrom: m.From, Recipients: m.To}, bytes.NewReader(m.Raw)); err != nil {
			b.Fatal(err)
		}
		raw += int64(len(m.Raw))
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			size += fi.Size()
		}
	}
	b.ReportMetric(float64(size)/float64(b.N), "db-bytes/msg")
	b.ReportMetric(float64(raw)/float64(b.N), "raw-bytes/msg")
}
