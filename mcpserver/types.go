package mcpserver

import (
	"time"

	"github.com/letterbox-mail/letterbox/client"
)

// MessageSummary is a message in a list.
type MessageSummary struct {
	ID          string   `json:"id" jsonschema:"the message's ID, for get_message and extract_links_and_codes"`
	From        string   `json:"from" jsonschema:"the sender, as Name <address>"`
	To          []string `json:"to"`
	Subject     string   `json:"subject"`
	Received    string   `json:"received" jsonschema:"when letterbox received it (RFC 3339)"`
	Read        bool     `json:"read"`
	Tags        []string `json:"tags"`
	Attachments int      `json:"attachments"`
	Size        int64    `json:"size" jsonschema:"bytes of the raw message"`
	Snippet     string   `json:"snippet" jsonschema:"the start of the text body"`
}

func address(a client.Address) string {
	switch {
	case a.Name == "":
		return a.Address
	case a.Address == "":
		return a.Name
	}
	return a.Name + " <" + a.Address + ">"
}

func addresses(list []client.Address) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, address(a))
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func summaries(list []client.Summary) []MessageSummary {
	out := make([]MessageSummary, 0, len(list))
	for _, m := range list {
		out = append(out, MessageSummary{
			ID: m.ID, From: address(m.From), To: addresses(m.To), Subject: m.Subject, Received: rfc3339(m.Created),
			Read: m.Read, Tags: nonNil(m.Tags), Attachments: m.Attachments, Size: m.Size, Snippet: m.Snippet,
		})
	}
	return out
}
