package mcpserver

import (
	"context"
	"errors"
	"strings"

	"github.com/letterbox-mail/letterbox/extract"
)

// ExtractInput is extract_links_and_codes' input.
type ExtractInput struct {
	ID string `json:"id" jsonschema:"the message's ID (from search_messages or wait_for_message), or latest for the newest message"`
}

// ExtractOutput is extract_links_and_codes' output.
type ExtractOutput struct {
	ID      string         `json:"id"`
	Subject string         `json:"subject"`
	Links   []extract.Link `json:"links" jsonschema:"the http and https links: those of the HTML (with their text) first, then those of the text body"`
	Codes   []extract.Code `json:"codes" jsonschema:"one-time codes (sign-in, verification, PIN), likeliest first, with the line each is on; empty when there is none"`
}

func (s *Server) addExtractTool() {
	addTool(s, "extract_links_and_codes", "Extract links and one-time codes",
		"Pull out what a sign-up, sign-in or password-reset test needs from a message: its links (a confirmation or reset URL, "+
			"with the link text) and its one-time codes (4 to 8 digits, or short letter-and-digit codes, found next to words such "+
			"as code, verification, OTP or PIN; order numbers, prices and phone numbers are left out).",
		reads, s.extract)
}

func (s *Server) extract(ctx context.Context, in ExtractInput) (ExtractOutput, error) {
	if strings.TrimSpace(in.ID) == "" {
		return ExtractOutput{}, errors.New("give the message's id")
	}
	m, err := s.mb.Get(ctx, in.ID)
	if err != nil {
		return ExtractOutput{}, toolError(err)
	}
	codes := extract.Codes(m.Subject, m.Text)
	if strings.TrimSpace(m.HTML) != "" {
		seen := map[string]bool{}
		for _, c := range codes {
			seen[c.Code] = true
		}
		for _, c := range extract.Codes(m.Subject, htmlAsText(m.HTML)) {
			if !seen[c.Code] {
				seen[c.Code] = true
				codes = append(codes, c)
			}
		}
	}
	if codes == nil {
		codes = []extract.Code{}
	}
	return ExtractOutput{ID: m.ID, Subject: m.Subject, Links: nonNilLinks(extract.Links(m.HTML, m.Text)), Codes: codes}, nil
}
