package realmail

import (
	"bytes"
	"fmt"
	"mime"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"golang.org/x/net/html/charset"
)

// parsed is a generated message as a reader sees it.
type parsed struct {
	Message
	subject, from, text string // text: the decoded text and HTML
	env                 *enmime.Envelope
}

// parser reads the charsets as declared (its detector second-guesses short texts).
var parser = enmime.NewParser(enmime.DisableCharacterDetection(true))

func parse(t *testing.T, m Message) parsed {
	t.Helper()
	env, err := parser.ReadEnvelope(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatalf("%s message: %v\n%s", m.Kind, err, m.Raw)
	}
	for _, e := range env.Errors {
		if e.Severe {
			t.Errorf("%s message: parse error %v", m.Kind, e)
		}
	}
	return parsed{Message: m, env: env, subject: env.GetHeader("Subject"), from: env.GetHeader("From"), text: env.Text + "\n" + env.HTML}
}

// sampleSize is how many messages of the natural mix the tests read (parsing is what they cost).
const sampleSize = 400

var sample struct {
	once sync.Once
	msgs []parsed
}

// natural returns the first sampleSize messages of the natural mix, parsed once for all tests.
func natural(t *testing.T) []parsed {
	sample.once.Do(func() {
		g := New(Options{})
		for i := range sampleSize {
			sample.msgs = append(sample.msgs, parse(t, g.Message(i)))
		}
	})
	if len(sample.msgs) != sampleSize {
		t.Fatal("the sample did not parse")
	}
	return sample.msgs
}

func TestDeterministic(t *testing.T) {
	for _, opts := range []Options{{}, {Size: 4096}, {Seed: 7, Size: 100 << 10}} {
		a, b := New(opts), New(opts)
		for i := range 50 {
			if !bytes.Equal(a.Message(i).Raw, b.Message(i).Raw) {
				t.Fatalf("%+v: message %d differs between generators", opts, i)
			}
		}
		if bytes.Equal(a.Message(1).Raw, a.Message(2).Raw) {
			t.Fatalf("%+v: messages 1 and 2 are equal", opts)
		}
	}
	if bytes.Equal(New(Options{Seed: 1}).Message(3).Raw, New(Options{Seed: 2}).Message(3).Raw) {
		t.Fatal("seeds 1 and 2 give the same message 3")
	}
}

// TestEveryMessageReads parses the first messages of the mix as a mail reader would: no parse
// errors, a subject and a body decoded into valid text, the sender's name, and the envelope.
func TestEveryMessageReads(t *testing.T) {
	for i, p := range natural(t) {
		if p.subject == "" || strings.Contains(p.subject, "=?") || !utf8.ValidString(p.subject) {
			t.Errorf("message %d (%s): subject %q", i, p.Kind, p.subject)
		}
		if strings.TrimSpace(p.env.Text) == "" && strings.TrimSpace(p.env.HTML) == "" {
			t.Errorf("message %d (%s): no text and no HTML", i, p.Kind)
		}
		if strings.ContainsRune(p.text, utf8.RuneError) || !utf8.ValidString(p.text) {
			t.Errorf("message %d (%s): body not decoded cleanly: %.200q", i, p.Kind, p.text)
		}
		if !strings.Contains(p.from, p.Org) && !strings.Contains(p.text, p.Org) {
			t.Errorf("message %d (%s): org %s neither in From %q nor in the body", i, p.Kind, p.Org, p.from)
		}
		if len(p.To) == 0 || !strings.Contains(p.env.GetHeader("To"), p.To[0]) || p.From == "" {
			t.Errorf("message %d (%s): envelope %s -> %v, To %q", i, p.Kind, p.From, p.To, p.env.GetHeader("To"))
		}
		if t.Failed() {
			t.Fatalf("message %d:\n%s", i, p.Raw)
		}
	}
}

// TestLanguagesAndCharsets checks that mail in other languages reads back in its script, and
// that every charset and transfer encoding of the locales is used.
func TestLanguagesAndCharsets(t *testing.T) {
	script := map[Kind]func(rune) bool{
		German:       func(r rune) bool { return strings.ContainsRune("äöüßÄÖÜ", r) },
		French:       func(r rune) bool { return strings.ContainsRune("éèêàçùœ", r) },
		Spanish:      func(r rune) bool { return strings.ContainsRune("ñáéíóú¡", r) },
		Polish:       func(r rune) bool { return strings.ContainsRune("ąćęłńóśźż", r) },
		Russian:      func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) },
		Japanese:     func(r rune) bool { return unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) },
		JapaneseSJIS: func(r rune) bool { return unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) },
		Chinese:      func(r rune) bool { return unicode.Is(unicode.Han, r) },
	}
	seen := map[string]bool{}
	ctype := regexp.MustCompile(`(?i)charset="?([a-z0-9_-]+)`)
	cte := regexp.MustCompile(`(?i)Content-Transfer-Encoding: ([a-z0-9-]+)`)
	for k, in := range script {
		g := New(Options{Only: &k})
		for i := range 30 {
			p := parse(t, g.Message(i))
			if !strings.ContainsFunc(p.text, in) || !strings.ContainsFunc(p.subject+p.text, in) {
				t.Fatalf("%s message %d: no characters of its language in %.300q", k, i, p.text)
			}
			for _, m := range ctype.FindAllSubmatch(p.Raw, -1) {
				seen["charset "+strings.ToLower(string(m[1]))] = true
			}
			for _, m := range cte.FindAllSubmatch(p.Raw, -1) {
				seen[k.String()+" "+strings.ToLower(string(m[1]))] = true
			}
		}
	}
	for k, loc := range locales {
		for _, cs := range loc.charsets {
			if !seen["charset "+cs] {
				t.Errorf("charset %s of %s never used", cs, k)
			}
		}
		for _, e := range loc.cte {
			if !seen[k.String()+" "+e] {
				t.Errorf("%s never uses %s", k, e)
			}
		}
	}
}

func TestShares(t *testing.T) {
	const n = 20000
	counts := map[Kind]int{}
	g := New(Options{})
	for i := range n {
		k, _ := g.kindOf(i)
		counts[k]++
	}
	for i := range 200 {
		if k, _ := g.kindOf(i); g.Message(i).Kind != k {
			t.Fatalf("message %d is not of the kind drawn for it", i)
		}
	}
	total := 0
	for _, w := range Weights {
		total += w
	}
	if total != 100 {
		t.Fatalf("weights add up to %d", total)
	}
	for k, w := range Weights {
		got := float64(counts[Kind(k)]) * 100 / n
		if got < float64(w)-1.2 || got > float64(w)+1.2 {
			t.Errorf("%s: %.1f%% of the mix, want %d%%", Kind(k), got, w)
		}
	}
}

// words splits text as a full-text index does: runs of letters and digits, lower case.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// TestUniqueTokens checks what makes real mail costly to index: every message has tokens no
// other message has, and its own Message-ID.
func TestUniqueTokens(t *testing.T) {
	const n = sampleSize
	owners := map[string]int{} // token -> messages containing it
	var perMessage [][]string
	ids := map[string]bool{}
	for i, p := range natural(t) {
		id := p.env.GetHeader("Message-ID")
		if ids[id] {
			t.Fatalf("message %d repeats Message-ID %s", i, id)
		}
		ids[id] = true
		var toks []string
		for _, w := range words(p.subject + " " + p.text + " " + id) {
			if len(w) >= 8 && strings.ContainsAny(w, "0123456789") {
				toks = append(toks, w)
			}
		}
		slices.Sort(toks)
		toks = slices.Compact(toks)
		for _, w := range toks {
			owners[w]++
		}
		perMessage = append(perMessage, toks)
	}
	total := 0
	for i, toks := range perMessage {
		unique := 0
		for _, w := range toks {
			if owners[w] == 1 {
				unique++
			}
		}
		if unique == 0 {
			t.Errorf("message %d has no token of its own (of %v)", i, toks)
		}
		total += unique
	}
	if mean := float64(total) / n; mean < 4 {
		t.Errorf("%.1f tokens of their own a message, want at least 4", mean)
	}
}

// TestDistinctWords checks the property the old benchmark message lacked: real mail has from
// about a hundred to a few hundred distinct words a message.
func TestDistinctWords(t *testing.T) {
	var counts []int
	all := map[string]bool{}
	for _, p := range natural(t) {
		set := map[string]bool{}
		for _, w := range words(p.subject + " " + p.env.Text + " " + p.env.HTML) {
			set[w] = true
			all[w] = true
		}
		counts = append(counts, len(set))
	}
	slices.Sort(counts)
	median, p10, p90 := counts[len(counts)/2], counts[len(counts)/10], counts[len(counts)*9/10]
	t.Logf("distinct words a message: p10 %d, median %d, p90 %d; in %d messages %d", p10, median, p90, sampleSize, len(all))
	if median < 100 || median > 400 || p10 < 40 {
		t.Errorf("distinct words a message: p10 %d, median %d, want a median of 100-400", p10, median)
	}
	if len(all) < sampleSize*20 {
		t.Errorf("%d messages have %d distinct words, want more than %d (unique tokens)", sampleSize, len(all), sampleSize*20)
	}
}

func TestSized(t *testing.T) {
	for _, size := range []int{4096, 100 << 10} {
		g := New(Options{Size: size})
		const n = 300
		total, near := 0, 0
		kinds := map[Kind]bool{}
		for i := range n {
			m := g.Message(i)
			kinds[m.Kind] = true
			total += len(m.Raw)
			if d := len(m.Raw) - size; d > -size/4 && d < size/4 {
				near++
			}
			if i < 50 {
				parse(t, m)
			}
		}
		mean := total / n
		t.Logf("size %d: mean %d, %d%% within 25%%, %d kinds", size, mean, near*100/n, len(kinds))
		if mean < size*9/10 || mean > size*11/10 || near < n*80/100 {
			t.Errorf("size %d: mean %d, %d of %d within 25%%", size, mean, near, n)
		}
		if len(kinds) < 10 {
			t.Errorf("size %d: only %d kinds", size, len(kinds))
		}
	}
}

// TestOrgsAndRecipients checks what searches over the mix rely on: each org's word is in its
// own messages only, and message i goes to customer i mod Recipients.
func TestOrgsAndRecipients(t *testing.T) {
	g := New(Options{Recipients: 20})
	for i := range 200 {
		p := parse(t, g.Message(i))
		if p.Org != orgs[i%len(orgs)] {
			t.Fatalf("message %d from %s", i, p.Org)
		}
		all := strings.ToLower(p.subject + " " + p.from + " " + p.text)
		for _, o := range orgs {
			if in := slices.Contains(words(all), strings.ToLower(o)); in != (o == p.Org) {
				t.Fatalf("message %d (%s, from %s): org word %s present %v", i, p.Kind, p.Org, o, in)
			}
		}
		if want := fmt.Sprintf("customer%d@", i%20); !strings.HasPrefix(p.To[0], want) {
			t.Fatalf("message %d to %v", i, p.To)
		}
	}
}

func TestOnly(t *testing.T) {
	for _, k := range Kinds() {
		g := New(Options{Only: &k})
		for i := range 20 {
			if m := g.Message(i); m.Kind != k {
				t.Fatalf("Only %s gave %s", k, m.Kind)
			}
		}
	}
}

// TestHeaderWords checks the encoded-words of stateful and multi-byte charsets decode alone.
func TestHeaderWords(t *testing.T) {
	dec := mime.WordDecoder{CharsetReader: charset.NewReaderLabel}
	for cs := range charsets {
		var s string
		switch cs {
		case "shift_jis", "iso-2022-jp":
			s = "【ご注文確認】注文番号 お客様ありがとうございます商品発送のお知らせ"
		case "gb2312", "gbk":
			s = "您的订单已发货，感谢您的订购，订单号"
		case "koi8-r":
			s = "Ваш заказ отправлен, спасибо за покупку"
		case "iso-8859-2":
			s = "Twoje zamówienie zostało wysłane, dziękujemy"
		default:
			s = "Größe und Grüße, élégant créé"
		}
		enc := headerWord(cs, s, false)
		got, err := dec.DecodeHeader(strings.ReplaceAll(enc, "\r\n", ""))
		if err != nil || got != s {
			t.Errorf("%s: %q decodes to %q, %v", cs, enc, got, err)
		}
	}
}
