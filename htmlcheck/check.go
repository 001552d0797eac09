// Package htmlcheck reports which HTML and CSS features a message's HTML uses that email clients
// do not support, against the data of caniemail.com (the npm package caniemail, kept in
// caniemail.json beside this file with its licence; go generate refreshes it). The report has
// Mailpit's /html-check shape (Warnings, Platforms, Total), plus the lines each feature is used
// on and the share of support per client family.
//
// The HTML is tokenized (golang.org/x/net/html) and its CSS, in <style> elements and style
// attributes, read by a small scanner: nothing is rendered, fetched or run.
package htmlcheck

import (
	"errors"
	"fmt"
	"sort"
)

// ErrNoHTML is returned for a message without an HTML part.
var ErrNoHTML = errors.New("message does not contain HTML")

// MaxLines bounds the line numbers listed per warning.
const MaxLines = 50

// Response is the result of a check, in Mailpit's HTMLCheckResponse shape plus Families.
type Response struct {
	Warnings  []Warning           // features used that some clients do not fully support, worst first
	Platforms map[string][]string // platform → the client families tested on it
	Total     Total
	Families  []FamilySupport // letterbox: per client family, the share of the features used that it supports
}

// Warning is one feature the HTML uses, in Mailpit's HTMLCheckWarning shape plus Lines.
type Warning struct {
	Slug          string
	Title         string
	Description   string // caniemail's text (Markdown)
	URL           string // the feature's page on caniemail.com
	Category      string // html, css, image or others
	Tags          []string
	Keywords      string
	Results       []Result          // every client version tested
	NotesByNumber map[string]string // the notes Results refer to
	Score         Score
	Lines         []int // letterbox: the lines of the HTML where the feature is used (at most MaxLines)
}

// Result is one client version's support, in Mailpit's HTMLCheckResult shape.
type Result struct {
	Name       string // family, platform and version, e.g. "Outlook Windows (2019)"
	Platform   string // e.g. windows, ios
	Family     string // e.g. outlook
	Version    string
	Support    string // yes, no or partial
	NoteNumber string // the note explaining partial support, if any
}

// Score sums one feature's support over every client version tested.
type Score struct {
	Found       int     // times the feature is used in the HTML
	Supported   float32 // percentage of client versions that support it
	Partial     float32
	Unsupported float32
}

// Total sums the whole check.
type Total struct {
	Tests       int     // features looked for
	Nodes       int     // HTML elements in the message's body
	Supported   float32 // percentage of clients (family and platform, latest test) that support every feature used
	Partial     float32 // ... whose worst is partial support
	Unsupported float32 // ... that lack at least one feature used
}

// FamilySupport is one client family's support for the features the HTML uses, over its
// platforms at their latest test.
type FamilySupport struct {
	Family      string  // e.g. Outlook
	Supported   float32 // percentage of (feature, platform) pairs supported
	Partial     float32
	Unsupported float32
	Missing     []string // titles of the features some of its platforms do not support
}

// Check runs every test on an HTML document.
func Check(doc string) (*Response, error) {
	if doc == "" {
		return nil, ErrNoHTML
	}
	data, err := load()
	if err != nil {
		return nil, err
	}
	m := matchersOnce(data)
	sc := &scanner{m: m}
	sc.scanHTML(doc)

	lines := map[string][]int{}
	count := map[string]int{}
	var order []string
	for _, f := range sc.found {
		if _, ok := count[f.slug]; !ok {
			order = append(order, f.slug)
		}
		count[f.slug]++
		if l := lines[f.slug]; len(l) < MaxLines && (len(l) == 0 || l[len(l)-1] != f.line) {
			lines[f.slug] = append(l, f.line)
		}
	}
	res := &Response{Warnings: []Warning{}, Platforms: data.platforms, Families: []FamilySupport{}}
	res.Total.Tests = m.size()
	res.Total.Nodes = sc.nodes
	var used []*feature
	for _, slug := range order {
		if slug == slugScript {
			res.Warnings = append(res.Warnings, scriptWarning(count[slug], lines[slug]))
			continue
		}
		f, ok := data.bySlug[slug]
		if !ok {
			continue
		}
		used = append(used, f)
		w := data.warning(f)
		w.Score.Found, w.Lines = count[slug], lines[slug]
		if w.Score.Supported < 100 {
			res.Warnings = append(res.Warnings, w)
		}
	}
	sort.SliceStable(res.Warnings, func(i, j int) bool {
		return impact(res.Warnings[i]) > impact(res.Warnings[j])
	})
	data.totals(res, used)
	return res, nil
}

// scriptWarning is the warning for <script>, which caniemail does not list: no client runs it.
func scriptWarning(found int, lines []int) Warning {
	return Warning{Slug: slugScript, Title: "<script> element", Category: "html",
		Description: "JavaScript is not supported in any email client: the script is removed or the message is treated as suspicious.",
		URL:         "https://www.caniemail.com/", Tags: []string{}, Results: []Result{}, NotesByNumber: map[string]string{},
		Score: Score{Found: found, Unsupported: 100}, Lines: lines}
}

// impact orders warnings: least supported, most used first.
func impact(w Warning) float32 {
	return (w.Score.Unsupported + w.Score.Partial/2) * float32(min(w.Score.Found, 10))
}

// warning builds a feature's warning with every client result and its score.
func (l *loaded) warning(f *feature) Warning {
	w := Warning{Slug: f.Slug, Title: f.Title, Description: f.Description, URL: f.URL, Category: f.Category,
		Tags: f.Tags, Keywords: f.Keywords, Results: []Result{}, NotesByNumber: f.NotesByNumber}
	if w.Tags == nil {
		w.Tags = []string{}
	}
	if w.NotesByNumber == nil {
		w.NotesByNumber = map[string]string{}
	}
	var y, n, p float32
	for _, family := range sortedKeys(f.Stats) {
		for _, platform := range sortedKeys(f.Stats[family]) {
			versions := f.Stats[family][platform]
			for _, version := range sortedKeys(versions) {
				word, note := support(versions[version])
				switch word {
				case "yes":
					y++
				case "no":
					n++
				case "partial":
					p++
				default:
					continue
				}
				w.Results = append(w.Results, Result{
					Name:     fmt.Sprintf("%s %s (%s)", l.familyName(family), l.platformName(platform), version),
					Platform: platform, Family: family, Version: version, Support: word, NoteNumber: note,
				})
			}
		}
	}
	if total := y + n + p; total > 0 {
		w.Score.Supported, w.Score.Partial, w.Score.Unsupported = 100*y/total, 100*p/total, 100*n/total
	} else {
		w.Score.Supported = 100
	}
	return w
}

// latest is a platform's support at its most recent test ("" when unknown).
func latest(versions map[string]string) string {
	keys := sortedKeys(versions)
	for i := len(keys) - 1; i >= 0; i-- {
		if word, _ := support(versions[keys[i]]); word != "" {
			return word
		}
	}
	return ""
}

// totals fills Total's shares and Families from the features used.
func (l *loaded) totals(res *Response, used []*feature) {
	type client struct{ family, platform string }
	worst := map[client]int{} // 0 yes, 1 partial, 2 no
	rank := map[string]int{"yes": 0, "partial": 1, "no": 2}
	type tally struct {
		y, p, n float32
		missing []string
	}
	families := map[string]*tally{}
	for _, f := range used {
		for family, platforms := range f.Stats {
			t := families[family]
			if t == nil {
				t = &tally{}
				families[family] = t
			}
			lacks := false
			for platform, versions := range platforms {
				word := latest(versions)
				if word == "" {
					continue
				}
				c := client{family, platform}
				if r, ok := worst[c]; !ok || rank[word] > r {
					worst[c] = rank[word]
				}
				switch word {
				case "yes":
					t.y++
				case "partial":
					t.p++
				case "no":
					t.n++
					lacks = true
				}
			}
			if lacks {
				t.missing = append(t.missing, f.Title)
			}
		}
	}
	if len(used) == 0 {
		res.Total.Supported = 100
		return
	}
	var y, p, n float32
	for _, r := range worst {
		switch r {
		case 0:
			y++
		case 1:
			p++
		default:
			n++
		}
	}
	if all := y + p + n; all > 0 {
		res.Total.Supported, res.Total.Partial, res.Total.Unsupported = 100*y/all, 100*p/all, 100*n/all
	}
	for _, family := range sortedKeys(families) {
		t := families[family]
		all := t.y + t.p + t.n
		if all == 0 {
			continue
		}
		missing := t.missing
		if missing == nil {
			missing = []string{}
		}
		res.Families = append(res.Families, FamilySupport{Family: l.familyName(family),
			Supported: 100 * t.y / all, Partial: 100 * t.p / all, Unsupported: 100 * t.n / all, Missing: missing})
	}
	sort.SliceStable(res.Families, func(i, j int) bool { return res.Families[i].Supported < res.Families[j].Supported })
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
