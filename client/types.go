package client

import "time"

// Address is a display name and an email address.
type Address struct {
	Name    string
	Address string
}

// Summary is a message in a list, as Mailpit's API shows it.
type Summary struct {
	ID          string
	MessageID   string // the Message-ID header, without angle brackets
	Read        bool
	From        Address
	To          []Address
	Cc          []Address
	Bcc         []Address
	ReplyTo     []Address
	Subject     string
	Created     time.Time // when the server received it
	Username    string    // SMTP AUTH username
	Tags        []string
	Size        int64
	Attachments int
	Snippet     string // the start of the text body
}

// List is a page of messages.
type List struct {
	Total          int       `json:"total"`           // messages stored
	Unread         int       `json:"unread"`          // unread messages stored
	Count          int       `json:"count"`           // messages in this page
	MessagesCount  int       `json:"messages_count"`  // messages matching
	MessagesUnread int       `json:"messages_unread"` // unread messages matching
	Start          int       `json:"start"`           // offset of this page
	Tags           []string  `json:"tags"`            // every tag in use
	Messages       []Summary `json:"messages"`
}

// Checksums are digests of a part's decoded content, lower-case hex.
type Checksums struct{ MD5, SHA1, SHA256 string }

// Attachment describes an attachment or inline part; read its content with Client.Part.
type Attachment struct {
	PartID      string
	FileName    string
	ContentType string
	ContentID   string
	Size        int64
	Checksums   Checksums
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

// Node is one part of the MIME structure (letterbox only).
type Node struct {
	PartID      string
	ContentType string
	Charset     string
	Disposition string
	FileName    string
	Size        int64
	Children    []Node
}

// ListUnsubscribe is the server's reading of the List-Unsubscribe header (RFC 2369, RFC 8058).
type ListUnsubscribe struct {
	Header     string
	Links      []string
	Errors     string
	HeaderPost string
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
	Structure       Node
	ParseErrors     []string
	HeadersList     []Header
	SessionID       string // the SMTP session that delivered it (GET /api/v1/session/{ID}); "" when not known
}

// Info describes the server (GET /api/v1/info).
type Info struct {
	Version       string
	LatestVersion string // Mailpit's newest release; letterbox leaves it empty (it never phones home)
	Database      string
	DatabaseSize  int64
	Messages      int
	Unread        int
	Tags          map[string]int
	RuntimeStats  struct {
		Uptime           int
		Memory           uint64
		MessagesDeleted  int64
		SMTPAccepted     int64
		SMTPAcceptedSize int64
		SMTPRejected     int64
		SMTPIgnored      int64
	}
}
