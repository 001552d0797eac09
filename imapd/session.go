package imapd

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/letterbox-mail/letterbox/store"
)

// inbox is the one mailbox letterbox has.
const inbox = "INBOX"

// delim is the hierarchy delimiter announced by LIST and NAMESPACE.
const delim = '/'

// session is one IMAP connection.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	log  *slog.Logger

	closeOnce sync.Once
	// mu guards view and cache against Close, which imapserver may call while Idle still runs
	// (when the client drops the connection during IDLE). Commands never run concurrently.
	mu sync.Mutex

	// Set by Login.
	username  string
	recipient string // "" = every message

	// Set by Select.
	view      *view
	readOnly  bool
	searchRes imap.UIDSet

	cache cachedMessage // the last message read, for clients that fetch a message piecewise
}

var _ imapserver.SessionIMAP4rev2 = (*session)(nil)

func (s *session) ctx() context.Context { return s.srv.ctx }

// Close ends the session (the connection is gone).
func (s *session) Close() error {
	s.closeOnce.Do(func() {
		s.unselect()
		s.srv.endSession(s)
	})
	return nil
}

func (s *session) unselect() {
	s.mu.Lock()
	v := s.view
	s.view = nil
	s.cache = cachedMessage{}
	s.mu.Unlock()
	if v != nil {
		v.close()
		v.mb.release()
	}
	s.searchRes = nil
}

// Login checks the credentials (when an htpasswd file is set) and picks the mailbox: a username
// with "@" sees that recipient's messages, any other username sees all.
func (s *session) Login(username, password string) error {
	if s.srv.auth != nil && !s.srv.auth.Check(username, password) {
		s.log.Info("login failed", "username", username)
		return imapserver.ErrAuthFailed
	}
	s.username = username
	if strings.Contains(username, "@") {
		s.recipient = strings.ToLower(strings.TrimSpace(username))
	}
	s.log.Debug("logged in", "username", username)
	return nil
}

// isInbox reports whether name is INBOX (case-insensitive, RFC 3501 section 5.1).
func isInbox(name string) bool { return strings.EqualFold(name, inbox) }

func noMailbox(name string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "letterbox has only INBOX, not " + name}
}

func cannot(text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: text}
}

// serverError logs err and answers a generic NO (the detail stays in the log).
func (s *session) serverError(what string, err error) error {
	s.log.Error(what, "err", err)
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "letterbox could not " + what}
}

// recover turns a panic in a command into a NO [SERVERBUG] answer, logged with its stack, so that
// one bad message or bug costs a command, not the connection. Use as defer s.recover(&err).
func (s *session) recover(err *error) {
	if v := recover(); v != nil {
		s.log.Error("panic in a command", "panic", v, "stack", string(debug.Stack()))
		*err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "letterbox failed on this command"}
	}
}

// Select opens INBOX, read-only for EXAMINE.
func (s *session) Select(name string, options *imap.SelectOptions) (_ *imap.SelectData, err error) {
	defer s.recover(&err)
	if !isInbox(name) {
		return nil, noMailbox(name)
	}
	s.unselect()
	mb, err := s.srv.openMailbox(s.ctx(), s.recipient)
	if err != nil {
		return nil, s.serverError("open the mailbox", err)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	v := mb.newViewLocked()
	s.mu.Lock()
	s.view, s.readOnly = v, options.ReadOnly
	s.mu.Unlock()

	data := &imap.SelectData{
		Flags:       []imap.Flag{imap.FlagSeen, imap.FlagDeleted},
		NumMessages: v.count,
		UIDNext:     s.srv.uidNextLocked(mb),
		UIDValidity: s.srv.store.UIDValidity(),
	}
	if options.ReadOnly {
		data.PermanentFlags = []imap.Flag{}
	} else {
		data.PermanentFlags = []imap.Flag{imap.FlagSeen, imap.FlagDeleted}
	}
	for i := range mb.entries {
		if !mb.entries[i].read {
			data.FirstUnseenSeqNum = uint32(i + 1)
			break
		}
	}
	return data, nil
}

// Unselect leaves the mailbox (CLOSE expunges first, through Expunge).
func (s *session) Unselect() error {
	s.unselect()
	return nil
}

// Create is refused: letterbox has only INBOX.
func (s *session) Create(mailbox string, options *imap.CreateOptions) error {
	return cannot("letterbox has only INBOX")
}

// Delete is refused: letterbox has only INBOX.
func (s *session) Delete(mailbox string) error {
	return cannot("letterbox has only INBOX")
}

// Rename is refused: letterbox has only INBOX.
func (s *session) Rename(mailbox, newName string, options *imap.RenameOptions) error {
	return cannot("letterbox has only INBOX")
}

// Subscribe accepts INBOX, which is always subscribed.
func (s *session) Subscribe(mailbox string) error {
	if !isInbox(mailbox) {
		return noMailbox(mailbox)
	}
	return nil
}

// Unsubscribe accepts INBOX and changes nothing.
func (s *session) Unsubscribe(mailbox string) error {
	if !isInbox(mailbox) {
		return noMailbox(mailbox)
	}
	return nil
}

// List answers LIST and LSUB: INBOX when a pattern matches it.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter and root (RFC 3501 section 6.3.8).
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	if options.SelectSpecialUse {
		return nil
	}
	match := false
	for _, p := range patterns {
		// INBOX is case-insensitive, and the only name: comparing upper-cased is exact.
		if imapserver.MatchList(inbox, delim, strings.ToUpper(ref), strings.ToUpper(p)) {
			match = true
		}
	}
	if !match {
		return nil
	}
	data := &imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}, Delim: delim, Mailbox: inbox}
	if options.ReturnSubscribed || options.SelectSubscribed {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	if options.ReturnStatus != nil {
		st, err := s.Status(inbox, options.ReturnStatus)
		if err != nil {
			return err
		}
		data.Status = st
	}
	return w.WriteList(data)
}

// Status answers STATUS INBOX, from the open mailbox when there is one, else from the store.
func (s *session) Status(name string, options *imap.StatusOptions) (_ *imap.StatusData, err error) {
	defer s.recover(&err)
	if !isInbox(name) {
		return nil, noMailbox(name)
	}
	data := &imap.StatusData{Mailbox: inbox, UIDValidity: s.srv.store.UIDValidity()}
	zero := uint32(0)
	if options.NumRecent {
		data.NumRecent = &zero
	}
	if options.NumDeleted || options.Size || options.UIDNext || options.NumMessages || options.NumUnseen {
		mb, err := s.srv.openMailbox(s.ctx(), s.recipient)
		if err != nil {
			return nil, s.serverError("read the mailbox", err)
		}
		defer mb.release()
		mb.mu.Lock()
		var unseen, deleted uint32
		var size int64
		for i := range mb.entries {
			e := &mb.entries[i]
			if !e.read {
				unseen++
			}
			if e.deleted {
				deleted++
			}
			size += e.size
		}
		n := uint32(len(mb.entries))
		data.NumMessages, data.NumUnseen, data.NumDeleted, data.Size = &n, &unseen, &deleted, &size
		data.UIDNext = s.srv.uidNextLocked(mb)
		mb.mu.Unlock()
	}
	return data, nil
}

// Append is refused: messages arrive over SMTP.
func (s *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if !isInbox(mailbox) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "letterbox has only INBOX"}
	}
	return nil, cannot("letterbox receives messages over SMTP only")
}

// Copy is refused: there is no other mailbox to copy to.
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if !isInbox(dest) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "letterbox has only INBOX"}
	}
	return nil, cannot("letterbox cannot copy a message into the mailbox it is in")
}

// Move is refused: there is no other mailbox to move to.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if !isInbox(dest) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "letterbox has only INBOX"}
	}
	return cannot("letterbox cannot move a message into the mailbox it is in")
}

// Namespace announces one personal namespace with no prefix.
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

// Poll writes what changed since the last command.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.view == nil {
		return nil
	}
	return s.view.poll(w, allowExpunge)
}

// Idle writes changes as the store commits them, until the client says DONE.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.mu.Lock()
	s.cache = cachedMessage{} // an idle connection holds no message
	v := s.view
	s.mu.Unlock()
	if v == nil {
		<-stop
		return nil
	}
	return v.idle(w, stop)
}

// readOnlyError answers commands that would change an EXAMINEd mailbox.
func readOnlyError() error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("READ-ONLY"), Text: "the mailbox is read-only (EXAMINE)"}
}

// Store changes \Seen (the store's read state, shared with the web inbox) and \Deleted (kept by
// the store until EXPUNGE). Other flags are accepted and not kept, as PERMANENTFLAGS says.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) (err error) {
	defer s.recover(&err)
	if s.readOnly {
		return readOnlyError()
	}
	var seen, deleted bool
	for _, f := range flags.Flags {
		switch {
		case strings.EqualFold(string(f), string(imap.FlagSeen)):
			seen = true
		case strings.EqualFold(string(f), string(imap.FlagDeleted)):
			deleted = true
		}
	}
	mb := s.view.mb
	mb.mu.Lock()
	targets := s.view.resolveLocked(numSet, s.searchRes)
	mb.mu.Unlock()

	// What each flag becomes: set (+FLAGS, or FLAGS naming it), cleared (-FLAGS naming it, or
	// FLAGS not naming it), or untouched.
	change := func(named bool) (touch, value bool) {
		switch flags.Op {
		case imap.StoreFlagsAdd:
			return named, true
		case imap.StoreFlagsDel:
			return named, false
		}
		return true, named
	}
	// Every target goes to the store, whatever this view shows: another process may have
	// changed a flag whose event has not come yet (the store changes only what differs).
	ids := make([]string, 0, len(targets))
	uids := make([]imap.UID, 0, len(targets))
	for _, t := range targets {
		ids, uids = append(ids, t.entry.id), append(uids, t.entry.uid)
	}
	for _, c := range []struct {
		f     flag
		named bool
		what  string
	}{{flagSeen, seen, "change the read state"}, {flagDeleted, deleted, "change the \\Deleted flag"}} {
		if touch, value := change(c.named); touch && len(ids) > 0 {
			if err := s.srv.changeFlag(s.ctx(), c.f, ids, uids, value, s.view); err != nil {
				return s.serverError(c.what, err)
			}
		}
	}
	if flags.Silent {
		return nil
	}
	// Answer with the flags as they are now.
	mb.mu.Lock()
	type answer struct {
		seq   uint32
		uid   imap.UID
		flags []imap.Flag
	}
	answers := make([]answer, 0, len(targets))
	for _, t := range targets {
		if i := mb.findLocked(t.entry.uid); i >= 0 {
			answers = append(answers, answer{t.seq, t.entry.uid, mb.entries[i].flags()})
		}
	}
	mb.mu.Unlock()
	for _, a := range answers {
		m := w.CreateMessage(a.seq)
		m.WriteUID(a.uid)
		m.WriteFlags(a.flags)
		if err := m.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Expunge deletes from the store the messages flagged \Deleted (only those in uids, for UID
// EXPUNGE). After EXAMINE, EXPUNGE is refused and CLOSE deletes nothing (RFC 3501 6.4.2).
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) (err error) {
	defer s.recover(&err)
	// CLOSE calls Expunge with a writer that writes nothing; EXPUNGE with one bound to the
	// connection. The zero value tells them apart.
	closing := *w == imapserver.ExpungeWriter{}
	if s.readOnly {
		if closing {
			return nil
		}
		return readOnlyError()
	}
	// The store says which messages are flagged: another process's sessions may have flagged
	// some whose events have not come yet.
	flagged, err := s.srv.store.DeletedUIDs(s.ctx())
	if err != nil {
		return s.serverError("list the messages flagged \\Deleted", err)
	}
	mb := s.view.mb
	mb.mu.Lock()
	var ids []string
	uidOf := map[string]imap.UID{}
	var last imap.UID // "*" in UID EXPUNGE
	if n := len(mb.entries); n > 0 {
		last = mb.entries[n-1].uid
	}
	for _, u := range flagged {
		if u <= 0 || u > int64(^uint32(0)) {
			continue
		}
		i := mb.findLocked(imap.UID(u))
		if i < 0 {
			continue // not in this mailbox (or not announced to it yet)
		}
		e := &mb.entries[i]
		if uids != nil && !uidSetContains(*uids, e.uid, last) {
			continue
		}
		// Only messages this client knows of: one that arrived unannounced is not its to delete.
		if s.view.clientSeqLocked(uint32(i+1)) == 0 {
			continue
		}
		ids = append(ids, e.id)
		uidOf[e.id] = e.uid
	}
	mb.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	// The store deletes those still flagged when it runs.
	gone, err := s.srv.store.Expunge(s.ctx(), ids)
	if err != nil {
		return s.serverError("delete the messages", err)
	}
	// Apply now rather than when the store's events arrive, so that this client's EXPUNGE
	// responses come before the command completes. The events then find nothing left to do.
	mb.mu.Lock()
	for _, id := range gone {
		if i := mb.findLocked(uidOf[id]); i >= 0 {
			mb.expungeLocked(i, nil)
		}
	}
	mb.mu.Unlock()
	// EXPUNGE responses are written by the poll that follows the command (none after CLOSE: the
	// view is gone by then).
	return nil
}

// Search runs SEARCH on the store's search (see search.go).
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (_ *imap.SearchData, err error) {
	defer s.recover(&err)
	return s.search(kind, criteria, options)
}

// Fetch answers FETCH (see fetch.go).
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) (err error) {
	defer s.recover(&err)
	return s.fetch(w, numSet, options)
}

// storeFilter is the filter of this session's mailbox.
func (s *session) storeFilter() store.Filter {
	return store.Filter{Recipient: s.recipient}
}
