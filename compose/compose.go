// Package compose builds a MIME message (RFC 5322, RFC 2045-2049) from the JSON body of
// Mailpit's send API (POST /api/v1/send), with enmime's builder: text and HTML alternatives,
// inline parts referenced by Content-ID (cid: URLs, RFC 2392), attachments, extra headers and
// tags. Every field is checked first, so a request is either built whole or refused with a
// FieldError that names the field and why.
package compose

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/jhillyerd/enmime/v2"
)

// Address is an email address with an optional display name.
type Address struct {
	Email string
	Name  string
}

// Attachment is one file sent with the message. A ContentID makes it an inline part (an image
// the HTML shows with src="cid:...").
type Attachment struct {
	Content     string // base64, optionally with a data: URL prefix ("data:image/png;base64,")
	Filename    string
	ContentType string // default: sniffed from the content
	ContentID   string // without angle brackets
}

// Request is the body of Mailpit's send API, field for field.
type Request struct {
	From        Address
	To          []Address
	Cc          []Address
	Bcc         []string
	ReplyTo     []Address
	Subject     string
	Text        string
	HTML        string
	Attachments []Attachment
	Headers     map[string]string
	Tags        []string
}

// Message is a built message: its envelope and its bytes.
type Message struct {
	From       string   // the envelope sender: From's address
	Recipients []string // To, Cc and Bcc addresses, in that order, each once
	Raw        []byte   // the message, CRLF line endings
}

// FieldError says which field of a Request is wrong and why.
type FieldError struct {
	Field  string // e.g. "From.Email", "To[1].Email", "Attachments[0].Content", "Headers.Subject"
	Reason string
}

// Error is "Field: reason", e.g. "To[1].Email: \"bob@\" is not an email address".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Options configure Build. The zero value is valid.
type Options struct {
	// Hostname is the domain of generated Message-IDs. Default "localhost".
	Hostname string
	// Now is the Date header's time. Default time.Now.
	Now func() time.Time
}

// reserved are the header fields Headers may not set: the Request has fields for them, or the
// builder writes them.
var reserved = []string{"To", "From", "Cc", "Bcc", "Reply-To", "Date", "Subject", "Content-Type",
	"Content-Transfer-Encoding", "Mime-Version"}

// Build checks req and builds its message.
func Build(req Request, opts Options) (*Message, error) {
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	from, err := address("From", req.From, true)
	if err != nil {
		return nil, err
	}
	msg := &Message{From: from.Address}
	seen := map[string]bool{}
	recipient := func(a string) {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			msg.Recipients = append(msg.Recipients, a)
		}
	}
	b := enmime.Builder().From(from.Name, from.Address).Subject(req.Subject).Date(opts.Now())
	lists := []struct {
		field string
		list  []Address
		add   func(enmime.MailBuilder, string, string) enmime.MailBuilder
		rcpt  bool
	}{
		{"To", req.To, enmime.MailBuilder.To, true},
		{"Cc", req.Cc, enmime.MailBuilder.CC, true},
		{"ReplyTo", req.ReplyTo, enmime.MailBuilder.ReplyTo, false},
	}
	for _, l := range lists {
		for i, a := range l.list {
			parsed, err := address(fmt.Sprintf("%s[%d]", l.field, i), a, false)
			if err != nil {
				return nil, err
			}
			b = l.add(b, parsed.Name, parsed.Address)
			if l.rcpt {
				recipient(parsed.Address)
			}
		}
	}
	for i, e := range req.Bcc {
		parsed, err := address(fmt.Sprintf("Bcc[%d]", i), Address{Email: e}, false)
		if err != nil {
			return nil, err
		}
		b = b.BCC("", parsed.Address) // envelope only: the builder writes no Bcc field
		recipient(parsed.Address)
	}
	if len(msg.Recipients) == 0 {
		return nil, &FieldError{"To", "no recipients: give at least one To, Cc or Bcc address"}
	}
	if req.Text != "" || req.HTML == "" {
		b = b.Text([]byte(req.Text))
	}
	if req.HTML != "" {
		b = b.HTML([]byte(req.HTML))
	}
	if b, err = headers(b, req); err != nil {
		return nil, err
	}
	if b, err = attachments(b, req.Attachments); err != nil {
		return nil, err
	}
	root, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("compose: build: %w", err)
	}
	if root.Header.Get("Message-Id") == "" {
		root.Header.Set("Message-Id", NewMessageID(opts.Hostname))
	}
	var buf bytes.Buffer
	if err := root.Encode(&buf); err != nil {
		return nil, fmt.Errorf("compose: encode: %w", err)
	}
	msg.Raw = buf.Bytes()
	return msg, nil
}

// address checks one address field; the Email may also be in "Name <addr>" form.
func address(field string, a Address, required bool) (*mail.Address, error) {
	email := strings.TrimSpace(a.Email)
	if email == "" {
		if required {
			return nil, &FieldError{field + ".Email", "required"}
		}
		return nil, &FieldError{field + ".Email", "empty"}
	}
	if strings.ContainsAny(email+a.Name, "\r\n") {
		return nil, &FieldError{field, "contains a line break"}
	}
	parsed, err := mail.ParseAddress(email)
	if err != nil {
		return nil, &FieldError{field + ".Email", fmt.Sprintf("%q is not an email address (%v)", a.Email, strings.TrimPrefix(err.Error(), "mail: "))}
	}
	if a.Name != "" {
		parsed.Name = a.Name
	}
	return parsed, nil
}

// headers adds req.Headers and req.Tags to b.
func headers(b enmime.MailBuilder, req Request) (enmime.MailBuilder, error) {
	names := make([]string, 0, len(req.Headers))
	for name := range req.Headers {
		names = append(names, name)
	}
	sort.Strings(names) // the same request fails on the same field every time
	for _, name := range names {
		value := req.Headers[name]
		field := "Headers." + name
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' }) >= 0 {
			return b, &FieldError{field, "not a header field name (printable ASCII without spaces or colons)"}
		}
		for _, r := range reserved {
			if strings.EqualFold(name, r) {
				return b, &FieldError{field, "cannot be set through Headers (use the request's own field)"}
			}
		}
		if len(req.Tags) > 0 && strings.EqualFold(name, "X-Tags") {
			return b, &FieldError{field, "cannot be set together with Tags"}
		}
		if strings.ContainsAny(value, "\r\n") {
			return b, &FieldError{field, "the value contains a line break"}
		}
		b = b.Header(name, value)
	}
	if len(req.Tags) > 0 {
		for i, t := range req.Tags {
			if strings.ContainsAny(t, "\r\n,") {
				return b, &FieldError{fmt.Sprintf("Tags[%d]", i), "contains a comma or a line break"}
			}
		}
		b = b.Header("X-Tags", strings.Join(req.Tags, ", "))
	}
	return b, nil
}

// attachments decodes each attachment and adds it to b, inline when it has a ContentID.
func attachments(b enmime.MailBuilder, list []Attachment) (enmime.MailBuilder, error) {
	for i, a := range list {
		field := fmt.Sprintf("Attachments[%d]", i)
		content, err := decodeBase64(a.Content)
		if err != nil {
			return b, &FieldError{field + ".Content", err.Error()}
		}
		if strings.ContainsAny(a.Filename+a.ContentType+a.ContentID, "\r\n") {
			return b, &FieldError{field, "contains a line break"}
		}
		ctype := a.ContentType
		if ctype == "" {
			ctype = http.DetectContentType(content)
		}
		if cid := strings.Trim(strings.TrimSpace(a.ContentID), "<>"); cid != "" {
			b = b.AddInline(content, ctype, a.Filename, cid)
		} else {
			b = b.AddAttachment(content, ctype, a.Filename)
		}
	}
	return b, nil
}

// decodeBase64 decodes standard base64, with or without padding and line breaks, after an
// optional data: URL prefix (what a browser's FileReader.readAsDataURL gives).
func decodeBase64(s string) ([]byte, error) {
	if strings.HasPrefix(s, "data:") {
		if i := strings.IndexByte(s, ','); i >= 0 {
			s = s[i+1:]
		}
	}
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, errors.New("empty")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		var rerr error
		if b, rerr = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); rerr == nil {
			return b, nil
		}
		return nil, fmt.Errorf("not base64 (%v)", strings.TrimPrefix(err.Error(), "illegal base64 data "))
	}
	return b, nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewMessageID returns a new Message-ID field value, "<20 random characters@domain>" (RFC 5322
// §3.6.4: unique through 96 random bits), with "localhost" for an empty domain.
func NewMessageID(domain string) string {
	if domain == "" {
		domain = "localhost"
	}
	var b [12]byte
	rand.Read(b[:])
	return "<" + idEncoding.EncodeToString(b[:]) + "@" + domain + ">"
}
