package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/klauspost/compress/zstd"
)

// Engine is the contract every storage engine keeps: *Store (SQLite, the embedded default) and
// package store/postgres. The servers (smtpd, webui, pop3d, imapd) take the parts of it they
// need as interfaces of their own, so they work unchanged on either; the conformance suite
// (store/storetest) runs every behaviour against both.
//
// What every engine shares lives in this package: the message model and its types, the MIME
// parsing at ingest (Ingester), the search language parsed into a typed Query, and the change
// events (Hub, Subscription).
type Engine interface {
	// Add stores a message and returns once it is committed and its EventNew published.
	Add(ctx context.Context, env Envelope, raw io.Reader) (Summary, error)
	// Expect announces a message on its way, so that group commit may wait for it.
	Expect() (withdraw func())
	Summary(ctx context.Context, id string) (Summary, error)
	Message(ctx context.Context, id string) (*Message, error)
	Raw(ctx context.Context, id string) ([]byte, error)
	Part(ctx context.Context, id, partID string) (Part, []byte, error)
	Search(ctx context.Context, f Filter, p Page) (Result, error)
	Index(ctx context.Context, f Filter) ([]Entry, error)
	Stats(ctx context.Context) (Stats, error)
	Tags(ctx context.Context) ([]string, error)
	SetRead(ctx context.Context, ids []string, read bool) error
	SetReadMatching(ctx context.Context, f Filter, read bool) error
	Delete(ctx context.Context, ids []string) error
	DeleteMatching(ctx context.Context, f Filter) (int, error)
	DeleteAll(ctx context.Context) error
	SetTags(ctx context.Context, ids []string, tags []string) error
	RenameTag(ctx context.Context, old, name string) error
	DeleteTag(ctx context.Context, tag string) error
	Prune(ctx context.Context) error
	Subscribe(buffer int) *Subscription
	UIDValidity() uint32
	NextUID(ctx context.Context) (int64, error)
	// Ping reports whether the database answers (readiness).
	Ping(ctx context.Context) error
	Close() error

	// The relay queue (see store/relayqueue.go): jobs that hand messages to a real SMTP server.
	AddRelay(ctx context.Context, id string, job RelayJob) (RelayJob, error)
	ClaimRelay(ctx context.Context, now time.Time, lease time.Duration) (*RelayJob, error)
	FinishRelay(ctx context.Context, job int64, out RelayOutcome) error
	RelayJobs(ctx context.Context, id string) ([]RelayJob, error)
	NextRelayDue(ctx context.Context) (due time.Time, ok bool, err error)
	RetryRelaysNow(ctx context.Context) (int, error)

	// SMTP session transcripts (see store/sessions.go).
	SessionEngine
	// IMAP's \Deleted flag (see store/flags.go).
	FlagEngine
}

var _ Engine = (*Store)(nil)

// ErrUnavailable wraps the errors of an engine whose database cannot be reached (a lost
// connection, a server restarting): the request may succeed later. SMTP answers it with 451,
// the API with 503.
var ErrUnavailable = errors.New("store: database unavailable")

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.readDB.PingContext(ctx); err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	return nil
}

// Ingester parses and encodes messages at ingest as every engine stores them: trace header
// fields prepended, MIME parsed once (enmime), addresses, tags and snippet worked out, the body
// and raw message compressed together (zstd), the search text taken out. It also decodes what it
// encoded, attachments included (ReadPart). It is safe for concurrent use.
type Ingester struct {
	s *Store // only its parser, compressors, buffers and hostname
}

// NewIngester returns an Ingester that names hostname in the Received: header fields.
func NewIngester(hostname string) (*Ingester, error) {
	enc, err := newIdleEncoder(zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, err
	}
	return &Ingester{s: &Store{opts: Options{Hostname: hostname}, parser: enmime.NewParser(parserOptions()...), enc: enc, dec: dec}}, nil
}

// Close releases the compressors.
func (in *Ingester) Close() {
	in.s.enc.Close()
	in.s.dec.Close()
}

// Prepared is a message parsed and encoded, ready for an engine to insert.
type Prepared struct {
	// Summary is the message's list entry; the engine sets its UID when it inserts it.
	Summary Summary
	// Content is zstd of the JSON of what opening the message needs followed by the raw message;
	// its first BodySize bytes, decompressed, are the JSON (see Ingester.Message).
	Content  []byte
	BodySize int
	// Recipients are the lower-case addresses the message was sent to (envelope, To, Cc, Bcc).
	Recipients []string
	// Text is the message's searchable text, field by field.
	Text SearchText
	// Words are its distinct vocabulary words (3 to 32 letters, no digits, lower case, no
	// accents): what a term found inside words is looked up in.
	Words []string
	// RelayTo is where auto-relay sends it: its envelope recipients, or its To, Cc and Bcc
	// addresses when it had none (see Options.RelayMatching).
	RelayTo []string
	// FromJSON ... ReplyToJSON are the address lists as JSON, as the list columns keep them.
	FromJSON, ToJSON, CcJSON, BccJSON, ReplyToJSON string
	// SessionID is the SMTP session that delivered it (Envelope.SessionID), and Session that
	// session's record so far (Envelope.Session), to be written in the message's commit; nil
	// when it came without one.
	SessionID string
	Session   *Session
}

// SearchText is the text each search field matches (see the search table in README).
type SearchText struct {
	Subject     string
	Sender      string // From and Reply-To names and addresses, and the envelope sender
	Recipients  string // To, Cc and Bcc names and addresses (Bcc includes envelope recipients)
	To, Cc, Bcc string
	From        string
	ReplyTo     string
	MessageID   string
	Headers     string // every header field, "Name: decoded value" a line
	Body        string // text and the HTML's text
	Attachments string // attachment file names, a line each
}

// Prepare reads raw to its end and parses it; it fails only when raw cannot be read.
func (in *Ingester) Prepare(env Envelope, raw io.Reader) (*Prepared, error) {
	var buf bytes.Buffer
	buf.Write(make([]byte, traceRoom))
	if _, err := buf.ReadFrom(raw); err != nil {
		return nil, errors.Join(errors.New("store: read message"), err)
	}
	b := buf.Bytes()
	rec := in.s.prepare(env, b[:traceRoom], b[traceRoom:])
	p := &Prepared{
		Summary: rec.sum, Content: rec.contentZ, BodySize: rec.bodySize, Recipients: rec.recipients, Words: rec.words,
		FromJSON: rec.fromJSON, ToJSON: rec.toJSON, CcJSON: rec.ccJSON, BccJSON: rec.bccJSON, ReplyToJSON: rec.replyToJSON,
		Text: SearchText{
			Subject: rec.fts.subject, Sender: rec.fts.sender, Recipients: rec.fts.recipients,
			To: joinAddresses(rec.sum.To), Cc: joinAddresses(rec.sum.Cc), Bcc: joinAddresses(rec.sum.Bcc),
			From: joinAddresses([]Address{rec.sum.From}), ReplyTo: joinAddresses(rec.sum.ReplyTo),
			MessageID: rec.fts.messageID, Headers: rec.fts.headers, Body: rec.fts.body, Attachments: rec.fts.attachments,
		},
	}
	p.RelayTo = relayRecipients(env.Recipients, &rec.sum)
	p.SessionID, p.Session = env.SessionID, env.Session
	return p, nil
}

// Message decodes a stored message: its Summary as listed, and its content as Prepare encoded it.
// The checksums its parts were stored without are worked out from the raw message, as
// Store.Message does.
func (in *Ingester) Message(sum Summary, content []byte, bodySize int64) (*Message, error) {
	return in.s.message(sum, content, bodySize)
}

// MessageRaw decodes a stored message as Message does, without the checksums its parts were
// stored without, and returns its raw message too (see Store.MessageRaw).
func (in *Ingester) MessageRaw(sum Summary, content []byte, bodySize int64) (*Message, []byte, error) {
	return in.s.messageRaw(sum, content, bodySize)
}

// Raw returns the raw message from content as Prepare encoded it.
func (in *Ingester) Raw(content []byte, bodySize int64) ([]byte, error) {
	out, err := in.s.dec.DecodeAll(content, nil)
	if err != nil {
		return nil, err
	}
	if bodySize < 0 || bodySize > int64(len(out)) {
		return nil, errors.New("store: body size beyond the content stored")
	}
	return out[bodySize:], nil
}

// messageOf assembles a Message from its Summary and decoded body.
func messageOf(sum Summary, b body) *Message {
	m := &Message{Summary: sum, Envelope: b.Envelope, ReturnPath: b.ReturnPath, Headers: b.Headers,
		Text: b.Text, HTML: b.HTML, Structure: b.Structure, ParseErrors: b.Errors}
	m.Attachments, m.Inline = []Part{}, []Part{}
	for _, p := range b.Parts {
		if p.Inline {
			m.Inline = append(m.Inline, p.Part)
		} else {
			m.Attachments = append(m.Attachments, p.Part)
		}
	}
	if m.Headers == nil {
		m.Headers = []Header{}
	}
	if m.ParseErrors == nil {
		m.ParseErrors = []string{}
	}
	if m.Envelope.Recipients == nil {
		m.Envelope.Recipients = []string{}
	}
	return m
}

// Hub fans change events out to subscribers, for engines outside this package: Publish never
// blocks (a subscriber that fell behind is dropped with ErrLagged).
type Hub struct{ h hub }

// Subscribe returns a subscription to the events published after this call (see Store.Subscribe).
func (h *Hub) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultEventBuffer
	}
	return h.h.subscribe(buffer)
}

// Publish sends the events of one commit to every subscriber.
func (h *Hub) Publish(evs []Event) { h.h.publish(evs) }

// DropAll ends every subscription with err (events may have been missed: subscribers reload).
func (h *Hub) DropAll(err error) {
	h.h.mu.RLock()
	subs := make([]*Subscription, 0, len(h.h.subs))
	for sub := range h.h.subs {
		subs = append(subs, sub)
	}
	h.h.mu.RUnlock()
	for _, sub := range subs {
		h.h.remove(sub, err)
	}
}

// Close ends every subscription with ErrClosed; later ones start closed.
func (h *Hub) Close() { h.h.closeAll() }

// RelayEvent returns the EventRelay of job.
func RelayEvent(job RelayJob) Event { return relayEvent(job) }

// TruncateEvent returns the EventTruncate of n messages deleted.
func TruncateEvent(n int64) Event { return Event{Type: EventTruncate, count: n} }

// Words returns the words of s as the search sees them: lower case, without accents, split at
// anything that is not a letter or digit.
func Words(s string) []string {
	var out []string
	for w := range wordsOf(strings.ToLower(s)) {
		out = append(out, fold(w))
	}
	return out
}

// InsideWords reports whether a search term whose first word is w may match inside words
// (three letters or more, no digits); otherwise it matches at the start of words only.
func InsideWords(w string) bool { return vocabWord(fold(w)) }

// TermTime returns the time of a date term (after:, before:, sent-after:, sent-before:).
func TermTime(t Term) time.Time { d, _ := parseSearchDate(t.Value); return d }

// TermSize returns the size of a size term (larger:, smaller:).
func TermSize(t Term) int64 { n, _ := parseSize(t.Value); return n }

// NormalizeTags cleans tags as SetTags stores them: trimmed, odd characters dropped, sorted, unique.
func NormalizeTags(tags []string) []string { return normalizeTags(tags) }

// CleanTag cleans one tag name as RenameTag does ("" when nothing is left).
func CleanTag(t string) string { return cleanTag(t) }
