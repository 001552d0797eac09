package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/inbucket/html2text"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/extract"
)

// SearchInput is search_messages' input.
type SearchInput struct {
	Query string `json:"query,omitempty" jsonschema:"a search in the inbox's language, e.g. 'to:alice@example.com subject:\"reset your password\" is:unread'; empty lists every message"`
	Limit int    `json:"limit,omitempty" jsonschema:"how many messages to return, newest first: 1 to 200, default 20"`
	Start int    `json:"start,omitempty" jsonschema:"how many of the newest matches to skip, for paging"`
}

// SearchOutput is search_messages' output.
type SearchOutput struct {
	Total    int              `json:"total" jsonschema:"messages stored"`
	Matched  int              `json:"matched" jsonschema:"messages matching the query"`
	Messages []MessageSummary `json:"messages" jsonschema:"the matches, newest first"`
}

func (s *Server) addSearchTool() {
	addTool(s, "search_messages", "Search captured mail",
		"List the messages letterbox caught, newest first, or those matching a search. The search language: "+
			"plain words match the subject, addresses, bodies, attachment names and header values (substrings, case-insensitive); "+
			"to: from: cc: bcc: addressed: subject: body: message-id: tag: narrow a word to a field; "+
			"is:read is:unread is:tagged has:attachment has:inline after:2024-05-01 before:2024-05-01T12:00:00Z larger:10k smaller:2m filter; "+
			"\"quoted phrases\" keep words together; a leading - negates a term. All terms must match.",
		reads, s.search)
}

func (s *Server) search(ctx context.Context, in SearchInput) (SearchOutput, error) {
	limit := in.Limit
	if limit <= 0 {
		limit = 20
	}
	if limit > 200 {
		return SearchOutput{}, errors.New("limit is at most 200")
	}
	l, err := s.mb.Search(ctx, in.Query, max(in.Start, 0), limit)
	if err != nil {
		return SearchOutput{}, toolError(err)
	}
	return SearchOutput{Total: l.Total, Matched: l.MessagesCount, Messages: summaries(l.Messages)}, nil
}

// toolError words an API error for the agent.
func toolError(err error) error {
	var e *client.Error
	switch {
	case errors.Is(err, client.ErrBadQuery):
		return fmt.Errorf("the query does not parse: %s", strings.TrimPrefix(errorBody(err), "webui: search: "))
	case errors.Is(err, client.ErrNotFound):
		return errors.New("no such message (IDs come from search_messages or wait_for_message; \"latest\" is the newest)")
	case errors.As(err, &e):
		return fmt.Errorf("letterbox answered %d: %s", e.Status, e.Body)
	}
	return err
}

func errorBody(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Body
	}
	return err.Error()
}

// GetInput is get_message's input.
type GetInput struct {
	ID          string `json:"id" jsonschema:"the message's ID (from search_messages or wait_for_message), or latest for the newest message"`
	IncludeHTML bool   `json:"include_html,omitempty" jsonschema:"also return the HTML source (html_text, the HTML as plain text, is always returned)"`
}

// Header is one header field.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Attachment is an attachment or inline part.
type Attachment struct {
	PartID      string `json:"part_id" jsonschema:"its place in the MIME structure; GET /api/v1/message/{id}/part/{part_id} downloads it"`
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size" jsonschema:"decoded bytes"`
	Inline      bool   `json:"inline" jsonschema:"an inline part (an image the HTML shows), not an attachment"`
}

// GetOutput is get_message's output.
type GetOutput struct {
	ID          string         `json:"id"`
	MessageID   string         `json:"message_id" jsonschema:"the Message-ID header"`
	From        string         `json:"from"`
	To          []string       `json:"to"`
	Cc          []string       `json:"cc"`
	Bcc         []string       `json:"bcc" jsonschema:"envelope recipients not in To or Cc, and any Bcc header"`
	ReplyTo     []string       `json:"reply_to"`
	Subject     string         `json:"subject"`
	Date        string         `json:"date" jsonschema:"the Date header (RFC 3339)"`
	Received    string         `json:"received" jsonschema:"when letterbox received it (RFC 3339)"`
	MailFrom    string         `json:"mail_from" jsonschema:"the SMTP envelope sender"`
	Recipients  []string       `json:"recipients" jsonschema:"the SMTP envelope recipients"`
	Tags        []string       `json:"tags"`
	Headers     []Header       `json:"headers" jsonschema:"every header field, in order"`
	Text        string         `json:"text" jsonschema:"the text body"`
	HTMLText    string         `json:"html_text" jsonschema:"the HTML body as plain text, links written out"`
	HTML        string         `json:"html,omitempty" jsonschema:"the HTML source, with include_html"`
	Truncated   bool           `json:"truncated,omitempty" jsonschema:"a body was cut at 50,000 characters"`
	Attachments []Attachment   `json:"attachments"`
	Links       []extract.Link `json:"links" jsonschema:"the http and https links, HTML ones first"`
	ParseErrors []string       `json:"parse_errors" jsonschema:"what was wrong with the message's MIME, if anything"`
}

// maxBody is how many characters of each body get_message returns.
const maxBody = 50_000

func (s *Server) addGetTool() {
	addTool(s, "get_message", "Read a message",
		"Read one captured message: addresses, subject, dates, the SMTP envelope, every header, the text body, the HTML body as text "+
			"(and the HTML source with include_html), attachments and links. Bodies are cut at 50,000 characters. "+
			"Reading a message marks it read, as opening it in the inbox does.",
		reads, s.get)
}

func (s *Server) get(ctx context.Context, in GetInput) (GetOutput, error) {
	if strings.TrimSpace(in.ID) == "" {
		return GetOutput{}, errors.New("give the message's id")
	}
	m, err := s.mb.Get(ctx, in.ID)
	if err != nil {
		return GetOutput{}, toolError(err)
	}
	out := GetOutput{
		ID: m.ID, MessageID: m.MessageID, From: address(m.From), To: addresses(m.To), Cc: addresses(m.Cc),
		Bcc: addresses(m.Bcc), ReplyTo: addresses(m.ReplyTo), Subject: m.Subject, Date: rfc3339(m.Date),
		Received: rfc3339(m.Created), MailFrom: m.Envelope.MailFrom, Recipients: nonNil(m.Envelope.Recipients),
		Tags: nonNil(m.Tags), Headers: []Header{}, Attachments: []Attachment{},
		Links: nonNilLinks(extract.Links(m.HTML, m.Text)), ParseErrors: nonNil(m.ParseErrors),
	}
	for _, h := range m.HeadersList {
		out.Headers = append(out.Headers, Header{Name: h.Name, Value: h.Value})
	}
	for _, list := range []struct {
		parts  []client.Attachment
		inline bool
	}{{m.Attachments, false}, {m.Inline, true}} {
		for _, a := range list.parts {
			out.Attachments = append(out.Attachments, Attachment{PartID: a.PartID, FileName: a.FileName, ContentType: a.ContentType, Size: a.Size, Inline: list.inline})
		}
	}
	var cut [3]bool
	out.Text, cut[0] = truncate(m.Text)
	out.HTMLText, cut[1] = truncate(htmlAsText(m.HTML))
	if in.IncludeHTML {
		out.HTML, cut[2] = truncate(m.HTML)
	}
	out.Truncated = cut[0] || cut[1] || cut[2]
	return out, nil
}

func nonNilLinks(l []extract.Link) []extract.Link {
	if l == nil {
		return []extract.Link{}
	}
	return l
}

// htmlAsText renders HTML as plain text, links written out after their text.
func htmlAsText(h string) string {
	if strings.TrimSpace(h) == "" {
		return ""
	}
	t, err := html2text.FromString(h)
	if err != nil {
		return ""
	}
	return t
}

// truncate cuts s at maxBody characters.
func truncate(s string) (string, bool) {
	if utf8.RuneCountInString(s) <= maxBody {
		return s, false
	}
	n := 0
	for i := range s {
		if n == maxBody {
			return s[:i], true
		}
		n++
	}
	return s, false
}

// WaitInput is wait_for_message's input.
type WaitInput struct {
	Query          string  `json:"query,omitempty" jsonschema:"the search the message must match, e.g. 'to:alice@example.com subject:verify'; empty matches any message"`
	Since          string  `json:"since,omitempty" jsonschema:"count only messages received after this: an RFC 3339 time (take it before triggering the email) or a message ID; empty counts messages already stored too"`
	Count          int     `json:"count,omitempty" jsonschema:"how many messages must match, default 1"`
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty" jsonschema:"how long to wait, default 30, at most 600"`
}

// WaitOutput is wait_for_message's output.
type WaitOutput struct {
	TimedOut bool             `json:"timed_out" jsonschema:"true when fewer than count messages matched in time"`
	Matched  int              `json:"matched" jsonschema:"messages matching now"`
	Messages []MessageSummary `json:"messages" jsonschema:"the matches, newest first (at most 50)"`
}

func (s *Server) addWaitTool() {
	addTool(s, "wait_for_message", "Wait for a message",
		"Wait until a message matching the query arrives (or count of them), and return the matches, newest first: "+
			"it answers the moment the mail is stored, with no polling. Give since (an RFC 3339 time taken before you triggered "+
			"the email, or the ID of the newest message you saw) so that older mail does not count. "+
			"On timeout it returns timed_out true and what matched so far.",
		reads, s.wait)
}

func (s *Server) wait(ctx context.Context, in WaitInput) (WaitOutput, error) {
	timeout := 30 * time.Second
	if in.TimeoutSeconds > 0 {
		timeout = time.Duration(in.TimeoutSeconds * float64(time.Second))
	}
	if timeout > 10*time.Minute || in.TimeoutSeconds < 0 {
		return WaitOutput{}, errors.New("timeout_seconds is between 0 and 600")
	}
	opts := client.WaitOptions{Count: in.Count, Timeout: timeout}
	if since := strings.TrimSpace(in.Since); since != "" {
		if t, err := time.Parse(time.RFC3339Nano, since); err == nil {
			opts.Since = t
		} else {
			opts.SinceID = since
		}
	}
	l, err := s.mb.WaitFor(ctx, in.Query, opts)
	if errors.Is(err, client.ErrTimeout) && ctx.Err() == nil {
		// What matched so far (the search, not the wait, has no since: count it again).
		out := WaitOutput{TimedOut: true, Messages: []MessageSummary{}}
		if got, err := s.sinceMatches(ctx, in.Query, opts); err == nil {
			out.Matched, out.Messages = len(got), got
		}
		return out, nil
	}
	if err != nil {
		if opts.SinceID != "" && errors.Is(err, client.ErrBadRequest) && !errors.Is(err, client.ErrBadQuery) {
			return WaitOutput{}, fmt.Errorf("since %q is neither an RFC 3339 time nor the ID of a stored message", in.Since)
		}
		return WaitOutput{}, toolError(err)
	}
	return WaitOutput{Matched: l.MessagesCount, Messages: summaries(l.Messages)}, nil
}

// sinceMatches lists the messages matching query received after opts' since (at most 50).
func (s *Server) sinceMatches(ctx context.Context, query string, opts client.WaitOptions) ([]MessageSummary, error) {
	l, err := s.mb.Search(ctx, query, 0, 50)
	if err != nil {
		return nil, err
	}
	out := []MessageSummary{}
	for _, m := range summaries(l.Messages) {
		if opts.SinceID != "" && m.ID == opts.SinceID {
			break
		}
		if !opts.Since.IsZero() {
			if t, err := time.Parse(time.RFC3339Nano, m.Received); err == nil && !t.After(opts.Since) {
				break
			}
		}
		out = append(out, m)
	}
	return out, nil
}
