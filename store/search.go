package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
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
}

// Entry is the light description of a message that POP3 and IMAP list.
type Entry struct {
	UID     int64
	ID      string
	Size    int64
	Read    bool
	Created time.Time
}

// isZero reports whether f selects every message.
func (f Filter) isZero() bool {
	return len(f.Query.Terms) == 0 && f.Recipient == "" && f.Since.IsZero() && f.SinceUID == 0
}

// where compiles f into a SQL condition on messages aliased m. Text terms use the FTS5 index;
// the exact checks that follow them run only on the rows the index found.
func (f Filter) where() (string, []any) {
	conds := []string{"1"}
	var args []any
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
	for _, t := range f.Query.Terms {
		c, a := t.sql()
		if t.Negate {
			c = "NOT (" + c + ")"
		}
		conds = append(conds, c)
		args = append(args, a...)
	}
	return strings.Join(conds, " AND "), args
}

// sql compiles one term (without its negation).
func (t Term) sql() (string, []any) {
	v := t.Value
	lower := strings.ToLower(v)
	switch t.Field {
	case "":
		return ftsCond("", v, "")
	case "to":
		return ftsCond("recipients", v, "m.to_json")
	case "cc":
		return ftsCond("recipients", v, "m.cc_json")
	case "bcc":
		return ftsCond("recipients", v, "m.bcc_json")
	case "from":
		return ftsCond("sender", v, "m.from_json")
	case "reply-to":
		return ftsCond("sender", v, "m.reply_to_json")
	case "addressed":
		return ftsCond("sender recipients", v, "(m.from_json || m.to_json || m.cc_json || m.bcc_json || m.reply_to_json)")
	case "subject":
		return ftsCond("subject", v, "m.subject")
	case "message-id":
		return "m.message_id LIKE ? ESCAPE '\\'", []any{likePattern(strings.Trim(v, "<>"))}
	case "body":
		return ftsCond("body", v, "")
	case "header":
		return ftsCond("headers", t.Name+": "+v, "")
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

// ftsCond matches value in the FTS columns named (all when ""), as a phrase whose last word may
// be a prefix. When exact names a column expression, the value must also occur in it as a
// case-insensitive substring. A value with no words at all falls back to that substring test.
func ftsCond(columns, value, exact string) (string, []any) {
	words := ftsWords(value)
	if len(words) == 0 {
		if exact == "" {
			exact = "m.subject"
		}
		return exact + " LIKE ? ESCAPE '\\'", []any{likePattern(value)}
	}
	expr := `"` + strings.Join(words, " ") + `"*`
	if columns != "" {
		expr = "{" + columns + "} : " + expr
	}
	cond := "m.uid IN (SELECT rowid FROM fts WHERE fts MATCH ?)"
	args := []any{expr}
	if exact != "" {
		cond += " AND " + exact + " LIKE ? ESCAPE '\\'"
		args = append(args, likePattern(jsonFragment(value)))
	}
	return cond, args
}

// ftsWords splits s into the words FTS5's unicode61 tokenizer sees.
func ftsWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r)
	})
}

// jsonFragment is how s appears inside the JSON text of an address column.
func jsonFragment(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}

func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
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

// Search returns one page of the messages f selects, newest first, with the number of matches.
func (s *Store) Search(ctx context.Context, f Filter, p Page) (Result, error) {
	res := Result{Messages: []Summary{}}
	where, args := f.where()
	if f.isZero() {
		if err := s.readDB.QueryRowContext(ctx, "SELECT total, unread FROM counters").Scan(&res.Total, &res.Unread); err != nil {
			return res, fmt.Errorf("store: count: %w", err)
		}
	} else {
		if err := s.readDB.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(m.read = 0), 0) FROM messages m WHERE "+where, args...).Scan(&res.Total, &res.Unread); err != nil {
			return res, fmt.Errorf("store: count: %w", err)
		}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.readDB.QueryContext(ctx, "SELECT "+summaryColumns+" FROM messages m WHERE "+where+" ORDER BY m.uid DESC LIMIT ? OFFSET ?",
		append(args, limit, max(p.Offset, 0))...)
	if err != nil {
		return res, fmt.Errorf("store: search: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		sum, err := scanSummary(rows)
		if err != nil {
			return res, fmt.Errorf("store: search: %w", err)
		}
		res.Messages = append(res.Messages, sum)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("store: search: %w", err)
	}
	return res, nil
}

// Index lists the messages f selects, oldest first, with only what POP3 and IMAP need.
func (s *Store) Index(ctx context.Context, f Filter) ([]Entry, error) {
	where, args := f.where()
	rows, err := s.readDB.QueryContext(ctx, "SELECT m.uid, m.id, m.size, m.read, m.created FROM messages m WHERE "+where+" ORDER BY m.uid", args...)
	if err != nil {
		return nil, fmt.Errorf("store: index: %w", err)
	}
	defer rows.Close()
	entries := []Entry{}
	for rows.Next() {
		var e Entry
		var created int64
		if err := rows.Scan(&e.UID, &e.ID, &e.Size, &e.Read, &created); err != nil {
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

// ids selects the UIDs and IDs f matches, inside a write transaction.
func selectIDs(ctx context.Context, tx dbtx, f Filter) ([]int64, []string, error) {
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
