package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/letterbox-mail/letterbox/store"
)

// maxCached is the largest message a session keeps after fetching it.
const maxCached = 1 << 20

// cachedMessage is the last message a session read from the store: clients often fetch a
// message in several commands (BODYSTRUCTURE, then a part), and this saves reading it again.
type cachedMessage struct {
	uid imap.UID
	raw []byte
}

// raw returns a message's bytes, from the session's cache when it is the last one read.
func (s *session) raw(e entry) ([]byte, error) {
	if s.cache.raw != nil && s.cache.uid == e.uid {
		return s.cache.raw, nil
	}
	raw, err := s.srv.store.Raw(s.ctx(), e.id)
	if err != nil {
		return nil, err
	}
	if len(raw) <= maxCached {
		s.cache = cachedMessage{uid: e.uid, raw: raw}
	}
	return raw, nil
}

// fetch answers FETCH and UID FETCH. The light items come from the mailbox in memory; the
// message is read from the store only for ENVELOPE, BODYSTRUCTURE and body sections. A body
// section fetched without .PEEK sets \Seen (not after EXAMINE).
func (s *session) fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	mb := s.view.mb
	mb.mu.Lock()
	targets := s.view.resolveLocked(numSet, s.searchRes)
	mb.mu.Unlock()

	markSeen := false
	for _, bs := range options.BodySection {
		markSeen = markSeen || !bs.Peek
	}
	for _, bs := range options.BinarySection {
		markSeen = markSeen || !bs.Peek
	}
	changed := map[imap.UID]bool{}
	if markSeen && !s.readOnly {
		var ids []string
		var uids []imap.UID
		for i := range targets {
			if e := &targets[i].entry; !e.read {
				ids = append(ids, e.id)
				uids = append(uids, e.uid)
				e.read = true
				changed[e.uid] = true
			}
		}
		if len(ids) > 0 {
			if err := s.srv.changeFlag(s.ctx(), flagSeen, ids, uids, true, s.view); err != nil {
				return s.serverError("mark the messages read", err)
			}
		}
	}

	needRaw := options.Envelope || options.BodyStructure != nil || len(options.BodySection) > 0 ||
		len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	for _, t := range targets {
		var raw []byte
		if needRaw {
			var err error
			raw, err = s.raw(t.entry)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted meanwhile: its EXPUNGE is on the way
			}
			if err != nil {
				return s.serverError("read a message", err)
			}
		}
		if err := s.writeMessage(w.CreateMessage(t.seq), t.entry, raw, options, changed[t.entry.uid]); err != nil {
			return err
		}
	}
	return nil
}

// writeMessage writes one FETCH response. A panic half-way through a response leaves the
// connection unusable (and the writer holding the connection's output): the connection is
// closed, the writer released, and the panic goes on to Fetch's recover.
func (s *session) writeMessage(m *imapserver.FetchResponseWriter, e entry, raw []byte, options *imap.FetchOptions, flagsChanged bool) (err error) {
	closed := false
	defer func() {
		if v := recover(); v != nil {
			s.conn.NetConn().Close()
			if !closed {
				m.Close()
			}
			panic(v)
		}
	}()
	m.WriteUID(e.uid)
	if options.Flags || flagsChanged {
		m.WriteFlags(e.flags())
	}
	if options.InternalDate {
		m.WriteInternalDate(time.UnixMicro(e.created).UTC())
	}
	if options.RFC822Size {
		m.WriteRFC822Size(e.size)
	}
	if options.Envelope {
		m.WriteEnvelope(envelope(raw))
	}
	if options.BodyStructure != nil {
		m.WriteBodyStructure(fixStructure(imapserver.ExtractBodyStructure(bytes.NewReader(raw))))
	}
	for _, bs := range options.BodySection {
		b := bodySection(raw, bs)
		if err := writeLiteral(m.WriteBodySection(bs, int64(len(b))), b); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySection {
		b := imapserver.ExtractBinarySection(bytes.NewReader(raw), bs)
		if err := writeLiteral(m.WriteBinarySection(bs, int64(len(b))), b); err != nil {
			return err
		}
	}
	for _, bss := range options.BinarySectionSize {
		m.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(raw), bss))
	}
	closed = true
	return m.Close()
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

// bodySection returns a section of raw. The whole message, its header and its text are cut from
// the stored bytes exactly; deeper sections are extracted by imapserver.
func bodySection(raw []byte, bs *imap.FetchItemBodySection) []byte {
	var b []byte
	switch {
	case len(bs.Part) > 0 || len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0 || bs.Specifier == imap.PartSpecifierMIME:
		partial := bs.Partial
		whole := *bs
		whole.Partial = nil
		b = imapserver.ExtractBodySection(bytes.NewReader(raw), &whole)
		return cut(b, partial)
	case bs.Specifier == imap.PartSpecifierHeader:
		b = raw[:headerEnd(raw)]
	case bs.Specifier == imap.PartSpecifierText:
		b = raw[headerEnd(raw):]
	default:
		b = raw
	}
	return cut(b, bs.Partial)
}

// cut applies a <offset.size> partial range.
func cut(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return []byte{}
	}
	end := int64(len(b))
	if p.Size >= 0 && p.Offset+p.Size < end {
		end = p.Offset + p.Size
	}
	return b[p.Offset:end]
}

// headerEnd returns the offset just after the blank line that ends the header (len(raw) when
// there is none).
func headerEnd(raw []byte) int {
	if len(raw) >= 2 && raw[0] == '\r' && raw[1] == '\n' {
		return 2
	}
	if len(raw) >= 1 && raw[0] == '\n' {
		return 1
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\n' {
			continue
		}
		rest := raw[i+1:]
		if len(rest) >= 2 && rest[0] == '\r' && rest[1] == '\n' {
			return i + 3
		}
		if len(rest) >= 1 && rest[0] == '\n' {
			return i + 2
		}
	}
	return len(raw)
}

// envelope parses the ENVELOPE of a message from its header.
func envelope(raw []byte) *imap.Envelope {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw[:headerEnd(raw)])))
	if err != nil && len(h.Map()) == 0 {
		return &imap.Envelope{}
	}
	return imapserver.ExtractEnvelope(h)
}

// fixStructure makes a parsed structure safe to write: imapserver refuses a multipart without
// parts and a part without a type, which broken messages produce.
func fixStructure(bs imap.BodyStructure) imap.BodyStructure {
	switch b := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(b.Children) == 0 {
			return &imap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Text: &imap.BodyStructureText{},
				Extended: &imap.BodyStructureSinglePartExt{}}
		}
		if b.Subtype == "" {
			b.Subtype = "mixed"
		}
		for i, c := range b.Children {
			b.Children[i] = fixStructure(c)
		}
		if b.Extended == nil {
			b.Extended = &imap.BodyStructureMultiPartExt{}
		}
	case *imap.BodyStructureSinglePart:
		if b.Type == "" || b.Subtype == "" {
			b.Type, b.Subtype = "text", "plain"
			if b.Text == nil {
				b.Text = &imap.BodyStructureText{}
			}
		}
		if b.MessageRFC822 != nil {
			if b.MessageRFC822.BodyStructure == nil {
				b.MessageRFC822 = nil
			} else {
				b.MessageRFC822.BodyStructure = fixStructure(b.MessageRFC822.BodyStructure)
			}
		}
		if b.Extended == nil {
			b.Extended = &imap.BodyStructureSinglePartExt{}
		}
	}
	return bs
}
