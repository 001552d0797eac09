package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Filter selects messages. The zero Filter selects all of them.
type Filter struct {
	// Query is a parsed search (see ParseQuery).
	Query Query
	// Recipient keeps only messages sent to this address: an envelope recipient or in To, Cc or Bcc.
	Recipient string
	// Since keeps only messages received strictly after this time.
	Since time.Time
	// SinceUID keeps only messages whose UID is greater than this.
	SinceUID int64

	// alts holds, once expand has looked them up, the indexed words each term of Query may
	// start inside of (nil: none).
	alts [][]string
}

// altsOf returns the words term i may start inside of.
func (f Filter) altsOf(i int) []string {
	if i < len(f.alts) {
		return f.alts[i]
	}
	return nil
}

// Entry is the light description of a message that POP3 and IMAP list.
type Entry struct {
	UID     int64
	ID      string
	Size    int64
	Read    bool
	Created time.Time
	Deleted bool // the IMAP \Deleted flag (see Store.SetDeleted)
}

// onlyWords reports whether f is a single positive term answered by the index alone, and
// returns that term's full-text match.
func (f Filter) onlyWords() (string, bool) {
	if len(f.Query.Terms) != 1 || f.Recipient != "" || !f.Since.IsZero() || f.SinceUID != 0 {
		return "", false
	}
	t := f.Query.Terms[0]
	match, exact, ok := t.ftsMatchIn(f.altsOf(0))
	if !ok || exact != "" || t.Negate {
		return "", false
	}
	return match, true
}

// isZero reports whether f selects every message.
func (f Filter) isZero() bool {
	return len(f.Query.Terms) == 0 && f.Recipient == "" && f.Since.IsZero() && f.SinceUID == 0
}

// where compiles f into a SQL condition on messages aliased m. Text terms use the FTS5 index;
// the exact checks that follow them run only on the rows the index found.
func (f Filter) where() (string, []any) {
	_, cond, args := f.compile(false)
	return cond, args
}

// compile is where; with join, the first positive full-text term is not a condition but drives
// the query: it returns the FROM clause "fts JOIN messages m" and that term's MATCH as the first
// condition, so that counting a broad search walks the index once instead of probing it per row.
func (f Filter) compile(join bool) (from, cond string, args []any) {
	from = "messages m"
	conds := []string{"1"}
	if join {
		for i, t := range f.Query.Terms {
			if t.Negate {
				continue
			}
			if match, exact, ok := t.ftsMatchIn(f.altsOf(i)); ok {
				rest := slices.Delete(slices.Clone(f.Query.Terms), i, i+1)
				restAlts := f.alts // nil, or one per term
				if restAlts != nil {
					restAlts = slices.Delete(slices.Clone(restAlts), i, i+1)
				}
				from = "(" + matchedUIDs(match, "?") + ") AS f JOIN messages m ON m.uid = f.uid"
				if exact == "" && allCovered(rest) {
					// The planner would read each match's wide row; the covering index has all it needs.
					from = "(" + matchedUIDs(match, "?") + ") AS f JOIN messages m INDEXED BY messages_list ON m.uid = f.uid"
				}
				args = append(args, match, match)
				if exact != "" {
					conds = append(conds, exact+" LIKE ? ESCAPE '\\'")
					args = append(args, likePattern(jsonFragment(t.Value)))
				}
				f.Query, f.alts = Query{Terms: rest}, restAlts
				break
			}
		}
	}
	if f.Recipient != "" {
		conds = append(conds, "m.uid IN (SELECT uid FROM recipients WHERE addr = ?)")
		args = append(args, strings.ToLower(strings.TrimSpace(f.Recipient)))
	}
	if !f.Since.IsZero() {
		conds = append(conds, "m.created > ?")
		args = append(args, f.Since.UnixMicro())
	}
	if f.SinceUID > 0 {
		conds = append(conds, "m.uid > ?")
		args = append(args, f.SinceUID)
	}
	for i, t := range f.Query.Terms {
		c, a := t.sql(f.altsOf(i))
		if t.Negate {
			c = "NOT (" + c + ")"
		}
		conds = append(conds, c)
		args = append(args, a...)
	}
	return from, strings.Join(conds, " AND "), args
}

// allCovered reports whether terms read only columns of the messages_list index (uid, read, size,
// created, id) and other tables.
func allCovered(terms []Term) bool {
	for _, t := range terms {
		switch t.Field {
		case "after", "before", "larger", "smaller", "tag", "is":
		default:
			if _, exact, ok := t.ftsMatchIn(nil); !ok || exact != "" {
				return false
			}
		}
	}
	return true
}

// textFields are the terms the full-text index answers: the FTS5 columns to match in, and the
// messages column the value must also occur in exactly ("" when the index alone decides).
var textFields = map[string]struct{ columns, exact string }{
	"":          {"", ""},
	"to":        {"recipients", "m.to_json"},
	"cc":        {"recipients", "m.cc_json"},
	"bcc":       {"recipients", "m.bcc_json"},
	"from":      {"sender", "m.from_json"},
	"reply-to":  {"sender", "m.reply_to_json"},
	"addressed": {"sender recipients", "(m.from_json || m.to_json || m.cc_json || m.bcc_json || m.reply_to_json)"},
	"subject":   {"subject", "m.subject"},
	"body":      {"body", ""},
	"header":    {"headers", ""},
	// Not in the search syntax: MailHog's kind=from (envelope sender or From) and kind=to
	// (envelope recipients or To), which the index's address columns hold.
	EnvelopeFrom: {"sender", ""},
	EnvelopeTo:   {"recipients", ""},
}

// Term fields for MailHog's searches, which the search syntax has no words for.
const (
	// EnvelopeFrom matches the envelope sender (MAIL FROM) or an address in From or Reply-To.
	EnvelopeFrom = "envelope-from"
	// EnvelopeTo matches an envelope recipient (RCPT TO) or an address in To, Cc or Bcc.
	EnvelopeTo = "envelope-to"
)

// ftsMatchIn returns the FTS5 expression of a term answered by the full-text index, and the
// column its value must also occur in exactly ("" when none); ok is false for other terms and
// for values without words. The value may also start inside the indexed words alts (see
// expand): a one-word value inside any of them, a longer value's first word at their end.
func (t Term) ftsMatchIn(alts []string) (match, exact string, ok bool) {
	f, known := textFields[t.Field]
	if !known {
		return "", "", false
	}
	columns, exact := f.columns, f.exact
	words, at := t.textWords()
	if len(words) == 0 {
		return "", "", false
	}
	// phrase is the value as an FTS5 phrase, its first word replaced by alt when alt is set.
	phrase := func(alt string) string {
		ws := words
		if alt != "" {
			ws = slices.Concat(words[:at], []string{alt}, words[at+1:])
		}
		if last := ws[len(ws)-1]; exact != "" && len(ws) > 1 && len(last) <= 3 {
			// The exact check that follows finds the whole value, so the index only needs to
			// find where it starts. A short last word is left out: in an address it is "com"
			// or "org", a prefix of thousands of words whose doclists FTS5 would merge for
			// every query (to:user@example.com 19 ms -> 2 ms at 100k). A longer one is kept:
			// it is what makes "order 54321" selective.
			return `"` + strings.Join(ws[:len(ws)-1], " ") + `"`
		}
		return `"` + strings.Join(ws, " ") + `"*`
	}
	match = phrase("")
	if len(alts) > 0 { // set by expand only when the value has a word
		options := []string{match}
		for _, a := range alts {
			if len(words) == 1 {
				options = append(options, `"`+a+`"`)
			} else {
				options = append(options, phrase(a))
			}
		}
		match = "(" + strings.Join(options, " OR ") + ")"
	}
	if columns != "" {
		match = "{" + columns + "} : " + match
	}
	return match, exact, true
}

// textWords returns the words of a text term as the index sees them, and where the value's own
// words start (after a header's name).
func (t Term) textWords() ([]string, int) {
	if t.Field == "header" {
		name := ftsWords(t.Name)
		return append(name, ftsWords(t.Value)...), len(name)
	}
	return ftsWords(t.Value), 0
}

// sql compiles one term (without its negation).
func (t Term) sql(alts []string) (string, []any) {
	v := t.Value
	lower := strings.ToLower(v)
	if match, exact, ok := t.ftsMatchIn(alts); ok {
		cond := "m.uid IN (" + matchedUIDs(match, "?") + ")"
		args := []any{match, match}
		if exact != "" {
			cond += " AND " + exact + " LIKE ? ESCAPE '\\'"
			args = append(args, likePattern(jsonFragment(v)))
		}
		return cond, args
	}
	if f, ok := textFields[t.Field]; ok {
		// No words at all (say "@"): a substring of that field, or of the subject.
		col := f.exact
		if col == "" {
			col = "m.subject"
		}
		return col + " LIKE ? ESCAPE '\\'", []any{likePattern(v)}
	}
	switch t.Field {
	case "message-id":
		return "m.message_id LIKE ? ESCAPE '\\'", []any{likePattern(strings.Trim(v, "<>"))}
	case "tag":
		return "m.uid IN (SELECT uid FROM tags WHERE tag = ? COLLATE NOCASE)", []any{v}
	case "is":
		switch lower {
		case "read", "seen":
			return "m.read = 1", nil
		case "unread", "unseen":
			return "m.read = 0", nil
		default: // tagged
			return "EXISTS (SELECT 1 FROM tags t WHERE t.uid = m.uid)", nil
		}
	case "has":
		if lower == "inline" {
			return "m.inlines > 0", nil
		}
		return "m.attachments > 0", nil
	case "sent-after":
		d, _ := parseSearchDate(v)
		return "m.date > ?", []any{d.UnixMicro()}
	case "sent-before":
		d, _ := parseSearchDate(v)
		return "m.date != 0 AND m.date < ?", []any{d.UnixMicro()}
	case "after":
		d, _ := parseSearchDate(v)
		return "m.created > ?", []any{d.UnixMicro()}
	case "before":
		d, _ := parseSearchDate(v)
		return "m.created < ?", []any{d.UnixMicro()}
	case "larger":
		n, _ := parseSize(v)
		return "m.size > ?", []any{n}
	case "smaller":
		n, _ := parseSize(v)
		return "m.size < ?", []any{n}
	}
	return "0", nil
}

// ftsWords splits s into the words FTS5's unicode61 tokenizer sees, in lower case.
func ftsWords(s string) []string {
	var words []string
	for w := range wordsOf(strings.ToLower(s)) {
		words = append(words, w)
	}
	return words
}

// jsonFragment is how s appears inside the JSON text of an address column.
func jsonFragment(s string) string {
	return strings.Trim(mustJSON(s), `"`)
}

func likePattern(s string) string {
	return "%" + likeEscape(s) + "%"
}

// summaryColumns are the columns scanSummary reads, from messages m.
const summaryColumns = `m.uid, m.id, m.created, m.date, m.read, m.size, m.message_id, m.subject, m.from_json,
	m.to_json, m.cc_json, m.bcc_json, m.reply_to_json, m.username, m.attachments, m.inlines, m.snippet,
	COALESCE((SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM tags t WHERE t.uid = m.uid ORDER BY tag)), '')`

type scanner interface{ Scan(dest ...any) error }

func scanSummary(row scanner) (Summary, error) {
	var s Summary
	var created, date int64
	var from, to, cc, bcc, replyTo, tags string
	if err := row.Scan(&s.UID, &s.ID, &created, &date, &s.Read, &s.Size, &s.MessageID, &s.Subject, &from,
		&to, &cc, &bcc, &replyTo, &s.Username, &s.Attachments, &s.Inlines, &s.Snippet, &tags); err != nil {
		return Summary{}, err
	}
	s.Created = time.UnixMicro(created).UTC()
	if date != 0 {
		s.Date = time.UnixMicro(date).UTC()
	}
	s.To, s.Cc, s.Bcc, s.ReplyTo = []Address{}, []Address{}, []Address{}, []Address{}
	for _, p := range []struct {
		src string
		dst any
	}{{from, &s.From}, {to, &s.To}, {cc, &s.Cc}, {bcc, &s.Bcc}, {replyTo, &s.ReplyTo}} {
		if err := json.Unmarshal([]byte(p.src), p.dst); err != nil {
			return Summary{}, fmt.Errorf("store: decode addresses of %s: %w", s.ID, err)
		}
	}
	s.Tags = []string{}
	if tags != "" {
		s.Tags = strings.Split(tags, "\x1f")
	}
	return s, nil
}

// scanSummaries reads every row of rows (summaryColumns) as a Summary; never nil.
func scanSummaries(rows *sql.Rows) ([]Summary, error) {
	list := []Summary{}
	for rows.Next() {
		sum, err := scanSummary(rows)
		if err != nil {
			return list, err
		}
		list = append(list, sum)
	}
	return list, rows.Err()
}

// Search returns one page of the messages f selects, newest first, with the number of matches.
func (s *Store) Search(ctx context.Context, f Filter, p Page) (Result, error) {
	res := Result{Messages: []Summary{}}
	f = s.expand(f)
	if a, ok := f.addressSearch(); ok {
		if res, err := s.searchAddress(ctx, a, p); !errors.Is(err, errNoShortcut) {
			return res, err
		}
	}
	match, only := f.onlyWords()
	switch {
	case f.isZero():
		if err := s.readDB.QueryRowContext(ctx, "SELECT total, unread FROM counters").Scan(&res.Total, &res.Unread); err != nil {
			return res, fmt.Errorf("store: count: %w", err)
		}
	case only:
		// One plain search: count in the index alone. Which matches are unread needs a lookup
		// for each match (reading each one's row costs five times the count: 50 ms for 95,000
		// matches), in the smaller of the unread and read sets' indexes (a third of that), and
		// none when every message is unread or none is, which the counters tell. One
		// statement, one snapshot.
		// The messages waiting for the index (fts_pending) are counted alike, beside it.
		if err := s.readDB.QueryRowContext(ctx, `WITH c AS (SELECT total, unread FROM counters),
			p AS (SELECT p.uid FROM fts_pending p WHERE `+pendingMatch(match, "?1")+`),
			n AS (SELECT (SELECT COUNT(*) FROM fts WHERE fts MATCH ?1) + (SELECT COUNT(*) FROM p) AS n)
			SELECT n.n, CASE
				WHEN c.unread = c.total THEN n.n
				WHEN c.unread = 0 THEN 0
				WHEN c.unread * 2 <= c.total THEN (SELECT COUNT(*) FROM fts JOIN messages m INDEXED BY messages_unread
					ON m.uid = fts.rowid AND m.read = 0 WHERE fts MATCH ?1)
					+ (SELECT COUNT(*) FROM p JOIN messages m ON m.uid = p.uid AND m.read = 0)
				ELSE n.n - (SELECT COUNT(*) FROM fts JOIN messages m INDEXED BY messages_read
					ON m.uid = fts.rowid AND m.read = 1 WHERE fts MATCH ?1)
					- (SELECT COUNT(*) FROM p JOIN messages m ON m.uid = p.uid AND m.read = 1)
			END
			FROM c, n`, match).Scan(&res.Total, &res.Unread); err != nil {
			return res, fmt.Errorf("store: count: %w", err)
		}
	default:
		from, cond, cargs := f.compile(true)
		if err := s.readDB.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(m.read = 0), 0) FROM "+from+" WHERE "+cond, cargs...).Scan(&res.Total, &res.Unread); err != nil {
			return res, fmt.Errorf("store: count: %w", err)
		}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = -1
	}
	var query string
	var qargs []any
	if only {
		// One plain search: page through the index itself, newest first, and read just that page.
		// The pending messages are the newest, so they come first; the index is read newest first
		// and the merge stops at the page's end.
		query = "SELECT " + summaryColumns + " FROM messages m WHERE m.uid IN (SELECT p.uid FROM fts_pending p WHERE " + pendingMatch(match, "?") +
			" UNION ALL SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY 1 DESC LIMIT ? OFFSET ?) ORDER BY m.uid DESC"
		qargs = []any{match, match, limit, max(p.Offset, 0)}
	} else {
		where, args := f.where()
		query = "SELECT " + summaryColumns + " FROM messages m WHERE " + where + " ORDER BY m.uid DESC LIMIT ? OFFSET ?"
		qargs = append(args, limit, max(p.Offset, 0))
	}
	rows, err := s.readDB.QueryContext(ctx, query, qargs...)
	if err != nil {
		return res, fmt.Errorf("store: search: %w", err)
	}
	defer rows.Close()
	if res.Messages, err = scanSummaries(rows); err != nil {
		return res, fmt.Errorf("store: search: %w", err)
	}
	return res, nil
}

// Index lists the messages f selects, oldest first, with only what POP3 and IMAP need.
func (s *Store) Index(ctx context.Context, f Filter) ([]Entry, error) {
	f = s.expand(f)
	where, args := f.where()
	rows, err := s.readDB.QueryContext(ctx, "SELECT m.uid, m.id, m.size, m.read, m.created, m.deleted FROM messages m WHERE "+where+" ORDER BY m.uid", args...)
	if err != nil {
		return nil, fmt.Errorf("store: index: %w", err)
	}
	defer rows.Close()
	entries := []Entry{}
	for rows.Next() {
		var e Entry
		var created int64
		if err := rows.Scan(&e.UID, &e.ID, &e.Size, &e.Read, &created, &e.Deleted); err != nil {
			return nil, fmt.Errorf("store: index: %w", err)
		}
		e.Created = time.UnixMicro(created).UTC()
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: index: %w", err)
	}
	return entries, nil
}

// selectIDs selects the UIDs and IDs f matches, inside a write transaction.
func (s *Store) selectIDs(ctx context.Context, tx dbtx, f Filter) ([]int64, []string, error) {
	f = s.expand(f)
	where, args := f.where()
	rows, err := tx.QueryContext(ctx, "SELECT m.uid, m.id FROM messages m WHERE "+where, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var uids []int64
	var ids []string
	for rows.Next() {
		var uid int64
		var id string
		if err := rows.Scan(&uid, &id); err != nil {
			return nil, nil, err
		}
		uids = append(uids, uid)
		ids = append(ids, id)
	}
	return uids, ids, rows.Err()
}
