package imapd

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/letterbox-mail/letterbox/store"
)

// SEARCH is answered by the store's search, never by reading messages here. Each key becomes a
// store.Term (FROM→from, TO→to, CC→cc, BCC→bcc, SUBJECT→subject, BODY→body, TEXT→free text,
// HEADER→header, SEEN/UNSEEN→is:read/unread, SINCE/BEFORE/ON→after/before on the received date,
// LARGER/SMALLER→larger/smaller) and all the keys of one level run as one store query. What the
// store has no term for is done in Go on the mailbox's UID list: sequence and UID sets, \Deleted
// (kept here), NOT of more than one key (a set difference) and OR (two searches, united).
// SENTSINCE/SENTBEFORE/SENTON compare the Date header's day (UTC) with the store's
// sent-after/sent-before terms; a message without a Date header matches none of them.

// snapEntry is a message of the mailbox as the client knows it, for searching.
type snapEntry struct {
	uid     imap.UID
	seq     uint32 // the client's sequence number
	read    bool
	deleted bool
}

// searcher evaluates one SEARCH command.
type searcher struct {
	s       *session
	all     []snapEntry // by UID
	count   uint32      // the client's number of messages ("*" in sequence sets)
	maxUID  imap.UID    // the client's highest UID ("*" in UID sets)
	saved   imap.UIDSet
	queries int // store searches run, for tests
}

// search answers SEARCH and UID SEARCH.
func (s *session) search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	mb := s.view.mb
	sr := &searcher{s: s, saved: s.searchRes}
	mb.mu.Lock()
	sr.all = make([]snapEntry, 0, len(mb.entries))
	for i := range mb.entries {
		if seq := s.view.clientSeqLocked(uint32(i + 1)); seq != 0 {
			e := &mb.entries[i]
			sr.all = append(sr.all, snapEntry{uid: e.uid, seq: seq, read: e.read, deleted: e.deleted})
		}
	}
	sr.count = s.view.count
	mb.mu.Unlock()
	if n := len(sr.all); n > 0 {
		sr.maxUID = sr.all[n-1].uid
	}

	uids, err := sr.eval(criteria)
	if err != nil {
		return nil, err
	}

	data := &imap.SearchData{}
	var uidSet imap.UIDSet
	var seqSet imap.SeqSet
	for _, uid := range uids {
		uidSet.AddNum(uid)
		num := uint32(uid)
		if kind == imapserver.NumKindSeq {
			num = sr.all[sr.index(uid)].seq
			seqSet.AddNum(num)
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if kind == imapserver.NumKindSeq {
		data.All = seqSet
	} else {
		data.All = uidSet
	}
	if options.ReturnSave {
		s.searchRes = uidSet
	}
	return data, nil
}

// index returns the position of uid in all (which holds it).
func (sr *searcher) index(uid imap.UID) int {
	i, _ := slices.BinarySearchFunc(sr.all, uid, func(e snapEntry, uid imap.UID) int { return cmpUID(e.uid, uid) })
	return i
}

// level is the part of a criteria that is not NOT or OR.
type level struct {
	terms   []store.Term
	filters []func(snapEntry) bool
	none    bool  // a key nothing can match (a flag letterbox does not keep)
	read    *bool // SEEN (true) or UNSEEN (false)
}

func (l *level) term(field, value string) {
	l.terms = append(l.terms, store.Term{Field: field, Value: value})
}

// translate maps the keys of one level to store terms and Go filters.
func (sr *searcher) translate(c *imap.SearchCriteria) level {
	var l level
	for _, set := range c.SeqNum {
		set := set
		l.filters = append(l.filters, func(e snapEntry) bool { return seqSetContains(set, e.seq, sr.count) })
	}
	for _, set := range c.UID {
		set := set
		if imap.IsSearchRes(set) {
			set = sr.saved
		}
		l.filters = append(l.filters, func(e snapEntry) bool { return uidSetContains(set, e.uid, sr.maxUID) })
	}
	if !c.Since.IsZero() {
		// SINCE is "on or after the date": the store's after is strictly later.
		l.term("after", day(c.Since).Add(-time.Microsecond).Format(time.RFC3339Nano))
	}
	if !c.Before.IsZero() {
		l.term("before", day(c.Before).Format(time.RFC3339Nano))
	}
	if !c.SentSince.IsZero() {
		l.term("sent-after", day(c.SentSince).Add(-time.Microsecond).Format(time.RFC3339Nano))
	}
	if !c.SentBefore.IsZero() {
		l.term("sent-before", day(c.SentBefore).Format(time.RFC3339Nano))
	}
	for _, h := range c.Header {
		switch field := strings.ToLower(h.Key); field {
		case "from", "to", "cc", "bcc", "subject":
			l.term(field, h.Value)
		default:
			l.terms = append(l.terms, store.Term{Field: "header", Name: h.Key, Value: h.Value})
		}
	}
	for _, b := range c.Body {
		l.term("body", b)
	}
	for _, t := range c.Text {
		l.term("", t)
	}
	for _, f := range c.Flag {
		switch {
		case strings.EqualFold(string(f), string(imap.FlagSeen)):
			l.setRead(true)
		case strings.EqualFold(string(f), string(imap.FlagDeleted)):
			l.filters = append(l.filters, func(e snapEntry) bool { return e.deleted })
		default:
			l.none = true
		}
	}
	for _, f := range c.NotFlag {
		switch {
		case strings.EqualFold(string(f), string(imap.FlagSeen)):
			l.setRead(false)
		case strings.EqualFold(string(f), string(imap.FlagDeleted)):
			l.filters = append(l.filters, func(e snapEntry) bool { return !e.deleted })
		}
	}
	if c.Larger > 0 {
		l.term("larger", strconv.FormatInt(c.Larger, 10))
	}
	if c.Smaller > 0 {
		l.term("smaller", strconv.FormatInt(c.Smaller, 10))
	}
	return l
}

// setRead records SEEN or UNSEEN; both at once match nothing.
func (l *level) setRead(read bool) {
	if l.read != nil && *l.read != read {
		l.none = true
	}
	l.read = &read
}

// placeRead puts SEEN/UNSEEN where it is cheapest: into the store query (is:read, is:unread) when
// the level has one anyway, where it narrows it; else in Go on the mailbox's read state, which
// spares a store search that would list most of the mailbox.
func (l *level) placeRead() {
	if l.read == nil {
		return
	}
	read := *l.read
	if len(l.terms) > 0 {
		if read {
			l.term("is", "read")
		} else {
			l.term("is", "unread")
		}
	} else {
		l.filters = append(l.filters, func(e snapEntry) bool { return e.read == read })
	}
	l.read = nil
}

// day is the start of t's date, UTC (IMAP dates have no time and ignore time zones).
func day(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// eval returns the UIDs, ascending, of the messages c matches.
func (sr *searcher) eval(c *imap.SearchCriteria) ([]imap.UID, error) {
	l := sr.translate(c)
	if l.none {
		return nil, nil
	}
	// NOT of a single store key folds into the query as a negated term.
	var rest []imap.SearchCriteria
	for _, n := range c.Not {
		nl := sr.translate(&n)
		if nl.read == nil && len(nl.terms) == 1 && len(nl.filters) == 0 && !nl.none &&
			len(n.Not) == 0 && len(n.Or) == 0 {
			t := nl.terms[0]
			t.Negate = !t.Negate
			l.terms = append(l.terms, t)
			continue
		}
		rest = append(rest, n)
	}

	l.placeRead()
	uids, err := sr.base(&l)
	if err != nil {
		return nil, err
	}
	if len(l.filters) > 0 {
		kept := uids[:0:0]
		for _, uid := range uids {
			e := sr.all[sr.index(uid)]
			if allTrue(l.filters, e) {
				kept = append(kept, uid)
			}
		}
		uids = kept
	}
	for i := range rest {
		if len(uids) == 0 {
			break
		}
		sub, err := sr.eval(&rest[i])
		if err != nil {
			return nil, err
		}
		uids = difference(uids, sub)
	}
	for _, or := range c.Or {
		if len(uids) == 0 {
			break
		}
		a, err := sr.eval(&or[0])
		if err != nil {
			return nil, err
		}
		b, err := sr.eval(&or[1])
		if err != nil {
			return nil, err
		}
		uids = intersect(uids, union(a, b))
	}
	return uids, nil
}

// base runs the store query of a level, limited to the mailbox.
func (sr *searcher) base(l *level) ([]imap.UID, error) {
	all := make([]imap.UID, len(sr.all))
	for i, e := range sr.all {
		all[i] = e.uid
	}
	if len(l.terms) == 0 {
		return all, nil
	}
	if len(all) == 0 {
		return nil, nil
	}
	f := sr.s.storeFilter()
	f.Query.Terms = l.terms
	sr.queries++
	list, err := sr.s.srv.store.Index(sr.s.ctx(), f)
	if err != nil {
		return nil, sr.s.serverError("search", err)
	}
	found := make([]imap.UID, 0, len(list))
	for _, e := range list {
		found = append(found, imap.UID(e.UID))
	}
	return intersect(all, found), nil
}

func allTrue(filters []func(snapEntry) bool, e snapEntry) bool {
	for _, f := range filters {
		if !f(e) {
			return false
		}
	}
	return true
}

// seqSetContains reports whether set holds seq, with "*" being max.
func seqSetContains(set imap.SeqSet, seq, max uint32) bool {
	for _, r := range set {
		start, stop := staticRange(r.Start, r.Stop, max)
		if seq >= start && seq <= stop {
			return true
		}
	}
	return false
}

// uidSetContains reports whether set holds uid, with "*" being max.
func uidSetContains(set imap.UIDSet, uid, max imap.UID) bool {
	for _, r := range set {
		start, stop := staticRange(uint32(r.Start), uint32(r.Stop), uint32(max))
		if uint32(uid) >= start && uint32(uid) <= stop {
			return true
		}
	}
	return false
}

// intersect, union and difference work on ascending UID lists.
func intersect(a, b []imap.UID) []imap.UID {
	var out []imap.UID
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func union(a, b []imap.UID) []imap.UID {
	out := make([]imap.UID, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func difference(a, b []imap.UID) []imap.UID {
	var out []imap.UID
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}
