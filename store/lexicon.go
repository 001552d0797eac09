package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"unsafe"
)

// lexicon is the vocabulary in memory: every word of the terms table (and those a batch being
// committed adds), NUL-separated in chunks that are appended to and never moved, so that the
// words a fragment occurs in are found with a byte search. The set of known words is an
// open-addressing hash table of 4-byte references into the chunks, with no copy of the words
// and no string headers: at 100,000 messages of the realistic mix (189,000 words, 5.8 MB of
// chunks) the lexicon is 6.7 MB of live heap where the chunks and a map[string]bool of the
// words were 12.7 MB, which the garbage collector's target then multiplied. Its words are never
// removed, except all at once (delete all).
type lexicon struct {
	mu     sync.RWMutex
	chunks [][]byte // each lexiconChunk long at most, starts with a NUL and ends with one after every word
	// slots is the hash table: 0 is empty; else the reference of a word (its chunk's index
	// times lexiconChunk plus its offset there, never 0) shifted left once, with the low bit
	// set when the terms table has the word.
	slots []uint32
	words int
}

// lexiconSeed seeds the lexicon's hash table.
var lexiconSeed = maphash.MakeSeed()

// lexiconChunk is the capacity of a chunk of words, a power of two.
const lexiconChunk = 256 << 10

// maxLexiconRef bounds the references the table can hold (31 bits): 2 GiB of words, some
// 200 million of them.
const maxLexiconRef = 1<<31 - 1

// word returns the bytes of the word that starts at reference ref (without its NUL).
func (l *lexicon) word(ref uint32) []byte {
	c := l.chunks[ref/lexiconChunk][ref%lexiconChunk:]
	return c[:bytes.IndexByte(c, 0)]
}

// find returns the slot index of w, and whether it holds w (else it is the empty slot where w
// goes). The table must have an empty slot.
func (l *lexicon) find(w string) (int, bool) {
	mask := len(l.slots) - 1
	i := int(maphash.String(lexiconSeed, w)) & mask
	for {
		v := l.slots[i]
		if v == 0 {
			return i, false
		}
		if c := l.chunks[(v>>1)/lexiconChunk][(v>>1)%lexiconChunk:]; len(c) > len(w) && c[len(w)] == 0 && string(c[:len(w)]) == w {
			return i, true
		}
		i = (i + 1) & mask
	}
}

// grow doubles the table (or makes its first), placing every word again.
func (l *lexicon) grow() {
	old := l.slots
	l.slots = make([]uint32, max(1024, 2*len(old)))
	mask := len(l.slots) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := int(maphash.Bytes(lexiconSeed, l.word(v>>1))) & mask
		for l.slots[i] != 0 {
			i = (i + 1) & mask
		}
		l.slots[i] = v
	}
}

// add records words; stored says whether the terms table has them. A word already known only
// has its stored flag raised.
func (l *lexicon) add(words []string, stored bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range words {
		l.addLocked(w, stored)
	}
}

// addLocked adds one word, with l.mu held. Words are never empty and never hold a NUL (see
// wordsOf); one that does, or that would not fit a chunk, is not kept.
func (l *lexicon) addLocked(w string, stored bool) {
	if w == "" || len(w)+2 > lexiconChunk || strings.IndexByte(w, 0) >= 0 {
		return
	}
	var flag uint32
	if stored {
		flag = 1
	}
	if (l.words+1)*4 > len(l.slots)*3 { // at most three quarters full
		l.grow()
	}
	i, ok := l.find(w)
	if ok {
		l.slots[i] |= flag
		return
	}
	n := len(l.chunks)
	if n == 0 || len(l.chunks[n-1])+len(w)+1 > lexiconChunk {
		if n*lexiconChunk > maxLexiconRef-lexiconChunk {
			return // 2 GiB of words: no mail has that many
		}
		l.chunks = append(l.chunks, make([]byte, 1, lexiconChunk)) // the NUL before the first word
		n++
	}
	c := l.chunks[n-1]
	ref := uint32((n-1)*lexiconChunk + len(c))
	l.chunks[n-1] = append(append(c, w...), 0)
	l.slots[i] = ref<<1 | flag
	l.words++
}

// unstored returns the distinct words of recs that the terms table does not have yet.
func (l *lexicon) unstored(recs []*record) []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var words []string
	batch := map[string]struct{}{}
	for _, rec := range recs {
		for _, w := range rec.words {
			if len(l.slots) > 0 {
				if i, ok := l.find(w); ok && l.slots[i]&1 == 1 {
					continue
				}
			}
			if _, ok := batch[w]; ok {
				continue
			}
			batch[w] = struct{}{}
			words = append(words, w)
		}
	}
	return words
}

// reset forgets every word (the terms table was emptied).
func (l *lexicon) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chunks, l.slots, l.words = nil, nil, 0
}

// size returns the number of words and the bytes their chunks and the table hold.
func (l *lexicon) size() (words, bytes int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, c := range l.chunks {
		bytes += cap(c)
	}
	return l.words, bytes + 4*len(l.slots)
}

// containing returns the words that frag occurs in: with suffix, the words it ends (and that
// are longer than it), else the words it occurs in that it does not start. It stops once it has
// more than limit.
func (l *lexicon) containing(frag string, suffix bool, limit int) []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	needle := []byte(frag)
	if suffix {
		needle = append(needle, 0)
	}
	for _, c := range l.chunks {
		for at := 0; ; {
			i := bytes.Index(c[at:], needle)
			if i < 0 {
				break
			}
			i += at
			start := bytes.LastIndexByte(c[:i], 0) + 1
			end := i + bytes.IndexByte(c[i:], 0)
			at = end + 1 // one answer a word
			if start == i {
				// The fragment is the whole word (suffix), or starts it: the term's prefix
				// matches the word already.
				continue
			}
			out = append(out, string(c[start:end]))
			if len(out) > limit {
				return out
			}
		}
	}
	return out
}

// load fills the lexicon from the terms table. The words are read into the chunks straight
// from the rows, without a string each.
func (l *lexicon) load(ctx context.Context, db querier) error {
	rows, err := db.QueryContext(ctx, "SELECT term FROM terms ORDER BY id")
	if err != nil {
		return fmt.Errorf("store: load vocabulary: %w", err)
	}
	defer rows.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	var w sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&w); err != nil {
			return fmt.Errorf("store: load vocabulary: %w", err)
		}
		// A view of the row's bytes, valid until the next row: addLocked copies them.
		l.addLocked(unsafe.String(unsafe.SliceData(w), len(w)), true)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: load vocabulary: %w", err)
	}
	return nil
}
