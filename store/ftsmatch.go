package store

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"modernc.org/sqlite"
)

// matchFunc is the SQL function that matches a pending message's text (a row of fts_pending,
// not yet in the full-text index) against a full-text match as ftsMatchIn writes them, the way
// FTS5 would match the same text once indexed: letterbox_match(match, subject, sender,
// recipients, message_id, headers, body, attachments).
const matchFunc = "letterbox_match"

// ftsColumns are the full-text index's columns, in the order of fts and fts_pending.
var ftsColumns = [...]string{"subject", "sender", "recipients", "message_id", "headers", "body", "attachments"}

// pendingMatch returns the condition on fts_pending (aliased p) that selects the rows match
// selects, with param (such as ? or ?1) the placeholder that takes the match. Only the columns
// the match reads are passed (the driver copies each value passed into Go), as blobs (a text
// argument reaches Go cut at its first NUL; FTS5 indexes all of it).
func pendingMatch(match, param string) string {
	cols := ftsColumns[:]
	if m, err := parseMatch(match); err == nil && m.columns != nil {
		cols = nil
		for _, i := range m.columns {
			cols = append(cols, ftsColumns[i])
		}
	}
	// As blobs: the driver reads a text argument up to its first NUL, FTS5 reads all of it.
	var b strings.Builder
	b.WriteString(matchFunc + "(" + param)
	for _, c := range cols {
		b.WriteString(", CAST(p." + c + " AS BLOB)")
	}
	b.WriteString(")")
	return b.String()
}

// matchedUIDs returns the SQL that selects, as column uid, every message match selects: those
// in the index and those waiting for it. Both its placeholders are param: with "?", each takes
// the match.
func matchedUIDs(match, param string) string {
	return "SELECT rowid AS uid FROM fts WHERE fts MATCH " + param + " UNION ALL SELECT p.uid FROM fts_pending p WHERE " + pendingMatch(match, param)
}

var registerMatch sync.Once

// registerMatchFunc makes letterbox_match known to the connections the SQLite driver opens
// from now on.
func registerMatchFunc() {
	registerMatch.Do(func() {
		sqlite.MustRegisterDeterministicScalarFunction(matchFunc, -1, matchSQL)
	})
}

// matchSQL is letterbox_match: its first argument is the match, the others the columns the
// match reads, in its order (all of them when it names none).
func matchSQL(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("store: %s without a match", matchFunc)
	}
	expr, _ := args[0].(string)
	m, err := parseMatch(expr)
	if err != nil {
		return nil, err
	}
	cols := make([]string, 0, len(ftsColumns))
	for _, v := range args[1:] {
		switch v := v.(type) {
		case string:
			cols = append(cols, v)
		case []byte:
			cols = append(cols, string(v))
		default:
			cols = append(cols, "")
		}
	}
	want := len(ftsColumns)
	if m.columns != nil {
		want = len(m.columns)
	}
	if len(cols) != want {
		return nil, fmt.Errorf("store: %s: %d columns for %q, want %d", matchFunc, len(cols), expr, want)
	}
	return m.matches(cols), nil
}

// ftsMatch is a parsed full-text match: phrases, any of which may match, in some columns.
type ftsMatch struct {
	columns []int // indexes into ftsColumns; nil: all
	phrases []ftsPhrase
	// byLast indexes the phrases whose last word must be a whole token by that word; prefixed
	// lists the others. A search may have a hundred alternatives (words its term occurs inside
	// of): each token is then one map lookup, not a hundred comparisons.
	byLast   map[string][]int
	prefixed []int
	// needle is a word every phrase's last word contains (the term itself, when the others are
	// words it occurs inside of): a text without it matches none. "" when there is none.
	needle string
}

// ftsPhrase is a sequence of words (folded as the index folds them) that must follow each
// other in one column; with prefix, the last word need only start a word there.
type ftsPhrase struct {
	words  []string
	prefix bool
}

// matchCache keeps the matches parsed lately: a query calls letterbox_match once for each
// pending row, with the same match.
var matchCache sync.Map

// parseMatch parses the full-text matches ftsMatchIn writes: an optional column filter
// "{col col} : ", then one phrase ("w w"*, the star optional) or several in parentheses joined
// by OR.
func parseMatch(expr string) (*ftsMatch, error) {
	if m, ok := matchCache.Load(expr); ok {
		return m.(*ftsMatch), nil
	}
	m := &ftsMatch{}
	rest := strings.TrimSpace(expr)
	if strings.HasPrefix(rest, "{") {
		end := strings.Index(rest, "}")
		if end < 0 {
			return nil, fmt.Errorf("store: match %q: unclosed column filter", expr)
		}
		for _, name := range strings.Fields(rest[1:end]) {
			i := columnIndex(name)
			if i < 0 {
				return nil, fmt.Errorf("store: match %q: no column %q", expr, name)
			}
			m.columns = append(m.columns, i)
		}
		rest = strings.TrimSpace(rest[end+1:])
		if !strings.HasPrefix(rest, ":") {
			return nil, fmt.Errorf("store: match %q: column filter without ':'", expr)
		}
		rest = strings.TrimSpace(rest[1:])
	}
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		rest = rest[1 : len(rest)-1]
	}
	for part := range strings.SplitSeq(rest, " OR ") {
		p, err := parsePhrase(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("store: match %q: %w", expr, err)
		}
		m.phrases = append(m.phrases, p)
	}
	m.byLast = map[string][]int{}
	for i, p := range m.phrases {
		if p.prefix {
			m.prefixed = append(m.prefixed, i)
		} else {
			last := p.words[len(p.words)-1]
			m.byLast[last] = append(m.byLast[last], i)
		}
	}
	m.needle = m.phrases[0].words[len(m.phrases[0].words)-1]
	for _, p := range m.phrases {
		if last := p.words[len(p.words)-1]; len(last) < len(m.needle) {
			m.needle = last
		}
	}
	for _, p := range m.phrases {
		if len(p.words) > maxPhraseWords || !strings.Contains(p.words[len(p.words)-1], m.needle) {
			m.needle = ""
			break
		}
	}
	if m.needle != "" && !isASCII(m.needle) {
		m.needle = "" // scan finds ASCII needles only
	}
	if matchCacheSize.Add(1) > maxCachedMatches {
		matchCache.Clear()
		matchCacheSize.Store(0)
	}
	matchCache.Store(expr, m)
	return m, nil
}

// maxCachedMatches bounds matchCache.
const maxCachedMatches = 256

var matchCacheSize atomic.Int64

// parsePhrase parses one quoted phrase with an optional trailing star.
func parsePhrase(s string) (ftsPhrase, error) {
	var p ftsPhrase
	if strings.HasSuffix(s, "*") {
		p.prefix = true
		s = strings.TrimSpace(s[:len(s)-1])
	}
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' || strings.Contains(s[1:len(s)-1], `"`) {
		return p, fmt.Errorf("not a phrase: %s", s)
	}
	for w := range wordsOf(s[1 : len(s)-1]) {
		p.words = append(p.words, fold(w))
	}
	if len(p.words) == 0 {
		return p, fmt.Errorf("a phrase without words: %s", s)
	}
	return p, nil
}

func columnIndex(name string) int {
	for i, c := range ftsColumns {
		if c == name {
			return i
		}
	}
	return -1
}

// matches reports whether any phrase of m occurs in one of cols, the columns m reads.
func (m *ftsMatch) matches(cols []string) bool {
	toks, _ := tokenPool.Get().(*[]string)
	if toks == nil {
		toks = new([]string)
	}
	defer func() {
		clear(*toks)
		*toks = (*toks)[:0]
		tokenPool.Put(toks)
	}()
	for _, c := range cols {
		if m.needle != "" {
			if found, sure := m.scan(c); sure {
				if found {
					return true
				}
				continue
			}
		}
		*toks = (*toks)[:0]
		for tok := range wordsOf(c) {
			*toks = append(*toks, tok)
		}
		if m.inTokens(*toks) {
			return true
		}
	}
	return false
}

// tokenPool keeps the token lists matches splits columns into.
var tokenPool sync.Pool

// scan is matches for one column without splitting all of it: it finds the needle with a byte
// search, in any case, and reads only the tokens around each place it occurs. It is sure of
// its answer unless the text has a character that folds into ASCII letters ("é" in "Café",
// which the index reads as "cafe"): then the caller splits the whole text.
func (m *ftsMatch) scan(text string) (found, sure bool) {
	needle := m.needle
	first := needle[0]
	var prev [maxPhraseWords]string
	for i := 0; i < len(text); {
		c := text[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(text[i:])
			if foldsToASCII(r) {
				return false, false
			}
			i += size
			continue
		}
		if lowerASCII(c) != first || len(text)-i < len(needle) || !asciiEqualFold(text[i:i+len(needle)], needle) {
			i++
			continue
		}
		start, end := tokenAround(text, i, i+len(needle))
		tok := text[start:end]
		// The tokens before it, nearest first, as many as the longest phrase needs.
		n := 0
		for j := start; n < len(prev); n++ {
			s, e := tokenBefore(text, j)
			if s < 0 {
				break
			}
			prev[n], j = text[s:e], s
		}
		if m.endsWith(tok, prev[:n]) {
			return true, true
		}
		i = end
	}
	return false, true
}

// endsWith reports whether some phrase of m ends with token tok, preceded by before (the
// tokens before tok, nearest first).
func (m *ftsMatch) endsWith(tok string, before []string) bool {
	for _, p := range m.phrases {
		last := len(p.words) - 1
		if !p.wordAt(last, tok) || last > len(before) {
			continue
		}
		ok := true
		for j := 0; j < last && ok; j++ {
			ok = foldEqual(before[last-1-j], p.words[j])
		}
		if ok {
			return true
		}
	}
	return false
}

// isWordRune reports whether r belongs to tokens, as FTS5's unicode61 tokenizer (and so wordsOf)
// splits them: letters, digits and combining marks.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiWord[r]
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// tokenAround widens text[start:end] to the whole token it lies in.
func tokenAround(text string, start, end int) (int, int) {
	for start > 0 {
		r, size := utf8.DecodeLastRuneInString(text[:start])
		if !isWordRune(r) {
			break
		}
		start -= size
	}
	for end < len(text) {
		r, size := utf8.DecodeRuneInString(text[end:])
		if !isWordRune(r) {
			break
		}
		end += size
	}
	return start, end
}

// tokenBefore returns the bounds of the last token that ends at or before at, or -1, -1.
func tokenBefore(text string, at int) (int, int) {
	end := at
	for end > 0 {
		r, size := utf8.DecodeLastRuneInString(text[:end])
		if isWordRune(r) {
			break
		}
		end -= size
	}
	if end == 0 {
		return -1, -1
	}
	start, _ := tokenAround(text, end, end)
	return start, end
}

// inTokens reports whether some phrase of m occurs in toks, one column's tokens as written.
func (m *ftsMatch) inTokens(toks []string) bool {
	var lower [64]byte
	for i, tok := range toks {
		var key string
		if ascii, upper := asciiCase(tok); !ascii {
			key = fold(tok)
		} else if !upper || len(tok) > len(lower) {
			key = strings.ToLower(tok)
		} else {
			for j := 0; j < len(tok); j++ {
				lower[j] = lowerASCII(tok[j])
			}
			key = unsafe.String(&lower[0], len(tok)) // only looked up, never kept
		}
		for _, pi := range m.byLast[key] {
			if m.phrases[pi].endsAt(toks, i) {
				return true
			}
		}
		for _, pi := range m.prefixed {
			p := m.phrases[pi]
			if foldHasPrefix(tok, p.words[len(p.words)-1]) && p.endsAt(toks, i) {
				return true
			}
		}
	}
	return false
}

// endsAt reports whether the words of p before its last match the tokens before toks[i] (whose
// match with the last word the caller has checked).
func (p ftsPhrase) endsAt(toks []string, i int) bool {
	n := len(p.words)
	if i+1 < n {
		return false
	}
	for j := 0; j < n-1; j++ {
		if !foldEqual(toks[i-n+1+j], p.words[j]) {
			return false
		}
	}
	return true
}

// foldEqual reports whether tok, folded, is word (already folded), without allocating for
// ASCII tokens.
func foldEqual(tok, word string) bool {
	if isASCII(tok) {
		return len(tok) == len(word) && asciiEqualFold(tok, word)
	}
	return fold(tok) == word
}

// foldHasPrefix reports whether tok, folded, starts with word (already folded).
func foldHasPrefix(tok, word string) bool {
	if isASCII(tok) {
		return len(tok) >= len(word) && asciiEqualFold(tok[:len(word)], word)
	}
	return strings.HasPrefix(fold(tok), word)
}

// asciiEqualFold compares an ASCII token with a lower-case word of the same length.
func asciiEqualFold(tok, word string) bool {
	for i := 0; i < len(tok); i++ {
		if lowerASCII(tok[i]) != word[i] {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldsToASCII reports whether fold turns r into something with an ASCII letter or digit.
func foldsToASCII(r rune) bool {
	if r >= foldableLimit {
		return true // not tabulated: assume it may
	}
	foldableOnce.Do(func() {
		for c := rune(utf8.RuneSelf); c < foldableLimit; c++ {
			for _, b := range []byte(fold(string(c))) {
				if b < utf8.RuneSelf && asciiWord[b] {
					foldable[c/64] |= 1 << (c % 64)
					break
				}
			}
		}
	})
	return foldable[r/64]&(1<<(r%64)) != 0
}

// foldableLimit ends the characters foldsToASCII has a table for; beyond it, it says yes.
const foldableLimit = 0x10000

var (
	foldable     [foldableLimit / 64]uint64
	foldableOnce sync.Once
)

// maxPhraseWords is the longest phrase scan matches: the tokens before a place the needle
// occurs it reads. Longer phrases are matched by splitting the text.
const maxPhraseWords = 16

// wordAt reports whether token tok matches the phrase's word j: equal once folded, or, for the
// last word of a prefix phrase, starting with it.
func (p ftsPhrase) wordAt(j int, tok string) bool {
	if p.prefix && j == len(p.words)-1 {
		return foldHasPrefix(tok, p.words[j])
	}
	return foldEqual(tok, p.words[j])
}
