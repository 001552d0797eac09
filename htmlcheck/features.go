package htmlcheck

import (
	"regexp"
	"strings"
	"sync"
)

// matchers says which caniemail feature each thing the scanner meets belongs to. Most entries
// are derived from the features' titles ("<video> element", "width attribute", "border-radius",
// "clamp()", "rem unit", "@media (hover)", ":hover", "::before"), so a refreshed data set is
// picked up without code; the irregular ones are listed below.
type matchers struct {
	elements       map[string]string // element name → slug
	attributes     map[string]string // attribute name → slug
	properties     map[string]string // CSS property → slug
	prefixes       map[string]string // CSS property prefix (animation-) → slug
	functions      map[string]string // CSS function name → slug
	units          map[string]string // CSS unit → slug
	keywords       map[string]string // CSS value keyword → slug
	atRules        map[string]string // at-rule name (media) → slug
	mediaFeatures  map[string]string // media feature (prefers-color-scheme) → slug
	pseudoClasses  map[string]string
	pseudoElements map[string]string
	images         map[string]string // image file extension → slug
}

// Features the scanner detects by hand (not by name lookup).
const (
	slugAMP           = "amp"
	slugAnchorLinks   = "html-anchor-links"
	slugMailto        = "html-mailto-links"
	slugHTMLComments  = "html-comments"
	slugDoctype       = "html-doctype"
	slugMetaScheme    = "html-meta-color-scheme"
	slugBody          = "html-body"
	slugCSSComments   = "css-comments"
	slugImportant     = "css-important"
	slugDisplay       = "css-display"
	slugDisplayFlex   = "css-display-flex"
	slugDisplayGrid   = "css-display-grid"
	slugDisplayNone   = "css-display-none"
	slugNesting       = "css-nesting"
	slugVariables     = "css-variables"
	slugBase64Image   = "image-base64"
	slugSelectorAdj   = "css-selector-adjacent-sibling"
	slugSelectorAttr  = "css-selector-attribute"
	slugSelectorChain = "css-selector-chaining"
	slugSelectorChild = "css-selector-child"
	slugSelectorClass = "css-selector-class"
	slugSelectorDesc  = "css-selector-descendant"
	slugSelectorSib   = "css-selector-general-sibling"
	slugSelectorGroup = "css-selector-grouping"
	slugSelectorID    = "css-selector-id"
	slugSelectorType  = "css-selector-type"
	slugSelectorAll   = "css-selector-universal"
	// slugScript is not in caniemail's data: no email client runs scripts (Mailpit reports it too).
	slugScript = "html-script"
)

// inputTypes maps <input type> and <button type> values to their features.
var inputTypes = map[string]string{
	"input checkbox": "html-input-checkbox", "input hidden": "html-input-hidden", "input radio": "html-input-radio",
	"input reset": "html-input-reset", "input submit": "html-input-submit", "input text": "html-input-text",
	"button reset": "html-button-reset", "button submit": "html-button-submit",
}

// undetectable lists features that HTML cannot show (BIMI is a DNS record and a header).
var undetectable = map[string]bool{"bimi": true}

// irregular lists what the titles do not say.
var irregular = struct {
	elements, attributes, properties, prefixes, functions, keywords, images map[string][]string
}{
	elements: map[string][]string{
		"html-address": {"address"}, "html-base": {"base"}, "html-lists": {"ul", "ol", "dl"},
		"html-h1-h6":  {"h1", "h2", "h3", "h4", "h5", "h6"},
		"html-object": {"object", "embed"}, "html-image-maps": {"map", "area"}, "html-svg": {"svg"},
		"html-semantics": {"article", "aside", "details", "figcaption", "figure", "footer", "header", "main",
			"mark", "nav", "section", "summary", "time"},
	},
	attributes: map[string][]string{
		"html-srcset": {"srcset", "sizes"}, "html-loading-attribute": {"loading"},
	},
	properties: map[string][]string{
		"css-border-inline-block": {"border-inline", "border-block"},
		"css-border": {"border", "border-width", "border-style", "border-color", "border-top", "border-bottom",
			"border-left", "border-right", "border-top-width", "border-top-style", "border-top-color",
			"border-bottom-width", "border-bottom-style", "border-bottom-color", "border-left-width",
			"border-left-style", "border-left-color", "border-right-width", "border-right-style", "border-right-color"},
		"css-column-layout-properties": {"columns", "column-fill", "column-rule", "column-rule-color",
			"column-rule-style", "column-rule-width", "column-span", "column-width"},
		"css-color-scheme":          {"color-scheme"},
		"css-flex-direction":        {"flex-direction"},
		"css-flex-wrap":             {"flex-wrap"},
		"css-font":                  {"font"},
		"css-gap":                   {"gap", "column-gap", "row-gap"},
		"css-grid-template":         {"grid-template"},
		"css-height":                {"height"},
		"css-max-height":            {"max-height"},
		"css-min-height":            {"min-height"},
		"css-min-width":             {"min-width"},
		"css-width":                 {"width"},
		"css-left-right-top-bottom": {"left", "right", "top", "bottom"},
		"css-margin":                {"margin", "margin-left", "margin-right", "margin-top", "margin-bottom"},
		"css-padding":               {"padding", "padding-left", "padding-right", "padding-top", "padding-bottom"},
		"css-margin-inline-block":   {"margin-inline", "margin-block"},
		"css-padding-inline-block":  {"padding-inline", "padding-block"},
		"css-overflow":              {"overflow", "overflow-x", "overflow-y", "overflow-block", "overflow-inline"},
		"css-inset":                 {"inset"},
	},
	prefixes: map[string][]string{
		"css-animation": {"animation-"}, "css-transition": {"transition-"}, "css-grid-template": {"grid-template-"},
		"css-scroll-snap": {"scroll-snap-"}, "css-border-radius-logical": {"border-start-", "border-end-"},
		"css-inset": {"inset-"},
	},
	functions: map[string][]string{
		"css-modern-color": {"lab", "lch", "oklab", "oklch"}, "css-variables": {"var"}, "css-unit-calc": {"calc"},
	},
	keywords: map[string][]string{
		"css-unit-initial":   {"initial"},
		"css-intrinsic-size": {"fit-content", "min-content", "max-content"},
		"css-sytem-ui":       {"system-ui", "ui-serif", "ui-sans-serif", "ui-rounded", "ui-monospace"},
	},
	images: map[string][]string{
		"image-jpg": {"jpg", "jpeg"}, "image-heif": {"heif", "heic"}, "image-tiff": {"tif", "tiff"},
	},
}

var (
	identRe     = regexp.MustCompile(`^-?[a-z][a-z0-9-]*$`)
	elementRe   = regexp.MustCompile(`^<([a-z][a-z0-9]*)> element$`)
	attributeRe = regexp.MustCompile(`^([a-z][a-z-]*) attribute$`)
	functionRe  = regexp.MustCompile(`^([a-z][a-z-]*)\(\)$`)
	unitRe      = regexp.MustCompile(`^([a-z]+|%) unit$`)
	atRuleRe    = regexp.MustCompile(`^@([a-z-]+)$`)
	mediaRe     = regexp.MustCompile(`\(([a-z-]+)\)`)
	pseudoRe    = regexp.MustCompile(`^(::?)([a-z-]+)(\(\))?$`)
)

// deriveMatchers builds the matchers from the data's titles and the irregular table.
func deriveMatchers(features []feature) *matchers {
	m := &matchers{
		elements: map[string]string{}, attributes: map[string]string{}, properties: map[string]string{},
		prefixes: map[string]string{}, functions: map[string]string{}, units: map[string]string{},
		keywords: map[string]string{}, atRules: map[string]string{}, mediaFeatures: map[string]string{},
		pseudoClasses: map[string]string{}, pseudoElements: map[string]string{}, images: map[string]string{},
	}
	known := map[string]bool{}
	for _, f := range features {
		known[f.Slug] = true
		m.addTitled(f)
	}
	// Titles that list properties ("gap, column-gap, row-gap", "margin-block-start & margin-block-end"),
	// unless a feature of its own names one of them.
	for _, f := range features {
		if !strings.HasPrefix(f.Slug, "css-") {
			continue
		}
		parts := strings.FieldsFunc(f.Title, func(r rune) bool { return r == ',' || r == '&' })
		if len(parts) < 2 {
			continue
		}
		for _, p := range parts {
			if p = strings.TrimSpace(p); identRe.MatchString(p) && m.properties[p] == "" {
				m.properties[p] = f.Slug
			}
		}
	}
	// Keyword lists that are property names (longhands of a family of properties).
	for _, f := range features {
		if strings.HasPrefix(f.Slug, "css-border-inline-block-") || f.Slug == "css-border-radius-logical" || f.Slug == "css-inset" {
			for _, k := range strings.Split(f.Keywords, ",") {
				if k = strings.TrimSpace(k); identRe.MatchString(k) {
					m.properties[k] = f.Slug
				}
			}
		}
	}
	add := func(dst map[string]string, src map[string][]string) {
		for slug, names := range src {
			if !known[slug] {
				continue
			}
			for _, n := range names {
				dst[n] = slug
			}
		}
	}
	add(m.elements, irregular.elements)
	add(m.attributes, irregular.attributes)
	add(m.properties, irregular.properties)
	add(m.prefixes, irregular.prefixes)
	add(m.functions, irregular.functions)
	add(m.keywords, irregular.keywords)
	add(m.images, irregular.images)
	if known["css-pseudo-class-lang"] {
		m.pseudoClasses["lang"] = "css-pseudo-class-lang" // titled "lang()"
	}
	for _, legacy := range []string{"before", "after", "first-letter", "first-line"} {
		if slug, ok := m.pseudoElements[legacy]; ok {
			m.pseudoClasses[legacy] = slug // CSS 2's single-colon form
		}
	}
	delete(m.images, "base64")
	return m
}

// addTitled records the feature f names in its title: "<video> element", "width attribute",
// "clamp()", "rem unit", "@font-face", "::marker", "prefers-color-scheme" media features, or a
// property name.
func (m *matchers) addTitled(f feature) {
	title := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f.Title), " property"))
	switch {
	case strings.HasPrefix(f.Slug, "html-"):
		if g := elementRe.FindStringSubmatch(title); g != nil {
			m.elements[g[1]] = f.Slug
		} else if g := attributeRe.FindStringSubmatch(title); g != nil {
			m.attributes[g[1]] = f.Slug
		}
	case strings.HasPrefix(f.Slug, "image-"):
		m.images[strings.TrimPrefix(f.Slug, "image-")] = f.Slug
	case strings.HasPrefix(f.Slug, "css-at-media-"):
		for _, g := range mediaRe.FindAllStringSubmatch(title, -1) {
			m.mediaFeatures[g[1]] = f.Slug
		}
	case strings.HasPrefix(f.Slug, "css-"):
		if g := functionRe.FindStringSubmatch(title); g != nil {
			m.functions[g[1]] = f.Slug
		} else if g := unitRe.FindStringSubmatch(title); g != nil {
			m.units[g[1]] = f.Slug
		} else if g := atRuleRe.FindStringSubmatch(title); g != nil {
			m.atRules[g[1]] = f.Slug
		} else if g := pseudoRe.FindStringSubmatch(title); g != nil {
			if g[1] == "::" {
				m.pseudoElements[g[2]] = f.Slug
			} else {
				m.pseudoClasses[g[2]] = f.Slug
			}
		} else if identRe.MatchString(title) {
			m.properties[title] = f.Slug
		}
	}
}

// property returns the feature of a CSS property, by name or prefix.
func (m *matchers) property(name string) string {
	if s, ok := m.properties[name]; ok {
		return s
	}
	for p, s := range m.prefixes {
		if strings.HasPrefix(name, p) {
			return s
		}
	}
	return ""
}

var (
	matchersMu  sync.Mutex
	matchersFor = map[*loaded]*matchers{}
)

// matchersOnce returns the matchers derived from a data set, building them once.
func matchersOnce(l *loaded) *matchers {
	matchersMu.Lock()
	defer matchersMu.Unlock()
	m, ok := matchersFor[l]
	if !ok {
		m = deriveMatchers(l.set.Data)
		matchersFor[l] = m
	}
	return m
}

// slugs returns every feature the matchers can report.
func (m *matchers) slugs() map[string]bool {
	out := map[string]bool{}
	for _, mm := range []map[string]string{m.elements, m.attributes, m.properties, m.prefixes, m.functions, m.units,
		m.keywords, m.atRules, m.mediaFeatures, m.pseudoClasses, m.pseudoElements, m.images} {
		for _, s := range mm {
			out[s] = true
		}
	}
	for _, s := range inputTypes {
		out[s] = true
	}
	for _, s := range []string{slugAMP, slugAnchorLinks, slugMailto, slugHTMLComments, slugDoctype, slugMetaScheme,
		slugBody, slugCSSComments, slugImportant, slugDisplay, slugDisplayFlex, slugDisplayGrid, slugDisplayNone,
		slugNesting, slugVariables, slugBase64Image, slugSelectorAdj, slugSelectorAttr, slugSelectorChain,
		slugSelectorChild, slugSelectorClass, slugSelectorDesc, slugSelectorSib, slugSelectorGroup, slugSelectorID,
		slugSelectorType, slugSelectorAll, slugScript} {
		out[s] = true
	}
	return out
}

// size is how many features the checks look for.
func (m *matchers) size() int { return len(m.slugs()) }
