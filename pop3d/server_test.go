package pop3d_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/pop3d"
	"github.com/letterbox-mail/letterbox/store"
)

// step is one command of a dialogue and the start of the answer it must get.
type step struct {
	send string
	want string
}

func run(t *testing.T, c *client, steps []step) {
	t.Helper()
	for _, s := range steps {
		if got := c.cmd(s.send); !strings.HasPrefix(got, s.want) {
			t.Errorf("%q: got %q, want prefix %q", s.send, got, s.want)
		}
	}
}

// fixture is a store with three messages: two for alice, one for bob.
type fixture struct {
	st              *store.Store
	a1, b1, a2      store.Summary
	sizes           []int64
	total           int64
	alice, bob, all []store.Summary
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{st: newStore(t)}
	f.a1 = add(t, f.st, msg("alice@example.com", "first for alice", "Hello Alice.\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"), "alice@example.com")
	f.b1 = add(t, f.st, msg("bob@example.com", "only for bob", "Hello Bob.\r\n"), "bob@example.com")
	f.a2 = add(t, f.st, msg("Alice <ALICE@example.com>, carol@example.com", "second for alice", "line 1\r\nline 2\r\nline 3\r\nline 4\r\nline 5\r\n"), "carol@example.com")
	f.all = []store.Summary{f.a1, f.b1, f.a2}
	f.alice = []store.Summary{f.a1, f.a2}
	f.bob = []store.Summary{f.b1}
	for _, s := range f.all {
		f.sizes = append(f.sizes, s.Size)
		f.total += s.Size
	}
	return f
}

func TestDialogue(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	if !regexp.MustCompile(`^\+OK .* <[^<>@]+@pop\.test>$`).MatchString(c.greeting) {
		t.Errorf("greeting %q has no APOP timestamp", c.greeting)
	}
	s1, s2 := f.sizes[0], f.sizes[1]
	run(t, c, []step{
		// AUTHORIZATION state
		{"STAT", "-ERR log in first"},
		{"RETR 1", "-ERR log in first"},
		{"NOOP", "-ERR log in first"},
		{"PASS secret", "-ERR send USER first"},
		{"FROB", "-ERR unknown command"},
		{"", "-ERR unknown command"},
		{"USER", "-ERR usage"},
		{"STLS", "-ERR STLS not available"},
		{"user anyone", "+OK"},
		{"pass any password at all", "+OK anyone has 3 messages (" + strconv.FormatInt(f.total, 10) + " octets)"},
		// TRANSACTION state
		{"USER x", "-ERR already logged in"},
		{"PASS x", "-ERR already logged in"},
		{"APOP x 0123456789abcdef0123456789abcdef", "-ERR already logged in"},
		{"STLS", "-ERR already logged in"},
		{"STAT", fmt.Sprintf("+OK 3 %d", f.total)},
		{"LIST 2", fmt.Sprintf("+OK 2 %d", s2)},
		{"LIST 4", "-ERR no such message"},
		{"LIST 0", "-ERR no such message"},
		{"LIST -1", "-ERR invalid message number"},
		{"LIST +1", "-ERR invalid message number"},
		{"LIST x", "-ERR invalid message number"},
		{"UIDL 9", "-ERR no such message"},
		{"RETR", "-ERR invalid message number"},
		{"RETR 99999999999999999999", "-ERR invalid message number"},
		{"TOP 1", "-ERR usage"},
		{"TOP 1 -1", "-ERR invalid number of lines"},
		{"TOP 1 x", "-ERR invalid number of lines"},
		{"TOP 4 1", "-ERR no such message"},
		{"DELE", "-ERR invalid message number"},
		{"DELE 1", "+OK message 1 deleted"},
		{"DELE 1", "-ERR message 1 already deleted"},
		{"RETR 1", "-ERR message 1 already deleted"},
		{"TOP 1 0", "-ERR message 1 already deleted"},
		{"LIST 1", "-ERR message 1 already deleted"},
		{"UIDL 1", "-ERR message 1 already deleted"},
		{"STAT", fmt.Sprintf("+OK 2 %d", f.total-s1)},
		{"RSET", fmt.Sprintf("+OK 3 %d", f.total)},
		{"LIST 1", fmt.Sprintf("+OK 1 %d", s1)},
		{"NOOP", "+OK"},
		{"noop", "+OK"},
		{"FROB", "-ERR unknown command"},
		{"QUIT", "+OK letterbox POP3 server signing off (0 messages deleted)"},
	})
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("connection still open after QUIT")
	}
	for _, s := range f.all {
		rawOf(t, f.st, s.ID) // RSET undid the DELE
	}
}

func TestQuitBeforeLogin(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	run(t, c, []step{{"QUIT", "+OK"}})
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("connection still open after QUIT")
	}
}

func TestCAPA(t *testing.T) {
	f := newFixture(t)
	srvTLS, _ := tlsConfigs(t)
	for _, tc := range []struct {
		name       string
		opts       pop3d.Options
		auth, tran []string
	}{
		{"plain", pop3d.Options{},
			[]string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "SASL PLAIN", "IMPLEMENTATION letterbox"},
			[]string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION letterbox"}},
		{"stls", pop3d.Options{TLSConfig: srvTLS},
			[]string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "SASL PLAIN", "STLS", "IMPLEMENTATION letterbox"},
			[]string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION letterbox"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, f.st, tc.opts)
			c := dial(t, srv.addr)
			c.ok("CAPA")
			if got := c.lines(); !slices.Equal(got, tc.auth) {
				t.Errorf("CAPA before login:\n got %q\nwant %q", got, tc.auth)
			}
			c.login("someone", "x")
			c.ok("CAPA")
			if got := c.lines(); !slices.Equal(got, tc.tran) {
				t.Errorf("CAPA after login:\n got %q\nwant %q", got, tc.tran)
			}
		})
	}
}

func TestListAndUIDL(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	uidls := func() []string {
		c := dial(t, srv.addr)
		c.login("all", "x")
		if got := c.ok("LIST"); got != fmt.Sprintf("+OK 3 messages (%d octets)", f.total) {
			t.Errorf("LIST: %q", got)
		}
		var want []string
		for i, s := range f.sizes {
			want = append(want, fmt.Sprintf("%d %d", i+1, s))
		}
		if got := c.lines(); !slices.Equal(got, want) {
			t.Errorf("LIST lines %q, want %q", got, want)
		}
		c.ok("DELE 2")
		c.ok("LIST")
		if got := c.lines(); !slices.Equal(got, []string{want[0], want[2]}) {
			t.Errorf("LIST after DELE 2: %q", got)
		}
		c.ok("RSET")
		c.ok("UIDL")
		lines := c.lines()
		if one := c.ok("UIDL 3"); one != "+OK "+lines[2] {
			t.Errorf("UIDL 3 = %q, listing says %q", one, lines[2])
		}
		c.ok("QUIT")
		return lines
	}
	first := uidls()
	v := f.st.UIDValidity()
	for i, s := range f.all {
		if want := fmt.Sprintf("%d %d-%d", i+1, v, s.UID); first[i] != want {
			t.Errorf("UIDL line %q, want %q", first[i], want)
		}
		if id := strings.Fields(first[i])[1]; !regexp.MustCompile(`^[\x21-\x7e]{1,70}$`).MatchString(id) {
			t.Errorf("unique-id %q breaks RFC 1939 §7", id)
		}
	}
	// A new message and a deleted one do not change the others' unique-ids.
	if err := f.st.Delete(context.Background(), []string{f.a1.ID}); err != nil {
		t.Fatal(err)
	}
	n := add(t, f.st, msg("dave@example.com", "later", "x\r\n"), "dave@example.com")
	c := dial(t, srv.addr)
	c.login("all", "x")
	c.ok("UIDL")
	got := c.lines()
	want := []string{"1 " + strings.Fields(first[1])[1], "2 " + strings.Fields(first[2])[1], fmt.Sprintf("3 %d-%d", v, n.UID)}
	if !slices.Equal(got, want) {
		t.Errorf("UIDL in a later session %q, want %q", got, want)
	}
}

func TestRecipientLogins(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	v := f.st.UIDValidity()
	for _, tc := range []struct {
		user string
		want []store.Summary
	}{
		{"alice@example.com", f.alice},
		{"ALICE@Example.COM", f.alice},
		{"bob@example.com", f.bob},
		{"carol@example.com", []store.Summary{f.a2}},
		{"nobody@example.com", nil},
		{"admin", f.all},
		{"alice", f.all},
	} {
		t.Run(tc.user, func(t *testing.T) {
			c := dial(t, srv.addr)
			c.login(tc.user, "x")
			c.ok("UIDL")
			var want []string
			for i, s := range tc.want {
				want = append(want, fmt.Sprintf("%d %d-%d", i+1, v, s.UID))
			}
			if got := c.lines(); !slices.Equal(got, want) {
				t.Errorf("UIDL %q, want %q", got, want)
			}
			for i, s := range tc.want {
				c.ok(fmt.Sprintf("RETR %d", i+1))
				if _, content := c.body(); !bytes.Equal(content, rawOf(t, f.st, s.ID)) {
					t.Errorf("RETR %d is not message %s", i+1, s.ID)
				}
			}
		})
	}
}

func TestRetrExactBytesAndDotStuffing(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	c.login("alice@example.com", "x")
	raw := rawOf(t, f.st, f.a1.ID)
	if got := c.ok("RETR 1"); got != fmt.Sprintf("+OK %d octets", len(raw)) {
		t.Errorf("RETR 1: %q", got)
	}
	wire, content := c.body()
	if !bytes.Equal(content, raw) {
		t.Errorf("un-stuffed RETR differs from store.Raw:\n got %q\nwant %q", content, raw)
	}
	for _, want := range []string{"\r\n..leading dot\r\n", "\r\n...two dots\r\n", "\r\n..\r\nend\r\n"} {
		if !bytes.Contains(wire, []byte(want)) {
			t.Errorf("wire bytes lack %q (dot-stuffing):\n%q", want, wire)
		}
	}
	sum, err := f.st.Summary(context.Background(), f.a1.ID)
	if err != nil || !sum.Read {
		t.Errorf("message not read after RETR: %v %v", sum.Read, err)
	}
	// TOP leaves the read state alone.
	c.ok("TOP 2 1")
	c.body()
	if sum, err := f.st.Summary(context.Background(), f.a2.ID); err != nil || sum.Read {
		t.Errorf("message read after TOP: %v %v", sum.Read, err)
	}
}

func TestTop(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	c.login("carol@example.com", "x")
	raw := string(rawOf(t, f.st, f.a2.ID))
	head, _, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatal("no header/body separator")
	}
	head += "\r\n\r\n"
	for _, tc := range []struct {
		n    string
		want string
	}{
		{"0", head},
		{"3", head + "line 1\r\nline 2\r\nline 3\r\n"},
		{"5", raw},
		{"100", raw},
	} {
		if got := c.cmd("TOP 1 " + tc.n); got != "+OK top of message follows" {
			t.Errorf("TOP 1 %s: %q", tc.n, got)
		}
		if _, content := c.body(); string(content) != tc.want {
			t.Errorf("TOP 1 %s:\n got %q\nwant %q", tc.n, content, tc.want)
		}
	}
}

// TestLineEndings covers messages stored with bare LF and without a final line ending: RETR
// still sends valid POP3 (CRLF lines), documented as such.
func TestLineEndings(t *testing.T) {
	st := newStore(t)
	lf := add(t, st, "From: a@example.com\nTo: b@example.com\nSubject: lf\n\nline one\n.dot\n\nlast\n", "b@example.com")
	open := add(t, st, "From: a@example.com\r\nTo: b@example.com\r\nSubject: no end\r\n\r\nno final CRLF", "b@example.com")
	mixed := add(t, st, "From: a@example.com\r\nTo: b@example.com\r\nSubject: mixed\r\n\r\ncr\r\nlf\nlone\rcr\r\n", "b@example.com")
	srv := start(t, st, pop3d.Options{})
	c := dial(t, srv.addr)
	c.login("all", "x")
	for i, tc := range []struct {
		id   string
		want func([]byte) []byte
	}{
		{lf.ID, func(raw []byte) []byte { return bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")) }},
		{open.ID, func(raw []byte) []byte { return append(raw, "\r\n"...) }},
		{mixed.ID, func(raw []byte) []byte { return bytes.Replace(raw, []byte("lf\n"), []byte("lf\r\n"), 1) }},
	} {
		c.ok(fmt.Sprintf("RETR %d", i+1)) // body() fails the test on any line not ending in CRLF
		_, content := c.body()
		if want := tc.want(rawOf(t, st, tc.id)); !bytes.Equal(content, want) {
			t.Errorf("RETR %d:\n got %q\nwant %q", i+1, content, want)
		}
	}
	c.ok("TOP 1 1")
	if _, content := c.body(); !bytes.HasSuffix(content, []byte("Subject: lf\r\n\r\nline one\r\n")) {
		t.Errorf("TOP of a bare-LF message: %q", content)
	}
}

func TestDeleteAtQuit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  func(c *client, srv *server)
		deleted bool
	}{
		{"DELE QUIT", func(c *client, _ *server) {
			c.ok("DELE 1")
			if got := c.ok("QUIT"); !strings.HasSuffix(got, "(1 messages deleted)") {
				c.t.Errorf("QUIT: %q", got)
			}
		}, true},
		{"DELE RSET QUIT", func(c *client, _ *server) {
			c.ok("DELE 1")
			c.ok("RSET")
			c.ok("QUIT")
		}, false},
		{"DELE then connection dropped", func(c *client, srv *server) {
			c.ok("DELE 1")
			c.conn.Close()
			// Shutdown returns once every session has ended, so the session saw the drop.
			if err := srv.Shutdown(context.Background()); err != nil {
				c.t.Fatal(err)
			}
		}, false},
		{"DELE then server shutdown", func(c *client, srv *server) {
			c.ok("DELE 1")
			done := make(chan error, 1)
			go func() { done <- srv.Shutdown(context.Background()) }()
			if got := c.line(); got != "-ERR [SYS/TEMP] server shutting down" {
				c.t.Errorf("at shutdown: %q", got)
			}
			if err := <-done; err != nil {
				c.t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			srv := start(t, f.st, pop3d.Options{})
			c := dial(t, srv.addr)
			c.login("bob@example.com", "x")
			tc.script(c, srv)
			_, err := f.st.Raw(context.Background(), f.b1.ID)
			if tc.deleted && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("message still in the store (err %v)", err)
			}
			if !tc.deleted && err != nil {
				t.Errorf("message gone from the store: %v", err)
			}
			for _, s := range []store.Summary{f.a1, f.a2} {
				rawOf(t, f.st, s.ID) // other maildrops untouched
			}
		})
	}
}

func TestDeletedElsewhere(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	c.login("all", "x")
	if err := f.st.Delete(context.Background(), []string{f.b1.ID}); err != nil {
		t.Fatal(err)
	}
	run(t, c, []step{
		{"RETR 2", "-ERR message 2 was deleted by someone else"},
		{"TOP 2 0", "-ERR message 2 was deleted by someone else"},
		{"DELE 2", "+OK"},
		{"QUIT", "+OK"},
	})
}

func TestSTLS(t *testing.T) {
	f := newFixture(t)
	srvTLS, cliTLS := tlsConfigs(t)
	srv := start(t, f.st, pop3d.Options{TLSConfig: srvTLS})
	c := dial(t, srv.addr)
	c.ok("USER forgotten")
	c.ok("STLS")
	tc := tls.Client(c.conn, cliTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c.conn = tc
	c.r.Reset(tc)
	run(t, c, []step{
		{"PASS x", "-ERR send USER first"}, // STLS forgets USER
		{"STLS", "-ERR already using TLS"},
	})
	c.ok("CAPA")
	if lines := c.lines(); slices.Contains(lines, "STLS") {
		t.Errorf("CAPA over TLS offers STLS: %q", lines)
	}
	c.login("alice@example.com", "x")
	c.ok("RETR 1")
	if _, content := c.body(); !bytes.Equal(content, rawOf(t, f.st, f.a1.ID)) {
		t.Error("RETR over STLS differs from store.Raw")
	}
	c.ok("QUIT")
}

// TestSTLSInjection checks that a command pipelined in plain text after STLS is never run as if
// it came over TLS (the STARTTLS command injection class of bugs).
func TestSTLSInjection(t *testing.T) {
	f := newFixture(t)
	srvTLS, cliTLS := tlsConfigs(t)
	srv := start(t, f.st, pop3d.Options{TLSConfig: srvTLS})
	c := dial(t, srv.addr)
	c.send("STLS\r\nCAPA")
	if got := c.line(); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("STLS: %q", got)
	}
	tc := tls.Client(c.conn, cliTLS)
	if err := tc.Handshake(); err != nil {
		return // the injected bytes broke the handshake: nothing ran
	}
	c.conn = tc
	c.r.Reset(tc)
	if got := c.cmd("NOOP"); got != "-ERR log in first" {
		t.Errorf("first answer over TLS is %q: the plain-text CAPA ran", got)
	}
}

func TestImplicitTLS(t *testing.T) {
	f := newFixture(t)
	srvTLS, cliTLS := tlsConfigs(t)
	srv := start(t, f.st, pop3d.Options{TLSConfig: srvTLS}, func(l net.Listener) net.Listener { return tls.NewListener(l, srvTLS) })
	conn, err := tls.Dial("tcp", srv.addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn)
	c.ok("CAPA")
	if lines := c.lines(); slices.Contains(lines, "STLS") {
		t.Errorf("CAPA over implicit TLS offers STLS: %q", lines)
	}
	run(t, c, []step{{"STLS", "-ERR already using TLS"}})
	c.login("bob@example.com", "x")
	c.ok("RETR 1")
	if _, content := c.body(); !bytes.Equal(content, rawOf(t, f.st, f.b1.ID)) {
		t.Error("RETR over implicit TLS differs from store.Raw")
	}
	c.ok("QUIT")
}

// panicStore panics when a maildrop is opened.
func (panicStore) Index(context.Context, store.Filter) ([]store.Entry, error) { panic("boom") }

// blockingStore blocks opening a maildrop until its context ends.
// failStore fails the calls named in fail, as a broken disk would.
func TestSnapshotAtLogin(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	c.login("all", "x")
	later := add(t, f.st, msg("alice@example.com", "later", "x\r\n"), "alice@example.com")
	run(t, c, []step{
		{"STAT", fmt.Sprintf("+OK 3 %d", f.total)},
		{"LIST 4", "-ERR no such message"},
		{"QUIT", "+OK"},
	})
	c = dial(t, srv.addr)
	c.login("all", "x")
	run(t, c, []step{{"LIST 4", fmt.Sprintf("+OK 4 %d", later.Size)}})
	// Two sessions deleting the same message both succeed; it is gone once.
	c2 := dial(t, srv.addr)
	c2.login("all", "x")
	run(t, c, []step{{"DELE 4", "+OK"}, {"QUIT", "+OK letterbox POP3 server signing off (1 messages deleted)"}})
	run(t, c2, []step{{"DELE 4", "+OK"}, {"QUIT", "+OK letterbox POP3 server signing off (1 messages deleted)"}})
	if _, err := f.st.Raw(context.Background(), later.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("message not deleted: %v", err)
	}
}
