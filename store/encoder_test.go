package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// TestIdleEncoderSurvivesReleases compresses from several goroutines while another releases the
// encoder over and over: every message must come back whole, and a release must drop it.
func TestIdleEncoderSurvivesReleases(t *testing.T) {
	enc, err := newIdleEncoder(zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				enc.release()
			}
		}
	})
	var workers sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		workers.Go(func() {
			for i := range 300 {
				src := bytes.Repeat(fmt.Appendf(nil, "message %d of worker %d; ", i, w), 50+i)
				out, err := dec.DecodeAll(enc.EncodeAll(src, nil), nil)
				if err != nil || !bytes.Equal(out, src) {
					errs <- fmt.Errorf("worker %d message %d: %d bytes back of %d, %v", w, i, len(out), len(src), err)
					return
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	enc.release()
	if enc.enc.Load() != nil {
		t.Fatal("release kept the encoder")
	}
	if out, err := dec.DecodeAll(enc.EncodeAll([]byte("after"), nil), nil); err != nil || string(out) != "after" {
		t.Fatalf("after a release: %q, %v", out, err)
	}
}

// TestIdleEncoderRefusesBadOptions: options zstd refuses fail at open, not at the first message.
func TestIdleEncoderRefusesBadOptions(t *testing.T) {
	if _, err := newIdleEncoder(zstd.WithWindowSize(3)); err == nil {
		t.Fatal("a window of 3 bytes was accepted")
	}
}

// TestWriterReleasesEncoderWhenIdle: once the writer idles after messages, the encoder is gone,
// and the next message is stored and read back as ever.
func TestWriterReleasesEncoderWhenIdle(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "letterbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	released := func() bool { return s.enc.enc.Load() == nil }
	for round := range 2 {
		sum, err := s.Add(ctx, Envelope{MailFrom: "a@example.com", Recipients: []string{"b@example.com"}},
			bytes.NewReader(Message4K(round)))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.Raw(ctx, sum.ID)
		if err != nil || !bytes.Contains(raw, []byte(fmt.Sprintf("order-%d@shop.example", round))) {
			t.Fatalf("round %d: raw message %.60q, %v", round, raw, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !released() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the encoder is still held 10 s after the writer went idle", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
