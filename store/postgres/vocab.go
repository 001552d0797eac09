package postgres

import (
	"sync"

	"github.com/letterbox-mail/letterbox/store"
)

// vocabCacheMax bounds the writer's memory of the words already in the terms table.
const vocabCacheMax = 1 << 18

// vocabulary is the writer's memory of words known to be in the terms table, so that a batch
// inserts only the others. Words are never deleted from the table (another process may
// remember them), so the memory never goes stale.
type vocabulary struct {
	mu    sync.Mutex
	known map[string]struct{}
}

// unknown returns the distinct vocabulary words of recs not known to be stored.
func (v *vocabulary) unknown(recs []*store.Prepared) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.known == nil {
		v.known = map[string]struct{}{}
	}
	batch := map[string]struct{}{}
	var words []string
	for _, p := range recs {
		for _, w := range p.Words {
			if _, ok := v.known[w]; ok {
				continue
			}
			if _, ok := batch[w]; ok {
				continue
			}
			batch[w] = struct{}{}
			words = append(words, clean(w))
		}
	}
	return words
}

// learn records words as stored (after their batch is committed).
func (v *vocabulary) learn(words []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.known)+len(words) > vocabCacheMax {
		clear(v.known)
	}
	for _, w := range words {
		v.known[w] = struct{}{}
	}
}
