package imapd_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/store"
)

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openStore opens a store on a fresh file in t.TempDir() and closes it when the test ends.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "letterbox.db"), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startServer serves IMAP on 127.0.0.1:0 and returns the server and its address.
func startServer(t testing.TB, opts imapd.Options) (*imapd.Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	srv, err := imapd.New(opts)
	if err != nil {
		t.Fatalf("imapd.New: %v", err)
	}
	return srv, serve(t, srv)
}

// serve serves srv on 127.0.0.1:0 until the test ends and returns the address.
func serve(t testing.TB, srv *imapd.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, imapd.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// dial connects a go-imap client and logs in as user.
func dial(t testing.TB, addr, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if user != "" {
		if err := c.Login(user, "secret").Wait(); err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
	}
	return c
}

// message builds a small text message.
func message(from, to, subject, body string) []byte {
	return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%d.%s@test>\r\n\r\n%s\r\n",
		from, to, subject, time.Now().UnixNano(), strings.ReplaceAll(subject, " ", "."), body))
}

// multipart is a message with a text part, an HTML part and an attachment.
const multipart = "From: Shop <orders@shop.example>\r\n" +
	"To: Customer <customer@example.org>\r\n" +
	"Subject: Your invoice\r\n" +
	"Date: Tue, 03 Jan 2006 10:00:00 +0100\r\n" +
	"Message-ID: <invoice-1@shop.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=\"inner\"\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Please find your invoice attached.\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p>Please find your <b>invoice</b> attached.</p>\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/pdf; name=\"invoice.pdf\"\r\n" +
	"Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQKJcfsj6IKNSAwIG9iago=\r\n" +
	"--outer--\r\n"

// add stores a message.
func add(t testing.TB, s *store.Store, env store.Envelope, raw []byte) store.Summary {
	t.Helper()
	sum, err := s.Add(context.Background(), env, bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	return sum
}

// selfSigned returns a TLS server config with a fresh certificate for 127.0.0.1, and a client
// config that trusts it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// tool returns the path of an external program, skipping the test when it is missing (failing
// under CI=true).
func tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true and was not found", name)
	}
	t.Skipf("%s not installed: skipping", name)
	return ""
}

// within fails the test when ch does not yield within d.
func within[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
		var zero T
		return zero
	}
}

// waitCount polls with NOOP until the client knows of n messages: the store announces new
// messages just after Add returns, so a client may hear of them a moment later.
func waitCount(t testing.TB, c *imapclient.Client, n uint32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Mailbox().NumMessages != n {
		if time.Now().After(deadline) {
			t.Fatalf("client counts %d messages, want %d", c.Mailbox().NumMessages, n)
		}
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) { return io.ReadFull(r, buf) }
