package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/store"
)

// The fields of the full-text index, each a lexeme prefix in search.words.
const (
	fSubject     = "s"
	fSender      = "f"
	fRecipients  = "r"
	fMessageID   = "m"
	fHeaders     = "h"
	fBody        = "b"
	fAttachments = "a"
)

// Limits that keep a message's tsvector inside PostgreSQL's (1 MB, 2 KB a lexeme; positions
// above 16,383 are all 16,383, so phrases deep in a very long body match less exactly).
const (
	maxIndexWords = 60000
	maxWordBytes  = 200
)

// tsvectorOf returns the text form of a message's tsvector: each field's words, prefixed by the
// field, with their positions.
func tsvectorOf(t *store.SearchText) string {
	type field struct{ prefix, text string }
	fields := []field{{fSubject, t.Subject}, {fSender, t.Sender}, {fRecipients, t.Recipients}, {fMessageID, t.MessageID},
		{fHeaders, t.Headers}, {fAttachments, t.Attachments}, {fBody, t.Body}}
	positions := map[string][]int{}
	var order []string
	pos, n := 0, 0
	for _, f := range fields {
		for _, w := range store.Words(f.text) {
			if n == maxIndexWords {
				break
			}
			n++
			if len(w) > maxWordBytes {
				w = strings.ToValidUTF8(w[:maxWordBytes], "")
			}
			pos++
			lex := f.prefix + "." + w
			ps := positions[lex]
			if ps == nil {
				order = append(order, lex)
			}
			if len(ps) < 256 { // PostgreSQL keeps at most 256 positions a lexeme
				positions[lex] = append(ps, min(pos, 16383))
			}
		}
		pos += 2 // no phrase runs from one field into the next
	}
	var b strings.Builder
	for _, lex := range order {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quoteLexeme(lex))
		b.WriteByte(':')
		for i, p := range positions[lex] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(p))
		}
	}
	return b.String()
}

// lexemeEscaper escapes a lexeme for tsvector and tsquery input (one for all: a Replacer builds
// its tables on first use, and building them for every word took a quarter of ingest's CPU).
var lexemeEscaper = strings.NewReplacer(`\`, `\\`, `'`, `''`)

// quoteLexeme quotes a lexeme for tsvector and tsquery input.
func quoteLexeme(s string) string {
	return "'" + lexemeEscaper.Replace(s) + "'"
}

// textField describes a text term: the index fields it matches and the messages column its
// value must also occur in exactly ("" when the index alone decides), as on SQLite.
type textField struct {
	prefixes []string
	exact    string
}

var textFields = map[string]textField{
	"":                 {[]string{fSubject, fSender, fRecipients, fMessageID, fHeaders, fBody, fAttachments}, ""},
	"to":               {[]string{fRecipients}, "m.to_json"},
	"cc":               {[]string{fRecipients}, "m.cc_json"},
	"bcc":              {[]string{fRecipients}, "m.bcc_json"},
	"from":             {[]string{fSender}, "m.from_json"},
	"reply-to":         {[]string{fSender}, "m.reply_to_json"},
	"addressed":        {[]string{fSender, fRecipients}, "(m.from_json || m.to_json || m.cc_json || m.bcc_json || m.reply_to_json)"},
	"subject":          {[]string{fSubject}, "m.subject"},
	"body":             {[]string{fBody}, ""},
	"header":           {[]string{fHeaders}, ""},
	store.EnvelopeFrom: {[]string{fSender}, ""},
	store.EnvelopeTo:   {[]string{fRecipients}, ""},
}

// termWords returns a text term's words as the index has them, and where its value's own words
// start (after a header's name).
func termWords(t store.Term) ([]string, int) {
	if t.Field == "header" {
		name := store.Words(t.Name)
		return append(name, store.Words(t.Value)...), len(name)
	}
	return store.Words(t.Value), 0
}

// tsquery returns the tsquery of a text term, and the column its value must also occur in;
// ok is false for other terms and values without words. alts are the vocabulary words the
// value's first word may start inside of (see expand).
func tsquery(t store.Term, alts []string) (query, exact string, ok bool) {
	f, known := textFields[t.Field]
	if !known {
		return "", "", false
	}
	words, at := termWords(t)
	if len(words) == 0 {
		return "", "", false
	}
	phrase := func(prefix string, ws []string) string {
		parts := make([]string, len(ws))
		for i, w := range ws {
			parts[i] = quoteLexeme(prefix + "." + w)
		}
		parts[len(parts)-1] += ":*"
		return strings.Join(parts, " <-> ")
	}
	var options []string
	for _, prefix := range f.prefixes {
		options = append(options, "("+phrase(prefix, words)+")")
		for _, a := range alts {
			ws := append(append(append([]string{}, words[:at]...), a), words[at+1:]...)
			if len(words) == 1 {
				options = append(options, quoteLexeme(prefix+"."+a))
			} else {
				options = append(options, "("+strings.TrimSuffix(phrase(prefix, ws), ":*")+":*)")
			}
		}
	}
	return strings.Join(options, " | "), f.exact, true
}

// expand looks up, for each text term of f, the vocabulary words its value may start inside of
// (as the SQLite engine does): for a one-word value the words that contain it, for a longer one
// the words its first word ends. Terms found inside more than maxAlternatives words match at
// the start of words only.
func (s *Store) expand(ctx context.Context, q querier, f store.Filter) ([][]string, error) {
	var alts [][]string
	for i, t := range f.Query.Terms {
		if _, text := textFields[t.Field]; !text {
			continue
		}
		words, at := termWords(t)
		if at >= len(words) || !store.InsideWords(words[at]) {
			continue
		}
		first := words[at]
		var sql string
		var args []any
		if at == len(words)-1 {
			sql, args = `SELECT term FROM terms WHERE term LIKE $1 AND term NOT LIKE $2 LIMIT $3`,
				[]any{"%" + likeEscape(first) + "%", likeEscape(first) + "%", maxAlternatives + 1}
		} else {
			sql, args = `SELECT term FROM terms WHERE term LIKE $1 AND term <> $2 LIMIT $3`,
				[]any{"%" + likeEscape(first), first, maxAlternatives + 1}
		}
		found, err := queryStrings(ctx, q, sql, args...)
		if err != nil {
			return nil, fmt.Errorf("postgres: search vocabulary: %w", unavailable(err))
		}
		if len(found) == 0 || len(found) > maxAlternatives {
			continue
		}
		if alts == nil {
			alts = make([][]string, len(f.Query.Terms))
		}
		alts[i] = found
	}
	return alts, nil
}

// maxAlternatives is the most words a term may be found inside of (as on SQLite).
const maxAlternatives = 100

// args collects a query's arguments and gives their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// query is a compiled Filter: FROM messages m (joined to the full-text matches of its first
// positive text term, when it has one) WHERE cond.
type query struct {
	with string // "WITH hits AS MATERIALIZED (...) " or ""
	from string
	cond string
	only bool // the driving term is the whole filter: hits are the answer
}

// compile compiles f. Its first positive text term drives the query: its matches are found
// once in the GIN index (MATERIALIZED), then each is looked up in messages by its key (LATERAL,
// OFFSET 0 keeps it so). PostgreSQL cannot estimate how many messages a prefix tsquery matches;
// left to itself it walks every message newest first testing each one's tsvector (1.4 s for a
// word no message has, at 100,000 messages) or hashes the whole messages table (0.4 s).
func compile(f store.Filter, alts [][]string, a *args) query {
	for i, t := range f.Query.Terms {
		if t.Negate {
			continue
		}
		var ta []string
		if i < len(alts) {
			ta = alts[i]
		}
		q, exact, ok := tsquery(t, ta)
		if !ok {
			continue
		}
		rest := f
		rest.Query.Terms = slices.Delete(slices.Clone(f.Query.Terms), i, i+1)
		var restAlts [][]string
		if alts != nil {
			restAlts = slices.Delete(slices.Clone(alts), i, i+1)
		}
		out := query{
			with: "WITH hits AS MATERIALIZED (SELECT uid FROM search WHERE words @@ " + a.add(q) + "::tsquery) ",
			from: "hits CROSS JOIN LATERAL (SELECT * FROM messages WHERE uid = hits.uid OFFSET 0) m",
		}
		out.cond = where(rest, restAlts, a)
		out.only = out.cond == "true" && exact == ""
		if exact != "" {
			out.cond += " AND " + exact + " ILIKE " + a.add(likePattern(jsonFragment(t.Value))) + ` ESCAPE '\'`
		}
		return out
	}
	return query{from: "messages m", cond: where(f, alts, a)}
}

// where compiles f into a condition on messages m, adding its arguments to a.
func where(f store.Filter, alts [][]string, a *args) string {
	conds := []string{"true"}
	if f.Recipient != "" {
		conds = append(conds, "m.uid IN (SELECT uid FROM recipients WHERE addr = "+a.add(strings.ToLower(strings.TrimSpace(f.Recipient)))+")")
	}
	if !f.Since.IsZero() {
		conds = append(conds, "m.created > "+a.add(f.Since.UnixMicro()))
	}
	if f.SinceUID > 0 {
		conds = append(conds, "m.uid > "+a.add(f.SinceUID))
	}
	for i, t := range f.Query.Terms {
		var ta []string
		if i < len(alts) {
			ta = alts[i]
		}
		c := termSQL(t, ta, a)
		if t.Negate {
			c = "NOT (" + c + ")"
		}
		conds = append(conds, c)
	}
	return strings.Join(conds, " AND ")
}

// termSQL compiles one term (without its negation).
func termSQL(t store.Term, alts []string, a *args) string {
	v := t.Value
	if q, exact, ok := tsquery(t, alts); ok {
		cond := "m.uid IN (SELECT uid FROM search WHERE words @@ " + a.add(q) + "::tsquery)"
		if exact != "" {
			cond += " AND " + exact + " ILIKE " + a.add(likePattern(jsonFragment(v))) + ` ESCAPE '\'`
		}
		return cond
	}
	if f, ok := textFields[t.Field]; ok {
		// No words at all (say "@"): a substring of that field, or of the subject.
		col := f.exact
		if col == "" {
			col = "m.subject"
		}
		return col + " ILIKE " + a.add(likePattern(v)) + ` ESCAPE '\'`
	}
	switch t.Field {
	case "message-id":
		return "m.message_id ILIKE " + a.add(likePattern(strings.Trim(v, "<>"))) + ` ESCAPE '\'`
	case "tag":
		return "m.uid IN (SELECT uid FROM tags WHERE lower(tag) = lower(" + a.add(v) + "))"
	case "is":
		switch strings.ToLower(v) {
		case "read", "seen":
			return "m.read"
		case "unread", "unseen":
			return "NOT m.read"
		default:
			return "EXISTS (SELECT 1 FROM tags t WHERE t.uid = m.uid)"
		}
	case "has":
		if strings.EqualFold(v, "inline") {
			return "m.inlines > 0"
		}
		return "m.attachments > 0"
	case "sent-after":
		return "m.date > " + a.add(store.TermTime(t).UnixMicro())
	case "sent-before":
		return "m.date <> 0 AND m.date < " + a.add(store.TermTime(t).UnixMicro())
	case "after":
		return "m.created > " + a.add(store.TermTime(t).UnixMicro())
	case "before":
		return "m.created < " + a.add(store.TermTime(t).UnixMicro())
	case "larger":
		return "m.size > " + a.add(store.TermSize(t))
	case "smaller":
		return "m.size < " + a.add(store.TermSize(t))
	}
	return "false"
}

// jsonFragment is how s appears inside the JSON text of an address column.
func jsonFragment(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.Trim(strings.TrimSpace(b.String()), `"`)
}

func likePattern(s string) string { return "%" + likeEscape(s) + "%" }

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func likeEscape(s string) string { return likeEscaper.Replace(s) }

// isZero reports whether f selects every message.
func isZero(f store.Filter) bool {
	return len(f.Query.Terms) == 0 && f.Recipient == "" && f.Since.IsZero() && f.SinceUID == 0
}

// Search returns one page of the messages f selects, newest first, with the number of matches.
func (s *Store) Search(ctx context.Context, f store.Filter, p store.Page) (store.Result, error) {
	res := store.Result{Messages: []store.Summary{}}
	alts, err := s.expand(ctx, s.pool, f)
	if err != nil {
		return res, err
	}
	var a args
	q := compile(f, alts, &a)
	err = s.searchTx(ctx, func(tx pgx.Tx) error {
		if err := count(ctx, tx, f, q, a, &res); err != nil {
			return fmt.Errorf("count: %w", err)
		}
		return s.page(ctx, tx, q, a, p, &res)
	})
	if err != nil {
		return store.Result{Messages: []store.Summary{}}, fmt.Errorf("postgres: search: %w", unavailable(err))
	}
	return res, nil
}

// searchTx runs fn in a read-only transaction (one snapshot for a count and its page) in which
// the planner takes the index a query has rather than scanning a table: it does not count the
// cost of reading each message's tsvector out of line, and for a word most messages have would
// test every one (2.2 s at 100,000 messages) instead of taking the GIN index's list (0.18 s).
func (s *Store) searchTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		return fn(tx)
	})
}

// count sets res.Total and res.Unread: from the counters for every message, from the GIN
// matches alone for a one-term search.
func count(ctx context.Context, tx pgx.Tx, f store.Filter, q query, a args, res *store.Result) error {
	switch {
	case isZero(f):
		return tx.QueryRow(ctx, "SELECT total, unread FROM counters").Scan(&res.Total, &res.Unread)
	case q.only:
		return countHits(ctx, tx, q, a, res)
	}
	return tx.QueryRow(ctx, q.with+"SELECT count(*), count(*) FILTER (WHERE NOT m.read) FROM "+q.from+" WHERE "+q.cond, a...).Scan(&res.Total, &res.Unread)
}

// page reads one page of q's messages, newest first, into res.Messages.
func (s *Store) page(ctx context.Context, tx pgx.Tx, q query, a args, p store.Page, res *store.Result) error {
	limit := "ALL"
	if p.Limit > 0 {
		limit = a.add(p.Limit)
	}
	// The page's UIDs first: PostgreSQL would compute every skipped row's columns (tags
	// included) before OFFSET drops them.
	uids := "SELECT m.uid FROM " + q.from + " WHERE " + q.cond + " ORDER BY m.uid DESC"
	if q.only {
		uids = "SELECT uid FROM hits ORDER BY uid DESC"
	}
	rows, err := tx.Query(ctx, q.with+"SELECT "+summaryColumns+" FROM messages m WHERE m.uid IN ("+uids+
		" LIMIT "+limit+" OFFSET "+a.add(max(p.Offset, 0))+") ORDER BY m.uid DESC", a...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		sum, err := scanSummary(rows)
		if err != nil {
			return err
		}
		res.Messages = append(res.Messages, sum)
	}
	return rows.Err()
}

// countHits counts the matches of a one-term search, and the unread ones: none to look up when
// the counters say every message is unread, or none is.
func countHits(ctx context.Context, tx pgx.Tx, q query, a args, res *store.Result) error {
	var total, unread int
	if err := tx.QueryRow(ctx, "SELECT total, unread FROM counters").Scan(&total, &unread); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, q.with+"SELECT count(*) FROM hits", a...).Scan(&res.Total); err != nil {
		return err
	}
	switch unread {
	case total:
		res.Unread = res.Total
		return nil
	case 0:
		res.Unread = 0
		return nil
	}
	return tx.QueryRow(ctx, q.with+"SELECT count(*) FROM "+q.from+" WHERE NOT m.read", a...).Scan(&res.Unread)
}

// Index lists the messages f selects, oldest first, with only what POP3 and IMAP need.
func (s *Store) Index(ctx context.Context, f store.Filter) ([]store.Entry, error) {
	alts, err := s.expand(ctx, s.pool, f)
	if err != nil {
		return nil, err
	}
	var a args
	q := compile(f, alts, &a)
	entries := []store.Entry{}
	err = s.searchTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q.with+"SELECT m.uid, m.id, m.size, m.read, m.created, m.deleted FROM "+q.from+" WHERE "+q.cond+" ORDER BY m.uid", a...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e store.Entry
			var created int64
			if err := rows.Scan(&e.UID, &e.ID, &e.Size, &e.Read, &created, &e.Deleted); err != nil {
				return err
			}
			e.Created = micros(created)
			entries = append(entries, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: index: %w", unavailable(err))
	}
	return entries, nil
}
