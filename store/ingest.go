package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/jhillyerd/enmime/v2"
)

// snippetLen is the most characters a Summary.Snippet holds.
const snippetLen = 250

// record is a message parsed and encoded, ready for the writer to insert: all CPU work of
// ingest happens before the writer sees it, in the caller's goroutine.
type record struct {
	sum        Summary
	contentZ   []byte   // zstd of the JSON of a body followed by the raw message
	bodySize   int      // bytes of that JSON
	recipients []string // lower-case addresses for per-recipient mailboxes
	kinds      []int    // the address lists each of them is in (see recipientKinds)
	fts        ftsRow
	words      []string // its distinct vocabulary words (see vocab.go)
	relayTo    []string // where auto-relay sends it (Options.RelayMatching set)
	sessionID  string   // the SMTP session that delivered it
	session    *Session // that session's record so far, written with the message

	fromJSON, toJSON, ccJSON, bccJSON, replyToJSON string
}

// body is what opening a message needs beyond its Summary, kept compressed in contents.content.
type body struct {
	Envelope   Envelope
	ReturnPath string
	Headers    []Header
	Text, HTML string
	// TextAt and HTMLAt, when set, say where the text or HTML lies in the raw message that follows
	// the JSON ([offset, length]), instead of Text or HTML: a part sent without transfer encoding
	// in UTF-8 is its own decoded text, and neither escaping it as JSON nor compressing it twice
	// is then needed.
	TextAt, HTMLAt []int `json:",omitempty"`
	Parts          []storedPart
	Structure      Node
	Errors         []string
}

// maxSpanContent is the largest message whose text and HTML may be kept as spans of it (read
// back, it is decompressed whole).
const maxSpanContent = 1 << 20

// spanOf returns where s occurs in raw as [offset, length], or nil when it does not, is too
// short to be worth it, or is not valid UTF-8 (which the JSON would have replaced, and a span
// would not).
func spanOf(raw []byte, s string) []int {
	if len(s) < 256 || len(raw) > maxSpanContent || !utf8.ValidString(s) {
		return nil
	}
	// A view of s's bytes, not a copy: bytes.Index only reads them.
	if i := bytes.Index(raw, unsafe.Slice(unsafe.StringData(s), len(s))); i >= 0 {
		return []int{i, len(s)}
	}
	return nil
}

type ftsRow struct {
	subject, sender, recipients, messageID, headers, body, attachments string
}

// storedPart is a Part plus whether it is inline, as kept in contents.parts_json.
type storedPart struct {
	Part
	Inline bool `json:",omitempty"`
}

// Add stores one message received over SMTP. raw is read to its end; letterbox prepends
// Return-Path: and Received: trace fields as an MDA does. A message that does not parse is still
// stored, with its parse errors. Add returns after the message is durably committed and its
// EventNew is published.
func (s *Store) Add(ctx context.Context, env Envelope, raw io.Reader) (Summary, error) {
	// Read after a gap the trace header fields will usually fit in, so that prepending them
	// does not copy the message. The buffer is reused: nothing prepared refers to it.
	start := time.Now()
	s.incoming.Add(1) // submit takes it back once the message is queued
	buf, _ := s.buffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	buf.Grow(traceRoom + 16<<10)
	buf.Write(make([]byte, traceRoom))
	if _, err := buf.ReadFrom(raw); err != nil {
		s.incoming.Add(-1)
		return Summary{}, fmt.Errorf("store: read message: %w", err)
	}
	s.parsing.Add(1)
	rec := s.prepare(env, buf.Bytes()[:traceRoom], buf.Bytes()[traceRoom:])
	if buf.Cap() <= maxPooledBuffer {
		s.buffers.Put(buf)
	}
	res := s.submit(ctx, writeReq{rec: rec})
	if res.err == nil && s.opts.Observer != nil {
		s.opts.Observer.ObserveIngest(time.Since(start))
	}
	return res.summary, res.err
}

// Expect announces a message on its way (an SMTP transaction has begun), so that the writer
// may wait briefly for it to join a batch (see commitDelay). The returned function, safe to call
// more than once, withdraws the announcement: call it as soon as Add has begun reading the
// message (Add counts it from then on), or when the message will not come.
func (s *Store) Expect() (withdraw func()) {
	s.expected.Add(1)
	var once sync.Once
	return func() { once.Do(func() { s.expected.Add(-1) }) }
}

// traceRoom is the space Add leaves in front of a message for the trace header fields.
const traceRoom = 1024

// maxPooledBuffer is the largest buffer Add keeps for another message.
const maxPooledBuffer = 1 << 20

// prepare parses and encodes a message. room, when the message directly follows it in memory, is
// where the trace header fields go. prepare never fails: what cannot be parsed becomes a parse error.
func (s *Store) prepare(env Envelope, room, msg []byte) *record {
	if env.Received.IsZero() {
		env.Received = time.Now()
	}
	env.Received = env.Received.UTC().Truncate(time.Microsecond)
	if env.Recipients == nil {
		env.Recipients = []string{}
	}
	id := newID()
	var trace []byte
	if !env.NoTrace {
		trace = s.traceHeaders(id, env, msg)
	}
	var raw []byte
	if len(trace) <= len(room) {
		raw = room[len(room)-len(trace) : len(room)+len(msg)]
		copy(raw, trace)
	} else {
		raw = append(trace, msg...)
	}

	rec := &record{sessionID: env.SessionID, session: env.Session}
	sum := &rec.sum
	sum.ID = id
	sum.Created = env.Received
	sum.Username = env.Username
	sum.Size = int64(len(raw))

	headers, _ := splitHeaders(raw)
	var errs []string
	sizes := partSizes{}
	parsed, perr := s.parseSized(raw, sizes)
	if perr != nil {
		errs = append(errs, perr.Error())
	}

	get := func(name string) string {
		for _, h := range headers {
			if strings.EqualFold(h.Name, name) {
				return h.Value
			}
		}
		return ""
	}
	addrs := func(name string) []Address {
		list := []Address{}
		for _, h := range headers {
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			got, err := parseAddressList(h.Value)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			}
			list = append(list, got...)
		}
		return list
	}
	sum.Subject = decodeHeader(get("Subject"))
	sum.MessageID = strings.TrimSpace(strings.Trim(strings.TrimSpace(get("Message-Id")), "<>"))
	if d := get("Date"); d != "" {
		sum.Date = parseDate(d)
	}
	if from := addrs("From"); len(from) > 0 {
		sum.From = from[0]
	}
	sum.To = addrs("To")
	sum.Cc = addrs("Cc")
	sum.ReplyTo = addrs("Reply-To")
	sum.Bcc = addrs("Bcc")
	seen := map[string]bool{}
	for _, a := range append(append([]Address{}, sum.To...), sum.Cc...) {
		seen[strings.ToLower(a.Address)] = true
	}
	for _, a := range sum.Bcc {
		seen[strings.ToLower(a.Address)] = true
	}
	for _, r := range env.Recipients {
		if !seen[strings.ToLower(r)] {
			seen[strings.ToLower(r)] = true
			sum.Bcc = append(sum.Bcc, Address{Address: r})
		}
	}
	recips := map[string]bool{}
	for _, list := range [][]Address{sum.To, sum.Cc, sum.Bcc} {
		for _, a := range list {
			if a.Address != "" {
				recips[strings.ToLower(a.Address)] = true
			}
		}
	}
	for _, r := range env.Recipients {
		recips[strings.ToLower(r)] = true
	}
	rec.recipients = make([]string, 0, len(recips))
	for a := range recips {
		rec.recipients = append(rec.recipients, a)
	}
	sort.Strings(rec.recipients)
	rec.kinds = recipientKinds(rec.recipients, sum)
	if s.opts.RelayMatching != nil {
		rec.relayTo = relayRecipients(env.Recipients, sum)
	}
	sum.Tags = autoTags(get("X-Tags"), rec.recipients)

	var text, html string
	var attachmentNames []string
	structure := Node{PartID: "0", ContentType: "text/plain"}
	var parts []storedPart
	if parsed != nil {
		text, html = fixCharsets(parsed)
		for _, e := range parsed.Errors {
			errs = append(errs, e.Error())
		}
		// Neither the parts' decoded content nor their checksums are kept: they are worked
		// out from the raw message when read (see partread.go).
		eachPart(parsed, func(p *enmime.Part, inline bool) {
			parts = append(parts, storedPart{Part: partOf(p, sizes.of(p)), Inline: inline})
			if inline {
				sum.Inlines++
			} else {
				sum.Attachments++
			}
			if p.FileName != "" {
				attachmentNames = append(attachmentNames, p.FileName)
			}
		})
		if parsed.Root != nil {
			structure = nodeOf(parsed.Root, sizes, 0)
		}
	}
	if parts == nil {
		parts = []storedPart{}
	}
	sum.Snippet = snippet(text)
	if errs == nil {
		errs = []string{}
	}

	rec.fromJSON, rec.toJSON, rec.ccJSON = mustJSON(sum.From), mustJSON(sum.To), mustJSON(sum.Cc)
	rec.bccJSON, rec.replyToJSON = mustJSON(sum.Bcc), mustJSON(sum.ReplyTo)
	// The body and the raw message are compressed together: the body's text and HTML are mostly
	// copies of parts of the raw message, which then cost little (compressing them apart cost
	// twice the time and a third more space).
	content, _ := s.buffers.Get().(*bytes.Buffer)
	if content == nil {
		content = new(bytes.Buffer)
	}
	content.Reset()
	content.Grow(len(raw) + 4096)
	defer func() {
		if content.Cap() <= maxPooledBuffer {
			s.buffers.Put(content)
		}
	}()
	returnPath := env.MailFrom
	if env.NoTrace && returnPath == "" {
		returnPath = strings.Trim(strings.TrimSpace(get("Return-Path")), "<>")
	}
	b := body{
		Envelope: env, ReturnPath: returnPath, Headers: headers, Text: text, HTML: html,
		Parts: parts, Structure: structure, Errors: errs,
		TextAt: spanOf(raw, text), HTMLAt: spanOf(raw, html),
	}
	if b.TextAt != nil {
		b.Text = ""
	}
	if b.HTMLAt != nil {
		b.HTML = ""
	}
	writeJSON(content, b)
	rec.bodySize = content.Len()
	content.Write(raw)
	rec.contentZ = s.enc.EncodeAll(content.Bytes(), nil)

	var hb strings.Builder
	for _, h := range headers {
		hb.WriteString(h.Name)
		hb.WriteString(": ")
		hb.WriteString(decodeHeader(h.Value))
		hb.WriteByte('\n')
	}
	rec.fts = ftsRow{
		subject:     sum.Subject,
		sender:      joinAddresses(append([]Address{sum.From}, sum.ReplyTo...)) + " " + env.MailFrom,
		recipients:  joinAddresses(sum.To) + " " + joinAddresses(sum.Cc) + " " + joinAddresses(sum.Bcc),
		messageID:   sum.MessageID,
		headers:     hb.String(),
		body:        text + "\n" + htmlText(html, text),
		attachments: strings.Join(attachmentNames, "\n"),
	}
	f := &rec.fts
	rec.words = vocabularyOf(f.subject, f.sender, f.recipients, f.messageID, f.headers, f.body, f.attachments)
	return rec
}

// parseDate parses a Date header; the zero time when it cannot. The usual form is tried first:
// net/mail tries others before it, and each failed attempt allocates an error.
func parseDate(d string) time.Time {
	if t, err := time.Parse(time.RFC1123Z, d); err == nil {
		return t
	}
	if t, err := mail.ParseDate(d); err == nil {
		return t
	}
	return time.Time{}
}

// parse runs enmime, turning a panic on hostile input into an error.
func (s *Store) parse(raw []byte) (*enmime.Envelope, error) { return s.parseSized(raw, nil) }

// parseSized is parse, leaving undecoded the parts ingest only needs the size of when sizes is
// not nil (their sizes go there; see readLeaf).
func (s *Store) parseSized(raw []byte, sizes partSizes) (env *enmime.Envelope, err error) {
	defer func() {
		if r := recover(); r != nil {
			env, err = nil, fmt.Errorf("store: MIME parser failed: %v", r)
		}
	}()
	root, err := s.readParts(raw, sizes)
	if err != nil {
		return nil, fmt.Errorf("store: parse MIME: %w", err)
	}
	if env, err = s.parser.EnvelopeFromPart(root); err != nil {
		return nil, fmt.Errorf("store: parse MIME: %w", err)
	}
	if err := env.GatherNestedErrors(); err != nil {
		return nil, fmt.Errorf("store: parse MIME: %w", err)
	}
	return env, nil
}

// traceHeaders returns the Return-Path: and Received: fields an MDA prepends (RFC 5321 §4.4),
// with the line ending the message itself uses.
func (s *Store) traceHeaders(id string, env Envelope, body []byte) []byte {
	eol := "\r\n"
	if i := bytes.IndexByte(body, '\n'); i >= 0 && (i == 0 || body[i-1] != '\r') {
		eol = "\n"
	}
	proto := env.Protocol
	if proto == "" {
		proto = "ESMTP"
		if env.TLS {
			proto += "S"
		}
		if env.Username != "" {
			proto += "A"
		}
	}
	host, _, err := net.SplitHostPort(env.RemoteAddr)
	if err != nil {
		host = env.RemoteAddr
	}
	helo := sanitizeTrace(env.Helo)
	if helo == "" {
		helo = "unknown"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>%s", sanitizeTrace(env.MailFrom), eol)
	fmt.Fprintf(&b, "Received: from %s ([%s])%s\tby %s (letterbox) with %s id %s", helo, sanitizeTrace(host), eol, sanitizeTrace(s.opts.Hostname), sanitizeTrace(proto), id)
	if len(env.Recipients) == 1 {
		fmt.Fprintf(&b, "%s\tfor <%s>", eol, sanitizeTrace(env.Recipients[0]))
	}
	fmt.Fprintf(&b, ";%s\t%s%s", eol, env.Received.Format(time.RFC1123Z), eol)
	return b.Bytes()
}

// sanitizeTrace keeps client-supplied text from breaking a header line.
func sanitizeTrace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return -1
		}
		return r
	}, s)
}

// splitHeaders returns the header fields of raw in order, unfolded, and the offset of the body.
func splitHeaders(raw []byte) ([]Header, int) {
	headers := []Header{}
	pos := 0
	for pos < len(raw) {
		end := bytes.IndexByte(raw[pos:], '\n')
		var line []byte
		next := len(raw)
		if end >= 0 {
			line = raw[pos : pos+end]
			next = pos + end + 1
		} else {
			line = raw[pos:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return headers, next
		}
		if (line[0] == ' ' || line[0] == '\t') && len(headers) > 0 {
			headers[len(headers)-1].Value += " " + strings.TrimSpace(string(line))
		} else if i := bytes.IndexByte(line, ':'); i > 0 {
			headers = append(headers, Header{
				Name:  strings.TrimSpace(string(line[:i])),
				Value: strings.TrimSpace(string(line[i+1:])),
			})
		} else {
			// Not a header line: the header block ended without a blank line.
			return headers, pos
		}
		pos = next
	}
	return headers, pos
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// decodeHeader decodes RFC 2047 encoded-words; on failure it returns the value as it was.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// parseAddressList parses an address header leniently: what net/mail refuses is kept as a bare address.
func parseAddressList(v string) ([]Address, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	list, err := p.ParseList(v)
	if err == nil {
		out := make([]Address, 0, len(list))
		for _, a := range list {
			out = append(out, Address{Name: a.Name, Address: a.Address})
		}
		return out, nil
	}
	// Fall back to one address per comma-separated item.
	var out []Address
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if a, e := p.Parse(item); e == nil {
			out = append(out, Address{Name: a.Name, Address: a.Address})
			continue
		}
		name, addr := "", item
		if i := strings.LastIndex(item, "<"); i >= 0 {
			name = strings.Trim(strings.TrimSpace(item[:i]), `"`)
			addr = strings.TrimSpace(strings.Trim(item[i:], "<> "))
		}
		out = append(out, Address{Name: decodeHeader(name), Address: addr})
	}
	return out, fmt.Errorf("malformed address list: %w", err)
}

// autoTags derives tags as Mailpit does: from an X-Tags header and from plus-addresses
// (bob+signup@example.com tags the message "signup").
func autoTags(xtags string, recipients []string) []string {
	set := map[string]bool{}
	for _, t := range strings.Split(xtags, ",") {
		if t = cleanTag(t); t != "" {
			set[t] = true
		}
	}
	for _, r := range recipients {
		local, _, ok := strings.Cut(r, "@")
		if !ok {
			continue
		}
		if _, tag, ok := strings.Cut(local, "+"); ok {
			if t := cleanTag(tag); t != "" {
				set[t] = true
			}
		}
	}
	tags := make([]string, 0, len(set))
	for t := range set {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return tags
}

// cleanTag trims a tag and drops characters that cannot be part of one.
func cleanTag(t string) string {
	t = strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" -_.:/", r) {
			return r
		}
		return -1
	}, t)
	return strings.Join(strings.Fields(t), " ")
}

// snippet is the start of text with white space collapsed, at most snippetLen characters.
func snippet(text string) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range text {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if r == utf8.RuneError || unicode.IsControl(r) {
			continue
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		if n >= snippetLen {
			break
		}
		b.WriteRune(r)
		n++
	}
	out := b.String()
	if utf8.RuneCountInString(out) > snippetLen {
		out = string([]rune(out)[:snippetLen])
	}
	return out
}

func nodeOf(p *enmime.Part, sizes partSizes, depth int) Node {
	n := Node{
		PartID:      p.PartID,
		ContentType: p.ContentType,
		Charset:     p.Charset,
		Disposition: p.Disposition,
		FileName:    p.FileName,
		Size:        sizes.of(p),
	}
	if n.PartID == "" {
		n.PartID = "0"
	}
	if depth > 200 {
		return n
	}
	for c := p.FirstChild; c != nil; c = c.NextSibling {
		n.Children = append(n.Children, nodeOf(c, sizes, depth+1))
	}
	return n
}

func joinAddresses(list []Address) string {
	var b strings.Builder
	for _, a := range list {
		b.WriteString(a.Name)
		b.WriteByte(' ')
		b.WriteString(a.Address)
		b.WriteByte(' ')
	}
	return b.String()
}

// mustJSON encodes v without HTML escaping; the values here always encode.
func mustJSON(v any) string {
	var b bytes.Buffer
	writeJSON(&b, v)
	return b.String()
}

// writeJSON appends the JSON of v, without HTML escaping, to b.
func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("store: encode %T: %v", v, err))
	}
	b.Truncate(b.Len() - 1) // the newline Encode adds
}
