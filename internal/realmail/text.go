package realmail

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// language is a vocabulary and how its prose is written.
type language struct {
	words []string
	cjk   bool     // no spaces between words; 、 and 。 as punctuation
	ranks []uint16 // Zipf quantiles: a uniform draw from it is a word's rank
}

var (
	langEnglish  = newLanguage(english, false)
	langGerman   = newLanguage(german, false)
	langFrench   = newLanguage(french, false)
	langSpanish  = newLanguage(spanish, false)
	langPolish   = newLanguage(polish, false)
	langRussian  = newLanguage(russian, false)
	langJapanese = newLanguage(japaneseWords, true)
	langChinese  = newLanguage(chineseWords, true)
	langTech     = newLanguage(techWords, false)
)

// zipfSteps is the resolution of a language's rank table: fine enough that every rank of a
// list of a few thousand words has its share.
const zipfSteps = 1 << 14

// newLanguage makes a language of words (repeats dropped; the order is the Zipf rank). Ranks
// are drawn log-uniformly, rank = (n+1)^u - 1, which gives rank r a share of about 1/r as
// word frequencies have; the table holds that function at zipfSteps points.
func newLanguage(words []string, cjk bool) language {
	l := language{words: dedupe(words), cjk: cjk, ranks: make([]uint16, zipfSteps)}
	n := float64(len(l.words))
	for j := range l.ranks {
		rank := int(math.Pow(n+1, (float64(j)+0.5)/zipfSteps)) - 1
		l.ranks[j] = uint16(min(max(rank, 0), len(l.words)-1))
	}
	return l
}

// dedupe returns words without repeats, in first-seen order (the order is the Zipf rank).
func dedupe(words []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(words))
	for _, w := range words {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// writer builds one message. Its prose is drawn from a source of its own, so that more or less
// prose leaves every other choice (structure, tokens) as it was.
type writer struct {
	r  *rand.Rand // structure, names, numbers, tokens
	pr *rand.Rand // prose
}

// pick returns a uniformly chosen element of list.
func pick[T any](w *writer, list []T) T { return list[w.r.IntN(len(list))] }

// word draws a word of lang with a Zipf distribution over its list.
func (w *writer) word(lang language) string {
	return lang.words[lang.ranks[w.pr.IntN(zipfSteps)]]
}

// sentence is one sentence of lang, of 6 to 18 words.
func (w *writer) sentence(lang language) string {
	var b strings.Builder
	w.writeSentence(&b, lang)
	return b.String()
}

// writeSentence appends a sentence of lang to b.
func (w *writer) writeSentence(b *strings.Builder, lang language) {
	n := 6 + w.pr.IntN(13)
	for i := range n {
		word := w.word(lang)
		switch {
		case lang.cjk:
		case i == 0:
			r, size := utf8.DecodeRuneInString(word)
			b.WriteRune(unicode.ToUpper(r))
			word = word[size:]
		default:
			b.WriteByte(' ')
		}
		b.WriteString(word)
		if i > 0 && i < n-2 && w.pr.IntN(9) == 0 {
			if lang.cjk {
				b.WriteString("、")
			} else {
				b.WriteByte(',')
			}
		}
	}
	if lang.cjk {
		b.WriteString("。")
	} else {
		b.WriteString([]string{".", ".", ".", ".", "!", "?"}[w.pr.IntN(6)])
	}
}

// paragraph is sentences of lang up to about size bytes (at least one).
func (w *writer) paragraph(lang language, size int) string {
	var b strings.Builder
	b.Grow(size + 128)
	for b.Len() == 0 || b.Len() < size {
		if b.Len() > 0 && !lang.cjk {
			b.WriteByte(' ')
		}
		w.writeSentence(&b, lang)
	}
	return b.String()
}

// paragraphs is about size bytes of prose in paragraphs of 150 to 600 bytes.
func (w *writer) paragraphs(lang language, size int) []string {
	var out []string
	for total := 0; total < size; {
		p := w.paragraph(lang, min(150+w.pr.IntN(450), size-total))
		out = append(out, p)
		total += len(p)
	}
	return out
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// Unique tokens: every message has its own, as real mail does (order numbers, links with
// tokens, Message-IDs), which a full-text index cannot share between messages.

const (
	base32Chars = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // Crockford's: order and ticket numbers
	base64URL   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	base64Std   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	hexChars    = "0123456789abcdef"
)

// randomString is n characters drawn from alphabet.
func (w *writer) randomString(alphabet string, n int) string {
	b := make([]byte, n)
	var bits uint64
	for i := range b {
		if i%8 == 0 {
			bits = w.r.Uint64()
		}
		b[i] = alphabet[int(byte(bits))%len(alphabet)]
		bits >>= 8
	}
	return string(b)
}

// serial is message i's number in base 32, at least width characters: unique per message.
func serial(i, width int) string {
	var b []byte
	for v := uint64(i)*2654435761%(1<<40) + uint64(i)<<40; v > 0 || len(b) < width; v /= 32 {
		b = append(b, base32Chars[v%32])
	}
	slices.Reverse(b)
	return string(b)
}

// orderNumber is a shop's order number for message i, e.g. "NW-2026-7H3K9QXM".
func (w *writer) orderNumber(prefix string, i int) string {
	return fmt.Sprintf("%s-%d-%s", prefix, 2024+w.r.IntN(3), serial(i, 8))
}

// linkToken is a token as sent in reset and tracking links.
func (w *writer) linkToken(n int) string { return w.randomString(base64URL, n) }

// jwt is a JSON Web Token-shaped string: three base64url sections.
func (w *writer) jwt() string {
	return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + w.linkToken(60+w.r.IntN(60)) + "." + w.linkToken(43)
}

// trackedURL is a link through a click-tracking redirector, unique per message and link.
func (w *writer) trackedURL(host, path string) string {
	return fmt.Sprintf("https://%s/ls/click?upn=%s&u=%s", host, w.linkToken(140+w.r.IntN(120)),
		strings.ReplaceAll(path, "/", "%2F"))
}

// money is a price in the currency's usual form.
func (w *writer) money(cents int, currency string) string {
	switch currency {
	case "EUR":
		return fmt.Sprintf("%d,%02d €", cents/100, cents%100)
	case "JPY":
		return fmt.Sprintf("%d円", cents)
	case "CNY":
		return fmt.Sprintf("%d.%02d元", cents/100, cents%100)
	case "RUB":
		return fmt.Sprintf("%d,%02d руб.", cents/100, cents%100)
	case "PLN":
		return fmt.Sprintf("%d,%02d zł", cents/100, cents%100)
	}
	return fmt.Sprintf("$%d.%02d", cents/100, cents%100)
}

// product is a made-up product name.
func (w *writer) product() string { return pick(w, adjectives) + " " + pick(w, nouns) }

// person is a made-up full name.
func (w *writer) person() string { return pick(w, firstNames) + " " + pick(w, lastNames) }

// postal is a made-up street address on one line.
func (w *writer) postal() string {
	return fmt.Sprintf("%d %s %s, %s %05d", 1+w.r.IntN(9899), pick(w, streets),
		pick(w, []string{"Street", "Avenue", "Road", "Lane", "Drive"}), pick(w, cities), 10000+w.r.IntN(89999))
}
