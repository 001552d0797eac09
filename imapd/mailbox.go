package imapd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/letterbox-mail/letterbox/store"
)

// entry is one message of a mailbox, as little as listing it needs.
type entry struct {
	uid     imap.UID
	id      string
	size    int64
	created int64 // unix microseconds
	read    bool
	deleted bool // \Deleted, as the store has it
	// changes counts, for each flag, the changes that came from the store (events, reloads); a
	// session's own change that the store refused is undone only if none came meanwhile (see
	// ownChange).
	changes [2]uint32
}

// flag is a flag the store keeps: \Seen (its read state) or \Deleted.
type flag int

const (
	flagSeen flag = iota
	flagDeleted
)

// get returns e's flag f.
func (e *entry) get(f flag) bool {
	if f == flagSeen {
		return e.read
	}
	return e.deleted
}

// set sets e's flag f.
func (e *entry) set(f flag, v bool) {
	if f == flagSeen {
		e.read = v
	} else {
		e.deleted = v
	}
}

func (e *entry) flags() []imap.Flag {
	flags := make([]imap.Flag, 0, 2)
	if e.read {
		flags = append(flags, imap.FlagSeen)
	}
	if e.deleted {
		flags = append(flags, imap.FlagDeleted)
	}
	return flags
}

// mailbox is the shared, in-memory state of one INBOX (all messages, or one recipient's): the
// messages in UID order, as the store has them, and the views of the sessions that selected it.
// Store events keep it current; each view queues what its client has not been told yet.
type mailbox struct {
	srv       *Server
	recipient string // lower case; "" = every message

	ready    chan struct{} // closed once the first load finished
	loadErr  error         // set before ready is closed
	lastUsed uint64        // Server.useClock when last released; guarded by Server.mu

	mu      sync.Mutex
	refs    int // sessions holding it, selected or loading
	entries []entry
	uidNext imap.UID // never decreases
	views   map[*view]struct{}
	loading bool
	pending []store.Event // events that arrived during a load, replayed after it
}

// update is one change a client has not been told about yet. Sequence numbers are the server's
// at the time of the change.
type update struct {
	expunge uint32 // EXPUNGE of this sequence number
	exists  uint32 // EXISTS: the new number of messages...
	prev    uint32 // ...and the number before
	seq     uint32 // FETCH FLAGS of this sequence number
	uid     imap.UID
	flags   []imap.Flag
}

// view is one session's view of a mailbox: what its client knows is the mailbox's entries minus
// the queued updates. All fields are guarded by the mailbox's mu.
type view struct {
	mb     *mailbox
	queue  []update
	count  uint32        // messages the client knows of
	notify chan struct{} // signalled when an update is queued
}

// openMailbox returns the shared mailbox of recipient, loading it from the store when no session
// has it open. Each call must be paired with release.
func (s *Server) openMailbox(ctx context.Context, recipient string) (*mailbox, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrServerClosed
	}
	if err := s.startEventsLocked(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	mb := s.mailboxes[recipient]
	if mb != nil {
		mb.mu.Lock()
		mb.refs++
		mb.mu.Unlock()
		s.mu.Unlock()
		<-mb.ready
		if mb.loadErr != nil {
			mb.release()
			return nil, mb.loadErr
		}
		return mb, nil
	}
	mb = &mailbox{srv: s, recipient: recipient, ready: make(chan struct{}), refs: 1, views: map[*view]struct{}{}, loading: true}
	s.mailboxes[recipient] = mb
	s.mu.Unlock()

	if err := mb.load(ctx); err != nil {
		mb.loadErr = err
		close(mb.ready)
		s.mu.Lock()
		if s.mailboxes[recipient] == mb {
			delete(s.mailboxes, recipient)
		}
		s.mu.Unlock()
		return nil, err
	}
	close(mb.ready)
	return mb, nil
}

// maxIdleMailboxes is how many mailboxes no session holds stay loaded (and kept current by the
// store's events), so that the next SELECT of them needs no store read. Each costs about 70 bytes
// per message it holds.
const maxIdleMailboxes = 8

// release drops one reference. A mailbox nobody holds stays loaded until it is one of more than
// maxIdleMailboxes idle ones and the least recently used.
func (mb *mailbox) release() {
	s := mb.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	mb.mu.Lock()
	mb.refs--
	idle := mb.refs == 0
	mb.mu.Unlock()
	if !idle || s.mailboxes[mb.recipient] != mb {
		return
	}
	s.useClock++
	mb.lastUsed = s.useClock
	var idles []*mailbox
	for _, m := range s.mailboxes {
		m.mu.Lock()
		if m.refs == 0 {
			idles = append(idles, m)
		}
		m.mu.Unlock()
	}
	for len(idles) > maxIdleMailboxes {
		oldest := 0
		for i, m := range idles {
			if m.lastUsed < idles[oldest].lastUsed {
				oldest = i
			}
		}
		delete(s.mailboxes, idles[oldest].recipient)
		idles = slices.Delete(idles, oldest, oldest+1)
	}
}

// filter is the store filter of the mailbox's messages.
func (mb *mailbox) filter() store.Filter {
	return store.Filter{Recipient: mb.recipient}
}

// load reads the mailbox from the store and brings it up to date: events that arrive meanwhile
// are queued and replayed on top of what was read (replaying them is harmless when the snapshot
// already includes them). Clients with the mailbox selected are told of the differences.
func (mb *mailbox) load(ctx context.Context) error {
	mb.mu.Lock()
	mb.loading = true
	mb.pending = nil
	mb.mu.Unlock()

	list, err := mb.srv.store.Index(ctx, mb.filter())

	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.loading = false
	pending := mb.pending
	mb.pending = nil
	if err != nil {
		return fmt.Errorf("imapd: read mailbox: %w", err)
	}
	fresh := make([]entry, 0, len(list))
	for _, e := range list {
		if e.UID <= 0 || e.UID > int64(^uint32(0)) {
			continue // IMAP UIDs are 32-bit; the store will not get there in practice
		}
		fresh = append(fresh, entry{uid: imap.UID(e.UID), id: e.ID, size: e.Size, created: e.Created.UnixMicro(), read: e.Read, deleted: e.Deleted})
	}
	mb.syncLocked(fresh)
	for _, ev := range pending {
		mb.applyLocked(ev)
	}
	return nil
}

// syncLocked replaces the entries with fresh (a newer snapshot), queueing for the views what
// changed: expunges, new messages, flag changes.
func (mb *mailbox) syncLocked(fresh []entry) {
	if len(mb.entries) == 0 && len(mb.views) == 0 {
		mb.entries = fresh
		mb.bumpUIDNextLocked()
		return
	}
	keep := make(map[imap.UID]int, len(fresh))
	for i, e := range fresh {
		keep[e.uid] = i
	}
	for i := len(mb.entries) - 1; i >= 0; i-- {
		if _, ok := keep[mb.entries[i].uid]; !ok {
			mb.expungeLocked(i, nil)
		}
	}
	for i := range mb.entries {
		e := &mb.entries[i]
		f := fresh[keep[e.uid]]
		if f.read != e.read || f.deleted != e.deleted {
			if f.read != e.read {
				e.changes[flagSeen]++
			}
			if f.deleted != e.deleted {
				e.changes[flagDeleted]++
			}
			e.read, e.deleted = f.read, f.deleted
			mb.queueLocked(update{seq: uint32(i + 1), uid: e.uid, flags: e.flags()}, nil)
		}
	}
	var last imap.UID
	if n := len(mb.entries); n > 0 {
		last = mb.entries[n-1].uid
	}
	for _, f := range fresh {
		if f.uid > last {
			mb.appendLocked(f)
		}
	}
	mb.bumpUIDNextLocked()
}

func (mb *mailbox) bumpUIDNextLocked() {
	if n := len(mb.entries); n > 0 && mb.entries[n-1].uid >= mb.uidNext {
		mb.uidNext = mb.entries[n-1].uid + 1
		if mb.srv != nil {
			mb.srv.seenUID(mb.entries[n-1].uid)
		}
	}
	if mb.uidNext == 0 {
		mb.uidNext = 1
	}
}

// find returns the index of uid in the entries, or -1.
func (mb *mailbox) findLocked(uid imap.UID) int {
	i, ok := slices.BinarySearchFunc(mb.entries, uid, func(e entry, uid imap.UID) int {
		return cmpUID(e.uid, uid)
	})
	if !ok {
		return -1
	}
	return i
}

func cmpUID(a, b imap.UID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// appendLocked adds a message at the end and tells the views.
func (mb *mailbox) appendLocked(e entry) {
	prev := uint32(len(mb.entries))
	mb.entries = append(mb.entries, e)
	mb.bumpUIDNextLocked()
	mb.queueLocked(update{exists: prev + 1, prev: prev}, nil)
}

// expungeLocked removes entry i and tells the views except source.
func (mb *mailbox) expungeLocked(i int, source *view) {
	mb.queueLocked(update{expunge: uint32(i + 1)}, source)
	mb.entries = slices.Delete(mb.entries, i, i+1)
}

// queueLocked gives u to every view but source.
func (mb *mailbox) queueLocked(u update, source *view) {
	for v := range mb.views {
		if v == source {
			continue
		}
		v.queue = append(v.queue, u)
		select {
		case v.notify <- struct{}{}:
		default:
		}
	}
}

// handle applies a store event (from the dispatcher).
func (mb *mailbox) handle(ev store.Event) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.loading {
		mb.pending = append(mb.pending, ev)
		return
	}
	mb.applyLocked(ev)
}

// applyLocked applies one event. It is idempotent, which load relies on.
func (mb *mailbox) applyLocked(ev store.Event) {
	switch ev.Type {
	case store.EventNew:
		sum := ev.Summary
		if sum == nil || sum.UID <= 0 || sum.UID > int64(^uint32(0)) || !mb.wants(sum) {
			return
		}
		uid := imap.UID(sum.UID)
		if n := len(mb.entries); n > 0 && mb.entries[n-1].uid >= uid {
			return // already there (or older than the snapshot: the snapshot has it if it exists)
		}
		mb.appendLocked(entry{uid: uid, id: sum.ID, size: sum.Size, created: sum.Created.UnixMicro(), read: sum.Read})
	case store.EventDelete:
		if i := mb.findLocked(imap.UID(ev.UID)); i >= 0 {
			mb.expungeLocked(i, nil)
		}
	case store.EventPrune:
		for _, uid := range ev.UIDs {
			if i := mb.findLocked(imap.UID(uid)); i >= 0 {
				mb.expungeLocked(i, nil)
			}
		}
	case store.EventTruncate:
		for i := len(mb.entries) - 1; i >= 0; i-- {
			mb.expungeLocked(i, nil)
		}
	case store.EventUpdate:
		if ev.Read != nil {
			mb.storeChangedLocked(flagSeen, imap.UID(ev.UID), *ev.Read)
		}
	case store.EventFlag:
		if ev.Deleted != nil {
			mb.storeChangedLocked(flagDeleted, imap.UID(ev.UID), *ev.Deleted)
		}
	}
}

// storeChangedLocked applies a change of flag f the store made.
func (mb *mailbox) storeChangedLocked(f flag, uid imap.UID, v bool) {
	if i := mb.findLocked(uid); i >= 0 {
		mb.entries[i].changes[f]++
		mb.setFlagLocked(f, uid, v, nil)
	}
}

// wants reports whether a new message belongs in this mailbox: the store's recipients of a
// message are exactly the addresses of its To, Cc and Bcc (which includes envelope recipients).
func (mb *mailbox) wants(sum *store.Summary) bool {
	if mb.recipient == "" {
		return true
	}
	for _, list := range [][]store.Address{sum.To, sum.Cc, sum.Bcc} {
		for _, a := range list {
			if strings.EqualFold(a.Address, mb.recipient) {
				return true
			}
		}
	}
	return false
}

// setFlagLocked changes flag f of uid and tells the views but source.
func (mb *mailbox) setFlagLocked(f flag, uid imap.UID, v bool, source *view) {
	i := mb.findLocked(uid)
	if i < 0 || mb.entries[i].get(f) == v {
		return
	}
	mb.entries[i].set(f, v)
	mb.queueLocked(update{seq: uint32(i + 1), uid: uid, flags: mb.entries[i].flags()}, source)
}

// ownChange is a session's change of a flag, applied to a mailbox before the store is asked
// to make it (so that neither the session's client nor the store's event, when it comes, repeats
// it to that client), with what it replaced, to be undone if the store fails.
type ownChange struct {
	flag   flag
	source *view
	before map[imap.UID]ownBefore
}

// ownBefore is a message's flag before a session's own change, and how many store changes of it
// the mailbox had seen then.
type ownBefore struct {
	value   bool
	changes uint32
}

// applyOwnLocked sets flag f of uids to v for a session's own change (source's client is not
// told: the command's answer shows the flags).
func (mb *mailbox) applyOwnLocked(f flag, uids []imap.UID, v bool, source *view) ownChange {
	c := ownChange{flag: f, source: source, before: make(map[imap.UID]ownBefore, len(uids))}
	for _, uid := range uids {
		if i := mb.findLocked(uid); i >= 0 {
			c.before[uid] = ownBefore{value: mb.entries[i].get(f), changes: mb.entries[i].changes[f]}
			mb.setFlagLocked(f, uid, v, source)
		}
	}
	return c
}

// undo takes back an own change the store did not make, on the messages whose flag the store
// has not changed since (the store's events apply every change it made, in order).
func (mb *mailbox) undo(c ownChange) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for uid, b := range c.before {
		if i := mb.findLocked(uid); i >= 0 && mb.entries[i].changes[c.flag] == b.changes {
			mb.setFlagLocked(c.flag, uid, b.value, c.source)
		}
	}
}

// newViewLocked registers a session's view; the client knows every current message.
func (mb *mailbox) newViewLocked() *view {
	v := &view{mb: mb, count: uint32(len(mb.entries)), notify: make(chan struct{}, 1)}
	mb.views[v] = struct{}{}
	return v
}

// close unregisters the view.
func (v *view) close() {
	v.mb.mu.Lock()
	delete(v.mb.views, v)
	v.queue = nil
	v.mb.mu.Unlock()
}

// take removes the updates to write now: all of them, or those before the first expunge when
// expunges may not be sent. The client's count follows.
func (v *view) takeLocked(allowExpunge bool) []update {
	n := len(v.queue)
	if !allowExpunge {
		for i, u := range v.queue {
			if u.expunge != 0 {
				n = i
				break
			}
		}
	}
	ups := v.queue[:n:n]
	v.queue = slices.Clone(v.queue[n:])
	if len(v.queue) == 0 {
		v.queue = nil
	}
	for _, u := range ups {
		switch {
		case u.expunge != 0:
			v.count--
		case u.exists != 0:
			v.count = u.exists
		}
	}
	return ups
}

// poll writes the pending updates.
func (v *view) poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	v.mb.mu.Lock()
	ups := v.takeLocked(allowExpunge)
	v.mb.mu.Unlock()
	return writeUpdates(w, ups)
}

func writeUpdates(w *imapserver.UpdateWriter, ups []update) error {
	for i, u := range ups {
		var err error
		switch {
		case u.expunge != 0:
			err = w.WriteExpunge(u.expunge)
		case u.exists != 0:
			if i+1 < len(ups) && ups[i+1].exists != 0 {
				continue // one EXISTS for a run of new messages
			}
			err = w.WriteNumMessages(u.exists)
		default:
			err = w.WriteMessageFlags(u.seq, u.uid, u.flags)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// idle writes updates as they come until stop is closed.
func (v *view) idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	for {
		if err := v.poll(w, true); err != nil {
			return err
		}
		select {
		case <-v.notify:
		case <-stop:
			return nil
		}
	}
}

// serverSeqLocked maps a sequence number the client knows to the mailbox's, 0 when that message
// is gone (or never existed).
func (v *view) serverSeqLocked(seq uint32) uint32 {
	if seq == 0 || seq > v.count {
		return 0
	}
	for _, u := range v.queue {
		if u.expunge == 0 {
			continue
		}
		if seq == u.expunge {
			return 0
		}
		if seq > u.expunge {
			seq--
		}
	}
	if seq > uint32(len(v.mb.entries)) {
		return 0
	}
	return seq
}

// clientSeqLocked maps a mailbox sequence number to the client's, 0 when the client has not been
// told about that message yet.
func (v *view) clientSeqLocked(seq uint32) uint32 {
	for i := len(v.queue) - 1; i >= 0; i-- {
		u := v.queue[i]
		switch {
		case u.exists != 0:
			if seq > u.prev {
				return 0
			}
		case u.expunge != 0:
			if seq >= u.expunge {
				seq++
			}
		}
	}
	return seq
}

// target is a message a command acts on.
type target struct {
	seq   uint32 // the client's sequence number
	entry entry
}

// resolveLocked lists the messages of numSet the client knows, in mailbox order. "*" means the
// last message the client knows (by sequence number or UID).
func (v *view) resolveLocked(numSet imap.NumSet, saved imap.UIDSet) []target {
	var out []target
	switch set := numSet.(type) {
	case imap.SeqSet:
		for _, r := range set {
			start, stop := staticRange(r.Start, r.Stop, v.count)
			start, stop = max(start, 1), min(stop, v.count) // numbers beyond the mailbox name nothing
			for seq := start; seq <= stop; seq++ {
				if s := v.serverSeqLocked(seq); s != 0 {
					out = append(out, target{seq: seq, entry: v.mb.entries[s-1]})
				}
			}
		}
		slices.SortFunc(out, func(a, b target) int { return int(a.seq) - int(b.seq) })
		out = slices.CompactFunc(out, func(a, b target) bool { return a.seq == b.seq })
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			set = saved
		}
		var maxUID imap.UID
		for i := len(v.mb.entries) - 1; i >= 0; i-- {
			if v.clientSeqLocked(uint32(i+1)) != 0 {
				maxUID = v.mb.entries[i].uid
				break
			}
		}
		for _, r := range set {
			start, stop := staticRange(uint32(r.Start), uint32(r.Stop), uint32(maxUID))
			i, _ := slices.BinarySearchFunc(v.mb.entries, imap.UID(start), func(e entry, uid imap.UID) int { return cmpUID(e.uid, uid) })
			for ; i < len(v.mb.entries) && uint32(v.mb.entries[i].uid) <= stop; i++ {
				if seq := v.clientSeqLocked(uint32(i + 1)); seq != 0 {
					out = append(out, target{seq: seq, entry: v.mb.entries[i]})
				}
			}
		}
		slices.SortFunc(out, func(a, b target) int { return int(a.seq) - int(b.seq) })
		out = slices.CompactFunc(out, func(a, b target) bool { return a.seq == b.seq })
	}
	return out
}

// staticRange resolves "*" (0) to max and orders the bounds.
func staticRange(start, stop, max uint32) (uint32, uint32) {
	if start == 0 {
		start = max
	}
	if stop == 0 {
		stop = max
	}
	if start > stop {
		start, stop = stop, start
	}
	return start, stop
}

// startEventsLocked subscribes to the store's events, once. s.mu must be held.
func (s *Server) startEventsLocked() error {
	if s.events != nil {
		return nil
	}
	sub := s.store.Subscribe(s.eventBuffer)
	s.events = sub
	s.eventsDone = make(chan struct{})
	go s.dispatch(sub, s.eventsDone)
	return nil
}

// dispatch hands every store event to the open mailboxes. When the subscription is dropped for
// lagging behind, it subscribes again and reloads every open mailbox.
func (s *Server) dispatch(sub *store.Subscription, done chan struct{}) {
	defer close(done)
	for {
		for evs := range sub.Events() {
			for _, ev := range evs {
				s.apply(ev)
			}
		}
		if !errors.Is(sub.Err(), store.ErrLagged) {
			return
		}
		s.log.Warn("fell behind the store's events; reloading open mailboxes")
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		sub = s.store.Subscribe(s.eventBuffer)
		s.events = sub
		mbs := s.openMailboxes()
		s.mu.Unlock()
		for _, mb := range mbs {
			select {
			case <-mb.ready:
			default:
				continue // its first load reads after the new subscription
			}
			if err := mb.load(s.ctx); err != nil {
				s.log.Error("reload mailbox", "recipient", mb.recipient, "err", err)
			}
			s.reloads.Add(1)
		}
	}
}

// openMailboxes lists the open mailboxes. s.mu must be held.
func (s *Server) openMailboxes() []*mailbox {
	mbs := make([]*mailbox, 0, len(s.mailboxes))
	for _, mb := range s.mailboxes {
		mbs = append(mbs, mb)
	}
	return mbs
}

// apply gives one event to every open mailbox.
func (s *Server) apply(ev store.Event) {
	if ev.Type == store.EventNew && ev.Summary != nil && ev.Summary.UID > 0 && ev.Summary.UID <= int64(^uint32(0)) {
		s.seenUID(imap.UID(ev.Summary.UID))
	}
	s.mu.Lock()
	mbs := s.openMailboxes()
	s.mu.Unlock()
	for _, mb := range mbs {
		mb.handle(ev)
	}
}

// changeFlag changes flag f of the messages ids (uids) in every open mailbox of this server,
// then in the store (source's client is not told: the command's answer shows the flags). Applied
// first, the change is not repeated when the store's event comes; the events bring it to the
// other processes, and apply later changes in commit order. If the store fails, it is undone.
func (s *Server) changeFlag(ctx context.Context, f flag, ids []string, uids []imap.UID, v bool, source *view) error {
	s.mu.Lock()
	mbs := s.openMailboxes()
	s.mu.Unlock()
	own := make([]ownChange, len(mbs))
	for i, mb := range mbs {
		src := source
		if source == nil || source.mb != mb {
			src = nil
		}
		mb.mu.Lock()
		own[i] = mb.applyOwnLocked(f, uids, v, src)
		mb.mu.Unlock()
	}
	var err error
	if f == flagSeen {
		err = s.store.SetRead(ctx, ids, v)
	} else {
		err = s.store.SetDeleted(ctx, ids, v)
	}
	if err != nil {
		for i, mb := range mbs {
			mb.undo(own[i])
		}
	}
	return err
}
