package store_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
)

// BenchmarkSearchPending is what the messages waiting for the index cost a search: a word, a
// phrase and a to: address over 2,000 indexed messages of the realistic mix, with none pending
// and with 256 pending (the most the writer lets wait before it indexes, under steady ingest),
// which letterbox_match reads one by one.
func BenchmarkSearchPending(b *testing.B) {
	for _, pending := range []int{0, 256} {
		s := openStore(b, store.Options{})
		ctx := context.Background()
		for i := range 2000 {
			m := realmail.Mix(i)
			add(b, s, store.Envelope{MailFrom: m.From, Recipients: m.To}, m.Raw)
		}
		if _, err := store.IndexPending(ctx, s); err != nil {
			b.Fatal(err)
		}
		store.HoldIndex(s, true)
		for i := range pending {
			m := realmail.Mix(2000 + i)
			add(b, s, store.Envelope{MailFrom: m.From, Recipients: m.To}, m.Raw)
		}
		for _, q := range []string{"order", `"your order"`, "to:customer7@example.com"} {
			parsed, err := store.ParseQuery(q)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(q+"/pending="+strconv.Itoa(pending), func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Search(ctx, store.Filter{Query: parsed}, store.Page{Limit: 50}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
