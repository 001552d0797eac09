package store

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/jhillyerd/enmime/v2"
)

// Cutting multipart messages.
//
// enmime reads the parts of a multipart body through a boundary reader that, for the first
// 4 KB of every part, looks for a boundary at every byte with several peeks and searches. On a
// typical 4 KB multipart/alternative message that is three quarters of the parse and the largest
// single cost of storing it. The message is already in memory, so the store finds the delimiter
// lines itself (one bytes.Index pass per boundary) and has enmime parse each part on its own; the
// tree is then the one enmime would build, and enmime turns it into the Envelope as usual.
//
// The cut is taken only when it is certain to agree with enmime: every occurrence of each
// boundary is a delimiter or close-delimiter line, each multipart is closed, each part declares
// its Content-Type, and no part needs one of enmime's repairs (an empty part, a boundary
// parameter on a part that is not a multipart, bytes before a line break that enmime counts as
// part of it). Anything else, including every malformed message, is parsed by enmime whole.
// TestCutPartsAgreesWithEnmime and FuzzCutParts hold the two to the same result.

// readParts parses raw into enmime's part tree. With sizes, the parts that ingest only needs
// the size of may be left undecoded (see readLeaf).
func (s *Store) readParts(raw []byte, sizes partSizes) (*enmime.Part, error) {
	if root, ok := s.cutParts(raw, sizes); ok {
		return root, nil
	}
	return s.readPart(raw)
}

// readers holds the buffered readers readPart gives enmime: it takes a *bufio.Reader of 4 KB
// as it is instead of allocating one for every part.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// readPart has enmime parse data as a whole MIME entity.
func (s *Store) readPart(data []byte) (*enmime.Part, error) {
	br := readers.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(data))
	p, err := s.parser.ReadParts(br)
	br.Reset(nil)
	readers.Put(br)
	return p, err
}

// cutParts returns raw's part tree, or false when raw is not a multipart message that can be cut
// exactly as enmime would cut it.
func (s *Store) cutParts(raw []byte, sizes partSizes) (*enmime.Part, bool) {
	end := headerEnd(raw)
	if !mentionsBoundary(raw[:end]) {
		return nil, false
	}
	root, err := s.readPart(raw[:end])
	if err != nil || !isMultipart(root) {
		return nil, false
	}
	if !s.cutInto(root, raw[end:], 1, sizes) {
		return nil, false
	}
	return root, true
}

// maxCutDepth is the deepest nesting of multiparts the store cuts itself; deeper messages (made to
// be, as real mail nests three or four levels) go to enmime.
const maxCutDepth = 16

// cutInto parses the parts of the multipart body of parent and adds them to it, numbering them
// as enmime does ("1", "1.2"; a nested multipart's own ID gains ".0").
func (s *Store) cutInto(parent *enmime.Part, body []byte, depth int, sizes partSizes) bool {
	if depth > maxCutDepth {
		return false
	}
	parts, epilogue, ok := splitMultipart(body, parent.Boundary)
	if !ok {
		return false
	}
	for i, data := range parts {
		id := strconv.Itoa(i + 1)
		if parent.Parent != nil {
			id = parent.PartID + "." + id
		}
		end := headerEnd(data)
		if mentionsBoundary(data[:end]) {
			p, err := s.readPart(data[:end])
			if err != nil || !isMultipart(p) {
				return false
			}
			p.PartID = id
			parent.AddChild(p)
			if !s.cutInto(p, data[end:], depth+1, sizes) {
				return false
			}
			p.PartID += ".0"
			continue
		}
		p, err := s.readLeaf(data, end, sizes)
		// enmime gives a part without a Content-Type no default type (a message, text/plain), warns
		// about an empty one with the part's ID, and reads a multipart type without a boundary as
		// a leaf: leave all three to it.
		if err != nil || p.Header.Get("Content-Type") == "" || p.ContentType == "" || strings.HasPrefix(p.ContentType, "multipart/") {
			return false
		}
		p.PartID = id
		parent.AddChild(p)
	}
	parent.Epilogue = bytes.Clone(epilogue)
	return true
}

// partSizes holds the decoded sizes of the parts readLeaf left undecoded; the others' are their
// content's. A nil partSizes holds none.
type partSizes map[*enmime.Part]int64

// of returns the decoded size of p.
func (ps partSizes) of(p *enmime.Part) int64 {
	if n, ok := ps[p]; ok {
		return n
	}
	return int64(len(p.Content))
}

// readLeaf parses a part that is not a multipart; end is where its header ends. With sizes, a
// base64 part whose content enmime never reads (neither text, which becomes the bodies, nor a
// message) is parsed from its header alone when its content is plain base64, and its decoded
// size goes into sizes: ingest needs only that (attachments are decoded when read, see
// partread.go), and decoding them was a sixth of the CPU that storing a 100 KB message cost.
func (s *Store) readLeaf(data []byte, end int, sizes partSizes) (*enmime.Part, error) {
	if sizes != nil && indexFold(data[:end], "base64") >= 0 {
		if n, ok := base64Size(data[end:]); ok {
			p, err := s.readPart(data[:end])
			if err == nil && strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) == "base64" &&
				!strings.HasPrefix(p.ContentType, "text/") && !strings.HasPrefix(p.ContentType, "message/") &&
				!strings.HasPrefix(p.ContentType, "multipart/") && len(p.Content) == 0 && len(p.Errors) == 0 {
				sizes[p] = n
				return p, nil
			}
		}
	}
	return s.readPart(data)
}

// base64Size returns the size of the decoded base64 content b as enmime decodes it (its cleaner
// drops line breaks, spaces, tabs and "=", Go's decoder reads the rest without padding), and
// false when b holds any other byte, or a count of characters that does not decode: then
// enmime warns or fails, and decides.
func base64Size(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		switch {
		case base64Alphabet[c]:
			n++
		case c == '\r' || c == '\n' || c == ' ' || c == '\t' || c == '=':
		default:
			return 0, false
		}
	}
	if n%4 == 1 {
		return 0, false
	}
	return n/4*3 + [4]int64{0, 0, 1, 2}[n%4], true
}

// base64Alphabet marks the characters of standard base64.
var base64Alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = true
	}
	return t
}()

// isMultipart reports whether p, parsed from a header alone, is a multipart with a boundary.
func isMultipart(p *enmime.Part) bool {
	return p.Header.Get("Content-Type") != "" && strings.HasPrefix(p.ContentType, "multipart/") && p.Boundary != ""
}

// mentionsBoundary reports whether a header section could declare a boundary parameter: whether
// it holds "boundary" in any case.
func mentionsBoundary(header []byte) bool { return indexFold(header, "boundary") >= 0 }

// headerEnd returns the offset just past the blank line that ends data's header section (as
// enmime reads lines: "\n" or "\r\n" ends one), or len(data) when there is none.
func headerEnd(data []byte) int {
	for pos := 0; pos < len(data); {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			break
		}
		if i == 0 || i == 1 && data[pos] == '\r' {
			return pos + i + 1
		}
		pos += i + 1
	}
	return len(data)
}

// splitMultipart cuts a multipart body at the delimiter lines of boundary and returns each
// part's bytes and the epilogue after the close-delimiter line. It reports false unless every
// occurrence of "--"+boundary in body starts a delimiter or close-delimiter line, the body is
// closed, no part is empty, and each part ends where enmime's boundary reader would end it.
func splitMultipart(body []byte, boundary string) (parts [][]byte, epilogue []byte, ok bool) {
	dash := []byte("--" + boundary)
	start := -1  // where the current part began
	closed := -1 // where the close-delimiter line starts
	var lines []int
	for pos := 0; pos < len(body) && closed < 0; {
		next := len(body)
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			next = pos + i + 1
		}
		line := body[pos:next]
		if bytes.HasPrefix(line, dash) {
			rest := line[len(dash):]
			delimiter := len(rest) > 0 && unicode.IsSpace(rune(rest[0])) && line[len(line)-1] == '\n'
			terminator := bytes.HasPrefix(rest, []byte("--"))
			if !delimiter && !terminator {
				return nil, nil, false
			}
			if start >= 0 {
				cut, ok := partEnd(body, start, pos)
				if !ok {
					return nil, nil, false
				}
				parts = append(parts, body[start:cut])
			}
			lines = append(lines, pos)
			if terminator {
				closed = pos
				epilogue = body[next:]
			}
			start = next
		}
		pos = next
	}
	if closed < 0 || len(parts) == 0 {
		return nil, nil, false
	}
	// Any other occurrence of the boundary (inside a line, in the epilogue) is read by enmime
	// in ways this cut does not follow.
	for i, n := 0, 0; ; {
		j := bytes.Index(body[i:], dash)
		if j < 0 {
			break
		}
		if n >= len(lines) || i+j != lines[n] {
			return nil, nil, false
		}
		i, n = i+j+1, n+1
	}
	return parts, epilogue, true
}

// partEnd returns where enmime ends a part that begins at start and is followed by a delimiter
// line at d. Its boundary reader checks at each CR or LF whether a boundary follows within a few
// bytes, so the line break before the delimiter line is not part of the content; it reports false
// for the inputs where that check fires earlier (a CR one or two bytes before the line break).
func partEnd(body []byte, start, d int) (int, bool) {
	if d <= start {
		return 0, false // an empty part: enmime reads it without a header
	}
	end := d - 1 // body[d-1] is the line's LF
	if end > start && body[end-1] == '\r' {
		end--
	}
	for i := max(start, d-3); i < end; i++ {
		if body[i] == '\r' {
			return 0, false
		}
	}
	return end, true
}
