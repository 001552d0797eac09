package store

import (
	"slices"
	"strings"
	"testing"
)

func TestStripTags(t *testing.T) {
	cases := []struct{ html, want string }{
		{"<p>Hello <b>World</b></p>", "Hello World"},
		{"<html><head><style type=\"text/css\">p { color: red }</style><title>Title</title></head><body>Body</body></html>", "Title Body"},
		{"a<script>var secret = 1;</script>b", "a b"},
		{"a<SCRIPT type=module>x()</Script >b", "a b"},
		{"a<!-- hidden <b>note</b> -->b", "a b"},
		{"<styles>kept</styles>", "kept"},
		{"caf&eacute; &amp; cr&egrave;me&nbsp;br&ucirc;l&eacute;e", "café & crème brûlée"},
		{"unclosed <b", "unclosed"},
		{"a <style>never closed", "a"},
	}
	for _, c := range cases {
		if got := strings.Join(strings.Fields(stripTags(c.html)), " "); got != c.want {
			t.Errorf("stripTags(%q) = %q, want %q", c.html, got, c.want)
		}
	}
}

func TestHTMLText(t *testing.T) {
	html := "<html><body><h1>Your order #42</h1><p>Thanks, <b>Ada</b>! Your parcel ships today.</p>" +
		"<p>Track it <a href=\"https://t.example/42\">here</a>.</p></body></html>"
	cases := []struct {
		name, text string
		indexed    bool // whether the HTML's words are indexed beside the text
	}{
		{"no text part", "", true},
		{"alternative with other punctuation and layout", "YOUR ORDER 42\n\nThanks Ada. Your parcel ships today.\n\nTrack it here: https://t.example/42\n", false},
		{"stub text part", "Your order #42 - view it in your browser.", true},
		{"different text", "Something else entirely, and long enough to have as many words as the HTML body has here.", true},
	}
	for _, c := range cases {
		got := htmlText(html, c.text)
		if indexed := got != ""; indexed != c.indexed {
			t.Errorf("%s: htmlText = %q, indexed %v, want %v", c.name, got, indexed, c.indexed)
		}
		if c.indexed && !slices.Contains(strings.Fields(got), "parcel") {
			t.Errorf("%s: HTML words missing: %q", c.name, got)
		}
	}
	if got := htmlText("", "text"); got != "" {
		t.Errorf("no HTML: %q", got)
	}
}

func TestWordsOf(t *testing.T) {
	var got []string
	for w := range wordsOf("Ünïcode, e-mail:ok_42 日本語 x") {
		got = append(got, w)
	}
	want := ftsWords("Ünïcode, e-mail:ok_42 日本語 x")
	if !slices.EqualFunc(got, want, strings.EqualFold) {
		t.Errorf("wordsOf = %q, ftsWords = %q", got, want)
	}
}

func TestAlternativeOf(t *testing.T) {
	cases := []struct {
		text, html string
		want       bool
	}{
		{"a a a b c d e f g h", "a a b c d e f g h", true}, // a false start overlapping the match
		{"x y a b", "a b", true},
		{"a b", "A, b!", true},
		{"a c b", "a b", false},
		{"a b", "a b c d e f g h i j", false}, // too short to be the alternative
		{"anything", "", true},
	}
	for _, c := range cases {
		if got := alternativeOf(c.text, c.html); got != c.want {
			t.Errorf("alternativeOf(%q, %q) = %v, want %v", c.text, c.html, got, c.want)
		}
	}
}
