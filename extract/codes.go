package extract

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Code is a one-time code found in a message.
type Code struct {
	Code    string `json:"code"`    // as the message writes it: "482913", "123-456", "XK7F9Q"
	Context string `json:"context"` // the line it is on (at most about 160 characters)
}

// maxCodes bounds the codes returned: the first is the likeliest.
const maxCodes = 5

// codePatterns find candidates, most specific first. Group 1, when present, is the code itself
// (the digits of Google's "G-123456").
var codePatterns = []*regexp.Regexp{
	regexp.MustCompile(`\b[A-Z]{1,3}-(\d{4,8})\b`),              // G-123456
	regexp.MustCompile(`\b\d{3}[ -]\d{3}\b|\b\d{4}[ -]\d{4}\b`), // 123-456, 1234 5678
	regexp.MustCompile(`\b\d{4,8}\b`),                           // 482913
	regexp.MustCompile(`\b[A-Z0-9]{3,5}-[A-Z0-9]{3,5}\b`),       // XK7-9QZ
	regexp.MustCompile(`\b[A-Z0-9]{5,10}\b`),                    // XK7F9Q (with a digit and a letter)
	regexp.MustCompile(`\b[a-z0-9]{6,8}\b`),                     // lower-case codes, keyword needed
	regexp.MustCompile(`\b[A-Za-z0-9]{6,10}\b`),                 // mixed case, keyword needed
}

// codeWords say that a nearby number is a code (matched in lower case, as substrings).
var codeWords = []string{
	"code", "otp", "one-time", "one time", "passcode", "password", "pin", "verification", "verify",
	"confirm", "security", "2fa", "two-factor", "two factor", "login", "log in", "log-in", "sign in",
	"sign-in", "signin", "token", "authenticat", "código", "codigo", "kod", "код", "验证码", "認証",
}

// notCodeWords say that a nearby number is something else: an order, a price, a phone number.
var notCodeWords = []string{
	"order", "invoice", "receipt", "tracking", "phone", "call ", "tel", "fax", "ref", "ticket",
	"account n", "zip", "postal", "postcode", "barcode", "promo", "discount", "coupon", "voucher", "$", "€", "£",
	"#", "no.", "number", "street", "suite", "version", "id:",
}

var (
	urlOrAddress = regexp.MustCompile(`(?i)https?://\S+|[^\s@<>]+@[^\s@<>]+\.[a-z]{2,}`)
	year         = regexp.MustCompile(`^(19|20)\d\d$`)
)

// Codes returns the one-time codes a message most likely gives, likeliest first: numbers of 4 to
// 8 digits (also written 123-456 or 1234 5678) or short letter-and-digit codes, near a word such
// as "code", "verification", "OTP", "sign in" or "PIN" on the same line or the line before, or
// alone on their line in a message whose subject has such a word. Numbers near "order",
// "invoice", "phone", a currency sign and the like, years, and anything inside a URL or an email
// address are not codes. At most 5 are returned; none when nothing looks like one.
func Codes(subject, text string) []Code {
	type found struct {
		Code
		score, at int
	}
	subjectHint := hasAny(strings.ToLower(subject), codeWords)
	lines := append([]string{subject}, strings.Split(text, "\n")...)
	var all []found
	seen := map[string]bool{}
	prev := ""
	for i, line := range lines {
		clean := urlOrAddress.ReplaceAllStringFunc(line, func(s string) string { return strings.Repeat(" ", len(s)) })
		for _, c := range lineCodes(clean, strings.ToLower(prev), i == 0 || subjectHint) {
			key := normalizeCode(c.code)
			if seen[key] {
				continue
			}
			seen[key] = true
			all = append(all, found{Code{Code: c.code, Context: shorten(strings.TrimSpace(line), c.start)}, c.score, len(all)})
		}
		if strings.TrimSpace(line) != "" {
			prev = line
		}
	}
	slices.SortStableFunc(all, func(a, b found) int { return b.score - a.score })
	var out []Code
	for _, f := range all {
		if len(out) == maxCodes {
			break
		}
		out = append(out, f.Code)
	}
	return out
}

type candidate struct {
	code         string
	start, score int
}

// lineCodes finds the codes of one line. prev is the previous non-empty line in lower case;
// hint says the subject (or this line, being the subject) speaks of codes.
func lineCodes(line, prev string, hint bool) []candidate {
	if digits(line) < 2 {
		return nil // every code has two digits at least: most lines are done here
	}
	lower := strings.ToLower(line)
	var out []candidate
	taken := make([]bool, len(line)) // bytes already part of a candidate
	for pi, re := range codePatterns {
		for _, m := range re.FindAllStringSubmatchIndex(line, -1) {
			start, end := m[0], m[1]
			if slices.Contains(taken[start:end], true) || inNumber(line, start, end) {
				continue
			}
			code := line[start:end]
			if len(m) > 2 && m[2] >= 0 {
				code = line[m[2]:m[3]]
			}
			if pi >= 3 && (digits(code) < 2 || (pi >= 4 && len(code)-digits(code) < 2)) {
				continue // a word, or a number with a unit ("4126k"), not a code
			}
			score := scoreCode(lower, prev, start, end, code, hint, pi >= 5)
			if score < 3 {
				continue
			}
			for i := start; i < end; i++ {
				taken[i] = true
			}
			out = append(out, candidate{code, start, score})
		}
	}
	slices.SortFunc(out, func(a, b candidate) int { return a.start - b.start })
	return out
}

// inNumber reports whether line[start:end] is part of a longer number: 0.004056, 1,250, 10:30.
func inNumber(line string, start, end int) bool {
	isDigit := func(i int) bool { return i >= 0 && i < len(line) && line[i] >= '0' && line[i] <= '9' }
	sep := func(i int) bool { return i >= 0 && i < len(line) && strings.IndexByte(".,:", line[i]) >= 0 }
	return (sep(start-1) && isDigit(start-2)) || (sep(end) && isDigit(end+1))
}

// scoreCode rates how much a candidate looks like a one-time code; 3 or more is kept.
func scoreCode(lower, prev string, start, end int, code string, hint, needWord bool) int {
	before := lower[max(0, start-60):start]
	around := lower[max(0, start-60):min(len(lower), end+30)]
	score := 0
	switch {
	case hasAny(before, codeWords):
		score += 4
	case hasAny(around, codeWords):
		score += 3
	case hasAny(prev, codeWords) && strings.TrimSpace(lower[:start]) == "":
		score += 4 // "Your code:" then the code on the next line
	case needWord:
		return 0
	}
	if strings.TrimSpace(lower) == strings.ToLower(code) || strings.TrimSpace(lower) == strings.ToLower(strings.TrimSpace(lower[start:end])) {
		score += 2 // alone on its line
		if hint {
			score++
		}
	}
	if hasAny(lower[max(0, start-25):start], notCodeWords) {
		score -= 5
	}
	if year.MatchString(code) {
		score -= 2
	}
	return score
}

// hasAny reports whether s contains one of words; a word of three bytes or fewer ("pin", "otp",
// "ref") must stand alone, so that "shipping" holds no "pin".
func hasAny(s string, words []string) bool {
	for _, w := range words {
		if len(w) > 3 || !isLetter(w[0]) {
			if strings.Contains(s, w) {
				return true
			}
			continue
		}
		for i := 0; ; {
			j := strings.Index(s[i:], w)
			if j < 0 {
				break
			}
			j += i
			if (j == 0 || !isLetter(s[j-1])) && (j+len(w) == len(s) || !isLetter(s[j+len(w)])) {
				return true
			}
			i = j + 1
		}
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// digits counts the ASCII digits of s.
func digits(s string) int {
	n := 0
	for i := range len(s) {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

func normalizeCode(c string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(c))
}

// shorten returns line, or about 160 characters of it around byte offset at.
func shorten(line string, at int) string {
	const width = 160
	if utf8.RuneCountInString(line) <= width {
		return line
	}
	from := max(0, min(at-width/2, len(line)-width))
	for from > 0 && !utf8.RuneStart(line[from]) {
		from--
	}
	to := min(len(line), from+width)
	for to < len(line) && !utf8.RuneStart(line[to]) {
		to++
	}
	s := line[from:to]
	if from > 0 {
		s = "…" + s
	}
	if to < len(line) {
		s += "…"
	}
	return s
}
