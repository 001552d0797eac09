package store

import (
	"context"
	"slices"
	"strings"
	"testing"
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
