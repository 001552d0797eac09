package relay

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/letterbox-mail/letterbox/smtpd"
)

// The credentials the test server accepts.
const (
	testUser     = "relayuser"
	testPassword = "s3cret-pässword"
)

// received is one message the test server took.
type received struct {
	From     string
	To       []string
	Data     string
	Username string // "" when the client did not authenticate
	Mech     string
	TLS      bool
	Helo     string
}

// testServer is a real SMTP server (go-smtp's) that checks AUTH credentials for real, refuses
// recipients whose local part starts "refused" (550) or "later" (451), and records what it gets.
type testServer struct {
	t    *testing.T
	addr string
	port int
	pool *x509.CertPool

	mu       sync.Mutex
	messages []received
	authFail int
	arrived  chan struct{}
}

// startServer runs a test server on 127.0.0.1; implicit puts it behind implicit TLS; otherwise
// it offers STARTTLS.
func startServer(t *testing.T, implicit bool) *testServer {
	return startServerOn(t, "127.0.0.1:0", implicit)
}

// startServerOn is startServer on a given address.
func startServerOn(t *testing.T, addr string, implicit bool) *testServer {
	t.Helper()
	cert, err := smtpd.GenerateCertificate("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	ts := &testServer{t: t, pool: x509.NewCertPool(), arrived: make(chan struct{}, 100)}
	ts.pool.AddCert(leaf)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv := smtp.NewServer(ts)
	srv.Domain = "upstream.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0) // clients that give up on purpose (bad certificates)
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		l = tls.NewListener(l, tlsCfg)
	} else {
		srv.TLSConfig = tlsCfg
	}
	ts.addr = l.Addr().String()
	ts.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ts
}

func (ts *testServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &testSession{ts: ts, msg: received{TLS: isTLS, Helo: c.Hostname()}}, nil
}

// wait returns the n-th message (0-based) once it has arrived.
func (ts *testServer) wait(n int) received {
	ts.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ts.mu.Lock()
		if len(ts.messages) > n {
			m := ts.messages[n]
			ts.mu.Unlock()
			return m
		}
		ts.mu.Unlock()
		select {
		case <-ts.arrived:
		case <-deadline:
			ts.t.Fatalf("message %d never arrived", n)
		}
	}
}

func (ts *testServer) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.messages)
}

type testSession struct {
	ts  *testServer
	msg received
}

func (s *testSession) AuthMechanisms() []string { return []string{"PLAIN", "LOGIN", "CRAM-MD5"} }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	ok := func(user, pass string) error {
		if user != testUser || pass != testPassword {
			s.ts.mu.Lock()
			s.ts.authFail++
			s.ts.mu.Unlock()
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.msg.Username, s.msg.Mech = user, mech
		return nil
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(_, user, pass string) error { return ok(user, pass) }), nil
	case "LOGIN":
		return &loginServer{check: ok}, nil
	case "CRAM-MD5":
		return &cramServer{check: func(user, digest string) error {
			mac := hmac.New(md5.New, []byte(testPassword))
			mac.Write([]byte(cramChallenge))
			if digest != hex.EncodeToString(mac.Sum(nil)) {
				return ok(user, "wrong digest")
			}
			return ok(user, testPassword)
		}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	s.msg.From = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "refused"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: user unknown"}
	case strings.HasPrefix(to, "later"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy, try later"}
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := s.msg
	m.Data = string(b)
	s.ts.mu.Lock()
	s.ts.messages = append(s.ts.messages, m)
	n := len(s.ts.messages)
	s.ts.mu.Unlock()
	s.ts.arrived <- struct{}{}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: fmt.Sprintf("queued as T%d", n)}
}

func (s *testSession) Reset()        { s.msg.From, s.msg.To = "", nil }
func (s *testSession) Logout() error { return nil }

// loginServer checks a LOGIN exchange.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.step, l.user = 2, string(resp)
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, false, errors.New("unexpected")
}

const cramChallenge = "<1896.697170952@upstream.test>"

// cramServer checks a CRAM-MD5 exchange against testPassword as the shared secret.
type cramServer struct {
	check func(user, digest string) error
	sent  bool
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if !c.sent {
		c.sent = true
		return []byte(cramChallenge), false, nil
	}
	user, digest, _ := strings.Cut(string(resp), " ")
	return nil, true, c.check(user, digest)
}

// freeAddr returns a loopback address nothing listens on (for a server started later).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
