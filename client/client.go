// Package client is a small Go client of letterbox's JSON API (Mailpit's API v1 plus letterbox's
// wait endpoint), for integration tests: send mail from the application under test, then
//
//	c := client.New("http://127.0.0.1:8025")
//	list, err := c.Wait(ctx, "to:dev@app.test subject:verify", client.WaitOptions{Timeout: 10 * time.Second})
//	msg, err := c.Message(ctx, list.Messages[0].ID)
//
// It speaks only HTTP and knows nothing of letterbox's packages, so it works against any
// letterbox (or, apart from Wait, any Mailpit) server.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one server. Its zero value is not usable; call New.
type Client struct {
	base *url.URL
	// HTTP is the HTTP client used; http.DefaultClient by default.
	HTTP *http.Client
	// Username and Password, when set, are sent with HTTP basic authentication.
	Username, Password string
}

// New returns a client of the server at baseURL (such as "http://127.0.0.1:8025").
func New(baseURL string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: base URL %q: want http:// or https://", baseURL)
	}
	return &Client{base: u, HTTP: http.DefaultClient}, nil
}

// Address is a display name and an email address.
type Address struct {
	Name    string
	Address string
}

// Summary is a message in a list.
type Summary struct {
	ID          string
	MessageID   string
	Read        bool
	From        Address
	To          []Address
	Cc          []Address
	Bcc         []Address
	ReplyTo     []Address
	Subject     string
	Created     time.Time
	Username    string
	Tags        []string
	Size        int64
	Attachments int
	Snippet     string
}

// List is a page of messages.
type List struct {
	Total          int       `json:"total"`
	Unread         int       `json:"unread"`
	Count          int       `json:"count"`
	MessagesCount  int       `json:"messages_count"`
	MessagesUnread int       `json:"messages_unread"`
	Start          int       `json:"start"`
	Tags           []string  `json:"tags"`
	Messages       []Summary `json:"messages"`
}

// Attachment describes an attachment or inline part.
type Attachment struct {
	PartID      string
	FileName    string
	ContentType string
	ContentID   string
	Size        int64
	Checksums   struct{ MD5, SHA1, SHA256 string }
}

// Envelope is the SMTP transaction that delivered a message (letterbox only).
type Envelope struct {
	MailFrom   string
	Recipients []string
	Helo       string
	RemoteAddr string
	Username   string
	TLS        bool
}

// Header is one header field, in message order.
type Header struct {
	Name  string
	Value string
}

// Message is a whole message.
type Message struct {
	ID              string
	MessageID       string
	Read            bool
	From            Address
	To              []Address
	Cc              []Address
	Bcc             []Address
	ReplyTo         []Address
	ReturnPath      string
	Subject         string
	ListUnsubscribe struct {
		Header     string
		Links      []string
		Errors     string
		HeaderPost string
	}
	Date        time.Time
	Created     time.Time
	Tags        []string
	Username    string
	Text        string
	HTML        string
	Size        int64
	Inline      []Attachment
	Attachments []Attachment
	Envelope    Envelope
	ParseErrors []string
	HeadersList []Header
}

// Error is a response with a status other than the one expected.
type Error struct {
	Status int    // HTTP status code
	Body   string // the server's explanation
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// ErrTimeout is returned (wrapped in *Error with status 408) when Wait times out; test with
// errors.Is(err, client.ErrTimeout).
var ErrTimeout = errors.New("client: timed out waiting for messages")

// Is makes errors.Is(err, ErrTimeout) true for 408 answers.
func (e *Error) Is(target error) bool {
	return target == ErrTimeout && e.Status == http.StatusRequestTimeout
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, out any) ([]byte, error) {
	u := c.base.JoinPath(path)
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Username != "" || c.Password != "" {
		req.SetBasicAuth(c.Username, c.Password)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, &Error{Status: res.StatusCode, Body: string(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("client: %s %s: decode: %w", method, path, err)
		}
	}
	return data, nil
}

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

// Messages returns a page of messages, newest first (limit 0 means the server's default, 50).
func (c *Client) Messages(ctx context.Context, start, limit int) (*List, error) {
	var l List
	if _, err := c.do(ctx, "GET", "api/v1/messages", pageQuery(start, limit), nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Search returns a page of the messages matching query (Mailpit's search syntax).
func (c *Client) Search(ctx context.Context, query string, start, limit int) (*List, error) {
	q := pageQuery(start, limit)
	q.Set("query", query)
	var l List
	if _, err := c.do(ctx, "GET", "api/v1/search", q, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Message returns a whole message ("latest" is the newest) and marks it read.
func (c *Client) Message(ctx context.Context, id string) (*Message, error) {
	var m Message
	if _, err := c.do(ctx, "GET", "api/v1/message/"+url.PathEscape(id), nil, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Raw returns the source of a message.
func (c *Client) Raw(ctx context.Context, id string) ([]byte, error) {
	return c.do(ctx, "GET", "api/v1/message/"+url.PathEscape(id)+"/raw", nil, nil, nil)
}

// WaitOptions tune Wait.
type WaitOptions struct {
	// Count is how many messages must match; 0 means 1.
	Count int
	// Since counts only messages received after this message ID...
	SinceID string
	// ...or after this time (ignored when SinceID is set).
	Since time.Time
	// Timeout is how long the server waits; 0 means the server's default (30s).
	Timeout time.Duration
}

// Wait returns the matching messages as soon as at least opts.Count messages match query.
// When the server times out, the error satisfies errors.Is(err, ErrTimeout).
func (c *Client) Wait(ctx context.Context, query string, opts WaitOptions) (*List, error) {
	q := url.Values{"query": {query}}
	if opts.Count > 0 {
		q.Set("count", strconv.Itoa(opts.Count))
	}
	if opts.SinceID != "" {
		q.Set("since", opts.SinceID)
	} else if !opts.Since.IsZero() {
		q.Set("since", opts.Since.UTC().Format(time.RFC3339Nano))
	}
	if opts.Timeout > 0 {
		q.Set("timeout", opts.Timeout.String())
	}
	var l List
	if _, err := c.do(ctx, "GET", "api/v1/wait", q, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// SetRead marks messages read or unread.
func (c *Client) SetRead(ctx context.Context, ids []string, read bool) error {
	_, err := c.do(ctx, "PUT", "api/v1/messages", nil, map[string]any{"IDs": ids, "Read": read}, nil)
	return err
}

// Delete deletes messages by ID.
func (c *Client) Delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil // an empty list would mean "everything" to the server
	}
	_, err := c.do(ctx, "DELETE", "api/v1/messages", nil, map[string]any{"IDs": ids}, nil)
	return err
}

// DeleteAll deletes every message.
func (c *Client) DeleteAll(ctx context.Context) error {
	_, err := c.do(ctx, "DELETE", "api/v1/messages", nil, nil, nil)
	return err
}
