package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
)

// searchAnswer is what a search returned, to compare.
type searchAnswer struct {
	ids           []string
	total, unread int
	index         []int64
}

func answer(t *testing.T, s *store.Store, q string) searchAnswer {
	t.Helper()
	ctx := context.Background()
	parsed, err := store.ParseQuery(q)
	if err != nil {
		t.Fatalf("parse %q: %v", q, err)
	}
	f := store.Filter{Query: parsed}
	res, err := s.Search(ctx, f, store.Page{Limit: 5000})
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	page, err := s.Search(ctx, f, store.Page{Limit: 3, Offset: 1})
	if err != nil {
		t.Fatalf("search %q, a page: %v", q, err)
	}
	entries, err := s.Index(ctx, f)
	if err != nil {
		t.Fatalf("index %q: %v", q, err)
	}
	a := searchAnswer{total: res.Total, unread: res.Unread}
	for _, m := range res.Messages {
		a.ids = append(a.ids, m.ID)
	}
	for _, m := range page.Messages {
		a.ids = append(a.ids, "page:"+m.ID)
	}
	for _, e := range entries {
		a.index = append(a.index, e.UID)
	}
	return a
}

// TestPendingSearchesAnswerAsTheIndex stores the shared corpus and the realistic mix with the
// index held back, so that every message waits in fts_pending and searches match it in Go
// (letterbox_match), asks hundreds of searches built from the messages' own words (words,
// prefixes, other case and accents, phrases, fields, negations, pages, unread counts), then
// indexes everything and asks them again: each answer must be the same.
func TestPendingSearchesAnswerAsTheIndex(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	store.HoldIndex(s, true)
	var ids []string
	for _, path := range corpusFiles(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, add(t, s, store.Envelope{MailFrom: "corpus@example.com", Recipients: []string{"Reader@Example.com"}}, raw).ID)
	}
	for i := range 60 {
		m := realmail.Mix(i)
		ids = append(ids, add(t, s, store.Envelope{MailFrom: m.From, Recipients: m.To}, m.Raw).ID)
	}
	if n, err := store.Pending(ctx, s); err != nil || n != len(ids) {
		t.Fatalf("pending rows = %d, %v; want all %d messages", n, err, len(ids))
	}
	if err := s.SetRead(ctx, ids[:len(ids)/3], true); err != nil {
		t.Fatal(err)
	}

	queries := queriesFrom(t, s, ids)
	before := make([]searchAnswer, len(queries))
	found := 0
	for i, q := range queries {
		start := time.Now()
		before[i] = answer(t, s, q)
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Logf("slow: %q %v", q, d)
		}
		if before[i].total > 0 {
			found++
		}
	}
	if found < len(queries)/2 {
		t.Fatalf("only %d of %d searches found anything while pending: the matcher finds too little", found, len(queries))
	}

	if n, err := store.IndexPending(ctx, s); err != nil || n != len(ids) {
		t.Fatalf("indexed %d, %v; want %d", n, err, len(ids))
	}
	if n, err := store.Pending(ctx, s); err != nil || n != 0 {
		t.Fatalf("pending rows after indexing = %d, %v", n, err)
	}
	differ := 0
	for i, q := range queries {
		after := answer(t, s, q)
		if after.total != before[i].total || after.unread != before[i].unread || !slices.Equal(after.ids, before[i].ids) || !slices.Equal(after.index, before[i].index) {
			differ++
			if differ <= 10 {
				t.Errorf("%q: pending %d matches (%d unread), indexed %d (%d unread)\npending: %v\nindexed: %v",
					q, before[i].total, before[i].unread, after.total, after.unread, before[i].ids, after.ids)
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d searches answered differently before and after indexing", differ, len(queries))
	}
	t.Logf("%d searches, %d of them with matches", len(queries), found)
}

// queriesFrom builds searches from the stored messages' words: of their subject, addresses and
// text, as typed (other case, accents) and in every form the search syntax has.
func queriesFrom(t *testing.T, s *store.Store, ids []string) []string {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	var qs []string
	for i, id := range ids {
		if i%5 != 0 && i > 20 {
			continue
		}
		m, err := s.Message(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		words := strings.FieldsFunc(m.Subject+" "+m.Text, func(r rune) bool {
			return !(r == '\'' || r >= utf8.RuneSelf || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
		})
		if len(words) == 0 {
			continue
		}
		pick := func() string { return words[rng.Intn(len(words))] }
		w := pick()
		qs = append(qs, w, strings.ToUpper(w), "subject:"+pick(), "body:"+pick(), "-"+pick())
		if r := []rune(w); len(r) > 4 {
			qs = append(qs, string(r[:3]), string(r[:4]), string(r[1:4]))
		}
		if j := rng.Intn(len(words)); j+1 < len(words) {
			qs = append(qs, fmt.Sprintf("%q", words[j]+" "+words[j+1]), words[j]+" "+words[j+1])
		}
		if m.From.Address != "" {
			qs = append(qs, "from:"+m.From.Address, m.From.Address)
			if local, _, ok := strings.Cut(m.From.Address, "@"); ok {
				qs = append(qs, "from:"+local)
			}
		}
		for _, a := range m.To {
			qs = append(qs, "to:"+a.Address)
		}
		if m.MessageID != "" {
			qs = append(qs, "message-id:"+m.MessageID)
		}
		if len(m.Headers) > 0 {
			h := m.Headers[rng.Intn(len(m.Headers))]
			if v := strings.Fields(h.Value); len(v) > 0 {
				qs = append(qs, fmt.Sprintf("header:%q", h.Name+": "+v[0]))
			}
		}
	}
	// Accented, folded and mixed forms the corpus's other languages give.
	qs = append(qs, "café", "CAFE", "über", "uber", "naïve", "Grüße", "strasse", "日本", "привет", "is:unread invoice", "has:attachment report", "to:reader@example.com")
	slices.Sort(qs)
	qs = slices.Compact(qs)
	// A sample, for time: each search reads every pending message (a smaller one under the race
	// detector, where the package took five minutes).
	rng.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	n := 180
	if raceDetector {
		n = 60
	}
	return qs[:min(len(qs), n)]
}

// TestCleanStopReturnsFreePages fills a new database, deletes most of it (and so frees the pages
// of its messages, index segments and pending rows), stops cleanly and finds the file without
// free pages: a new database keeps a page map (auto_vacuum=INCREMENTAL) and Close gives them back.
func TestCleanStopReturnsFreePages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "letterbox.db")
	s := openStore(t, store.Options{Path: path})
	var ids []string
	for i := range 300 {
		m := realmail.Mix(i)
		ids = append(ids, add(t, s, store.Envelope{MailFrom: m.From, Recipients: m.To}, m.Raw).ID)
	}
	if _, err := store.IndexPending(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ids[:250]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode, free, pages int
	for q, v := range map[string]*int{"PRAGMA auto_vacuum": &mode, "PRAGMA freelist_count": &free, "PRAGMA page_count": &pages} {
		if err := db.QueryRow(q).Scan(v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if mode != 2 || free != 0 {
		t.Fatalf("after a clean stop: auto_vacuum %d (want 2, incremental), %d of %d pages free (want 0)", mode, free, pages)
	}
}
