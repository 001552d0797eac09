package linkcheck

import (
	"strings"

	"golang.org/x/net/html"

	"github.com/letterbox-mail/letterbox/extract"
)

// Extract returns the unique http and https links of a message, in order: the HTML's a[href],
// area[href], img[src] and stylesheet link[href], then URLs in the text body (found as
// extract.TextURLs finds them, as the MCP tools show them). At most MaxLinks.
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
	for _, u := range extract.TextURLs(text) {
		if !add(u) {
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
