package store

import (
	"html"
	"strings"
	"unicode/utf8"
)

// htmlText returns the words of an HTML body for the full-text index, or "" when the text body
// is its plain-text alternative and already gives the index those words (enmime also fills the
// text body from the HTML when a message has no text part).
func htmlText(htmlBody, text string) string {
	if htmlBody == "" {
		return ""
	}
	words := stripTags(htmlBody)
	if text != "" && alternativeOf(text, words) {
		return ""
	}
	return words
}

// stripTags returns the text of an HTML document: each tag and comment becomes a space, the
// contents of style and script elements are left out, and character references are decoded.
func stripTags(h string) string {
	var b strings.Builder
	b.Grow(len(h)) // a tag becomes one space: the text is never longer
	for len(h) > 0 {
		i := strings.IndexByte(h, '<')
		if i < 0 {
			b.WriteString(h)
			break
		}
		b.WriteString(h[:i])
		b.WriteByte(' ')
		h = h[i:]
		switch {
		case strings.HasPrefix(h, "<!--"):
			h = after(h[4:], "-->")
		case hasElement(h, "style"):
			h = afterFold(h, "</style")
			h = after(h, ">")
		case hasElement(h, "script"):
			h = afterFold(h, "</script")
			h = after(h, ">")
		default:
			h = after(h, ">")
		}
	}
	out := b.String()
	if strings.IndexByte(out, '&') >= 0 {
		out = html.UnescapeString(out)
	}
	return out
}

// hasElement reports whether h starts with the start tag of the element name (any case).
func hasElement(h, name string) bool {
	if len(h) < len(name)+2 || !strings.EqualFold(h[1:1+len(name)], name) {
		return false
	}
	switch h[1+len(name)] {
	case '>', '/', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// after returns what follows the first sep in s, or "" when s has none.
func after(s, sep string) string {
	if i := strings.Index(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return ""
}

// afterFold is after with sep matched in any case; sep is ASCII.
func afterFold(s, sep string) string {
	if i := indexFold(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return ""
}

// indexFold returns where the ASCII string sep first occurs in s, matched in any case, or -1.
func indexFold[S ~string | ~[]byte](s S, sep string) int {
next:
	for i := 0; i+len(sep) <= len(s); i++ {
		for j := 0; j < len(sep); j++ {
			if lowerASCII(s[i+j]) != lowerASCII(sep[j]) {
				continue next
			}
		}
		return i
	}
	return -1
}

// lowerASCII returns c in lower case when it is an ASCII letter, else c.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// alternativeOf reports whether text is a plain-text rendering of the HTML whose text is
// htmlWords, as the index sees them (words, not punctuation or layout): the HTML's first words
// occur in text in the same order, and text has at least four fifths as many letters and digits.
// A short text part ("view this mail in your browser") beside a full HTML one is not its
// alternative.
func alternativeOf(text, htmlWords string) bool {
	if wordBytes(text)*5 < wordBytes(htmlWords)*4 {
		return false
	}
	const lead = 8
	var first [lead]string
	n := 0
	for w := range wordsOf(htmlWords) {
		first[n] = w
		if n++; n == lead {
			break
		}
	}
	if n == 0 {
		return true
	}
	// Stream the text's words, keeping the last n: where one matches the HTML's n-th word,
	// compare the n before it.
	var last [lead]string
	count := 0
	for w := range wordsOf(text) {
		last[count%lead] = w
		count++
		if count < n || !strings.EqualFold(w, first[n-1]) {
			continue
		}
		found := true
		for j := 0; j < n-1 && found; j++ {
			found = strings.EqualFold(last[(count-n+j)%lead], first[j])
		}
		if found {
			return true
		}
	}
	return false
}

// wordBytes counts the bytes of s that belong to words.
func wordBytes(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || asciiWord[c] {
			n++
		}
	}
	return n
}

// asciiWord marks the ASCII bytes that are part of words: letters and digits.
var asciiWord = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	return t
}()

// wordsOf yields the words of s as FTS5's unicode61 tokenizer splits them: runs of letters,
// digits and combining marks.
func wordsOf(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		start := -1
		for i := 0; i < len(s); {
			c, size, word := s[i], 1, false
			if c < utf8.RuneSelf {
				word = asciiWord[c]
			} else {
				var r rune
				r, size = utf8.DecodeRuneInString(s[i:])
				word = isWordRune(r)
			}
			if word {
				if start < 0 {
					start = i
				}
			} else if start >= 0 {
				if !yield(s[start:i]) {
					return
				}
				start = -1
			}
			i += size
		}
		if start >= 0 {
			yield(s[start:])
		}
	}
}
