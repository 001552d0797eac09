package imapd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/store"
)

// TestBrokenMessages fetches every item of messages real senders get wrong: bare LF line ends,
// no header/body separator, a multipart without parts, a bad Content-Type, no header at all.
func TestBrokenMessages(t *testing.T) {
	st := openStore(t)
	bodies := []string{
		"From: a@x.test\nTo: b@y.test\nSubject: bare LF\n\nline one\nline two\n",
		"From: a@x.test\r\nSubject: no body separator\r\n",
		"From: a@x.test\r\nSubject: empty multipart\r\nContent-Type: multipart/mixed; boundary=\"none\"\r\n\r\nno parts at all\r\n",
		"From: a@x.test\r\nSubject: bad type\r\nContent-Type: ;;;\r\n\r\nbody\r\n",
		"\r\njust a body, no header\r\n",
	}
	for _, b := range bodies {
		add(t, st, store.Envelope{}, []byte(b))
	}
	_, addr := startServer(t, imapd.Options{Store: st})
	c := dial(t, addr, "me", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := st.Index(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range list {
		raw, err := st.Raw(context.Background(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(e.UID)), &imap.FetchOptions{
			Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
			BodySection: []*imap.FetchItemBodySection{
				{Peek: true},
				{Peek: true, Specifier: imap.PartSpecifierHeader},
				{Peek: true, Specifier: imap.PartSpecifierText},
				{Peek: true, Part: []int{1}},
			},
		}).Collect()
		if err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		if len(msgs) != 1 || msgs[0].BodyStructure == nil || msgs[0].Envelope == nil {
			t.Fatalf("message %d: %+v", i+1, msgs)
		}
		secs := msgs[0].BodySection
		whole, header, text := string(secs[0].Bytes), string(secs[1].Bytes), string(secs[2].Bytes)
		if whole != string(raw) || header+text != whole {
			t.Errorf("message %d: BODY[] is not the stored message, or HEADER+TEXT is not BODY[]: %q + %q", i+1, header, text)
		}
		if !strings.HasPrefix(whole, "Return-Path:") {
			t.Errorf("message %d does not start with the trace header: %q", i+1, whole)
		}
	}
	// The connection survived it all.
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestStoreFailure checks that a store that fails answers NO and keeps the server up.
func TestStoreFailure(t *testing.T) {
	st := openStore(t)
	add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "one", "x"))
	_, addr := startServer(t, imapd.Options{Store: st})
	c := dial(t, addr, "alice@example.org", nil)
	st.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err == nil || !strings.Contains(err.Error(), "could not") {
		t.Errorf("SELECT on a closed store = %v, want NO", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Errorf("the connection did not survive: %v", err)
	}
}

// panickyStore panics when asked for one message's bytes.
type panickyStore struct {
	*store.Store
	id string
}

func (p panickyStore) Raw(ctx context.Context, id string) ([]byte, error) {
	if id == p.id {
		panic("simulated bug reading " + id)
	}
	return p.Store.Raw(ctx, id)
}

// TestPanicCostsACommand checks that a panic while answering a command is answered NO and the
// connection goes on.
func TestPanicCostsACommand(t *testing.T) {
	st := openStore(t)
	bad := add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "bad", "x"))
	add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "good", "x"))
	_, addr := startServer(t, imapd.Options{Store: panickyStore{st, bad.ID}})
	c := dial(t, addr, "me", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect(); err == nil || !strings.Contains(err.Error(), "SERVERBUG") {
		t.Errorf("FETCH of the message that panics = %v, want NO [SERVERBUG]", err)
	}
	got, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(got) != 1 || got[0].Envelope.Subject != "good" {
		t.Errorf("FETCH after the panic = %+v, %v", got, err)
	}
}
