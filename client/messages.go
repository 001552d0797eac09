package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"
)

func pageQuery(start, limit int) url.Values {
	q := url.Values{}
	if start > 0 {
		q.Set("start", strconv.Itoa(start))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

func messagePath(id string, rest ...string) string {
	p := "api/v1/message/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// List returns a page of messages, newest first, skipping start; limit 0 means the server's
// default page (50).
func (c *Client) List(ctx context.Context, start, limit int) (*List, error) {
	var l List
	if _, err := c.do(ctx, request{method: "GET", path: "api/v1/messages", query: pageQuery(start, limit)}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Search returns a page of the messages matching query, newest first (the inbox's search
// language: `to:bob@example.com subject:"reset" is:unread`). A query that does not parse
// returns an error matching ErrBadQuery.
func (c *Client) Search(ctx context.Context, query string, start, limit int) (*List, error) {
	q := pageQuery(start, limit)
	q.Set("query", query)
	var l List
	if _, err := c.do(ctx, request{method: "GET", path: "api/v1/search", query: q}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Get returns a whole message and marks it read, as Mailpit does. The ID "latest" is the
// newest message.
func (c *Client) Get(ctx context.Context, id string) (*Message, error) {
	var m Message
	if _, err := c.do(ctx, request{method: "GET", path: messagePath(id)}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Headers returns every header field of a message by name, values in message order (names as
// the message spells them).
func (c *Client) Headers(ctx context.Context, id string) (map[string][]string, error) {
	h := map[string][]string{}
	if _, err := c.do(ctx, request{method: "GET", path: messagePath(id, "headers")}, &h); err != nil {
		return nil, err
	}
	return h, nil
}

// Raw returns the source of a message, as stored (with the Received: header the server added).
func (c *Client) Raw(ctx context.Context, id string) ([]byte, error) {
	return c.do(ctx, request{method: "GET", path: messagePath(id, "raw")}, nil)
}

// Part returns the decoded content of one attachment or inline part (its PartID, as listed in
// Message.Attachments and Message.Inline) and its Content-Type.
func (c *Client) Part(ctx context.Context, id, partID string) (content []byte, contentType string, err error) {
	res, err := c.send(ctx, request{method: "GET", path: messagePath(id, "part", url.PathEscape(partID))})
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	content, err = io.ReadAll(res.Body)
	if err != nil {
		return nil, "", fmt.Errorf("client: GET /%s: %w", messagePath(id, "part", url.PathEscape(partID)), err)
	}
	return content, res.Header.Get("Content-Type"), nil
}

// MarkRead marks messages read. No IDs, no change.
func (c *Client) MarkRead(ctx context.Context, ids ...string) error {
	return c.setRead(ctx, ids, true)
}

// MarkUnread marks messages unread. No IDs, no change.
func (c *Client) MarkUnread(ctx context.Context, ids ...string) error {
	return c.setRead(ctx, ids, false)
}

func (c *Client) setRead(ctx context.Context, ids []string, read bool) error {
	if len(ids) == 0 {
		return nil // an empty list would mean "every message" to the server
	}
	_, err := c.do(ctx, request{method: "PUT", path: "api/v1/messages", body: map[string]any{"IDs": ids, "Read": read}}, nil)
	return err
}

// MarkAllRead marks every message matching query read (every message when query is "").
func (c *Client) MarkAllRead(ctx context.Context, query string) error {
	_, err := c.do(ctx, request{method: "PUT", path: "api/v1/messages", body: map[string]any{"Search": query, "Read": true}}, nil)
	return err
}

// Delete deletes messages by ID. No IDs, no change (DeleteAll deletes everything).
func (c *Client) Delete(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil // an empty list would mean "everything" to the server
	}
	_, err := c.do(ctx, request{method: "DELETE", path: "api/v1/messages", body: map[string]any{"IDs": ids}}, nil)
	return err
}

// DeleteSearch deletes every message matching query, which must not be empty.
func (c *Client) DeleteSearch(ctx context.Context, query string) error {
	_, err := c.do(ctx, request{method: "DELETE", path: "api/v1/search", query: url.Values{"query": {query}}}, nil)
	return err
}

// DeleteAll deletes every message.
func (c *Client) DeleteAll(ctx context.Context) error {
	_, err := c.do(ctx, request{method: "DELETE", path: "api/v1/messages"}, nil)
	return err
}

// Tags lists every tag in use, sorted.
func (c *Client) Tags(ctx context.Context) ([]string, error) {
	var tags []string
	if _, err := c.do(ctx, request{method: "GET", path: "api/v1/tags"}, &tags); err != nil {
		return nil, err
	}
	return tags, nil
}

// SetTags replaces the tags of the messages ids with tags (none removes them all).
func (c *Client) SetTags(ctx context.Context, ids []string, tags ...string) error {
	if tags == nil {
		tags = []string{}
	}
	_, err := c.do(ctx, request{method: "PUT", path: "api/v1/tags", body: map[string]any{"IDs": ids, "Tags": tags}}, nil)
	return err
}

// RenameTag renames a tag on every message that has it.
func (c *Client) RenameTag(ctx context.Context, tag, name string) error {
	_, err := c.do(ctx, request{method: "PUT", path: "api/v1/tags/" + url.PathEscape(tag), body: map[string]any{"Name": name}}, nil)
	return err
}

// DeleteTag removes a tag from every message.
func (c *Client) DeleteTag(ctx context.Context, tag string) error {
	_, err := c.do(ctx, request{method: "DELETE", path: "api/v1/tags/" + url.PathEscape(tag)}, nil)
	return err
}

// Release relays a stored message to the recipients to, through the SMTP relay the server was
// configured with (Mailpit's release; letterbox --relay-config or --relay-host). A server
// without a relay, or a recipient the relay config does not allow, gives an error matching
// ErrBadRequest; a relay that refused or could not be reached, an *Error with status 502 and
// the relay's reply.
func (c *Client) Release(ctx context.Context, id string, to ...string) error {
	_, err := c.do(ctx, request{method: "POST", path: messagePath(id, "release"), body: map[string]any{"To": to}}, nil)
	return err
}

// WaitOptions tune WaitFor.
type WaitOptions struct {
	// Count is how many messages must match; 0 means 1.
	Count int
	// SinceID counts only messages received after this message...
	SinceID string
	// ...or, when SinceID is empty, only those received after this time.
	Since time.Time
	// Timeout is how long to wait. 0 means until ctx's deadline, or the server's default (30s)
	// when ctx has none.
	Timeout time.Duration
}

// maxServerWait is the longest wait the server accepts in one request.
const maxServerWait = 10 * time.Minute

// WaitFor returns as soon as at least opts.Count messages received after opts.Since (or
// opts.SinceID) match query: the list of the matches, newest first. It asks the server to
// answer when they arrive (GET /api/v1/wait: no polling). When the time runs out first, the
// error matches ErrTimeout (and, if ctx's deadline passed, context.DeadlineExceeded).
func (c *Client) WaitFor(ctx context.Context, query string, opts WaitOptions) (*List, error) {
	q := url.Values{"query": {query}}
	if opts.Count > 0 {
		q.Set("count", strconv.Itoa(opts.Count))
	}
	if opts.SinceID != "" {
		q.Set("since", opts.SinceID)
	} else if !opts.Since.IsZero() {
		q.Set("since", opts.Since.UTC().Format(time.RFC3339Nano))
	}
	deadline, fromCtx := ctx.Deadline()
	if opts.Timeout > 0 {
		deadline, fromCtx = time.Now().Add(opts.Timeout), false
	}
	for {
		if !deadline.IsZero() {
			// The server should answer 408 a little before ctx's deadline, so that the
			// answer says how many matched.
			left := time.Until(deadline)
			if fromCtx {
				left -= min(left/10, 200*time.Millisecond)
			}
			if left <= 0 {
				return nil, waitTimeout{context.DeadlineExceeded}
			}
			q.Set("timeout", min(left, maxServerWait).String())
		}
		var l List
		_, err := c.do(ctx, request{method: "GET", path: "api/v1/wait", query: q}, &l)
		switch {
		case err == nil:
			return &l, nil
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, waitTimeout{ctx.Err()}
		case ctx.Err() != nil:
			return nil, err
		case isTimeout(err) && !deadline.IsZero() && time.Until(deadline) > time.Second:
			continue // a wait longer than the server's longest: ask again
		}
		return nil, err
	}
}

func isTimeout(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Is(ErrTimeout)
}
