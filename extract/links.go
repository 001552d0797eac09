// Package extract finds what a test or a coding agent looks for in a captured message: the links
// it carries (a confirmation or password-reset URL) and the one-time codes it gives (a sign-in
// or verification code). It works on the decoded text and HTML bodies and knows nothing of
// storage or HTTP.
package extract

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Link is one http or https link of a message.
type Link struct {
	URL    string `json:"url"`
	Text   string `json:"text,omitempty"` // the anchor's text (HTML links), collapsed to single spaces
	Source string `json:"source"`         // "html" (an <a href>), or "text" (a URL in the text body)
}

// maxLinks bounds the links returned for one message (a newsletter may have hundreds).
const maxLinks = 500

// Links returns the http and https links of a message, first those of the HTML body's <a
// href> (and <area href>) in document order, then URLs in the text body that the HTML did not
// already have. Each URL appears once. Other schemes (mailto:, tel:, javascript:) are left out.
func Links(htmlBody, text string) []Link {
	var out []Link
	seen := map[string]bool{}
	add := func(l Link) {
		if len(out) < maxLinks && !seen[l.URL] {
			seen[l.URL] = true
			out = append(out, l)
		}
	}
	if htmlBody != "" {
		for _, l := range htmlLinks(htmlBody) {
			add(l)
		}
	}
	for _, u := range TextURLs(text) {
		add(Link{URL: u, Source: "text"})
	}
	return out
}

// htmlLinks lists the <a href> and <area href> links of an HTML document.
func htmlLinks(doc string) []Link {
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return nil
	}
	var out []Link
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.DataAtom == atom.A || n.DataAtom == atom.Area) {
			for _, a := range n.Attr {
				if a.Key == "href" && a.Namespace == "" {
					if u := strings.TrimSpace(a.Val); isWebURL(u) {
						out = append(out, Link{URL: u, Text: nodeText(n), Source: "html"})
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return out
}

// nodeText is the text inside n (or an image's alt text), spaces collapsed, at most 200 bytes.
func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
			b.WriteByte(' ')
		case n.Type == html.ElementNode && n.DataAtom == atom.Img:
			for _, a := range n.Attr {
				if a.Key == "alt" {
					b.WriteString(a.Val)
					b.WriteByte(' ')
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	t := strings.Join(strings.Fields(b.String()), " ")
	if len(t) > 200 {
		t = strings.ToValidUTF8(t[:200], "") + "…"
	}
	return t
}

func isWebURL(u string) bool {
	l := strings.ToLower(u)
	return (strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")) && len(u) > len("https://")
}

// textURL finds URLs in running text: http(s):// up to a space, a quote or an angle bracket.
var textURL = regexp.MustCompile(`(?i)https?://[^\s<>"'\x60]+`)

// TextURLs returns the http and https URLs in text, in order, each once. Punctuation that ends a
// sentence (".", ",", ";", ":", "!", "?") and a closing bracket without its opening one are not
// taken as part of the URL.
func TextURLs(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, u := range textURL.FindAllString(text, -1) {
		u = trimURL(u)
		if isWebURL(u) && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// trimURL drops trailing sentence punctuation and unbalanced closing brackets.
func trimURL(u string) string {
	for u != "" {
		last := u[len(u)-1]
		switch last {
		case '.', ',', ';', ':', '!', '?':
			u = u[:len(u)-1]
			continue
		case ')', ']', '}':
			open := map[byte]byte{')': '(', ']': '[', '}': '{'}[last]
			if strings.Count(u, string(open)) < strings.Count(u, string(last)) {
				u = u[:len(u)-1]
				continue
			}
		}
		return u
	}
	return u
}
