package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Which address lists of a message a recipients row's address is in: the bits of
// recipients.kinds (migration 0010).
const (
	kindTo  = 1
	kindCc  = 2
	kindBcc = 4 // the Bcc header and the envelope recipients in neither To nor Cc
)

// addressKinds maps a term's field to the bit of the list it searches.
var addressKinds = map[string]int{"to": kindTo, "cc": kindCc, "bcc": kindBcc}

// recipientKinds returns, for each lower-case address of recips, the bits of the lists of sum it
// is in. A bit is set only for an address written in printable ASCII, whose lower case is the one
// SQLite's LIKE folds to: the bits must never claim a match the exact check would refuse.
func recipientKinds(recips []string, sum *Summary) []int {
	kinds := make([]int, len(recips))
	for _, l := range [...]struct {
		bit  int
		list []Address
	}{{kindTo, sum.To}, {kindCc, sum.Cc}, {kindBcc, sum.Bcc}} {
		for _, a := range l.list {
			if !printableASCII(a.Address) {
				continue
			}
			lower := strings.ToLower(a.Address)
			for i, r := range recips {
				if r == lower {
					kinds[i] |= l.bit
				}
			}
		}
	}
	return kinds
}

// printableASCII reports whether s is made of printable ASCII characters only.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// addrSearch is a search for one whole address in one address list (to:, cc: or bcc:), which the
// recipients index answers. Its matches are the messages the term matches: those whose list
// (its JSON) has the value as a substring, among those the full-text index finds the value's
// words in. Every message whose recipients row has the list's bit is one of them (the address
// is in the list, and its words in the index's recipients column), so the matches are those rows
// and the index's other finds that pass the exact check; and when the index finds the first
// word of the value in no more messages than have the bit, there are no others.
type addrSearch struct {
	addr  string // the value, lower case
	bit   int    // its list's bit in recipients.kinds
	match string // the term's full-text match
	first string // a full-text match of the value's first word (or its alternatives) alone
	exact string // the list's JSON column
	like  string // the LIKE pattern of the value in it
}

// addressSearch reports whether f is a single to:, cc: or bcc: term whose value is a whole address
// of ASCII letters, digits and ". _ + -" around one @ (which is how it is written in the list's
// JSON), and returns its search.
func (f Filter) addressSearch() (addrSearch, bool) {
	if len(f.Query.Terms) != 1 || f.Recipient != "" || !f.Since.IsZero() || f.SinceUID != 0 {
		return addrSearch{}, false
	}
	t := f.Query.Terms[0]
	bit, ok := addressKinds[t.Field]
	if !ok || t.Negate || !wholeAddress(t.Value) {
		return addrSearch{}, false
	}
	match, exact, ok := t.ftsMatchIn(f.altsOf(0))
	if !ok || exact == "" {
		return addrSearch{}, false
	}
	words, _ := t.textWords()
	first := match
	if len(words) > 1 {
		options := []string{`"` + words[0] + `"`}
		for _, a := range f.altsOf(0) {
			options = append(options, `"`+a+`"`)
		}
		first = "{" + textFields[t.Field].columns + "} : (" + strings.Join(options, " OR ") + ")"
	}
	return addrSearch{addr: strings.ToLower(t.Value), bit: bit, match: match, first: first,
		exact: exact, like: likePattern(jsonFragment(t.Value))}, true
}

// wholeAddress reports whether v is local@domain, both parts non-empty, of ASCII letters, digits
// and . _ + - only.
func wholeAddress(v string) bool {
	local, domain, ok := strings.Cut(v, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !asciiWord[c] && !strings.ContainsRune("._+-@", rune(c)) {
			return false
		}
	}
	return true
}

// searchAddress is Search for an address term: its count and its page come from one snapshot.
func (s *Store) searchAddress(ctx context.Context, a addrSearch, p Page) (Result, error) {
	res := Result{Messages: []Summary{}}
	tx, err := s.readDB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return res, fmt.Errorf("store: search: %w", err)
	}
	defer tx.Rollback()
	// The rows with the list's bit, how many of them are unread (as for a plain search, see
	// Search), and how many messages the index finds the first word in.
	var flagged, found int
	if err := tx.QueryRowContext(ctx, `SELECT r.n, w.n, CASE
			WHEN r.n != w.n THEN 0
			WHEN c.unread = c.total THEN r.n
			WHEN c.unread = 0 THEN 0
			WHEN c.unread * 2 <= c.total THEN (SELECT COUNT(*) FROM recipients x JOIN messages m INDEXED BY messages_unread
				ON m.uid = x.uid AND m.read = 0 WHERE x.addr = ?1 AND x.kinds & ?2)
			ELSE r.n - (SELECT COUNT(*) FROM recipients x JOIN messages m INDEXED BY messages_read
				ON m.uid = x.uid AND m.read = 1 WHERE x.addr = ?1 AND x.kinds & ?2)
		END
		FROM counters c, (SELECT COUNT(*) AS n FROM recipients WHERE addr = ?1 AND kinds & ?2) r,
			(SELECT (SELECT COUNT(*) FROM fts WHERE fts MATCH ?3) + (SELECT COUNT(*) FROM fts_pending p WHERE `+pendingMatch(a.first, "?3")+`) AS n) w`,
		a.addr, a.bit, a.first).Scan(&flagged, &found, &res.Unread); err != nil {
		return res, fmt.Errorf("store: count: %w", err)
	}
	if flagged == 0 {
		return res, errNoShortcut // nothing to gain over the general search
	}
	// hits selects the matches' UIDs: the flagged rows, and when the index finds more, those of
	// its other finds that pass the exact check.
	hits := "SELECT uid FROM recipients WHERE addr = ?1 AND kinds & ?2"
	args := []any{a.addr, a.bit}
	res.Total = flagged
	if found != flagged {
		// The index's finds, and those of the messages waiting for it (see matchedUIDs).
		hits += ` UNION ALL SELECT f.uid FROM (` + matchedUIDs(a.match, "?3") + `) f
			WHERE NOT EXISTS (SELECT 1 FROM recipients r WHERE r.addr = ?1 AND r.uid = f.uid AND r.kinds & ?2)
			AND EXISTS (SELECT 1 FROM messages m WHERE m.uid = f.uid AND ` + a.exact + ` LIKE ?4 ESCAPE '\')`
		args = append(args, a.match, a.like)
		if err := tx.QueryRowContext(ctx, `WITH hits AS MATERIALIZED (`+hits+`),
			c AS (SELECT total, unread FROM counters),
			n AS (SELECT COUNT(*) AS n FROM hits)
			SELECT n.n, CASE
				WHEN c.unread = c.total THEN n.n
				WHEN c.unread = 0 THEN 0
				WHEN c.unread * 2 <= c.total THEN (SELECT COUNT(*) FROM hits JOIN messages m INDEXED BY messages_unread
					ON m.uid = hits.uid AND m.read = 0)
				ELSE n.n - (SELECT COUNT(*) FROM hits JOIN messages m INDEXED BY messages_read
					ON m.uid = hits.uid AND m.read = 1)
			END
			FROM c, n`, args...).Scan(&res.Total, &res.Unread); err != nil {
			return res, fmt.Errorf("store: count: %w", err)
		}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := tx.QueryContext(ctx, `WITH hits AS (`+hits+`)
		SELECT `+summaryColumns+` FROM messages m
		WHERE m.uid IN (SELECT uid FROM hits ORDER BY uid DESC LIMIT ?5 OFFSET ?6) ORDER BY m.uid DESC`,
		append(pad(args, 4), limit, max(p.Offset, 0))...)
	if err != nil {
		return res, fmt.Errorf("store: search: %w", err)
	}
	defer rows.Close()
	if res.Messages, err = scanSummaries(rows); err != nil {
		return res, fmt.Errorf("store: search: %w", err)
	}
	return res, nil
}

// errNoShortcut is searchAddress's answer when the general search would do as well.
var errNoShortcut = errors.New("store: no address shortcut")

// pad returns args extended with nils to n values, so that later numbered parameters line up.
func pad(args []any, n int) []any {
	for len(args) < n {
		args = append(args, nil)
	}
	return args
}
