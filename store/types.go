package store

import (
	"errors"
	"time"
)

// ErrNotFound is returned when a message or part does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("store: closed")

// Envelope is the SMTP transaction that delivered a message.
type Envelope struct {
	MailFrom   string    // MAIL FROM address; "" for the null sender <>
	Recipients []string  // RCPT TO addresses, in order
	Helo       string    // HELO/EHLO name the client gave
	RemoteAddr string    // client address, host:port
	Username   string    // SMTP AUTH username; "" when the client did not authenticate
	TLS        bool      // the message came over TLS (STARTTLS or implicit)
	Received   time.Time // when the message was received; zero means now
	// Protocol names how the message came, for the Received: trace header's "with" clause
	// (RFC 5321 §4.4): "" is SMTP (ESMTP, ESMTPS, ESMTPA, ESMTPSA from TLS and Username),
	// "HTTP" or "HTTPS" for the send API.
	Protocol string
	// NoTrace stores the message exactly as given, without the Return-Path: and Received: fields
	// an MDA prepends: for messages imported from files, which carry their own trace already.
	// ReturnPath then comes from MailFrom, or from the message's own Return-Path: field.
	NoTrace   bool
	SessionID string `json:",omitempty"` // the SMTP session that delivered it (see Session); "" when unknown

	// Session, when set, is the delivering session's record so far: Add stores it with the
	// message, in the same transaction, as RecordSession would. Not kept in the envelope.
	Session *Session `json:"-"`
}

// Address is a display name and an email address.
type Address struct {
	Name    string
	Address string
}

// Summary is what a message list shows: it is read without touching the body.
type Summary struct {
	UID         int64     // strictly increasing integer key, never reused (POP3 UIDL, IMAP UID)
	ID          string    // short opaque identifier used by the APIs
	MessageID   string    // Message-ID header without angle brackets
	Read        bool      // seen by someone
	From        Address   // first From address; zero when the header is missing
	To          []Address // never nil
	Cc          []Address // never nil
	Bcc         []Address // envelope recipients not in To/Cc, plus any Bcc header; never nil
	ReplyTo     []Address // never nil
	Subject     string    // decoded subject
	Date        time.Time // Date header; zero when missing or unparsable
	Created     time.Time // when letterbox received it
	Username    string    // SMTP AUTH username
	Tags        []string  // sorted; never nil
	Size        int64     // bytes of the stored raw message (with trace headers)
	Attachments int       // number of attachments
	Inlines     int       // number of inline parts (cid: images and the like)
	Snippet     string    // up to 250 characters of the text body
}

// Header is one header field, unfolded, value as it appears in the message (not RFC 2047 decoded).
type Header struct {
	Name  string
	Value string
}

// Checksums are digests of a part's decoded content, lower-case hex.
type Checksums struct {
	MD5    string
	SHA1   string
	SHA256 string
}

// Part describes one attachment or inline part. Its content is read with Store.Part.
type Part struct {
	PartID      string // position in the MIME tree, e.g. "2.1"
	FileName    string
	ContentType string
	ContentID   string // without angle brackets
	Disposition string // "attachment", "inline" or ""
	Size        int64  // decoded bytes
	Checksums   Checksums
}

// Node is one part of the MIME structure, for display.
type Node struct {
	PartID      string
	ContentType string
	Charset     string `json:",omitempty"`
	Disposition string `json:",omitempty"`
	FileName    string `json:",omitempty"`
	Size        int64
	Children    []Node `json:",omitempty"`
}

// Message is a whole stored message as readers need it, as parsed at ingest; only its parts'
// checksums are worked out again from the raw message (see Store.Message).
type Message struct {
	Summary
	Envelope    Envelope
	ReturnPath  string
	Headers     []Header // all header fields in order, including the trace headers letterbox added
	Text        string
	HTML        string
	Attachments []Part // never nil
	Inline      []Part // never nil
	Structure   Node
	ParseErrors []string // never nil; empty when the message parsed cleanly
}

// HeaderValues returns the values of all header fields named name (case-insensitive), in order.
func (m *Message) HeaderValues(name string) []string {
	var vals []string
	for _, h := range m.Headers {
		if equalFold(h.Name, name) {
			vals = append(vals, h.Value)
		}
	}
	return vals
}

// Stats are whole-store figures.
type Stats struct {
	Total        int            // messages stored
	Unread       int            // messages not read
	Size         int64          // bytes of all raw messages
	DatabaseSize int64          // bytes of the database file(s)
	Tags         map[string]int // tag name to number of messages; never nil
	Stored       int64          // messages this process stored since Open
	Deleted      int64          // messages deleted since Open
	Commits      int64          // write transactions committed since Open
	Writes       int64          // messages and changes in them (Writes/Commits: the batch size)
}

// Page selects a window of a result ordered newest first.
type Page struct {
	Offset int // rows to skip
	Limit  int // rows to return; 0 means all
}

// Result is one page of matching messages.
type Result struct {
	Messages []Summary // never nil
	Total    int       // number of messages matching the filter
	Unread   int       // number of matching messages that are unread
}

// EventType names a change to the store.
type EventType string

// The events the store publishes, after the change is committed.
const (
	EventNew      EventType = "new"      // a message was stored; Event.Summary is set
	EventUpdate   EventType = "update"   // read state or tags changed; Event.ID, UID and Read or Tags set
	EventDelete   EventType = "delete"   // one message was deleted; Event.ID and UID set
	EventTruncate EventType = "truncate" // every message was deleted
	EventPrune    EventType = "prune"    // retention deleted messages; Event.UIDs lists them
)

// Event is one change announced to subscribers.
type Event struct {
	Type    EventType
	Summary *Summary  // for EventNew
	ID      string    // for EventUpdate and EventDelete
	UID     int64     // for EventUpdate and EventDelete
	Read    *bool     // for EventUpdate of read state
	Deleted *bool     // for EventFlag: the IMAP \Deleted flag
	Tags    []string  // for EventUpdate of tags
	UIDs    []int64   // for EventPrune
	Session *Session  // for EventSession: the record\'s fields, without the transcript
	Relay   *RelayJob // for EventRelay
	// Remote is set on the changes another process sharing the database made (PostgreSQL):
	// what reacts once to each new message (webhooks, auto-relay) leaves those to that process.
	Remote bool

	count int64 // messages an EventTruncate deleted
}
