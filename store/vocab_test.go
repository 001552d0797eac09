package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/letterbox-mail/letterbox/internal/realmail"
	"golang.org/x/text/unicode/norm"
)

func TestVocabularyOf(t *testing.T) {
	got := vocabularyOf("Ünïcode CAFÉ café cafe ab 42nd order-7 pneumonoultramicroscopicsilicovolcanoconiosis-and-more",
		"x@example.org", "Unicode unicode")
	want := []string{"unicode", "cafe", "order", "and", "more", "example", "org"}
	if !slices.Equal(got, want) {
		t.Errorf("vocabularyOf = %q, want %q", got, want)
	}
	if got := vocabularyOf(strings.Repeat("a", vocabMaxLen+1)); len(got) != 0 {
		t.Errorf("a word longer than %d letters: %q", vocabMaxLen, got)
	}
}

// TestSearchInsideManyWords: a fragment found inside more words than maxAlternatives still
// answers, matching at the start of words.
func TestSearchInsideManyWords(t *testing.T) {
	ctx := context.Background()
	s := tempStore(t)
	var many []string
	for _, a := range "abcdefghijklmnopqrstuvwxyz" {
		for _, b := range "abcde" {
			many = append(many, string(a)+string(b)+"zork")
		}
	}
	add := func(subject, body string) string {
		sum, err := s.Add(ctx, Envelope{}, strings.NewReader("Subject: "+subject+"\r\n\r\n"+body+"\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		return sum.ID
	}
	add("many", strings.Join(many, " "))
	start := add("start", "zorkian")
	inside := add("inside", "bizorkal")

	q, _ := ParseQuery("zork")
	res, err := s.Search(ctx, Filter{Query: q}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || res.Messages[0].ID != start {
		t.Errorf("zork, inside %d words: %+v", len(many)+1, res.Messages)
	}
	q, _ = ParseQuery("izork")
	if res, _ = s.Search(ctx, Filter{Query: q}, Page{}); len(res.Messages) != 1 || res.Messages[0].ID != inside {
		t.Errorf("izork: %+v", res.Messages)
	}
}

func TestVocabularyOfBounded(t *testing.T) {
	var b strings.Builder
	for i := range maxMessageWords + 10 {
		for n := i; ; n /= 26 {
			b.WriteByte(byte('a' + n%26))
			if n < 26 {
				break
			}
		}
		b.WriteString("xyz ")
	}
	if got := vocabularyOf(b.String()); len(got) != maxMessageWords {
		t.Errorf("%d words kept, want %d", len(got), maxMessageWords)
	}
}

// TestVocabularyAfterDeleteAll: deleting everything empties the vocabulary, and words of mail
// that comes after are found inside words again.
func TestVocabularyAfterDeleteAll(t *testing.T) {
	ctx := context.Background()
	s := tempStore(t)
	add := func(body string) string {
		sum, err := s.Add(ctx, Envelope{}, strings.NewReader("Subject: s\r\n\r\n"+body+"\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		return sum.ID
	}
	count := func(q string) int {
		query, _ := ParseQuery(q)
		res, err := s.Search(ctx, Filter{Query: query}, Page{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Total
	}
	add("springtime")
	if err := s.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	var terms int
	if err := s.readDB.QueryRow("SELECT count(*) FROM terms").Scan(&terms); err != nil || terms != 0 {
		t.Fatalf("%d words left after delete all (%v)", terms, err)
	}
	add("springtime") // known to the writer before: it must be stored again
	if n := count("ringtim"); n != 1 {
		t.Fatalf("inside a word after delete all: %d matches, want 1", n)
	}
}

func TestWordLike(t *testing.T) {
	for _, w := range []string{"unicode", "iPhone", "YouTube", "JavaScript", "McDonald", "strengths", "rhythms",
		"CAFÉ", "Müller", "Ünïcode", "Kundenservicemitarbeiter", "東京都渋谷区", "Здравствуйте", "NASA", "Northwind"} {
		if !wordLike(w) {
			t.Errorf("%q is not taken for a word", w)
		}
	}
	// Pieces of tokens: base64 and random letters.
	for _, w := range []string{"GQqXVUrBD", "yGaTcMM", "aBcDeF", "wtpqxdtpskwusqhsl", "bcdfghjk"} {
		if wordLike(w) {
			t.Errorf("%q is taken for a word", w)
		}
	}
	if got := vocabularyOf("tracking GQqXVUrBD-yga_xQzTmNp springtime"); !slices.Equal(got, []string{"tracking", "yga", "springtime"}) {
		t.Errorf("vocabularyOf = %q", got)
	}
}

func TestLexiconContaining(t *testing.T) {
	var l lexicon
	l.add([]string{"example", "ample", "sample", "trampled", "ampleness", "xamplex"}, true)
	l.add([]string{"sample", "resample"}, false) // one known, one new
	got := l.containing("ample", false, 100)
	slices.Sort(got)
	// Not "ample" and "ampleness": the term's prefix matches them already.
	if want := []string{"example", "resample", "sample", "trampled", "xamplex"}; !slices.Equal(got, want) {
		t.Errorf("containing ample = %q, want %q", got, want)
	}
	got = l.containing("ample", true, 100)
	slices.Sort(got)
	if want := []string{"example", "resample", "sample"}; !slices.Equal(got, want) {
		t.Errorf("ending with ample = %q, want %q", got, want)
	}
	if got := l.containing("ample", false, 2); len(got) != 3 {
		t.Errorf("limit 2: %q, want 3 words (more than the limit)", got)
	}
	if n, _ := l.size(); n != 7 {
		t.Errorf("%d words, want 7", n)
	}
	// Many words over several chunks.
	var many []string
	for i := range 100000 {
		many = append(many, fmt.Sprintf("w%dzork", i))
	}
	l.add(many, true)
	if _, b := l.size(); b < 2*lexiconChunk {
		t.Fatalf("%d bytes: one chunk", b)
	}
	if got := l.containing("99999zor", false, 100); !slices.Equal(got, []string{"w99999zork"}) {
		t.Errorf("in the last chunk: %q", got)
	}
	rec := &record{words: []string{"sample", "resample", "brandnew", "brandnew"}}
	if got := l.unstored([]*record{rec}); !slices.Equal(got, []string{"resample", "brandnew"}) {
		t.Errorf("unstored = %q", got)
	}
	l.reset()
	if got := l.containing("ample", false, 100); len(got) != 0 {
		t.Errorf("after reset: %q", got)
	}
}

// TestVocabularySurvivesRestart: the words the lexicon holds come back from the terms table.
func TestVocabularySurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "letterbox.db")
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, Envelope{}, strings.NewReader("Subject: s\r\n\r\nspringtime\r\n")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(ctx, Options{Path: path}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, _ := ParseQuery("ringtim")
	if res, err := s.Search(ctx, Filter{Query: q}, Page{}); err != nil || res.Total != 1 {
		t.Errorf("inside a word after a restart: %d matches (%v), want 1", res.Total, err)
	}
}

// TestVocabularyOfRetriedBatch: when a batch fails and its requests are committed one by one,
// the words of its messages still reach the terms table (the lexicon had learnt them in the
// failed attempt).
func TestVocabularyOfRetriedBatch(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "letterbox.db")
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	release, held := make(chan struct{}), make(chan struct{})
	hold := writeReq{reply: make(chan writeResult, 1), change: func(context.Context, dbtx) ([]Event, error) {
		close(held)
		<-release
		return nil, nil
	}}
	s.writes <- hold
	<-held
	rec := s.prepare(Envelope{}, nil, []byte("Subject: s\r\n\r\nspringtime\r\n"))
	msg := writeReq{rec: rec, reply: make(chan writeResult, 1)}
	fail := writeReq{reply: make(chan writeResult, 1), change: func(context.Context, dbtx) ([]Event, error) {
		return nil, errors.New("this change fails")
	}}
	s.writes <- msg
	s.writes <- fail
	close(release)
	<-hold.reply
	if res := <-msg.reply; res.err != nil {
		t.Fatal(res.err)
	}
	if res := <-fail.reply; res.err == nil {
		t.Fatal("the failing change succeeded")
	}
	if st, _ := s.Stats(ctx); st.Commits < 3 {
		t.Fatalf("%d commits: the batch was not retried request by request", st.Commits)
	}
	s.Close()
	if s, err = Open(ctx, Options{Path: path}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, _ := ParseQuery("ringtim")
	if res, err := s.Search(ctx, Filter{Query: q}, Page{}); err != nil || res.Total != 1 {
		t.Errorf("inside a word of a retried batch after a restart: %d matches (%v), want 1", res.Total, err)
	}
}

// foldSlow is fold as it was before its fast path: lower case, decomposed, marks dropped.
func foldSlow(word string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(word)) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestFoldAsDecomposition holds fold's fast path to the decomposition it skips: for every word
// of the realistic mix and of scripts with and without marks, fold gives what decomposing does.
func TestFoldAsDecomposition(t *testing.T) {
	words := []string{"Zürich", "ÉCOLE", "naïve", "Ελληνικά", "Москва", "Ёлка", "合计地点发货", "が", "ガイド", "パスワード",
		"한국어", "ﬁle", "Å", "e\u0301", "\u0301x", "ǅemal", "İstanbul", "straße", "ॐ", "हिन्दी", "עִברִית", "𝔘𝔫𝔦", "ß", "Ǆ"}
	for i := range 300 {
		for w := range wordsOf(string(realmail.Mix(i).Raw)) {
			words = append(words, w)
		}
	}
	for r := rune(0x80); r < 0x30000; r += 5 {
		words = append(words, "a"+string(r)+"b", string(r))
	}
	for _, w := range words {
		if got, want := fold(w), foldSlow(w); got != want {
			t.Errorf("fold(%q) = %q, want %q", w, got, want)
		}
	}
}

// FuzzFold: fold and the decomposition agree on any text.
func FuzzFold(f *testing.F) {
	for _, w := range []string{"Zürich", "が", "합", "e\u0301", "Москва"} {
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, w string) {
		if got, want := fold(w), foldSlow(w); got != want {
			t.Errorf("fold(%q) = %q, want %q", w, got, want)
		}
	})
}
