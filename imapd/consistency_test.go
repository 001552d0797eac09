package imapd_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/store"
)

// TestLaggingSubscriptionReloads makes the server's store subscription tiny, so that bursts of
// events overflow it, and checks that clients still end up seeing exactly the store's messages.
func TestLaggingSubscriptionReloads(t *testing.T) {
	st := openStore(t)
	srv, err := imapd.New(imapd.Options{Store: st, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	imapd.SetEventBuffer(srv, 1)
	addr := serve(t, srv)
	all := dial(t, addr, "me", nil)
	if _, err := all.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	alice := dial(t, addr, "alice@example.org", nil)
	if _, err := alice.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	// While the server is held, the commits below (one, or a few, events each) overflow its
	// one-commit subscription.
	release := imapd.HoldEvents(srv)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				to := fmt.Sprintf("user%d@example.org", i)
				if i%5 == 0 {
					to = "alice@example.org"
				}
				if _, err := st.Add(ctx, store.Envelope{Recipients: []string{to}}, bytesReader(message("x@x.test", to, "burst", "x"))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// A bulk deletion and a bulk read change: one commit each.
	q, _ := store.ParseQuery("to:user1@example.org")
	if _, err := st.DeleteMatching(ctx, store.Filter{Query: q}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetReadMatching(ctx, store.Filter{Recipient: "alice@example.org"}, true); err != nil {
		t.Fatal(err)
	}
	release()

	for _, tc := range []struct {
		name string
		f    store.Filter
		c    *imapclient.Client
	}{
		{"all", store.Filter{}, all},
		{"alice", store.Filter{Recipient: "alice@example.org"}, alice},
	} {
		want, err := st.Index(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		// The server catches up with the store shortly after; poll until it has.
		deadline := time.Now().Add(10 * time.Second)
		for {
			diff := compare(t, tc.c, want)
			if diff == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s", tc.name, diff)
			}
		}
	}
	t.Logf("mailbox reloads after lagging: %d", imapd.Reloads(srv))
	if imapd.Reloads(srv) == 0 {
		t.Error("the one-event subscription never lagged: the test did not test the reload")
	}
}

// TestDeletedFlagShared checks that \Deleted set in one login's mailbox shows in another's that
// holds the same message, and that its EXPUNGE deletes it.
func TestDeletedFlagShared(t *testing.T) {
	st := openStore(t)
	add(t, st, store.Envelope{}, message("x@x.test", "bob@example.org", "for bob", "x"))
	shared := add(t, st, store.Envelope{}, message("x@x.test", "alice@example.org", "for alice", "x"))
	_, addr := startServer(t, imapd.Options{Store: st})
	alice := dial(t, addr, "alice@example.org", nil)
	if _, err := alice.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all := dialIdle(t, addr, "me")
	if _, err := all.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := all.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	m := within(t, all.flags, time.Second, "FETCH FLAGS in the other mailbox")
	if m.SeqNum != 2 || !slices.Equal(m.Flags, []imap.Flag{imap.FlagDeleted}) {
		t.Errorf("FETCH %d FLAGS %v, want 2 (\\Deleted)", m.SeqNum, m.Flags)
	}
	if got, err := all.Expunge().Collect(); err != nil || !slices.Equal(got, []uint32{2}) {
		t.Errorf("EXPUNGE = %v, %v; want [2]", got, err)
	}
	if _, err := st.Summary(context.Background(), shared.ID); err == nil {
		t.Error("the message survived EXPUNGE")
	}
	waitCount(t, alice, 0)
}

// compare describes how the client's mailbox differs from the store's list ("" when it does not),
// after a NOOP.
func compare(t *testing.T, c *imapclient.Client, want []store.Entry) string {
	t.Helper()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != uint32(len(want)) {
		return fmt.Sprintf("client counts %d messages, the store has %d", n, len(want))
	}
	if len(want) == 0 {
		return ""
	}
	got, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d messages over IMAP, %d in the store", len(got), len(want))
	}
	for i := range want {
		if got[i].UID != imap.UID(want[i].UID) || slices.Contains(got[i].Flags, imap.FlagSeen) != want[i].Read {
			return fmt.Sprintf("message %d is UID %d flags %v; the store has UID %d read %v", i+1, got[i].UID, got[i].Flags, want[i].UID, want[i].Read)
		}
	}
	return ""
}
