package store

import (
	"context"
	"net/netip"
	"strings"
)

// SessionEngine is the part of the Engine contract that keeps SMTP session transcripts (see
// store/sessions.go): both engines keep them, with the same semantics.
type SessionEngine interface {
	// RecordSession stores sess, replacing the fields of an earlier record of the same ID and
	// adding sess.Transcript at sess.TranscriptFrom; it returns once the record is committed.
	RecordSession(ctx context.Context, sess *Session) error
	// Sessions returns a page of the sessions f selects, newest first, without transcripts.
	Sessions(ctx context.Context, f SessionFilter, p Page) (SessionResult, error)
	// Session returns one session with its transcript and its messages' IDs; ErrNotFound.
	Session(ctx context.Context, id string) (*Session, error)
	// DeleteSessions deletes every session record (the messages stay).
	DeleteSessions(ctx context.Context) error
}

var _ SessionEngine = (*Store)(nil)

// SessionLimit is the number of session records opts keeps (Options.MaxSessions: 0 is
// DefaultMaxSessions); 0 means no limit.
func (o Options) SessionLimit() int {
	switch n := o.MaxSessions; {
	case n == 0:
		return DefaultMaxSessions
	case n < 0:
		return 0
	default:
		return n
	}
}

// maxSessions is the limit in force; 0 means none.
func (s *Store) maxSessions() int { return s.opts.SessionLimit() }

// EncodeSessionLines encodes transcript lines as a chunk of the stored transcript.
func EncodeSessionLines(lines []SessionLine) string { return encodeLines(lines) }

// DecodeSessionLines appends the lines of a stored chunk to into.
func DecodeSessionLines(chunk string, into []SessionLine) []SessionLine {
	return decodeLines(chunk, into)
}

// SessionRemoteIP returns the host of a session's host:port, as the remote-address filter
// matches it.
func SessionRemoteIP(addr string) string { return remoteIP(addr) }

// SessionRemote tells what a SessionFilter's RemoteAddr selects: sessions from that host:port
// (hostPort true), or from that IP address, normalised; "" selects any.
func SessionRemote(f SessionFilter) (value string, hostPort bool) {
	a := strings.TrimSpace(f.RemoteAddr)
	if a == "" {
		return "", false
	}
	if ap, err := netip.ParseAddrPort(a); err == nil {
		return ap.String(), true
	}
	a = strings.Trim(a, "[]")
	if ip, err := netip.ParseAddr(a); err == nil {
		a = ip.String()
	}
	return a, false
}

// SessionEvent returns the EventSession of sess: its fields, without the transcript.
func SessionEvent(sess Session) Event {
	sess.Transcript, sess.MessageIDs, sess.TranscriptFrom = nil, nil, 0
	return Event{Type: EventSession, Session: &sess, ID: sess.ID}
}
