package htmlcheck

import (
	"bytes"
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// finding is one use of a feature at a line of the HTML.
type finding struct {
	slug string
	line int
}

// scanner walks an HTML document and records the features it uses, with their lines.
type scanner struct {
	m       *matchers
	found   []finding
	nodes   int // elements in the body (or in the document, without a body)
	inBody  bool
	hasBody bool
}

func (s *scanner) add(slug string, line int) {
	if slug != "" {
		s.found = append(s.found, finding{slug, line})
	}
}

// scanHTML tokenizes doc, tracking the line of each token.
func (s *scanner) scanHTML(doc string) {
	s.hasBody = strings.Contains(strings.ToLower(doc), "<body")
	z := html.NewTokenizer(strings.NewReader(doc))
	line := 1
	inStyle := false
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		raw := z.Raw()
		start := line
		line += bytes.Count(raw, []byte{'\n'})
		tok := z.Token()
		switch tt {
		case html.CommentToken:
			s.add(slugHTMLComments, start)
		case html.DoctypeToken:
			if d := strings.TrimSpace(strings.ToLower(tok.Data)); d == "html" {
				s.add(slugDoctype, start)
			}
		case html.TextToken:
			if inStyle {
				s.scanStylesheet(tok.Data, start)
			}
		case html.EndTagToken:
			if tok.Data == "style" {
				inStyle = false
			}
			if tok.Data == "body" {
				s.inBody = false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			s.startTag(tok, start)
			if tok.Data == "style" && tt == html.StartTagToken {
				inStyle = true
			}
		}
	}
}

func attr(t html.Token, name string) (string, bool) {
	for _, a := range t.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// startTag records an element's own feature, its attributes' and its inline style's.
func (s *scanner) startTag(t html.Token, line int) {
	name := t.Data
	if name == "body" {
		s.inBody = true
		s.add(slugBody, line)
	}
	if s.inBody && name != "body" || !s.hasBody && name != "html" && name != "head" && name != "meta" && name != "title" {
		s.nodes++
	}
	s.add(s.m.elements[name], line)
	switch name {
	case "html":
		for _, a := range t.Attr {
			if a.Key == "⚡4email" || a.Key == "amp4email" {
				s.add(slugAMP, line)
			}
		}
	case "script":
		if typ, _ := attr(t, "type"); typ != "application/ld+json" && typ != "application/json" {
			s.add(slugScript, line)
		}
	case "input", "button":
		typ, ok := attr(t, "type")
		if !ok && name == "input" {
			typ = "text"
		}
		s.add(inputTypes[name+" "+strings.ToLower(strings.TrimSpace(typ))], line)
	case "a":
		href, _ := attr(t, "href")
		href = strings.TrimSpace(href)
		switch {
		case strings.HasPrefix(href, "#") && len(href) > 1:
			s.add(slugAnchorLinks, line)
		case strings.HasPrefix(strings.ToLower(href), "mailto:"):
			s.add(slugMailto, line)
		}
	case "img":
		src, _ := attr(t, "src")
		s.image(src, line)
		if _, ok := attr(t, "usemap"); ok {
			s.add(s.m.elements["map"], line)
		}
	case "meta":
		if n, _ := attr(t, "name"); strings.EqualFold(n, "color-scheme") || strings.EqualFold(n, "supported-color-schemes") {
			s.add(slugMetaScheme, line)
		}
	}
	for _, a := range t.Attr {
		if a.Key == "style" {
			s.scanDeclarations(a.Val, line)
			continue
		}
		s.add(s.m.attributes[a.Key], line)
	}
}

// image records the format of an image by its data: URL or its file extension.
func (s *scanner) image(src string, line int) {
	src = strings.TrimSpace(src)
	if strings.HasPrefix(strings.ToLower(src), "data:image/") {
		s.add(slugBase64Image, line)
		return
	}
	if i := strings.IndexAny(src, "?#"); i >= 0 {
		src = src[:i]
	}
	if i := strings.LastIndexByte(src, '.'); i >= 0 && !strings.Contains(src[i:], "/") {
		s.add(s.m.images[strings.ToLower(src[i+1:])], line)
	}
}

// lineAt is the line of offset i in text that starts at line base.
func lineAt(text string, i, base int) int {
	return base + strings.Count(text[:i], "\n")
}

// stripComments replaces CSS comments with spaces (keeping newlines, so lines stay right) and
// returns where each began.
func stripComments(css string) (string, []int) {
	var at []int
	b := []byte(css)
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '/' && b[i+1] == '*' {
			at = append(at, i)
			end := strings.Index(css[i+2:], "*/")
			stop := len(b)
			if end >= 0 {
				stop = i + 2 + end + 2
			}
			for j := i; j < stop; j++ {
				if b[j] != '\n' {
					b[j] = ' '
				}
			}
			i = stop - 1
		}
	}
	return string(b), at
}

// scanStylesheet records the features of a <style> element's CSS, which starts at line base.
func (s *scanner) scanStylesheet(css string, base int) {
	css, comments := stripComments(css)
	for _, i := range comments {
		s.add(slugCSSComments, lineAt(css, i, base))
	}
	s.scanRules(css, 0, len(css), base, false)
}

// scanRules reads the rules in css[from:to]. nested is true inside a style rule's block.
func (s *scanner) scanRules(css string, from, to, base int, nested bool) {
	i := from
	for i < to {
		// The prelude runs to the first '{' or ';' at depth 0.
		j := i
		depth := 0
		for j < to && !(depth == 0 && (css[j] == '{' || css[j] == ';')) {
			switch css[j] {
			case '(':
				depth++
			case ')':
				depth--
			case '"', '\'':
				j = skipString(css, j)
			}
			j++
		}
		prelude := strings.TrimSpace(css[i:j])
		line := lineAt(css, i+len(css[i:j])-len(strings.TrimLeft(css[i:j], " \t\r\n")), base)
		if j >= to || css[j] == ';' {
			if strings.HasPrefix(prelude, "@") {
				s.atRule(prelude, line)
			}
			i = j + 1
			continue
		}
		end := matchBrace(css, j, to)
		switch {
		case strings.HasPrefix(prelude, "@"):
			name := s.atRule(prelude, line)
			switch name {
			case "media", "supports", "document", "layer", "container":
				s.scanRules(css, j+1, end, base, nested)
			case "font-face", "page":
				s.scanDeclarationsAt(css, j+1, end, base)
			}
		case prelude != "":
			if nested {
				s.add(slugNesting, line)
			}
			s.selectors(prelude, line)
			s.scanBlock(css, j+1, end, base)
		}
		i = end + 1
	}
}

// scanBlock reads a style rule's block: declarations, and nested rules (CSS Nesting).
func (s *scanner) scanBlock(css string, from, to, base int) {
	if strings.IndexByte(css[from:to], '{') < 0 {
		s.scanDeclarationsAt(css, from, to, base)
		return
	}
	// Declarations end with ';'; a '{' before the next ';' starts a nested rule.
	i := from
	for i < to {
		semi := indexDepth0(css, i, to, ';')
		brace := indexDepth0(css, i, to, '{')
		if brace >= 0 && (semi < 0 || brace < semi) {
			end := matchBrace(css, brace, to)
			s.scanRules(css, i, min(end+1, to), base, true)
			i = end + 1
			continue
		}
		stop := to
		if semi >= 0 {
			stop = semi
		}
		s.scanDeclarationsAt(css, i, stop, base)
		i = stop + 1
	}
}

// indexDepth0 finds c in css[from:to] outside parentheses and strings; -1 when absent.
func indexDepth0(css string, from, to int, c byte) int {
	depth := 0
	for j := from; j < to; j++ {
		switch css[j] {
		case '(':
			depth++
		case ')':
			depth--
		case '"', '\'':
			j = skipString(css, j)
		default:
			if css[j] == c && depth == 0 {
				return j
			}
		}
	}
	return -1
}

func skipString(css string, j int) int {
	q := css[j]
	for k := j + 1; k < len(css); k++ {
		if css[k] == '\\' {
			k++
			continue
		}
		if css[k] == q {
			return k
		}
	}
	return len(css) - 1
}

// matchBrace returns the index of the '}' closing the '{' at open (or to when unclosed).
func matchBrace(css string, open, to int) int {
	depth := 0
	for j := open; j < to; j++ {
		switch css[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j
			}
		case '"', '\'':
			j = skipString(css, j)
		}
	}
	return to
}

// atRule records an at-rule and its media features, and returns its name.
func (s *scanner) atRule(prelude string, line int) string {
	name := strings.ToLower(prelude[1:])
	if i := strings.IndexAny(name, " \t\r\n({;"); i >= 0 {
		name = name[:i]
	}
	s.add(s.m.atRules[name], line)
	if name == "media" {
		for _, g := range mediaFeatureRe.FindAllStringSubmatch(strings.ToLower(prelude), -1) {
			f := strings.TrimPrefix(strings.TrimPrefix(g[1], "min-"), "max-")
			if f == "any-hover" {
				f = "hover"
			}
			s.add(s.m.mediaFeatures[f], line)
			s.add(s.m.mediaFeatures[g[1]], line)
		}
	}
	return name
}

var mediaFeatureRe = regexp.MustCompile(`\(\s*([a-z-]+)\s*[:)]`)

func (s *scanner) scanDeclarationsAt(css string, from, to, base int) {
	for _, d := range splitDepth0(css[from:to], ';') {
		text := css[from+d[0] : from+d[1]]
		if strings.TrimSpace(text) == "" {
			continue
		}
		s.declaration(text, lineAt(css, from+d[0]+len(text)-len(strings.TrimLeft(text, " \t\r\n")), base))
	}
}

// scanDeclarations records the features of a style attribute's declarations.
func (s *scanner) scanDeclarations(style string, line int) {
	style, comments := stripComments(style)
	if len(comments) > 0 {
		s.add(slugCSSComments, line)
	}
	for _, d := range splitDepth0(style, ';') {
		s.declaration(style[d[0]:d[1]], line)
	}
}

// splitDepth0 splits s at sep outside parentheses and strings, as [start, end) pairs.
func splitDepth0(s string, sep byte) [][2]int {
	var out [][2]int
	start := 0
	for {
		i := indexDepth0(s, start, len(s), sep)
		if i < 0 {
			return append(out, [2]int{start, len(s)})
		}
		out = append(out, [2]int{start, i})
		start = i + 1
	}
}

var (
	functionCallRe = regexp.MustCompile(`(?i)([a-z][a-z0-9-]*)\(`)
	unitUseRe      = regexp.MustCompile(`(?i)(?:^|[^a-z0-9_.#-])-?(?:\d+\.?\d*|\.\d+)(%|[a-z]+)`)
	keywordRe      = regexp.MustCompile(`(?i)[a-z][a-z0-9-]*`)
)

// declaration records one "property: value" declaration's features.
func (s *scanner) declaration(text string, line int) {
	prop, value, ok := strings.Cut(text, ":")
	if !ok {
		return
	}
	prop = strings.ToLower(strings.TrimSpace(prop))
	value = strings.TrimSpace(value)
	if prop == "" {
		return
	}
	if strings.HasPrefix(prop, "--") {
		s.add(slugVariables, line)
	} else {
		s.add(s.m.property(prop), line)
	}
	lv := strings.ToLower(value)
	if i := strings.Index(lv, "!important"); i >= 0 {
		s.add(slugImportant, line)
		lv = strings.TrimSpace(lv[:i])
	}
	if prop == "display" {
		switch lv {
		case "flex", "inline-flex":
			s.add(slugDisplayFlex, line)
		case "grid", "inline-grid":
			s.add(slugDisplayGrid, line)
		case "none":
			s.add(slugDisplayNone, line)
		}
	}
	for _, g := range functionCallRe.FindAllStringSubmatch(lv, -1) {
		s.add(s.m.functions[g[1]], line)
	}
	if !strings.Contains(lv, "url(") {
		for _, g := range unitUseRe.FindAllStringSubmatch(lv, -1) {
			s.add(s.m.units[g[1]], line)
		}
	}
	for _, k := range keywordRe.FindAllString(lv, -1) {
		s.add(s.m.keywords[k], line)
	}
}

// selectors records the features of a selector list.
func (s *scanner) selectors(list string, line int) {
	parts := splitDepth0(list, ',')
	if len(parts) > 1 {
		s.add(slugSelectorGroup, line)
	}
	for _, p := range parts {
		s.selector(strings.TrimSpace(list[p[0]:p[1]]), line)
	}
}

// selector records the combinators and simple selectors of one complex selector.
func (s *scanner) selector(sel string, line int) {
	simple := 0 // simple selectors in the current compound selector
	endCompound := func() {
		if simple > 1 {
			s.add(slugSelectorChain, line)
		}
		simple = 0
	}
	for i := 0; i < len(sel); {
		c := sel[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '>' || c == '+' || c == '~':
			j := i
			comb := byte(' ')
			for j < len(sel) && strings.IndexByte(" \t\r\n>+~", sel[j]) >= 0 {
				if sel[j] != ' ' && sel[j] != '\t' && sel[j] != '\n' && sel[j] != '\r' {
					comb = sel[j]
				}
				j++
			}
			if j < len(sel) && i > 0 {
				endCompound()
				s.add(map[byte]string{' ': slugSelectorDesc, '>': slugSelectorChild, '+': slugSelectorAdj, '~': slugSelectorSib}[comb], line)
			}
			i = j
		case c == '*':
			s.add(slugSelectorAll, line)
			simple++
			i++
		case c == '.' || c == '#':
			s.add(map[byte]string{'.': slugSelectorClass, '#': slugSelectorID}[c], line)
			simple++
			i = identEnd(sel, i+1)
		case c == '[':
			s.add(slugSelectorAttr, line)
			simple++
			if k := strings.IndexByte(sel[i:], ']'); k >= 0 {
				i += k + 1
			} else {
				i = len(sel)
			}
		case c == ':':
			i = s.pseudo(sel, i, line)
			simple++
		default:
			k := identEnd(sel, i)
			if k == i {
				i++
				continue
			}
			s.add(slugSelectorType, line)
			simple++
			i = k
		}
	}
	endCompound()
}

// pseudo records the pseudo-class or pseudo-element at sel[i] (a colon), and the selectors inside
// :not(), :has(), :is() and :where(); it returns where the pseudo-class ends.
func (s *scanner) pseudo(sel string, i, line int) int {
	j := i + 1
	element := j < len(sel) && sel[j] == ':'
	if element {
		j++
	}
	k := identEnd(sel, j)
	name := strings.ToLower(sel[j:k])
	if element {
		s.add(s.m.pseudoElements[name], line)
	} else {
		s.add(s.m.pseudoClasses[name], line)
	}
	if k >= len(sel) || sel[k] != '(' {
		return k
	}
	end := k + 1
	for depth := 1; end < len(sel) && depth > 0; end++ {
		if sel[end] == '(' {
			depth++
		} else if sel[end] == ')' {
			depth--
		}
	}
	if name == "not" || name == "has" || name == "is" || name == "where" {
		s.selectors(sel[k+1:max(k+1, end-1)], line)
	}
	return end
}

// identEnd returns the end of the CSS identifier starting at i.
func identEnd(s string, i int) int {
	for i < len(s) {
		c := s[i]
		if c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || c == '\\' {
			if c == '\\' {
				i++
			}
			i++
			continue
		}
		break
	}
	return i
}
