package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

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

// quoteLexeme quotes a lexeme for tsvector and tsquery input.
func quoteLexeme(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
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
	cond := where(f, alts, &a)
	if isZero(f) {
		err = s.pool.QueryRow(ctx, "SELECT total, unread FROM counters").Scan(&res.Total, &res.Unread)
	} else {
		err = s.pool.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE NOT m.read) FROM messages m WHERE "+cond, a...).Scan(&res.Total, &res.Unread)
	}
	if err != nil {
		return res, fmt.Errorf("postgres: count: %w", unavailable(err))
	}
	limit := "ALL"
	if p.Limit > 0 {
		limit = a.add(p.Limit)
	}
	rows, err := s.pool.Query(ctx, "SELECT "+summaryColumns+" FROM messages m WHERE "+cond+" ORDER BY m.uid DESC LIMIT "+limit+" OFFSET "+a.add(max(p.Offset, 0)), a...)
	if err != nil {
		return res, fmt.Errorf("postgres: search: %w", unavailable(err))
	}
	defer rows.Close()
	for rows.Next() {
		sum, err := scanSummary(rows)
		if err != nil {
			return res, fmt.Errorf("postgres: search: %w", err)
		}
		res.Messages = append(res.Messages, sum)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("postgres: search: %w", unavailable(err))
	}
	return res, nil
}

// Index lists the messages f selects, oldest first, with only what POP3 and IMAP need.
func (s *Store) Index(ctx context.Context, f store.Filter) ([]store.Entry, error) {
	alts, err := s.expand(ctx, s.pool, f)
	if err != nil {
		return nil, err
	}
	var a args
	rows, err := s.pool.Query(ctx, "SELECT m.uid, m.id, m.size, m.read, m.created FROM messages m WHERE "+where(f, alts, &a)+" ORDER BY m.uid", a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: index: %w", unavailable(err))
	}
	defer rows.Close()
	entries := []store.Entry{}
	for rows.Next() {
		var e store.Entry
		var created int64
		if err := rows.Scan(&e.UID, &e.ID, &e.Size, &e.Read, &created); err != nil {
			return nil, fmt.Errorf("postgres: index: %w", err)
		}
		e.Created = micros(created)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: index: %w", unavailable(err))
	}
	return entries, nil
}
