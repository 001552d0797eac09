package webui

import (
	"mime"
	"regexp"
	"strings"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// Address is Mailpit's {Name, Address}.
type Address struct {
	Name    string
	Address string
}

// Summary is a list item, as Mailpit's /api/v1/messages shows it and the websocket "new" event sends.
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

// List is the envelope of /api/v1/messages, /api/v1/search and /api/v1/wait.
type List struct {
	Total          int       `json:"total"`           // messages stored
	Unread         int       `json:"unread"`          // unread messages stored
	Count          int       `json:"count"`           // items in this page
	MessagesCount  int       `json:"messages_count"`  // messages matching
	MessagesUnread int       `json:"messages_unread"` // unread messages matching
	Start          int       `json:"start"`           // offset of this page
	Tags           []string  `json:"tags"`            // every tag in use
	Messages       []Summary `json:"messages"`
}

// Attachment is Mailpit's description of an attachment or inline part.
type Attachment struct {
	PartID      string
	FileName    string
	ContentType string
	ContentID   string
	Size        int64
	Checksums   store.Checksums
}

// ListUnsubscribe is Mailpit's reading of the List-Unsubscribe header (RFC 2369, RFC 8058).
type ListUnsubscribe struct {
	Header     string
	Links      []string
	Errors     string
	HeaderPost string
}

// Envelope is the SMTP transaction (a letterbox extension).
type Envelope struct {
	MailFrom   string
	Recipients []string
	Helo       string
	RemoteAddr string
	Username   string
	TLS        bool
}

// Message is Mailpit's full message, plus letterbox's extensions (Read, Created, Envelope,
// Structure, ParseErrors, HeadersList) used by the web inbox.
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
	ListUnsubscribe ListUnsubscribe
	Date            time.Time
	Created         time.Time
	Tags            []string
	Username        string
	Text            string
	HTML            string
	Size            int64
	Inline          []Attachment
	Attachments     []Attachment
	Envelope        Envelope
	SessionID       string // letterbox: the SMTP session that delivered it (/api/v1/session/{ID}); "" when not known
	Structure       store.Node
	ParseErrors     []string
	HeadersList     []store.Header
}

func addr(a store.Address) Address { return Address{Name: a.Name, Address: a.Address} }

func addrs(list []store.Address) []Address {
	out := make([]Address, 0, len(list))
	for _, a := range list {
		out = append(out, addr(a))
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// NewSummary returns the list item Mailpit's API shows for a stored message (the body of
// Mailpit's webhook, too).
func NewSummary(s store.Summary) Summary { return summaryJSON(s) }

// summaryJSON converts a store summary to Mailpit's shape.
func summaryJSON(s store.Summary) Summary {
	return Summary{
		ID: s.ID, MessageID: s.MessageID, Read: s.Read, From: addr(s.From),
		To: addrs(s.To), Cc: addrs(s.Cc), Bcc: addrs(s.Bcc), ReplyTo: addrs(s.ReplyTo),
		Subject: s.Subject, Created: s.Created, Username: s.Username, Tags: nonNil(s.Tags),
		Size: s.Size, Attachments: s.Attachments, Snippet: s.Snippet,
	}
}

func summariesJSON(list []store.Summary) []Summary {
	out := make([]Summary, 0, len(list))
	for _, s := range list {
		out = append(out, summaryJSON(s))
	}
	return out
}

func attachmentsJSON(parts []store.Part) []Attachment {
	out := make([]Attachment, 0, len(parts))
	for _, p := range parts {
		out = append(out, Attachment{PartID: p.PartID, FileName: p.FileName, ContentType: p.ContentType,
			ContentID: p.ContentID, Size: p.Size, Checksums: p.Checksums})
	}
	return out
}

// messageJSON converts a stored message to Mailpit's full message.
func messageJSON(m *store.Message) Message {
	date := m.Date
	if date.IsZero() {
		date = m.Created
	}
	return Message{
		ID: m.ID, MessageID: m.MessageID, Read: m.Read, From: addr(m.From),
		To: addrs(m.To), Cc: addrs(m.Cc), Bcc: addrs(m.Bcc), ReplyTo: addrs(m.ReplyTo),
		ReturnPath: m.ReturnPath, Subject: m.Subject, ListUnsubscribe: listUnsubscribe(m),
		Date: date, Created: m.Created, Tags: nonNil(m.Tags), Username: m.Username,
		Text: m.Text, HTML: m.HTML, Size: m.Size,
		Inline: attachmentsJSON(m.Inline), Attachments: attachmentsJSON(m.Attachments),
		Envelope: Envelope{MailFrom: m.Envelope.MailFrom, Recipients: nonNil(m.Envelope.Recipients),
			Helo: m.Envelope.Helo, RemoteAddr: m.Envelope.RemoteAddr, Username: m.Envelope.Username, TLS: m.Envelope.TLS},
		SessionID:   m.Envelope.SessionID,
		Structure:   m.Structure,
		ParseErrors: nonNil(m.ParseErrors),
		HeadersList: headersList(m.Headers),
	}
}

func headersList(h []store.Header) []store.Header {
	if h == nil {
		return []store.Header{}
	}
	return h
}

var unsubLink = regexp.MustCompile(`<([^>]*)>`)

// listUnsubscribe reads List-Unsubscribe: a comma-separated list of <URI>s (RFC 2369).
func listUnsubscribe(m *store.Message) ListUnsubscribe {
	lu := ListUnsubscribe{Links: []string{}}
	vals := m.HeaderValues("List-Unsubscribe")
	if len(vals) == 0 {
		return lu
	}
	lu.Header = decodeHeader(vals[0])
	if post := m.HeaderValues("List-Unsubscribe-Post"); len(post) > 0 {
		lu.HeaderPost = strings.TrimSpace(post[0])
	}
	var errs []string
	for _, match := range unsubLink.FindAllStringSubmatch(lu.Header, -1) {
		link := strings.TrimSpace(match[1])
		low := strings.ToLower(link)
		if !strings.HasPrefix(low, "mailto:") && !strings.HasPrefix(low, "http://") && !strings.HasPrefix(low, "https://") {
			errs = append(errs, "\""+link+"\" is not a mailto:, http: or https: link")
			continue
		}
		lu.Links = append(lu.Links, link)
	}
	if len(lu.Links) == 0 && len(errs) == 0 {
		errs = append(errs, "no <link> found")
	}
	lu.Errors = strings.Join(errs, "; ")
	return lu
}

// decodeHeader decodes RFC 2047 encoded words, leaving the value alone when it cannot.
func decodeHeader(v string) string {
	var d mime.WordDecoder
	if out, err := d.DecodeHeader(v); err == nil {
		return strings.TrimSpace(out)
	}
	return strings.TrimSpace(v)
}
