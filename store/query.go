package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Query is a parsed search: every term must hold (AND). The zero Query matches everything.
type Query struct {
	Terms []Term
}

// Term is one condition of a Query.
//
// Field is "" for free text (matched against subject, addresses, headers, bodies and attachment
// names), or one of: to, from, cc, bcc, reply-to, addressed, subject, message-id, tag,
// is (read, unread, tagged), has (attachment, inline), after, before (dates), larger, smaller
// (sizes such as 10k or 2m), header (Name is the header name, Value a substring of its value),
// body (text and HTML bodies only), sent-after and sent-before (the Date header rather than the
// received time). Text matching is case-insensitive, ignores accents and punctuation, and finds
// substrings: "ringtim" finds "springtime" (inside a word, a term needs three letters and words
// with digits match from their start; see vocab.go).
type Term struct {
	Field  string
	Name   string
	Value  string
	Negate bool
}

// fields maps the filter prefixes of the search syntax to a Term.Field.
var fields = map[string]string{
	"to": "to", "from": "from", "cc": "cc", "bcc": "bcc", "reply-to": "reply-to", "addressed": "addressed",
	"subject": "subject", "message-id": "message-id", "tag": "tag", "is": "is", "has": "has",
	"after": "after", "before": "before", "larger": "larger", "smaller": "smaller", "header": "header",
	"body": "body", "sent-after": "sent-after", "sent-before": "sent-before",
}

// ParseQuery parses Mailpit's search syntax: space-separated terms, all of which must match;
// "quoted phrases"; a leading - or ! negates a term; filters such as to:, from:, subject:,
// is:unread, has:attachment, after:2024-01-31, larger:10k; and header:X-Name:value.
func ParseQuery(s string) (Query, error) {
	var q Query
	for _, tok := range splitQuery(s) {
		t := Term{}
		if len(tok) > 1 && (tok[0] == '-' || tok[0] == '!') {
			t.Negate = true
			tok = tok[1:]
		}
		if i := strings.IndexByte(tok, ':'); i > 0 && tok[0] != '"' {
			if f, ok := fields[strings.ToLower(tok[:i])]; ok {
				t.Field = f
				tok = tok[i+1:]
			}
		}
		t.Value = unquote(tok)
		if t.Field == "header" {
			name, value, _ := strings.Cut(t.Value, ":")
			t.Name, t.Value = strings.TrimSpace(name), unquote(strings.TrimSpace(value))
			if t.Name == "" {
				return Query{}, fmt.Errorf("store: search: header: needs a name, as in header:X-Campaign:spring")
			}
		}
		if err := t.check(); err != nil {
			return Query{}, err
		}
		if t.Value == "" && t.Field != "header" {
			continue
		}
		q.Terms = append(q.Terms, t)
	}
	return q, nil
}

// check validates the value of a filter that takes a fixed form.
func (t Term) check() error {
	v := strings.ToLower(t.Value)
	switch t.Field {
	case "is":
		if v != "read" && v != "unread" && v != "tagged" && v != "seen" && v != "unseen" {
			return fmt.Errorf("store: search: is:%s is not known (use is:read, is:unread or is:tagged)", t.Value)
		}
	case "has":
		if v != "attachment" && v != "attachments" && v != "inline" {
			return fmt.Errorf("store: search: has:%s is not known (use has:attachment or has:inline)", t.Value)
		}
	case "after", "before", "sent-after", "sent-before":
		if _, err := parseSearchDate(t.Value); err != nil {
			return err
		}
	case "larger", "smaller":
		if _, err := parseSize(t.Value); err != nil {
			return err
		}
	}
	return nil
}

// splitQuery splits on white space outside double quotes; quotes stay in the tokens.
func splitQuery(s string) []string {
	var toks []string
	var b strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case unicode.IsSpace(r) && !quoted:
			if b.Len() > 0 {
				toks = append(toks, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		toks = append(toks, b.String())
	}
	return toks
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return strings.Trim(s, `"`)
}

var dateLayouts = []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", "2006/01/02", "02-Jan-2006", "2 Jan 2006", "Jan 2 2006", "January 2 2006"}

// parseSearchDate accepts a date or date-time; a date alone is midnight UTC (RFC 3339 and IMAP forms too).
func parseSearchDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("store: search: %q is not a date (use 2006-01-02 or RFC 3339)", v)
}

// parseSize reads sizes such as 512, 10k, 2m, 1.5MB, 1g.
func parseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	s = strings.TrimSuffix(s, "b")
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1024, s[:len(s)-1]
	case strings.HasSuffix(s, "m"):
		mult, s = 1024*1024, s[:len(s)-1]
	case strings.HasSuffix(s, "g"):
		mult, s = 1024*1024*1024, s[:len(s)-1]
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("store: search: %q is not a size (use 500, 10k, 2m)", v)
	}
	return int64(n * mult), nil
}
