package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The vocabulary (table terms, kept whole in memory as a lexicon) lets a search term match inside
// words while the full-text index stays a word index: a search first looks up the indexed words
// its term occurs in, then asks the index for any of them. The lexicon answers that lookup with a
// byte search over all its words (a few megabytes at most), which costs a search a millisecond
// and ingest next to nothing: the trigram index over the words that answered it before
// (migration 0004) cost more ingest CPU than the full-text index itself, 0.23-0.47 M instructions
// a new word, in its merges (callgrind, BenchmarkWriter).

// Vocabulary words are 3 to 32 characters long, without digits.
const (
	vocabMinLen = 3
	vocabMaxLen = 32
)

// maxAlternatives is the most words a term may be found inside of; a term found inside more
// (a short, common fragment such as "ing") matches at the start of words only.
const maxAlternatives = 100

// maxMessageWords bounds the vocabulary words taken from one message (a huge message of random
// text must not make a huge map); the rest of its words match from their start.
const maxMessageWords = 20000

// fold returns word as the index stores it: lower case, without diacritics (as FTS5's unicode61
// tokenizer with remove_diacritics does).
func fold(word string) string {
	word = strings.ToLower(word)
	for i := 0; i < len(word); i++ {
		if word[i] >= utf8.RuneSelf {
			if !hasDiacritics(word[i:]) {
				return word // most words in CJK scripts, and Cyrillic ones: nothing to take off
			}
			var b strings.Builder
			for _, r := range norm.NFD.String(word) {
				if !unicode.Is(unicode.Mn, r) {
					b.WriteRune(r)
				}
			}
			return b.String()
		}
	}
	return word
}

// hasDiacritics reports whether fold has anything to take off s: a character that decomposes
// (NFD) or a nonspacing mark. It allocates nothing, where the decomposition does.
func hasDiacritics(s string) bool {
	for i, r := range s {
		if r < 0x80 { // ASCII: nothing to take off
			continue
		}
		if 0xac00 <= r && r <= 0xd7a3 { // Hangul syllables decompose by rule, not by table
			return true
		}
		if p := norm.NFD.PropertiesString(s[i:]); len(p.Decomposition()) > 0 || p.CCC() != 0 || unicode.Is(unicode.Mn, r) {
			return true
		}
	}
	return false
}

// vocabWord reports whether the index word w belongs in the vocabulary.
func vocabWord(w string) bool {
	n := utf8.RuneCountInString(w)
	return n >= vocabMinLen && n <= vocabMaxLen && !hasDigit(w)
}

// hasDigit reports whether w has an ASCII digit.
func hasDigit(w string) bool {
	for i := 0; i < len(w); i++ {
		if '0' <= w[i] && w[i] <= '9' {
			return true
		}
	}
	return false
}

// vocabularyOf returns the distinct vocabulary words of texts.
func vocabularyOf(texts ...string) []string {
	seen, _ := seenPool.Get().(map[string]struct{})
	if seen == nil {
		seen = make(map[string]struct{}, 256)
	}
	defer func() {
		clear(seen)
		seenPool.Put(seen)
	}()
	var words []string
	var lower [4 * vocabMaxLen]byte // an ASCII word in lower case, to look up without allocating
	for _, text := range texts {
		for w := range wordsOf(text) {
			if len(w) < vocabMinLen || hasDigit(w) {
				continue // too short or with digits, whatever its case and accents
			}
			if _, ok := seen[w]; ok {
				continue
			}
			seen[w] = struct{}{}
			if !wordLike(w) {
				continue
			}
			var f string
			if ascii, upper := asciiCase(w); !ascii {
				f = fold(w)
			} else if !upper {
				f = w
			} else if len(w) > len(lower) {
				continue // too long for the vocabulary
			} else {
				for i := 0; i < len(w); i++ {
					lower[i] = lowerASCII(w[i])
				}
				if _, ok := seen[string(lower[:len(w)])]; ok {
					continue
				}
				f = string(lower[:len(w)])
			}
			if f != w {
				if _, ok := seen[f]; ok {
					continue
				}
				seen[f] = struct{}{}
			}
			if vocabWord(f) {
				words = append(words, f)
				if len(words) == maxMessageWords {
					return words
				}
			}
		}
	}
	return words
}

// asciiCase reports whether w is all ASCII and, if so, whether it has an upper-case letter.
func asciiCase(w string) (ascii, upper bool) {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= utf8.RuneSelf {
			return false, false
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	return true, upper
}

// wordLike reports whether w, as written, looks like a word rather than a piece of a token (a
// fragment of base64 or of a random identifier, which mail is full of): it does not change from
// lower to upper case twice ("iPhone" and "YouTube" do once, "GQqXVUrBD" twice), and, written in
// ASCII, has no run of eight consonants. Other words match from their start only, as words with
// digits do.
func wordLike(w string) bool {
	if ascii, _ := asciiCase(w); ascii {
		return asciiWordLike(w)
	}
	humps, run := 0, 0
	var prev rune
	for _, r := range w {
		if unicode.IsUpper(r) && unicode.IsLower(prev) {
			if humps++; humps == 2 {
				return false
			}
		}
		prev = r
		switch {
		case r >= utf8.RuneSelf || strings.ContainsRune("aeiouyAEIOUY", r):
			run = 0
		default:
			if run++; run == 8 {
				return false
			}
		}
	}
	return true
}

// asciiWordLike is wordLike for an ASCII word, with tables instead of Unicode lookups.
func asciiWordLike(w string) bool {
	humps, run := 0, 0
	prevLower := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'A' <= c && c <= 'Z' && prevLower {
			if humps++; humps == 2 {
				return false
			}
		}
		prevLower = 'a' <= c && c <= 'z'
		if asciiVowel[c] {
			run = 0
		} else if run++; run == 8 {
			return false
		}
	}
	return true
}

// asciiVowel marks the ASCII vowels wordLike counts (y among them).
var asciiVowel = func() (t [utf8.RuneSelf]bool) {
	for _, c := range "aeiouyAEIOUY" {
		t[c] = true
	}
	return t
}()

// seenPool keeps the sets vocabularyOf uses, cleared, for the next message.
var seenPool sync.Pool

// addWords adds words to the terms table, inside the writer's transaction.
func (ins *inserts) addWords(ctx context.Context, words []string) error {
	if len(words) == 0 {
		return nil
	}
	list, err := json.Marshal(words)
	if err != nil {
		return fmt.Errorf("store: vocabulary: %w", err)
	}
	if err := ins.run(ctx, "INSERT OR IGNORE INTO terms (term) SELECT value FROM json_each(?)", string(list)); err != nil {
		return fmt.Errorf("store: vocabulary: %w", err)
	}
	return nil
}

// querier runs queries: the readers' pool, or the writer's transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// expand looks up, for each text term of f, the indexed words its value may start inside of:
// for a one-word value, the words that contain it; for a longer one, the words its first word
// ends (the rest must follow them). A header term's value is looked up, not its name. The terms
// then match those words too (see Term.ftsMatchIn).
func (s *Store) expand(f Filter) Filter {
	for i, t := range f.Query.Terms {
		if _, text := textFields[t.Field]; !text {
			continue
		}
		words, at := t.textWords() // a header's value follows its name, which is matched whole
		if at >= len(words) {
			continue // no words in the value
		}
		first := fold(words[at])
		if !vocabWord(first) {
			continue
		}
		// Words that start with it are matched by its prefix already.
		alts := s.lexicon.containing(first, at < len(words)-1, maxAlternatives)
		if len(alts) == 0 || len(alts) > maxAlternatives {
			continue
		}
		if f.alts == nil {
			f.alts = make([][]string, len(f.Query.Terms))
		}
		f.alts[i] = alts
	}
	return f
}

// likeEscape escapes s for a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string { return likeEscaper.Replace(s) }

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// queryStrings runs a query whose rows are one string each, and returns them.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
