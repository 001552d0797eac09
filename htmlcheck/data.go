package htmlcheck

//go:generate sh refresh.sh

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

//go:embed caniemail.json
var caniemailJSON []byte

// dataset is caniemail's JSON (api_version 1.0.x).
type dataset struct {
	APIVersion     string `json:"api_version"`
	LastUpdateDate string `json:"last_update_date"`
	NiceNames      struct {
		Family   map[string]string `json:"family"`
		Platform map[string]string `json:"platform"`
	} `json:"nicenames"`
	Data []feature `json:"data"`
}

// feature is one entry: a feature and its support per client family, platform and version.
type feature struct {
	Slug          string                                  `json:"slug"`
	Title         string                                  `json:"title"`
	Description   string                                  `json:"description"`
	URL           string                                  `json:"url"`
	Category      string                                  `json:"category"`
	Tags          []string                                `json:"tags"`
	Keywords      string                                  `json:"keywords"`
	Stats         map[string]map[string]map[string]string `json:"stats"` // family → platform → version → "y", "n", "a", "u" with " #N" notes
	NotesByNumber map[string]string                       `json:"notes_by_num"`
}

// loaded is the parsed data with what Check needs precomputed.
type loaded struct {
	set       dataset
	bySlug    map[string]*feature
	platforms map[string][]string // platform → client family names, for Mailpit's Platforms field
}

var load = sync.OnceValues(func() (*loaded, error) {
	l := &loaded{bySlug: map[string]*feature{}, platforms: map[string][]string{}}
	if err := json.Unmarshal(caniemailJSON, &l.set); err != nil {
		return nil, fmt.Errorf("htmlcheck: caniemail data: %w", err)
	}
	seen := map[string]map[string]bool{}
	for i := range l.set.Data {
		f := &l.set.Data[i]
		l.bySlug[f.Slug] = f
		for family, platforms := range f.Stats {
			for platform := range platforms {
				if seen[platform] == nil {
					seen[platform] = map[string]bool{}
				}
				seen[platform][l.familyName(family)] = true
			}
		}
	}
	for platform, families := range seen {
		for f := range families {
			l.platforms[platform] = append(l.platforms[platform], f)
		}
		sort.Strings(l.platforms[platform])
	}
	return l, nil
})

func (l *loaded) familyName(f string) string {
	if n, ok := l.set.NiceNames.Family[f]; ok {
		return n
	}
	return f
}

func (l *loaded) platformName(p string) string {
	if n, ok := l.set.NiceNames.Platform[p]; ok {
		return n
	}
	return p
}

// DataVersion describes the caniemail data in use: its API version and last update.
func DataVersion() string {
	l, err := load()
	if err != nil {
		return ""
	}
	return l.set.APIVersion + " (" + l.set.LastUpdateDate + ")"
}

// support splits a caniemail support value ("a #1 #2") into Mailpit's word and the first note.
func support(v string) (word, note string) {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return "", ""
	}
	for _, f := range fields[1:] {
		if n, ok := strings.CutPrefix(f, "#"); ok && note == "" {
			note = n
		}
	}
	switch fields[0] {
	case "y":
		return "yes", note
	case "n":
		return "no", note
	case "a":
		return "partial", note
	}
	return "", note // "u": unknown, not counted
}
