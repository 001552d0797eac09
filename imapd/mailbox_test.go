package imapd

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/letterbox-mail/letterbox/store"
)

// TestViewSequenceNumbers checks the translation between the sequence numbers a client knows and
// the mailbox's, while updates wait to be told.
func TestViewSequenceNumbers(t *testing.T) {
	mb := &mailbox{views: map[*view]struct{}{}}
	for uid := imap.UID(1); uid <= 5; uid++ {
		mb.entries = append(mb.entries, entry{uid: uid * 10})
	}
	v := &view{mb: mb, count: 5, notify: make(chan struct{}, 1)}
	mb.views[v] = struct{}{}

	// The client knows 10 20 30 40 50. Then: 20 is expunged, 60 and 70 arrive, 40 is expunged.
	mb.expungeLocked(1, nil)
	mb.appendLocked(entry{uid: 60})
	mb.appendLocked(entry{uid: 70})
	mb.expungeLocked(mb.findLocked(40), nil)
	// The mailbox is now 10 30 50 60 70.
	for clientSeq, want := range map[uint32]imap.UID{1: 10, 2: 0, 3: 30, 4: 0, 5: 50, 6: 0} {
		got := imap.UID(0)
		if s := v.serverSeqLocked(clientSeq); s != 0 {
			got = mb.entries[s-1].uid
		}
		if got != want {
			t.Errorf("client seq %d is UID %d, want %d", clientSeq, got, want)
		}
	}
	for serverSeq, want := range map[uint32]uint32{1: 1, 2: 3, 3: 5, 4: 0, 5: 0} {
		if got := v.clientSeqLocked(serverSeq); got != want {
			t.Errorf("mailbox seq %d is client seq %d, want %d", serverSeq, got, want)
		}
	}
	targets := v.resolveLocked(imap.UIDSet{{Start: 1, Stop: 0}}, nil)
	if len(targets) != 3 || targets[2].entry.uid != 50 || targets[2].seq != 5 {
		t.Errorf("UID 1:* resolves to %+v, want 10 30 50 as client seqs 1 3 5", targets)
	}

	// Without expunges allowed (FETCH, STORE, SEARCH), only the updates before the first go.
	if ups := v.takeLocked(false); len(ups) != 0 || v.count != 5 {
		t.Fatalf("take without expunges: %d updates, count %d", len(ups), v.count)
	}
	ups := v.takeLocked(true)
	if len(ups) != 4 || v.count != 5 {
		t.Fatalf("take: %d updates, count %d; want 4 and 5", len(ups), v.count)
	}
	for seq := uint32(1); seq <= 5; seq++ {
		if v.serverSeqLocked(seq) != seq || v.clientSeqLocked(seq) != seq {
			t.Errorf("after telling, seq %d maps to %d / %d", seq, v.serverSeqLocked(seq), v.clientSeqLocked(seq))
		}
	}
}

// TestHugeSequenceRange checks that a range far beyond the mailbox costs nothing.
func TestHugeSequenceRange(t *testing.T) {
	mb := &mailbox{views: map[*view]struct{}{}, entries: []entry{{uid: 1}, {uid: 2}}}
	v := &view{mb: mb, count: 2}
	done := make(chan []target, 1)
	go func() { done <- v.resolveLocked(imap.SeqSet{{Start: 1, Stop: 4294967295}}, nil) }()
	select {
	case got := <-done:
		if len(got) != 2 {
			t.Errorf("1:4294967295 resolves to %d messages, want 2", len(got))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("1:4294967295 walked the whole range")
	}
}

// TestOwnFlagChange: a session's own change of \Seen or \Deleted is applied before the store
// makes it, so that its event repeats nothing; a newer change of the store wins; a change the
// store refused is undone, unless the store changed the flag since.
func TestOwnFlagChange(t *testing.T) {
	on, off := true, false
	for _, c := range []struct {
		f     flag
		event func(v *bool) store.Event
	}{
		{flagSeen, func(v *bool) store.Event { return store.Event{Type: store.EventUpdate, UID: 7, Read: v} }},
		{flagDeleted, func(v *bool) store.Event { return store.Event{Type: store.EventFlag, UID: 7, Deleted: v} }},
	} {
		mb := &mailbox{views: map[*view]struct{}{}, entries: []entry{{uid: 7, id: "x"}}}
		source := mb.newViewLocked()
		other := mb.newViewLocked()
		mb.applyOwnLocked(c.f, []imap.UID{7}, true, source)
		mb.applyLocked(c.event(&on)) // our event
		if !mb.entries[0].get(c.f) || mb.entries[0].get(1-c.f) || len(source.queue) != 0 || len(other.queue) != 1 {
			t.Errorf("flag %d: own change %+v; told the source %d times, the other view %d", c.f, mb.entries[0], len(source.queue), len(other.queue))
		}
		mb.applyLocked(c.event(&off)) // someone else's, newer
		if mb.entries[0].get(c.f) || len(source.queue) != 1 {
			t.Errorf("flag %d: a newer change of the store: %+v, source told %d times", c.f, mb.entries[0], len(source.queue))
		}

		// Refused by the store: undone, unless the store changed the flag meanwhile.
		own := mb.applyOwnLocked(c.f, []imap.UID{7}, true, source)
		mb.undo(own)
		if mb.entries[0].get(c.f) {
			t.Errorf("flag %d: a refused change was not undone", c.f)
		}
		own = mb.applyOwnLocked(c.f, []imap.UID{7}, true, source)
		mb.applyLocked(c.event(&on)) // it was committed after all (the error came after COMMIT)
		mb.undo(own)
		if !mb.entries[0].get(c.f) {
			t.Errorf("flag %d: undoing a change overrode the store's event", c.f)
		}
	}
}
