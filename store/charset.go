package store

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/inbucket/html2text"
	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
)

// charsetReader converts text in a named charset to UTF-8 for RFC 2047 decoding. An encoded
// word is short: it is converted whole, and handed back as a *bytes.Reader, which mime's decoder
// copies out without a 32 KB buffer (a streaming reader cost two of them an encoded word).
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	enc, _ := charset.Lookup(label)
	if enc == nil {
		return nil, fmt.Errorf("store: charset %q: unsupported", label)
	}
	var text []byte
	var err error
	if br, ok := input.(*bytes.Reader); ok { // what mime hands over: read it without growing a buffer
		text = make([]byte, br.Len())
		_, err = io.ReadFull(br, text)
	} else {
		text, err = io.ReadAll(input)
	}
	if err == nil {
		text, err = enc.NewDecoder().Bytes(text)
	}
	if err != nil {
		return nil, fmt.Errorf("store: charset %q: %w", label, err)
	}
	return bytes.NewReader(text), nil
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
// US-ASCII, is read as UTF-8 (its bytes as they are; see fixCharsets). The values mail repeats
// ("text/plain; charset=utf-8") are parsed once (mediaTypes).
func mediaType(ctype string) (string, map[string]string, []string, error) {
	if m, ok := mediaTypes.Load(ctype); ok {
		m := m.(parsedMediaType)
		return m.mtype, maps.Clone(m.params), slices.Clone(m.invalid), nil
	}
	mtype, params, invalid, err := parseMediaType(ctype)
	if err == nil && repeated(ctype) && mediaTypesHeld.Add(1) <= maxMediaTypes {
		mediaTypes.Store(ctype, parsedMediaType{mtype, maps.Clone(params), slices.Clone(invalid)})
	}
	return mtype, params, invalid, err
}

// mediaTypes holds the media types parsed so far that mail repeats, up to maxMediaTypes of them:
// enmime repairs every value before Go's parser reads it, 5% of the CPU that parsing a 4 KB
// message costs, and the values of text and HTML parts hardly vary.
var (
	mediaTypes     sync.Map // of string to parsedMediaType
	mediaTypesHeld atomic.Int64
)

const maxMediaTypes = 1024

// parsedMediaType is what mediaType returns for a value.
type parsedMediaType struct {
	mtype   string
	params  map[string]string
	invalid []string
}

// repeated reports whether a media type is worth keeping: short, and without the parameters
// that make each message's own (a multipart's boundary, an attachment's name).
func repeated(ctype string) bool {
	return len(ctype) <= 100 && indexFold(ctype, "boundary") < 0 && indexFold(ctype, "name") < 0
}

// parseMediaType is mediaType without the memory.
func parseMediaType(ctype string) (string, map[string]string, []string, error) {
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
