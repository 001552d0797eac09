package webui

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// BenchmarkWebsocketClients connects 1,000 idle /api/events clients (raw connections that do
// the handshake and read the stats frame) and reports the heap and stack bytes per client,
// both ends of the loopback connection included, and the time to publish one new message to
// all of them.
func BenchmarkWebsocketClients(b *testing.B) {
	const clients = 1000
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(b.TempDir(), "ws.db"), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Options{Store: st, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	addr := l.Addr().String()

	memory := func() (int64, int64) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapInuse), int64(ms.StackInuse)
	}
	for range b.N {
		heap0, stack0 := memory()
		conns := make([]*bufio.Reader, 0, clients)
		raw := make([]net.Conn, 0, clients)
		for range clients {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			raw = append(raw, c)
			io.WriteString(c, "GET /api/events HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
			r := bufio.NewReaderSize(c, 512)
			res, err := http.ReadResponse(r, nil)
			if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
				b.Fatalf("handshake: %v %v", err, res)
			}
			readFrame(b, r) // stats
			conns = append(conns, r)
		}
		heap1, stack1 := memory()
		b.ReportMetric(float64(heap1+stack1-heap0-stack0)/clients, "bytes/client")
		b.ReportMetric(float64(stack1-stack0)/clients, "stack-bytes/client")
		b.ReportMetric(float64(runtime.NumGoroutine())/clients, "goroutines/client")
		t0 := time.Now()
		if _, err := st.Add(ctx, store.Envelope{MailFrom: "a@b.c", Recipients: []string{"d@e.f"}},
			strings.NewReader("Subject: fan-out\r\n\r\nhello\r\n")); err != nil {
			b.Fatal(err)
		}
		for _, r := range conns {
			if f := readFrame(b, r); !strings.Contains(f, `"Type":"new"`) {
				b.Fatalf("frame %q", f)
			}
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "fanout-ms")
		for _, c := range raw {
			c.Close()
		}
		// Let the server notice, so the next round starts from the same baseline.
		deadline := time.Now().Add(10 * time.Second)
		for countLongLived(srv) > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
}

// readFrame reads one unmasked server text frame.
func readFrame(b *testing.B, r *bufio.Reader) string {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		b.Fatal(err)
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		io.ReadFull(r, ext[:])
		n = int(ext[0])<<8 | int(ext[1])
	case 127:
		b.Fatal("frame too large")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		b.Fatal(err)
	}
	return string(p)
}
