package store

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/inbucket/html2text"
	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
)

// charsetReader converts text in a named charset to UTF-8 for RFC 2047 decoding.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	r, err := charset.NewReaderLabel(label, input)
	if err != nil {
		return nil, fmt.Errorf("store: charset %q: %w", label, err)
	}
	return r, nil
}

// Charsets of text parts. enmime reads a text part in its declared charset; with character
// detection off (it is slow and unreliable on short texts) a part that declares none, or US-ASCII,
// RFC 2045's default, would be read as Windows-1252, which garbles the raw UTF-8 that tools and
// scripts send today. So such parts are read as UTF-8 (mediaType), and the parts whose bytes are
// not valid UTF-8 are then decoded as the web does: HTML by its <meta charset> or else
// Windows-1252, text as Windows-1252 (fixCharsets).

// parserOptions are the enmime options the store parses with.
func parserOptions() []enmime.Option {
	return []enmime.Option{
		enmime.DisableCharacterDetection(true),
		enmime.MaxStoredPartErrors(100),
		enmime.SetCustomParseMediaType(mediaType),
	}
}

// mediaType is enmime's media type parser, except that a text part without a charset, or with
// US-ASCII, is read as UTF-8 (its bytes as they are; see fixCharsets).
func mediaType(ctype string) (string, map[string]string, []string, error) {
	mtype, params, invalid, err := mediatype.Parse(ctype)
	if err == nil && strings.HasPrefix(mtype, "text/") {
		if cs := strings.ToLower(params["charset"]); cs == "" || cs == "us-ascii" || cs == "ascii" {
			if params == nil {
				params = map[string]string{}
			}
			params["charset"] = "utf-8"
		}
	}
	return mtype, params, invalid, err
}

// fixCharsets decodes the text and HTML parts of env whose content is not valid UTF-8 (see
// above), and returns env's text and HTML bodies accordingly.
func fixCharsets(env *enmime.Envelope) (text, html string) {
	text, html = env.Text, env.HTML
	if env.Root == nil || utf8.ValidString(text) && utf8.ValidString(html) {
		return text, html
	}
	textFromPart := false
	var walk func(p *enmime.Part)
	walk = func(p *enmime.Part) {
		for ; p != nil; p = p.NextSibling {
			if (p.ContentType == "text/plain" || p.ContentType == "text/html") && len(p.Content) > 0 {
				orig := string(p.Content)
				if !utf8.Valid(p.Content) {
					p.Content = decodeLegacy(p.Content, p.ContentType)
				}
				if orig == text && p.ContentType == "text/plain" {
					text, textFromPart = string(p.Content), true
				}
				if orig == html {
					html = string(p.Content)
				}
			}
			walk(p.FirstChild)
		}
	}
	walk(env.Root)
	if !textFromPart && html != env.HTML {
		// enmime made the text from the HTML as it was.
		if t, err := html2text.FromString(html); err == nil {
			text = t
		}
	}
	return text, html
}

// decodeLegacy decodes b, which is not UTF-8: HTML by its BOM or <meta charset> (Windows-1252
// when it has neither), text as Windows-1252.
func decodeLegacy(b []byte, contentType string) []byte {
	enc := encoding.Encoding(charmap.Windows1252)
	if contentType == "text/html" {
		enc, _, _ = charset.DetermineEncoding(b, contentType)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	return out
}
