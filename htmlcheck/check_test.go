package htmlcheck

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestEveryFeatureDetectable fails when the caniemail data has a feature no check looks for:
// after a refresh, teach features.go the new title form or list it as undetectable.
func TestEveryFeatureDetectable(t *testing.T) {
	data, err := load()
	if err != nil {
		t.Fatal(err)
	}
	can := matchersOnce(data).slugs()
	var missing []string
	for _, f := range data.set.Data {
		if !can[f.Slug] && !undetectable[f.Slug] {
			missing = append(missing, f.Slug+" ("+f.Title+")")
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d caniemail features are never reported:\n%s", len(missing), strings.Join(missing, "\n"))
	}
	for slug := range can {
		if _, ok := data.bySlug[slug]; !ok && slug != slugScript {
			t.Errorf("check for %q, which the data does not have", slug)
		}
	}
}

const newsletter = `<!DOCTYPE html>
<html lang="en">
<head>
<meta name="color-scheme" content="light dark">
<style>
/* dark mode */
@media (prefers-color-scheme: dark) {
  .card { background-color: #111 !important; }
}
.btn:hover { color: red; }
ul > li + li { margin-top: 4px; }
.row { display: flex; gap: 8px; }
.card { .title { font-weight: bold; } }
</style>
</head>
<body>
<div class="card" style="border-radius: 8px; width: calc(100% - 2rem)">
<video src="intro.mp4"></video>
<img src="https://cdn.example.com/hero.webp?v=2" width="600" alt="">
<a href="#top">Top</a> <a href="mailto:help@example.com">Help</a>
<form action="/s"><input name="q"><button type="submit">Go</button></form>
</div>
<script>track()</script><script type="application/ld+json">{}</script>
</body>
</html>
`

func TestCheckFindsFeaturesOnTheirLines(t *testing.T) {
	res, err := Check(newsletter)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int{}
	for _, w := range res.Warnings {
		got[w.Slug] = w.Lines
	}
	want := map[string][]int{
		"html-doctype":                      {1},
		"html-lang":                         {2},
		"html-meta-color-scheme":            {4},
		"css-comments":                      {6},
		"css-at-media-prefers-color-scheme": {7},
		"css-important":                     {8},
		"css-pseudo-class-hover":            {10},
		"css-selector-child":                {11},
		"css-selector-adjacent-sibling":     {11},
		"css-display-flex":                  {12},
		"css-gap":                           {12},
		"css-nesting":                       {13},
		"css-border-radius":                 {17},
		"css-unit-calc":                     {17},
		"css-unit-rem":                      {17},
		"html-video":                        {18},
		"image-webp":                        {19},
		"html-anchor-links":                 {20},
		"html-mailto-links":                 {20},
		"html-form":                         {21},
		"html-input-text":                   {21},
		"html-button-submit":                {21},
		"html-script":                       {23},
	}
	for slug, lines := range want {
		l, ok := got[slug]
		if !ok {
			t.Errorf("%s not reported", slug)
			continue
		}
		if !slices.Equal(l, lines) {
			t.Errorf("%s on lines %v, want %v", slug, l, lines)
		}
	}
	for _, w := range res.Warnings {
		if w.Score.Supported >= 100 {
			t.Errorf("%s is fully supported but listed", w.Slug)
		}
		if w.Score.Found == 0 || len(w.Results) == 0 && w.Slug != "html-script" || w.URL == "" {
			t.Errorf("warning without uses, results or URL: %+v", w.Slug)
		}
		if s := w.Score.Supported + w.Score.Partial + w.Score.Unsupported; s < 99.9 || s > 100.1 {
			t.Errorf("%s: shares add up to %v", w.Slug, s)
		}
	}
	if res.Total.Nodes < 8 || res.Total.Tests < 250 || res.Total.Supported+res.Total.Unsupported+res.Total.Partial < 99.9 {
		t.Errorf("total %+v", res.Total)
	}
	// Forms and video are unsupported in Outlook on Windows, so Outlook lacks something.
	var outlook *FamilySupport
	for i := range res.Families {
		if res.Families[i].Family == "Outlook" {
			outlook = &res.Families[i]
		}
	}
	if outlook == nil || outlook.Unsupported == 0 || !slices.Contains(outlook.Missing, "<video> element") {
		t.Errorf("Outlook: %+v", outlook)
	}
	if len(res.Platforms["windows"]) == 0 {
		t.Errorf("platforms %v", res.Platforms)
	}
}

func TestCheckPlainHTML(t *testing.T) {
	res, err := Check(`<p>Hello <b>there</b></p>`)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		if strings.HasPrefix(w.Slug, "css-") {
			t.Errorf("CSS feature %s in HTML without CSS", w.Slug)
		}
	}
	if _, err := Check(""); err != ErrNoHTML {
		t.Errorf("empty HTML: %v", err)
	}
}

// TestMailpitShape: the JSON has Mailpit's field names (what the mailpit-api client reads).
func TestMailpitShape(t *testing.T) {
	res, err := Check(newsletter)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	var doc map[string]any
	json.Unmarshal(b, &doc)
	keys := func(v any) []string {
		m, _ := v.(map[string]any)
		var k []string
		for key := range m {
			k = append(k, key)
		}
		sort.Strings(k)
		return k
	}
	want := map[string][]string{
		"top":     {"Families", "Platforms", "Total", "Warnings"},
		"total":   {"Nodes", "Partial", "Supported", "Tests", "Unsupported"},
		"warning": {"Category", "Description", "Keywords", "Lines", "NotesByNumber", "Results", "Score", "Slug", "Tags", "Title", "URL"},
		"result":  {"Family", "Name", "NoteNumber", "Platform", "Support", "Version"},
		"score":   {"Found", "Partial", "Supported", "Unsupported"},
	}
	w := doc["Warnings"].([]any)[0].(map[string]any)
	got := map[string][]string{
		"top": keys(doc), "total": keys(doc["Total"]), "warning": keys(w),
		"result": keys(w["Results"].([]any)[0]), "score": keys(w["Score"]),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON keys\n got %v\nwant %v", got, want)
	}
}

// FuzzCheck: no HTML makes Check panic or report a line outside the document.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{newsletter, "<style>a{", "<style>@media (", `<p style="color:`, "<style>/*", "<style>a:not(.b", "<style>}}{{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		res, err := Check(doc)
		if err != nil {
			return
		}
		n := strings.Count(doc, "\n") + 1
		for _, w := range res.Warnings {
			for _, l := range w.Lines {
				if l < 1 || l > n {
					t.Fatalf("%s on line %d of %d", w.Slug, l, n)
				}
			}
		}
	})
}
