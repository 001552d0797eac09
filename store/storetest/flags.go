package storetest

import (
	"context"
	"slices"

	"github.com/letterbox-mail/letterbox/store"
)

// deletedIDs lists the IDs Index shows flagged \Deleted.
func deletedIDs(s suite, e store.Engine) []string {
	s.Helper()
	entries, err := e.Index(context.Background(), store.Filter{})
	if err != nil {
		s.Fatal(err)
	}
	var ids []string
	for _, en := range entries {
		if en.Deleted {
			ids = append(ids, en.ID)
		}
	}
	return ids
}

// testDeletedFlag: IMAP's \Deleted flag is kept by the store (set, cleared, announced, listed,
// kept across a restart) and Expunge deletes only the messages flagged when it runs.
func testDeletedFlag(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	ids := mailbox(s, e) // oldest first: welcome, invoice, reset, big
	sub := e.Subscribe(0)
	defer sub.Close()
	if err := e.SetDeleted(ctx, []string{ids["welcome"], ids["reset"], "nosuchid"}, true); err != nil {
		s.Fatal(err)
	}
	evs := next(s, sub)
	if len(evs) != 2 || evs[0].Type != store.EventFlag || evs[0].Deleted == nil || !*evs[0].Deleted ||
		evs[0].ID != ids["welcome"] && evs[1].ID != ids["welcome"] || evs[0].UID == 0 {
		s.Fatalf("events of SetDeleted: %+v", evs)
	}
	if got, want := deletedIDs(s, e), []string{ids["welcome"], ids["reset"]}; !slices.Equal(got, want) {
		s.Fatalf("flagged %v, want %v", got, want)
	}
	uids, err := e.DeletedUIDs(ctx)
	if err != nil || len(uids) != 2 || uids[0] >= uids[1] {
		s.Fatalf("DeletedUIDs = %v, %v", uids, err)
	}
	// Flagging again changes nothing and announces nothing; clearing announces the change.
	if err := e.SetDeleted(ctx, []string{ids["reset"]}, true); err != nil {
		s.Fatal(err)
	}
	if err := e.SetDeleted(ctx, []string{ids["welcome"]}, false); err != nil {
		s.Fatal(err)
	}
	if evs := next(s, sub); len(evs) != 1 || evs[0].ID != ids["welcome"] || *evs[0].Deleted {
		s.Fatalf("events of clearing the flag: %+v", evs)
	}
	// The flag is no read state, no tag and no search term: the web inbox does not see it.
	if st, _ := e.Stats(ctx); st.Total != 4 || st.Unread != 3 {
		s.Errorf("stats with a message flagged: %+v", st)
	}

	e.Close()
	e = s.engine(store.Options{})
	if got := deletedIDs(s, e); !slices.Equal(got, []string{ids["reset"]}) {
		s.Fatalf("flagged after a restart: %v", got)
	}
	sub = e.Subscribe(0)
	defer sub.Close()
	gone, err := e.Expunge(ctx, []string{ids["welcome"], ids["reset"], ids["invoice"], "nosuchid"})
	if err != nil || !slices.Equal(gone, []string{ids["reset"]}) {
		s.Fatalf("Expunge = %v, %v; want only the flagged message", gone, err)
	}
	if evs := next(s, sub); len(evs) != 1 || evs[0].Type != store.EventDelete || evs[0].ID != ids["reset"] {
		s.Fatalf("events of Expunge: %+v", evs)
	}
	st, _ := e.Stats(ctx)
	if st.Total != 3 {
		s.Errorf("after Expunge: %+v", st)
	}
	if uids, err := e.DeletedUIDs(ctx); err != nil || uids == nil || len(uids) != 0 {
		s.Errorf("DeletedUIDs after Expunge = %#v, %v", uids, err)
	}
	if gone, err := e.Expunge(ctx, nil); err != nil || len(gone) != 0 {
		s.Errorf("Expunge of nothing = %v, %v", gone, err)
	}
}
