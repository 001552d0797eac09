package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/webui"
)

// server starts a real webui server over a temporary store; authFile may be "".
func server(t *testing.T, authFile string, opts ...client.Option) (*client.Client, *store.Store) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(t.TempDir(), "c.db"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := webui.New(webui.Options{Store: st, Logger: log, AuthFile: authFile})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	c, err := client.New("http://"+l.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func add(t *testing.T, st *store.Store, to, subject, body string) store.Summary {
	t.Helper()
	raw := "From: App <app@example.com>\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nX-Kind: test\r\n\r\n" + body + "\r\n"
	return addRaw(t, st, to, raw)
}

func addRaw(t *testing.T, st *store.Store, to, raw string) store.Summary {
	t.Helper()
	sum, err := st.Add(context.Background(), store.Envelope{MailFrom: "app@example.com", Recipients: []string{to}}, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

const withAttachment = "From: app@example.com\r\nTo: erin@example.org\r\nSubject: Your invoice\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
	"--b\r\nContent-Type: text/csv; name=invoice.csv\r\nContent-Disposition: attachment; filename=invoice.csv\r\n\r\nitem,price\r\ntea,3\r\n--b--\r\n"

func TestListSearchGet(t *testing.T) {
	ctx := t.Context()
	c, st := server(t, "")
	a := add(t, st, "bob@example.org", "Hello Bob", "first")
	b := add(t, st, "carol@example.org", "Hello Carol", "second")

	l, err := c.List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != 2 || l.Count != 2 || l.Messages[0].ID != b.ID || l.Messages[1].To[0].Address != "bob@example.org" {
		t.Errorf("List: %+v", l)
	}
	if l, err = c.List(ctx, 1, 1); err != nil || l.Count != 1 || l.Messages[0].ID != a.ID {
		t.Errorf("List page: %+v %v", l, err)
	}
	l, err = c.Search(ctx, "to:carol", 0, 10)
	if err != nil || l.MessagesCount != 1 || l.Messages[0].Subject != "Hello Carol" {
		t.Errorf("Search: %+v %v", l, err)
	}
	m, err := c.Get(ctx, a.ID)
	if err != nil || m.Subject != "Hello Bob" || !m.Read || strings.TrimSpace(m.Text) != "first" || m.Envelope.MailFrom != "app@example.com" {
		t.Errorf("Get: %+v %v", m, err)
	}
	if m, err := c.Get(ctx, "latest"); err != nil || m.ID != b.ID {
		t.Errorf("latest: %v", err)
	}
	raw, err := c.Raw(ctx, a.ID)
	if err != nil || !strings.Contains(string(raw), "X-Kind: test") {
		t.Errorf("Raw: %q %v", raw, err)
	}
	h, err := c.Headers(ctx, a.ID)
	if err != nil || !slices.Equal(h["X-Kind"], []string{"test"}) || len(h["Received"]) != 1 {
		t.Errorf("Headers: %v %v", h, err)
	}

	inv := addRaw(t, st, "erin@example.org", withAttachment)
	m, err = c.Get(ctx, inv.ID)
	if err != nil || len(m.Attachments) != 1 || m.Attachments[0].FileName != "invoice.csv" || m.Structure.ContentType != "multipart/mixed" {
		t.Fatalf("Get with attachment: %+v %v", m, err)
	}
	content, ctype, err := c.Part(ctx, inv.ID, m.Attachments[0].PartID)
	if err != nil || string(content) != "item,price\r\ntea,3" || !strings.HasPrefix(ctype, "text/csv") {
		t.Errorf("Part: %q %q %v", content, ctype, err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.Messages != 3 || info.Version != "dev" {
		t.Errorf("Info: %+v %v", info, err)
	}
}

func TestReadTagsDelete(t *testing.T) {
	ctx := t.Context()
	c, st := server(t, "")
	a := add(t, st, "bob@example.org", "Hello Bob", "first")
	b := add(t, st, "carol@example.org", "Hello Carol", "second")
	unread := func() int {
		t.Helper()
		l, err := c.List(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return l.Unread
	}
	if err := c.MarkRead(ctx, a.ID, b.ID); err != nil || unread() != 0 {
		t.Fatalf("MarkRead: %v, %d unread", err, unread())
	}
	if err := c.MarkUnread(ctx, b.ID); err != nil || unread() != 1 {
		t.Fatalf("MarkUnread: %v, %d unread", err, unread())
	}
	if err := c.MarkRead(ctx); err != nil || unread() != 1 {
		t.Fatalf("MarkRead without IDs changed something: %v, %d unread", err, unread())
	}
	if err := c.MarkAllRead(ctx, "to:carol"); err != nil || unread() != 0 {
		t.Fatalf("MarkAllRead: %v, %d unread", err, unread())
	}

	if err := c.SetTags(ctx, []string{a.ID, b.ID}, "signup", "eu"); err != nil {
		t.Fatal(err)
	}
	if tags, err := c.Tags(ctx); err != nil || !slices.Equal(tags, []string{"eu", "signup"}) {
		t.Errorf("Tags: %v %v", tags, err)
	}
	if err := c.RenameTag(ctx, "eu", "europe"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTag(ctx, "signup"); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Get(ctx, a.ID); err != nil || !slices.Equal(m.Tags, []string{"europe"}) {
		t.Errorf("tags after rename and delete: %v %v", m.Tags, err)
	}
	if err := c.SetTags(ctx, []string{a.ID}); err != nil {
		t.Fatal(err)
	}
	if m, _ := c.Get(ctx, a.ID); len(m.Tags) != 0 {
		t.Errorf("SetTags with no tags left %v", m.Tags)
	}

	if err := c.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.List(ctx, 0, 0); l.Total != 1 {
		t.Errorf("after Delete: %d", l.Total)
	}
	add(t, st, "dave@example.org", "Bye Dave", "third")
	if err := c.DeleteSearch(ctx, "subject:bye"); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.List(ctx, 0, 0); l.Total != 1 || l.Messages[0].ID != b.ID {
		t.Errorf("after DeleteSearch: %+v", l)
	}
	if err := c.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.List(ctx, 0, 0); l.Total != 0 || l.Messages == nil {
		t.Errorf("after DeleteAll: %+v", l)
	}
}

func TestTypedErrors(t *testing.T) {
	ctx := t.Context()
	c, _ := server(t, "")
	_, err := c.Get(ctx, "missing")
	var herr *client.Error
	if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &herr) || herr.Status != 404 || herr.Path != "/api/v1/message/missing" {
		t.Errorf("missing message: %v", err)
	}
	if errors.Is(err, client.ErrBadRequest) || errors.Is(err, client.ErrTimeout) {
		t.Errorf("404 matches other errors: %v", err)
	}
	if _, _, err := c.Part(ctx, "missing", "1"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("missing part: %v", err)
	}
	_, err = c.Search(ctx, "is:bogus", 0, 0)
	if !errors.Is(err, client.ErrBadQuery) || !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "is:bogus is not known") {
		t.Errorf("bad search: %v", err)
	}
	if _, err := c.WaitFor(ctx, `header:`, client.WaitOptions{Timeout: time.Second}); !errors.Is(err, client.ErrBadQuery) {
		t.Errorf("bad wait query: %v", err)
	}
	err = c.DeleteSearch(ctx, "")
	if !errors.Is(err, client.ErrBadRequest) || errors.Is(err, client.ErrBadQuery) {
		t.Errorf("empty DeleteSearch: %v", err)
	}
	for _, bad := range []string{"ftp://x", "http://", "localhost:8025"} {
		if _, err := client.New(bad); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
	// Nothing listening.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	l.Close()
	dead, _ := client.New("http://" + l.Addr().String())
	if _, err := dead.List(ctx, 0, 0); err == nil || errors.As(err, &herr) {
		t.Errorf("no server: %v", err)
	}
}

func TestBasicAuthAndHTTPClient(t *testing.T) {
	ctx := t.Context()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	counting := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		requests.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c, _ := server(t, file, client.WithBasicAuth("alice", "s3cret"), client.WithHTTPClient(counting))
	if _, err := c.List(ctx, 0, 0); err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	if requests.Load() != 1 {
		t.Errorf("the given http.Client sent %d requests, want 1", requests.Load())
	}
	wrong, _ := client.New(c.URL(), client.WithBasicAuth("alice", "nope"))
	if _, err := wrong.List(ctx, 0, 0); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("wrong password: %v", err)
	}
	none, _ := client.New(c.URL())
	if _, err := none.List(ctx, 0, 0); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("no password: %v", err)
	}
	inURL, _ := client.New(strings.Replace(c.URL(), "http://", "http://alice:s3cret@", 1))
	if _, err := inURL.List(ctx, 0, 0); err != nil {
		t.Errorf("credentials in the URL: %v", err)
	}
	if strings.Contains(inURL.URL(), "s3cret") {
		t.Errorf("URL() shows the password: %s", inURL.URL())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWaitFor(t *testing.T) {
	ctx := t.Context()
	c, st := server(t, "")
	b := add(t, st, "carol@example.org", "Hello Carol", "second")

	// A message that arrives later.
	done := make(chan *client.List, 1)
	go func() {
		l, err := c.WaitFor(ctx, "subject:welcome", client.WaitOptions{SinceID: b.ID, Timeout: 10 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- l
	}()
	w := add(t, st, "dave@example.org", "Welcome Dave", "third")
	select {
	case l := <-done:
		if l == nil || len(l.Messages) != 1 || l.Messages[0].ID != w.ID {
			t.Errorf("WaitFor: %+v", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not return")
	}
	// Already there, counted since a time.
	if l, err := c.WaitFor(ctx, "", client.WaitOptions{Count: 2, Since: b.Created.Add(-time.Second)}); err != nil || l.MessagesCount != 2 {
		t.Errorf("WaitFor since a time: %+v %v", l, err)
	}

	// The server's timeout.
	_, err := c.WaitFor(ctx, "subject:never", client.WaitOptions{Count: 1, Timeout: 100 * time.Millisecond})
	var herr *client.Error
	if !errors.Is(err, client.ErrTimeout) || !errors.As(err, &herr) || herr.Status != http.StatusRequestTimeout || !strings.Contains(herr.Body, "0 of 1 messages matched") {
		t.Errorf("WaitFor timeout: %v", err)
	}
	// ctx's deadline, without a Timeout: the server answers 408 just before it.
	dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.WaitFor(dctx, "subject:never", client.WaitOptions{})
	if !errors.Is(err, client.ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Errorf("WaitFor with ctx deadline: %v after %s", err, time.Since(start))
	}
	// A deadline already past.
	pctx, cancel2 := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel2()
	<-pctx.Done()
	if _, err := c.WaitFor(pctx, "", client.WaitOptions{}); !errors.Is(err, client.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("past deadline: %v", err)
	}
	// Cancellation is not a timeout.
	cctx, cancel3 := context.WithCancel(ctx)
	cancel3()
	if _, err := c.WaitFor(cctx, "subject:never", client.WaitOptions{Timeout: 10 * time.Second}); !errors.Is(err, context.Canceled) || errors.Is(err, client.ErrTimeout) {
		t.Errorf("cancelled: %v", err)
	}
}

// A base URL that New refuses is named in the error without its password.
func TestNewErrorsShowNoPassword(t *testing.T) {
	for _, u := range []string{"ftp://alice:s3cret@mail.test", "http://alice:s3cret@", "http://alice:s3cret@mail.test:80%zz/"} {
		_, err := client.New(u)
		if err == nil {
			t.Errorf("%s accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}
