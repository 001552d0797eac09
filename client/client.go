// Package client is a Go client of letterbox's JSON API (Mailpit's API v1 plus letterbox's wait
// endpoint), for integration tests: let the application under test send its mail, then
//
//	c, err := client.New("http://127.0.0.1:8025")
//	list, err := c.WaitFor(ctx, "to:dev@app.test subject:verify", client.WaitOptions{Timeout: 10 * time.Second})
//	msg, err := c.Get(ctx, list.Messages[0].ID)
//
// Every method takes a context first. Errors match ErrNotFound, ErrTimeout, ErrBadQuery,
// ErrBadRequest and ErrUnauthorized with errors.Is, and *Error with errors.As. The client speaks
// only HTTP and knows nothing of letterbox's other packages, so it works against any letterbox
// and, apart from WaitFor, against Mailpit. In a Go test, package letterboxtest starts a whole
// letterbox in the test process and hands out a ready Client.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to one server. It is safe for concurrent use. Its zero value is not usable; call New.
type Client struct {
	base               *url.URL
	http               *http.Client
	username, password string
	auth               bool
}

// Option configures a Client.
type Option func(*Client)

// WithBasicAuth sends HTTP basic authentication (a server started with --http-auth-file wants it).
func WithBasicAuth(username, password string) Option {
	return func(c *Client) { c.username, c.password, c.auth = username, password, true }
}

// WithHTTPClient makes the client send its requests with h instead of http.DefaultClient (for a
// proxy, TLS settings or an in-memory transport). Give h no overall Timeout shorter than your
// WaitFor timeouts: a context bounds each call instead.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.http = h }
}

// New returns a client of the server at baseURL, such as "http://127.0.0.1:8025". A base URL
// with a path ("http://host/mail/") is kept as the prefix of every API path; one with user
// information ("http://alice:secret@host") sends it as basic authentication.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/") + "/")
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL would show a password
		}
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http://host[:port] or https://host[:port]", u.Redacted())
	}
	c := &Client{http: http.DefaultClient}
	if u.User != nil {
		pass, _ := u.User.Password()
		c.username, c.password, c.auth = u.User.Username(), pass, true
		u.User = nil
	}
	c.base = u
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	return c, nil
}

// URL returns the server's base URL, without credentials.
func (c *Client) URL() string { return strings.TrimRight(c.base.String(), "/") }

// request is one API call.
type request struct {
	method string
	path   string     // below the base URL, without a leading slash
	query  url.Values // may be nil
	body   any        // sent as JSON when not nil
}

// send performs r and returns the response when its status is 200; otherwise an *Error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	u := c.base.JoinPath(r.path)
	u.RawQuery = r.query.Encode()
	var rd io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth {
		req.SetBasicAuth(c.username, c.password)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s /%s: %w", r.method, r.path, err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		return nil, &Error{Method: r.method, Path: "/" + r.path, Status: res.StatusCode, Body: errorText(res, data)}
	}
	return res, nil
}

// errorText is the explanation in an error answer: the text, or the Error field of a JSON body.
func errorText(res *http.Response, data []byte) string {
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "application/json" {
		var v struct{ Error string }
		if json.Unmarshal(data, &v) == nil && v.Error != "" {
			return v.Error
		}
	}
	return strings.TrimSpace(string(data))
}

// do performs r and decodes a JSON answer into out (when not nil); it returns the body.
func (c *Client) do(ctx context.Context, r request, out any) ([]byte, error) {
	res, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("client: %s /%s: %w", r.method, r.path, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("client: %s /%s: decode: %w", r.method, r.path, err)
		}
	}
	return data, nil
}

// Info describes the server: version, database, message counts and SMTP figures.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var info Info
	if _, err := c.do(ctx, request{method: "GET", path: "api/v1/info"}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}
