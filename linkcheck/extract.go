package linkcheck

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// textLink finds http and https URLs in plain text; angle brackets (RFC 3986 appendix C) end one.
var textLink = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"'()\[\]{}]+`)

// Extract returns the unique http and https links of a message, in order: the HTML's a[href],
// area[href], img[src] and stylesheet link[href], then URLs in the text body. At most MaxLinks.
func Extract(htmlBody, text string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(u string) bool {
		u = strings.TrimSpace(u)
		lu := strings.ToLower(u)
		if !strings.HasPrefix(lu, "http://") && !strings.HasPrefix(lu, "https://") || seen[u] {
			return len(out) < MaxLinks
		}
		seen[u] = true
		out = append(out, u)
		return len(out) < MaxLinks
	}
	z := html.NewTokenizer(strings.NewReader(htmlBody))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		t := z.Token()
		want := ""
		switch t.Data {
		case "a", "area":
			want = "href"
		case "img":
			want = "src"
		case "link":
			if rel, _ := attrOf(t, "rel"); strings.Contains(strings.ToLower(rel), "stylesheet") {
				want = "href"
			}
		}
		if v, ok := attrOf(t, want); want != "" && ok && !add(v) {
			return out
		}
	}
	for _, u := range textLink.FindAllString(text, 3*MaxLinks) {
		if !add(strings.TrimRight(u, ".,;:!?")) {
			return out
		}
	}
	return out
}

func attrOf(t html.Token, name string) (string, bool) {
	for _, a := range t.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}
