package store

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jhillyerd/enmime/v2"
)

// Parts derived on read.
//
// Ingest keeps a message's raw bytes (compressed with its body, see prepare) and no second copy
// of its attachments: their decoded content and checksums are worked out when they are read, by
// parsing the raw message again exactly as ingest parsed it (parse, then fixCharsets), so that
// the part IDs, sizes and content are the ones ingest saw. Databases written by earlier versions
// keep a parts row for each part, with its checksums in the body; those are served as stored.
//
// The parts of the last few messages read are kept (partCache): the inbox fetches a message's
// inline images together, right after the message itself.

// eachPart calls add for each attachment and inline part of env, in the order ingest lists
// them: attachments, inline parts, then the other parts (inline when they have a Content-ID).
func eachPart(env *enmime.Envelope, add func(p *enmime.Part, inline bool)) {
	for _, p := range env.Attachments {
		add(p, false)
	}
	for _, p := range env.Inlines {
		add(p, true)
	}
	for _, p := range env.OtherParts {
		add(p, p.ContentID != "")
	}
}

// partOf describes p, of decoded size size, as Message lists it, without checksums.
func partOf(p *enmime.Part, size int64) Part {
	return Part{
		PartID:      p.PartID,
		FileName:    p.FileName,
		ContentType: p.ContentType,
		ContentID:   strings.Trim(p.ContentID, "<> "),
		Disposition: p.Disposition,
		Size:        size,
	}
}

func checksums(b []byte) Checksums {
	m := md5.Sum(b)
	s1 := sha1.Sum(b)
	s2 := sha256.Sum256(b)
	return Checksums{MD5: hex.EncodeToString(m[:]), SHA1: hex.EncodeToString(s1[:]), SHA256: hex.EncodeToString(s2[:])}
}

// partSet is the parts of one message as Message lists them (attachments, then inline parts),
// with their checksums and decoded content.
type partSet struct {
	id      string
	parts   []Part
	content [][]byte // nil where parsing again did not give the part ingest described
	size    int      // bytes of content
}

// partSetOf parses raw, message m's raw bytes, as ingest did, and keeps its parts for the
// next reads.
func (s *Store) partSetOf(m *Message, raw []byte) *partSet {
	type decoded struct {
		size    int64
		content []byte
	}
	byID := map[string][]decoded{}
	if env, err := s.parse(raw); env != nil && err == nil {
		fixCharsets(env) // as ingest: it decodes text parts that are not UTF-8 in place
		eachPart(env, func(p *enmime.Part, _ bool) {
			byID[p.PartID] = append(byID[p.PartID], decoded{int64(len(p.Content)), p.Content})
		})
	}
	ps := &partSet{id: m.ID}
	for _, list := range [][]Part{m.Attachments, m.Inline} {
		for _, p := range list {
			// A broken message may repeat a part ID: take the last of that size.
			var content []byte
			for _, d := range byID[p.PartID] {
				if d.size == p.Size {
					content = d.content
					if content == nil {
						content = []byte{} // found, and empty
					}
				}
			}
			if content != nil && p.Checksums == (Checksums{}) {
				p.Checksums = checksums(content)
			}
			ps.parts = append(ps.parts, p)
			ps.content = append(ps.content, content)
			ps.size += len(content)
		}
	}
	s.partCache.put(ps)
	return ps
}

// part returns the part partID of the set and a copy of its content (the set is shared).
func (ps *partSet) part(partID string) (Part, []byte, error) {
	found := -1
	for i, p := range ps.parts {
		if p.PartID == partID {
			found = i
		}
	}
	if found < 0 {
		return Part{}, nil, ErrNotFound
	}
	if ps.content[found] == nil {
		return Part{}, nil, fmt.Errorf("store: part %s/%s: the stored message no longer parses into it", ps.id, partID)
	}
	return ps.parts[found], bytes.Clone(ps.content[found]), nil
}

// needsChecksums reports whether some part of m was stored without its checksums.
func needsChecksums(m *Message) bool {
	for _, list := range [][]Part{m.Attachments, m.Inline} {
		for _, p := range list {
			if p.Checksums == (Checksums{}) {
				return true
			}
		}
	}
	return false
}

// fillChecksums sets the checksums of the parts of m stored without them; raw returns m's raw
// bytes, asked for only when the parts are not cached.
func (s *Store) fillChecksums(m *Message, raw func() ([]byte, error)) error {
	if !needsChecksums(m) {
		return nil
	}
	ps := s.partCache.get(m.ID)
	if ps == nil {
		r, err := raw()
		if err != nil {
			return err
		}
		ps = s.partSetOf(m, r)
	}
	i := 0
	for _, list := range [][]Part{m.Attachments, m.Inline} {
		for j := range list {
			if i < len(ps.parts) && ps.parts[i].PartID == list[j].PartID && list[j].Checksums == (Checksums{}) {
				list[j].Checksums = ps.parts[i].Checksums
			}
			i++
		}
	}
	return nil
}

// PartReader is what Ingester.ReadPart reads a part through: an engine's own reads.
type PartReader interface {
	// Summary returns the message's list entry, or ErrNotFound.
	Summary(ctx context.Context, id string) (Summary, error)
	// MessageRaw returns the message as stored, the checksums its parts were stored without
	// left empty, and its raw bytes; or ErrNotFound.
	MessageRaw(ctx context.Context, id string) (*Message, []byte, error)
	// StoredPart returns the zstd content of a part in the parts table, which versions that
	// decoded parts at ingest wrote; ErrNotFound when there is none.
	StoredPart(ctx context.Context, uid int64, partID string) ([]byte, error)
}

// ReadPart returns part partID of message id and its decoded content, for an engine's Part: as
// stored in the parts table when the message has a row there, else parsed again from the raw
// message (see partread.go). It is ErrNotFound when the message or the part does not exist.
func (in *Ingester) ReadPart(ctx context.Context, r PartReader, id, partID string) (Part, []byte, error) {
	return in.s.loadPart(ctx, r, id, partID)
}

func (s *Store) loadPart(ctx context.Context, r PartReader, id, partID string) (Part, []byte, error) {
	ps := s.partCache.get(id)
	if ps != nil {
		if _, err := r.Summary(ctx, id); err != nil { // deleted since
			return Part{}, nil, err
		}
		return ps.part(partID)
	}
	m, raw, err := r.MessageRaw(ctx, id)
	if err != nil {
		return Part{}, nil, err
	}
	var found *Part
	for _, list := range [][]Part{m.Attachments, m.Inline} {
		for i := range list {
			if list[i].PartID == partID {
				found = &list[i]
			}
		}
	}
	if found == nil {
		return Part{}, nil, ErrNotFound
	}
	if found.Checksums != (Checksums{}) { // stored by a version that kept decoded parts
		z, err := r.StoredPart(ctx, m.UID, partID)
		if err == nil {
			content, err := s.dec.DecodeAll(z, nil)
			if err != nil {
				return Part{}, nil, fmt.Errorf("store: part %s/%s: decompress: %w", id, partID, err)
			}
			return *found, content, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Part{}, nil, err
		}
	}
	return s.partSetOf(m, raw).part(partID)
}

// Bounds of the parts partCache keeps.
const (
	partCacheBytes   = 8 << 20 // decoded content, all messages together
	partCacheEntries = 16      // messages
)

// partCache keeps the parts of the messages read last, up to partCacheBytes of content. Message
// IDs are never reused, so an entry never goes stale; it may outlive its message, which readers
// check. It is safe for concurrent use.
type partCache struct {
	mu       sync.Mutex
	sets     []*partSet // least recently used first
	size     int
	maxBytes int // 0: partCacheBytes; below 0: keep nothing
}

func (c *partCache) get(id string) *partSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ps := range c.sets {
		if ps.id == id {
			copy(c.sets[i:], c.sets[i+1:])
			c.sets[len(c.sets)-1] = ps
			return ps
		}
	}
	return nil
}

func (c *partCache) put(ps *partSet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.maxBytes
	if limit == 0 {
		limit = partCacheBytes
	}
	if ps.size > limit/2 {
		return
	}
	for i, old := range c.sets {
		if old.id == ps.id {
			c.size -= old.size
			c.sets = append(c.sets[:i], c.sets[i+1:]...)
			break
		}
	}
	c.sets = append(c.sets, ps)
	c.size += ps.size
	for len(c.sets) > partCacheEntries || c.size > limit {
		c.size -= c.sets[0].size
		c.sets[0] = nil
		c.sets = c.sets[1:]
	}
}
