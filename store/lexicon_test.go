package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/realmail"
)

// randomWord returns a word of 3 to 12 letters from a small alphabet (so that words repeat and
// fragments occur inside many of them), sometimes with a non-ASCII letter.
func randomWord(r *rand.Rand) string {
	letters := []rune("abcdeéfgko")
	var b strings.Builder
	for range 3 + r.IntN(10) {
		b.WriteRune(letters[r.IntN(len(letters))])
	}
	return b.String()
}

// TestLexiconAgreesWithAMap: over many words added in batches, stored or not, across several
// chunks and table growths, the lexicon knows exactly the words a map of them knows, with the
// same stored flags, and finds inside words exactly what a scan of every word finds.
func TestLexiconAgreesWithAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var l lexicon
	want := map[string]bool{}
	for range 200 {
		stored := r.IntN(3) > 0
		var batch []string
		for range r.IntN(2000) {
			batch = append(batch, randomWord(r))
		}
		l.add(batch, stored)
		for _, w := range batch {
			want[w] = want[w] || stored
		}
	}
	if n, b := l.size(); n != len(want) || b < 2*lexiconChunk {
		t.Fatalf("%d words in %d bytes, want %d words over more than one chunk", n, b, len(want))
	}
	// unstored: the words the map has not stored, and words it has never seen, once each.
	var probe []string
	var wantUnstored []string
	for w, stored := range want {
		probe = append(probe, w)
		if !stored {
			wantUnstored = append(wantUnstored, w)
		}
	}
	for i := range 1000 {
		w := fmt.Sprintf("never%dseen", i)
		probe = append(probe, w, w)
		wantUnstored = append(wantUnstored, w)
	}
	got := l.unstored([]*record{{words: probe}})
	slices.Sort(got)
	slices.Sort(wantUnstored)
	if !slices.Equal(got, wantUnstored) {
		t.Fatalf("unstored: %d words, want %d", len(got), len(wantUnstored))
	}
	for _, frag := range []string{"abc", "éfg", "kok", "oo", "gé", "dead"} {
		for _, suffix := range []bool{false, true} {
			var scan []string
			for w := range want {
				// Not the words it starts: the term's prefix matches them already.
				if suffix && strings.HasSuffix(w, frag) && len(w) > len(frag) ||
					!suffix && strings.Contains(w, frag) && !strings.HasPrefix(w, frag) {
					scan = append(scan, w)
				}
			}
			got := l.containing(frag, suffix, len(want))
			slices.Sort(got)
			slices.Sort(scan)
			if !slices.Equal(got, scan) {
				t.Errorf("containing(%q, %v): %d words, want %d", frag, suffix, len(got), len(scan))
			}
		}
	}
}

// TestLexiconLoad: a lexicon loaded from the terms table knows each of its words as stored,
// and the words an open store learns as it commits are in the table after a restart.
func TestLexiconLoad(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "letterbox.db")
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		m := realmail.Mix(i)
		if _, err := s.Add(ctx, Envelope{MailFrom: m.From, Recipients: m.To}, strings.NewReader(string(m.Raw))); err != nil {
			t.Fatal(err)
		}
	}
	terms, err := queryStrings(ctx, s.readDB, "SELECT term FROM terms")
	if err != nil || len(terms) < 100 {
		t.Fatalf("%d terms (%v)", len(terms), err)
	}
	if got := s.lexicon.unstored([]*record{{words: terms}}); len(got) != 0 {
		t.Errorf("open store: %d stored words not known as stored: %q", len(got), got[:min(5, len(got))])
	}
	s.Close()
	var l lexicon
	if err := l.load(ctx, mustOpenReader(t, path)); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.size(); n != len(terms) {
		t.Errorf("loaded %d words, want %d", n, len(terms))
	}
	if got := l.unstored([]*record{{words: terms}}); len(got) != 0 {
		t.Errorf("loaded: %d stored words not known as stored", len(got))
	}
}

func mustOpenReader(t *testing.T, path string) querier {
	t.Helper()
	db, err := openDB(path, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkLexiconUnstored is the lexicon's part of every commit: looking up the vocabulary
// words of messages of the realistic mix in a lexicon of 800,000 words.
func BenchmarkLexiconUnstored(b *testing.B) {
	s := tempStore(b)
	var recs []*record
	for i := range 64 {
		m := realmail.Mix(i)
		recs = append(recs, s.prepare(Envelope{MailFrom: m.From, Recipients: m.To}, nil, m.Raw))
	}
	var l lexicon
	r := rand.New(rand.NewPCG(3, 4))
	filler := make([]string, 0, 800000)
	for range cap(filler) {
		filler = append(filler, randomWord(r)+randomWord(r))
	}
	l.add(filler, true)
	for _, rec := range recs {
		l.add(rec.words, true)
	}
	words := 0
	for _, rec := range recs {
		words += len(rec.words)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		l.unstored(recs[i%len(recs) : i%len(recs)+1])
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(words/len(recs)), "ns/word")
}
