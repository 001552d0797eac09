package client

import (
	"context"
	"encoding/base64"
)

// SendAddress is an address in a SendRequest.
type SendAddress struct {
	Email string
	Name  string `json:",omitempty"`
}

// SendAttachment is a file sent with a SendRequest. A ContentID makes it an inline part (an
// image the HTML shows with src="cid:...").
type SendAttachment struct {
	Content     string // base64; NewSendAttachment encodes it
	Filename    string
	ContentType string `json:",omitempty"` // default: sniffed from the content
	ContentID   string `json:",omitempty"`
}

// NewSendAttachment returns an attachment of content, base64-encoded as the API wants it.
func NewSendAttachment(filename string, content []byte) SendAttachment {
	return SendAttachment{Filename: filename, Content: base64.StdEncoding.EncodeToString(content)}
}

// SendRequest is the body of Mailpit's send API (POST /api/v1/send), field for field.
type SendRequest struct {
	From        SendAddress
	To          []SendAddress     `json:",omitempty"`
	Cc          []SendAddress     `json:",omitempty"`
	Bcc         []string          `json:",omitempty"`
	ReplyTo     []SendAddress     `json:",omitempty"`
	Subject     string            `json:",omitempty"`
	Text        string            `json:",omitempty"`
	HTML        string            `json:",omitempty"`
	Attachments []SendAttachment  `json:",omitempty"`
	Headers     map[string]string `json:",omitempty"`
	Tags        []string          `json:",omitempty"`
}

// Send has the server build a message from req and store it as if it had come over SMTP (it is
// not delivered anywhere); it returns the new message's ID. A bad field gives an error matching
// ErrBadRequest that names it.
func (c *Client) Send(ctx context.Context, req SendRequest) (string, error) {
	var res struct{ ID string }
	if _, err := c.do(ctx, request{method: "POST", path: "api/v1/send", body: req}, &res); err != nil {
		return "", err
	}
	return res.ID, nil
}
