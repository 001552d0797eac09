package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jhillyerd/enmime/v2"
)

// Message4K is a realistic 4 KB multipart/alternative message (text and HTML), the benchmarks' load.
func Message4K(i int) []byte {
	para := "Thank you for your order. Your items will ship soon and you can track them from your account page at any time. "
	text := strings.Repeat(para, 14)
	html := "<html><body><p>" + strings.Repeat(para+"<b>details</b> ", 13) + "</p></body></html>"
	return []byte(fmt.Sprintf("From: Shop <orders@shop.example>\r\nTo: Customer %d <customer%d@example.org>\r\n"+
		"Subject: Your order #%d has shipped\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <order-%d@shop.example>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"+
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s\r\n--b1--\r\n",
		i, i, i, i, text, html))
}

// Expected returns the number of messages announced (Expect) and not withdrawn.
func Expected(s *Store) int64 { return s.expected.Load() }

// ParserOptions are the enmime options the store parses with.
var ParserOptions = parserOptions

// CutParts is the store's own multipart cutting (see mimeparts.go), with the store's parser.
func CutParts(raw []byte) (*enmime.Part, bool) {
	return parserOnly().cutParts(raw, nil)
}

// Parse parses raw as the store does at ingest.
func Parse(raw []byte) (*enmime.Envelope, error) {
	return parserOnly().parse(raw)
}

// parserOnly is a Store with only what parsing needs.
func parserOnly() *Store { return &Store{parser: enmime.NewParser(parserOptions()...)} }

// HoldIndex keeps the writer from indexing: new messages stay in fts_pending, where searches
// find them through letterbox_match.
func HoldIndex(s *Store, hold bool) { s.indexHeld.Store(hold) }

// IndexPending moves every pending row into the full-text index now, and returns how many.
func IndexPending(ctx context.Context, s *Store) (int, error) {
	total := 0
	err := s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		for {
			n, err := indexOldest(ctx, tx)
			total += n
			if err != nil || n == 0 {
				return nil, err
			}
		}
	})
	return total, err
}

// Pending returns how many messages wait for the full-text index.
func Pending(ctx context.Context, s *Store) (int, error) {
	var n int
	err := s.readDB.QueryRowContext(ctx, "SELECT COUNT(*) FROM fts_pending").Scan(&n)
	return n, err
}

// CheckpointEvery makes a store opened with opts checkpoint after every n bytes committed.
func CheckpointEvery(opts *Options, n int64) { opts.checkpointBytes = n }

// SetPartCache bounds the parts cache of s to maxBytes (below 0: nothing cached) and empties it;
// the returned function puts the default back.
func SetPartCache(s *Store, maxBytes int) (restore func()) {
	set := func(n int) {
		s.partCache.mu.Lock()
		s.partCache.maxBytes, s.partCache.sets, s.partCache.size = n, nil, 0
		s.partCache.mu.Unlock()
	}
	set(maxBytes)
	return func() { set(0) }
}

// ParseForIngest parses raw as ingest does (see readLeaf), and returns the decoded size of each
// part, whether decoded or only measured, and how many were only measured.
func ParseForIngest(raw []byte) (env *enmime.Envelope, size func(*enmime.Part) int64, measured int, err error) {
	sizes := partSizes{}
	env, err = parserOnly().parseSized(raw, sizes)
	return env, sizes.of, len(sizes), err
}
