package imapd_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"golang.org/x/crypto/bcrypt"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/store"
)

func TestCapabilityListStatusNamespace(t *testing.T) {
	st := openStore(t)
	add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "one", "hello"))
	add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "two", "hello"))
	serverTLS, _ := selfSigned(t)
	_, addr := startServer(t, imapd.Options{Store: st, TLSConfig: serverTLS})
	c := dial(t, addr, "", nil)

	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapStartTLS, "AUTH=PLAIN"} {
		if !caps.Has(want) {
			t.Errorf("capabilities %v lack %s", caps, want)
		}
	}
	if err := c.Login("anyone", "anything").Wait(); err != nil {
		t.Fatal(err)
	}
	caps, err = c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{imap.CapIdle, imap.CapNamespace, imap.CapUIDPlus, imap.CapESearch} {
		if !caps.Has(want) {
			t.Errorf("capabilities after login %v lack %s", caps, want)
		}
	}

	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Mailbox != "INBOX" || list[0].Delim != '/' {
		t.Fatalf("LIST \"\" * = %+v, want INBOX only", list)
	}
	for _, pattern := range []string{"inbox", "IN%", "%"} {
		if l, err := c.List("", pattern, nil).Collect(); err != nil || len(l) != 1 {
			t.Errorf("LIST \"\" %q = %v, %v; want INBOX", pattern, l, err)
		}
	}
	if l, err := c.List("", "Sent", nil).Collect(); err != nil || len(l) != 0 {
		t.Errorf("LIST \"\" Sent = %v, %v; want nothing", l, err)
	}
	root, err := c.List("", "", nil).Collect()
	if err != nil || len(root) != 1 || root[0].Delim != '/' {
		t.Errorf("LIST \"\" \"\" = %v, %v; want the delimiter", root, err)
	}
	lsub, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil || len(lsub) != 1 || lsub[0].Mailbox != "INBOX" {
		t.Errorf("LIST (SUBSCRIBED) = %v, %v", lsub, err)
	}

	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("NAMESPACE = %+v, %v", ns, err)
	}

	status, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true, Size: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *status.NumMessages != 2 || *status.NumUnseen != 2 || status.UIDValidity != st.UIDValidity() || status.UIDNext < 3 || *status.Size == 0 {
		t.Errorf("STATUS = messages %d unseen %d uidvalidity %d uidnext %d size %d", *status.NumMessages, *status.NumUnseen, status.UIDValidity, status.UIDNext, *status.Size)
	}
	if _, err := c.Status("Trash", &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
		t.Error("STATUS Trash succeeded")
	}
	if _, err := c.Select("Trash", nil).Wait(); err == nil {
		t.Error("SELECT Trash succeeded")
	}
	if err := c.Create("Archive", nil).Wait(); err == nil {
		t.Error("CREATE succeeded")
	}
	data, err := c.Select("inbox", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 2 || data.UIDValidity != st.UIDValidity() {
		t.Errorf("SELECT = %+v", data)
	}
	if !slices.Contains(data.Flags, imap.FlagSeen) || !slices.Contains(data.PermanentFlags, imap.FlagDeleted) {
		t.Errorf("SELECT flags %v permanent %v", data.Flags, data.PermanentFlags)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
}

func TestFetch(t *testing.T) {
	st := openStore(t)
	plain := add(t, st, store.Envelope{MailFrom: "a@x.test", Recipients: []string{"b@y.test"}}, message("Alice <a@x.test>", "Bob <b@y.test>", "plain one", "hello there"))
	multi := add(t, st, store.Envelope{MailFrom: "orders@shop.example", Recipients: []string{"customer@example.org"}}, []byte(multipart))
	_, addr := startServer(t, imapd.Options{Store: st})
	c := dial(t, addr, "me", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{
		Flags: true, UID: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("FETCH 1:2 returned %d messages", len(msgs))
	}
	for i, sum := range []store.Summary{plain, multi} {
		m := msgs[i]
		if m.UID != imap.UID(sum.UID) || m.RFC822Size != sum.Size || !m.InternalDate.Equal(sum.Created.Truncate(time.Second)) || len(m.Flags) != 0 {
			t.Errorf("message %d: uid %d size %d date %v flags %v; want uid %d size %d date %v, no flags",
				i+1, m.UID, m.RFC822Size, m.InternalDate, m.Flags, sum.UID, sum.Size, sum.Created)
		}
	}
	env := msgs[0].Envelope
	if env == nil || env.Subject != "plain one" || len(env.From) != 1 || env.From[0].Name != "Alice" || env.From[0].Addr() != "a@x.test" || len(env.To) != 1 || env.To[0].Addr() != "b@y.test" {
		t.Errorf("ENVELOPE = %+v", env)
	}
	bs, ok := msgs[1].BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || bs.Subtype != "mixed" || len(bs.Children) != 2 {
		t.Fatalf("BODYSTRUCTURE = %#v, want multipart/mixed with 2 parts", msgs[1].BodyStructure)
	}
	if att, ok := bs.Children[1].(*imap.BodyStructureSinglePart); !ok || att.Type != "application" || att.Subtype != "pdf" || att.Disposition() == nil || att.Disposition().Value != "attachment" {
		t.Errorf("attachment part = %#v", bs.Children[1])
	}

	raw, err := st.Raw(context.Background(), multi.ID)
	if err != nil {
		t.Fatal(err)
	}
	header := raw[:bytes.Index(raw, []byte("\r\n\r\n"))+4]
	sections := []struct {
		name    string
		section *imap.FetchItemBodySection
		want    string
	}{
		{"BODY.PEEK[]", &imap.FetchItemBodySection{Peek: true}, string(raw)},
		{"BODY.PEEK[HEADER]", &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader}, string(header)},
		{"BODY.PEEK[TEXT]", &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierText}, string(raw[len(header):])},
		{"BODY.PEEK[]<10.20>", &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 10, Size: 20}}, string(raw[10:30])},
		{"BODY.PEEK[1.1]", &imap.FetchItemBodySection{Peek: true, Part: []int{1, 1}}, "Please find your invoice attached."},
		{"BODY.PEEK[1.2]<3.6>", &imap.FetchItemBodySection{Peek: true, Part: []int{1, 2}, Partial: &imap.SectionPartial{Offset: 3, Size: 6}}, "Please"},
		{"BODY.PEEK[2]", &imap.FetchItemBodySection{Peek: true, Part: []int{2}}, "JVBERi0xLjQKJcfsj6IKNSAwIG9iago="},
		{"BODY.PEEK[HEADER.FIELDS (Subject)]", &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}}, "Subject: Your invoice\r\n\r\n"},
	}
	for _, s := range sections {
		got, err := c.Fetch(imap.UIDSetNum(imap.UID(multi.UID)), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{s.section}}).Collect()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(got) != 1 || len(got[0].BodySection) != 1 {
			t.Fatalf("%s: got %d messages", s.name, len(got))
		}
		if b := string(got[0].BodySection[0].Bytes); strings.TrimRight(b, "\r\n") != strings.TrimRight(s.want, "\r\n") {
			t.Errorf("%s = %q, want %q", s.name, b, s.want)
		}
	}
	if sum, _ := st.Summary(context.Background(), multi.ID); sum.Read {
		t.Fatal("BODY.PEEK marked the message read")
	}

	// BODY[] without PEEK sets \Seen, in the store too, and says so.
	got, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got[0].Flags, imap.FlagSeen) || !bytes.Equal(got[0].BodySection[0].Bytes, raw) {
		t.Errorf("FETCH BODY[]: flags %v, body equal %v", got[0].Flags, bytes.Equal(got[0].BodySection[0].Bytes, raw))
	}
	if sum, _ := st.Summary(context.Background(), multi.ID); !sum.Read {
		t.Error("FETCH BODY[] did not mark the message read in the store")
	}

	// RFC822 forms and UID FETCH with "*".
	got, err = c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(got) != 2 || got[1].UID != imap.UID(multi.UID) || !slices.Contains(got[1].Flags, imap.FlagSeen) {
		t.Errorf("UID FETCH 1:* FLAGS = %+v, %v", got, err)
	}
}

func TestStoreFlagsAndExpunge(t *testing.T) {
	st := openStore(t)
	var sums []store.Summary
	for _, s := range []string{"one", "two", "three"} {
		sums = append(sums, add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", s, "body")))
	}
	_, addr := startServer(t, imapd.Options{Store: st})
	c := dial(t, addr, "me", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	got, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"\\SEEN"}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(got[0].Flags, []imap.Flag{imap.FlagSeen}) {
		t.Errorf("STORE +FLAGS (\\SEEN) answered %+v, want FLAGS (\\Seen)", got)
	}
	if sum, _ := st.Summary(ctx, sums[0].ID); !sum.Read {
		t.Error("\\Seen over IMAP did not reach the store")
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if sum, _ := st.Summary(ctx, sums[0].ID); sum.Read {
		t.Error("-FLAGS \\Seen did not reach the store")
	}

	// \Deleted, then EXPUNGE: the store deletes, the client hears EXPUNGE.
	if _, err := c.Store(imap.UIDSetNum(imap.UID(sums[1].UID)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if sum, err := st.Summary(ctx, sums[1].ID); err != nil || sum.ID == "" {
		t.Fatal("\\Deleted alone deleted the message")
	}
	flags, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || !slices.Equal(flags[0].Flags, []imap.Flag{imap.FlagDeleted}) {
		t.Errorf("flags after +FLAGS \\Deleted = %+v, %v", flags, err)
	}
	expunged, err := c.Expunge().Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(expunged, []uint32{2}) {
		t.Errorf("EXPUNGE answered %v, want [2]", expunged)
	}
	if _, err := st.Summary(ctx, sums[1].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after EXPUNGE the store still has the message (%v)", err)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Errorf("client counts %d messages, want 2", n)
	}

	// CLOSE expunges silently.
	if _, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.FlagDeleted, imap.FlagSeen}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if sum, _ := st.Summary(ctx, sums[2].ID); !sum.Read {
		t.Error("STORE FLAGS (\\Deleted \\Seen) did not set read")
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Summary(ctx, sums[2].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after CLOSE the store still has the message (%v)", err)
	}
	if sum, err := st.Summary(ctx, sums[0].ID); err != nil || sum.ID != sums[0].ID {
		t.Errorf("CLOSE deleted a message without \\Deleted: %v", err)
	}
}

func TestExamineIsReadOnly(t *testing.T) {
	st := openStore(t)
	sum := add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "one", "body"))
	_, addr := startServer(t, imapd.Options{Store: st})
	writer := dial(t, addr, "me", nil)
	if _, err := writer.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}

	c := dial(t, addr, "me", nil)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect(); err == nil {
		t.Error("STORE after EXAMINE succeeded")
	}
	if _, err := c.Expunge().Collect(); err == nil {
		t.Error("EXPUNGE after EXAMINE succeeded")
	}
	if _, err := c.UIDExpunge(imap.UIDSetNum(imap.UID(sum.UID))).Collect(); err == nil {
		t.Error("UID EXPUNGE after EXAMINE succeeded")
	}
	got, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(got[0].Flags, imap.FlagSeen) || !slices.Contains(got[0].Flags, imap.FlagDeleted) {
		t.Errorf("flags after EXAMINE + FETCH BODY[] = %v, want \\Deleted only", got[0].Flags)
	}
	if s, _ := st.Summary(context.Background(), sum.ID); s.Read {
		t.Error("FETCH BODY[] after EXAMINE marked the message read")
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatalf("CLOSE after EXAMINE: %v", err)
	}
	if _, err := st.Summary(context.Background(), sum.ID); err != nil {
		t.Errorf("CLOSE after EXAMINE deleted the message: %v", err)
	}
}

func TestPerRecipientLogin(t *testing.T) {
	st := openStore(t)
	alice := add(t, st, store.Envelope{Recipients: []string{"alice@example.org"}}, message("x@x.test", "alice@example.org", "for alice", "hi"))
	add(t, st, store.Envelope{Recipients: []string{"bob@example.org"}}, message("x@x.test", "bob@example.org", "for bob", "hi"))
	bcc := add(t, st, store.Envelope{Recipients: []string{"alice@example.org", "carol@example.org"}}, message("x@x.test", "carol@example.org", "bcc alice", "hi"))
	_, addr := startServer(t, imapd.Options{Store: st})

	uids := func(c *imapclient.Client) []imap.UID {
		t.Helper()
		got, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var out []imap.UID
		for _, m := range got {
			out = append(out, m.UID)
		}
		return out
	}
	a := dial(t, addr, "Alice@Example.org", nil)
	if d, err := a.Select("INBOX", nil).Wait(); err != nil || d.NumMessages != 2 {
		t.Fatalf("alice SELECT = %+v, %v; want 2 messages", d, err)
	}
	if got, want := uids(a), []imap.UID{imap.UID(alice.UID), imap.UID(bcc.UID)}; !slices.Equal(got, want) {
		t.Errorf("alice sees %v, want %v", got, want)
	}
	all := dial(t, addr, "developer", nil)
	if d, err := all.Select("INBOX", nil).Wait(); err != nil || d.NumMessages != 3 {
		t.Fatalf("developer SELECT = %+v, %v; want 3 messages", d, err)
	}
	// A new message for bob does not reach alice's mailbox; one for alice does.
	add(t, st, store.Envelope{Recipients: []string{"bob@example.org"}}, message("x@x.test", "bob@example.org", "bob again", "hi"))
	later := add(t, st, store.Envelope{}, message("x@x.test", "ALICE@example.org", "alice again", "hi"))
	waitCount(t, all, 5)
	waitCount(t, a, 3)
	if got := uids(a); len(got) != 3 || got[2] != imap.UID(later.UID) {
		t.Errorf("alice sees %v after new mail, want 3 ending with %d", got, later.UID)
	}
	if got := uids(all); len(got) != 5 {
		t.Errorf("developer sees %d messages, want 5", len(got))
	}
	res, err := a.UIDSearch(&imap.SearchCriteria{Text: []string{"hi"}}, nil).Wait()
	if err != nil || len(res.AllUIDs()) != 3 {
		t.Errorf("alice SEARCH TEXT hi = %v, %v; want her 3", res.AllUIDs(), err)
	}
	// UIDs come from one sequence: alice's UIDNEXT is above bob's newest message too.
	bobLast := add(t, st, store.Envelope{Recipients: []string{"bob@example.org"}}, message("x@x.test", "bob@example.org", "bob last", "hi"))
	waitCount(t, all, 6)
	status, err := a.Status("INBOX", &imap.StatusOptions{UIDNext: true}).Wait()
	if err != nil || status.UIDNext <= imap.UID(bobLast.UID) {
		t.Errorf("alice's UIDNEXT %d (%v), want above %d", status.UIDNext, err, bobLast.UID)
	}
}

func TestUIDsStableAcrossSessionsAndRestarts(t *testing.T) {
	st := openStore(t)
	var want []imap.UID
	for i := 0; i < 5; i++ {
		want = append(want, imap.UID(add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "m", "x")).UID))
	}
	for round := 0; round < 2; round++ {
		_, addr := startServer(t, imapd.Options{Store: st})
		for session := 0; session < 2; session++ {
			c := dial(t, addr, "me", nil)
			d, err := c.Select("INBOX", nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if d.UIDValidity != st.UIDValidity() || d.UIDValidity == 0 {
				t.Errorf("UIDVALIDITY %d, want the store's %d", d.UIDValidity, st.UIDValidity())
			}
			got, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			var uids []imap.UID
			for _, m := range got {
				uids = append(uids, m.UID)
			}
			if !slices.Equal(uids, want) {
				t.Errorf("round %d session %d: UIDs %v, want %v", round, session, uids, want)
			}
			c.Logout().Wait()
		}
	}
}

// idleClient is a client whose unilateral data goes to channels.
type idleClient struct {
	*imapclient.Client
	exists  chan uint32
	expunge chan uint32
	flags   chan *imapclient.FetchMessageBuffer
}

func dialIdle(t *testing.T, addr, user string) *idleClient {
	ic := &idleClient{exists: make(chan uint32, 100), expunge: make(chan uint32, 100), flags: make(chan *imapclient.FetchMessageBuffer, 100)}
	ic.Client = dial(t, addr, user, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				ic.exists <- *d.NumMessages
			}
		},
		Expunge: func(seq uint32) { ic.expunge <- seq },
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err == nil {
				ic.flags <- buf
			}
		},
	}})
	return ic
}

func TestIdlePushesChanges(t *testing.T) {
	st := openStore(t)
	first := add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "first", "x"))
	_, addr := startServer(t, imapd.Options{Store: st})
	c := dialIdle(t, addr, "me")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// A message the store commits reaches the idling client within a second.
	start := time.Now()
	second := add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "second", "x"))
	if n := within(t, c.exists, time.Second, "EXISTS after store.Add"); n != 2 {
		t.Errorf("EXISTS %d, want 2", n)
	}
	t.Logf("EXISTS %v after Add began", time.Since(start))

	// Read state changed elsewhere (the web inbox) arrives as FETCH FLAGS.
	if err := st.SetRead(ctx, []string{second.ID}, true); err != nil {
		t.Fatal(err)
	}
	if m := within(t, c.flags, time.Second, "FETCH FLAGS after SetRead"); m.SeqNum != 2 || !slices.Contains(m.Flags, imap.FlagSeen) {
		t.Errorf("FETCH %d FLAGS %v, want 2 (\\Seen)", m.SeqNum, m.Flags)
	}

	// Deletion elsewhere arrives as EXPUNGE.
	if err := st.Delete(ctx, []string{first.ID}); err != nil {
		t.Fatal(err)
	}
	if seq := within(t, c.expunge, time.Second, "EXPUNGE after Delete"); seq != 1 {
		t.Errorf("EXPUNGE %d, want 1", seq)
	}
	// Delete everything.
	add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "third", "x"))
	within(t, c.exists, time.Second, "EXISTS after the third message")
	if err := st.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	within(t, c.expunge, time.Second, "EXPUNGE after DeleteAll")
	within(t, c.expunge, time.Second, "second EXPUNGE after DeleteAll")
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 0 {
		t.Errorf("client counts %d messages after DeleteAll, want 0", n)
	}
}

func TestExpungeBySomeoneElse(t *testing.T) {
	st := openStore(t)
	for _, s := range []string{"one", "two", "three"} {
		add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", s, "x"))
	}
	_, addr := startServer(t, imapd.Options{Store: st})
	watcher := dialIdle(t, addr, "me")
	if _, err := watcher.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	other := dial(t, addr, "other", nil)
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	// The watcher hears of it at its next command: the \Deleted flag, then the EXPUNGE.
	if err := watcher.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if seq := within(t, watcher.expunge, time.Second, "EXPUNGE"); seq != 2 {
		t.Errorf("EXPUNGE %d, want 2", seq)
	}
	if n := watcher.Mailbox().NumMessages; n != 2 {
		t.Errorf("watcher counts %d, want 2", n)
	}
	got, err := watcher.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(got) != 1 || got[0].Envelope.Subject != "three" {
		t.Errorf("FETCH 2 after the EXPUNGE = %+v, %v; want three", got, err)
	}
}

func TestStartTLSAndAuthFile(t *testing.T) {
	st := openStore(t)
	add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "one", "x"))
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	authFile := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(authFile, []byte("# users\nbob@example.org:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := selfSigned(t)
	_, addr := startServer(t, imapd.Options{Store: st, TLSConfig: serverTLS, AuthFile: authFile})

	c, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	if caps, err := c.Capability().Wait(); err != nil || caps.Has(imap.CapStartTLS) {
		t.Errorf("after STARTTLS capabilities %v (%v) still offer STARTTLS", caps, err)
	}
	if err := c.Login("bob@example.org", "wrong").Wait(); err == nil {
		t.Fatal("LOGIN with a wrong password succeeded")
	}
	if err := c.Login("mallory", "s3cret").Wait(); err == nil {
		t.Fatal("LOGIN of an unknown user succeeded")
	}
	if err := c.Authenticate(sasl.NewPlainClient("", "bob@example.org", "s3cret")); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	if d, err := c.Select("INBOX", nil).Wait(); err != nil || d.NumMessages != 0 {
		t.Errorf("bob's INBOX = %+v, %v; want empty (the message is not his)", d, err)
	}

	plain := dial(t, addr, "", nil)
	if err := plain.Login("bob@example.org", "s3cret").Wait(); err != nil {
		t.Errorf("plain LOGIN with the right password: %v", err)
	}

	if _, err := imapd.New(imapd.Options{Store: st, AuthFile: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("New accepted a missing auth file")
	}
	md5File := filepath.Join(t.TempDir(), "md5")
	os.WriteFile(md5File, []byte("bob:$apr1$abc$defghijklmnopqrstuvwx.\n"), 0o600)
	if _, err := imapd.New(imapd.Options{Store: st, AuthFile: md5File}); err == nil || !strings.Contains(err.Error(), "bcrypt") {
		t.Errorf("New with an MD5 entry: %v, want an error naming bcrypt", err)
	}
}

func TestShutdown(t *testing.T) {
	st := openStore(t)
	srv, addr := startServer(t, imapd.Options{Store: st})
	c := dial(t, addr, "me", nil)
	idle := idleInInbox(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	within(t, c.Closed(), 5*time.Second, "connection closed by Shutdown")
	idle.Close()
	if _, err := imapclient.DialInsecure(addr, nil); err == nil {
		t.Error("a connection was accepted after Shutdown")
	}
}

// idleInInbox selects INBOX on c and starts IDLE.
func idleInInbox(t *testing.T, c *imapclient.Client) *imapclient.IdleCommand {
	t.Helper()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	return idle
}

// TestCloseEndsSessions: Close returns only once the sessions of the connections it cut have
// ended, idle or not.
func TestCloseEndsSessions(t *testing.T) {
	st := openStore(t)
	srv, addr := startServer(t, imapd.Options{Store: st})
	defer idleInInbox(t, dial(t, addr, "me", nil)).Close()
	other := dial(t, addr, "you", nil)
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if n := imapd.Sessions(srv); n != 2 {
		t.Fatalf("%d sessions open, want 2", n)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if n := imapd.Sessions(srv); n != 0 {
		t.Errorf("%d sessions still open when Close returned", n)
	}
}

func TestImplicitTLS(t *testing.T) {
	st := openStore(t)
	add(t, st, store.Envelope{}, message("a@x.test", "b@y.test", "one", "x"))
	serverTLS, clientTLS := selfSigned(t)
	srv, err := imapd.New(imapd.Options{Store: st, TLSConfig: serverTLS, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(l, serverTLS)) }()
	defer func() {
		srv.Close()
		if err := <-done; !errors.Is(err, imapd.ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	}()
	c, err := imapclient.DialTLS(l.Addr().String(), &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capability().Wait()
	if err != nil || caps.Has(imap.CapStartTLS) || !caps.Has("AUTH=PLAIN") {
		t.Errorf("IMAPS capabilities %v (%v): want AUTH=PLAIN, no STARTTLS", caps, err)
	}
	if err := c.Login("me", "x").Wait(); err != nil {
		t.Fatal(err)
	}
	if d, err := c.Select("INBOX", nil).Wait(); err != nil || d.NumMessages != 1 {
		t.Errorf("SELECT over IMAPS = %+v, %v", d, err)
	}
}

// UIDNEXT never goes back, even when the newest messages were deleted before the server started.
func TestUIDNextAfterDeletionsBeforeStart(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var last store.Summary
	for i := range 3 {
		var err error
		if last, err = st.Add(ctx, store.Envelope{}, bytesReader(message("a@x", "b@y", "m"+strconv.Itoa(i), "x"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Delete(ctx, []string{last.ID}); err != nil {
		t.Fatal(err)
	}
	_, addr := startServer(t, imapd.Options{Store: st})
	c := dial(t, addr, "anyone", nil)
	data, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 2 || data.UIDNext != imap.UID(last.UID+1) {
		t.Fatalf("SELECT: %d messages, UIDNEXT %d; want 2 and %d", data.NumMessages, data.UIDNext, last.UID+1)
	}
}
