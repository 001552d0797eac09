// Package realmail generates a varied, realistic mix of mail for benchmarks: order receipts,
// shipping notices, password resets, welcome mail with an inline logo, notifications from a code
// host, newsletters with heavy HTML, invoices with PDF attachments, calendar invitations,
// reports with CSV attachments, and mail in German, French, Spanish, Polish, Russian, Japanese
// and Chinese in their usual charsets (ISO-8859-1/2/15, Windows-1252, KOI8-R, Shift_JIS,
// ISO-2022-JP, GBK, UTF-8) and transfer encodings.
//
// Every message carries tokens of its own, as real mail does: order and invoice numbers,
// tracking numbers, links with tokens, Message-IDs, commit hashes, DKIM signatures. Texts are
// drawn from word lists with a Zipf distribution, so a message has from about a hundred to a few
// hundred distinct words and the whole mix thousands.
//
// Generation is deterministic: the same Options and index give the same bytes. A benchmark
// that sends message i for i = 0, 1, 2, ... gets the mix in its proportions (see Weights).
//
//	g := realmail.New(realmail.Options{})
//	m := g.Message(i) // m.Raw, m.From, m.To
package realmail

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Kind is the kind of a generated message.
type Kind int

// The kinds of mail in the mix.
const (
	Receipt Kind = iota
	Shipping
	PasswordReset
	Welcome
	Notification
	Newsletter
	Invoice
	Calendar
	Report
	German
	French
	Spanish
	Polish
	Russian
	Japanese     // ISO-2022-JP, text only
	JapaneseSJIS // Shift_JIS, text and HTML in base64
	Chinese
	numKinds

	// LoremIpsum is the kind of the old benchmark message (see Lorem), not part of the mix.
	LoremIpsum Kind = -1
)

var kindNames = [numKinds]string{"receipt", "shipping", "password-reset", "welcome", "notification",
	"newsletter", "invoice", "calendar", "report", "german", "french", "spanish", "polish",
	"russian", "japanese", "japanese-sjis", "chinese"}

func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	if k == LoremIpsum {
		return "lorem"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Weights are the kinds' shares of the mix, in percent.
var Weights = [numKinds]int{
	Receipt: 15, Shipping: 8, PasswordReset: 12, Welcome: 5, Notification: 12, Newsletter: 12,
	Invoice: 7, Calendar: 3, Report: 3,
	German: 4, French: 4, Spanish: 3, Polish: 2, Russian: 2, Japanese: 3, JapaneseSJIS: 2, Chinese: 3,
}

// Kinds lists every kind, in order.
func Kinds() []Kind {
	out := make([]Kind, numKinds)
	for k := range out {
		out[k] = Kind(k)
	}
	return out
}

// Options shape a Generator. The zero value is the natural mix.
type Options struct {
	// Seed varies the mail: other seeds, other messages.
	Seed uint64
	// Size, when positive, makes every message about this many bytes: the prose grows or shrinks,
	// and above 24 KB a base64 attachment fills the rest. Kinds that cannot be made that small
	// (a newsletter's markup alone is several KB) are left out of the mix. 0: each kind's
	// natural sizes, from 1.5 KB (a reset) to 120 KB (an invoice with its PDF).
	Size int
	// Recipients is how many distinct recipient addresses the mix sends to (customerN@example.com,
	// message i to customer i mod Recipients). Default 1000.
	Recipients int
	// Only, when set, generates this kind alone.
	Only *Kind
}

// Message is one generated message.
type Message struct {
	Kind Kind
	// From is the envelope sender (MAIL FROM).
	From string
	// To are the envelope recipients (RCPT TO): the To and Cc addresses.
	To []string
	// Org is the sending organisation's name, a word that appears in no other org's mail.
	Org string
	// Raw is the message as sent, CRLF line ends.
	Raw []byte
}

// Orgs are the sending organisations: message i comes from Orgs[i % len(Orgs)], so each sends
// one message in len(Orgs).
func Orgs() []string { return append([]string(nil), orgs...) }

// sizedAttachAbove is the Size above which an attachment fills a message.
const sizedAttachAbove = 24 << 10

// Generator makes messages. It is safe for concurrent use.
type Generator struct {
	opts  Options
	kinds []Kind // one entry per percent of the mix (after Only and Size)

	base    [numKinds]int     // sized: the bytes of a kind's message with no prose
	perByte [numKinds]float64 // sized: message bytes per byte of prose
}

// New returns a Generator.
func New(opts Options) *Generator {
	if opts.Recipients <= 0 {
		opts.Recipients = 1000
	}
	g := &Generator{opts: opts}
	for k, w := range Weights {
		if opts.Only != nil && Kind(k) != *opts.Only {
			continue
		}
		for range w {
			g.kinds = append(g.kinds, Kind(k))
		}
	}
	if opts.Size > 0 {
		g.measure()
		var fit []Kind
		for _, k := range g.kinds {
			if g.base[k] <= opts.Size*9/10 {
				fit = append(fit, k)
			}
		}
		if len(fit) > 0 {
			g.kinds = fit
		}
	}
	return g
}

// Message returns message i of the mix.
func (g *Generator) Message(i int) Message {
	kind, r := g.kindOf(i)
	if g.opts.Size <= 0 {
		return g.newMsg(kind, i, r).build()
	}
	// Sized: the prose the calibration predicts, then corrected (secant steps) by what the
	// message came to, each time with the same random choices but for the prose.
	state := *r
	build := func(prose int) Message {
		r := state
		m := g.newMsg(kind, i, &r)
		m.sized(g.opts.Size, g.base[kind], g.perByte[kind])
		if prose >= 0 {
			m.prose = prose
		}
		return m.build()
	}
	out := build(-1)
	p0, slope := g.prose(kind), g.perByte[kind]
	best := out
	for range 2 {
		off := g.opts.Size - len(out.Raw)
		if abs(off) <= g.opts.Size/25 || p0 == 0 && off < 0 {
			break
		}
		p1 := max(0, p0+int(float64(off)/slope))
		next := build(p1)
		if p1 != p0 && len(next.Raw) != len(out.Raw) {
			// Prose comes in whole paragraphs: keep the slope near the calibrated one.
			s := float64(len(next.Raw)-len(out.Raw)) / float64(p1-p0)
			slope = min(max(s, g.perByte[kind]/2), g.perByte[kind]*2)
		}
		p0, out = p1, next
		if abs(g.opts.Size-len(out.Raw)) < abs(g.opts.Size-len(best.Raw)) {
			best = out
		}
	}
	return best
}

// kindOf returns message i's kind and the random source that goes on to build it.
func (g *Generator) kindOf(i int) (Kind, *rand.Rand) {
	r := rand.New(rand.NewPCG(g.opts.Seed^0x9e3779b97f4a7c15, uint64(i)))
	return g.kinds[r.IntN(len(g.kinds))], r
}

// prose is the prose sized mode starts kind's messages with.
func (g *Generator) prose(kind Kind) int {
	textSize := min(g.opts.Size, 6<<10)
	if g.opts.Size <= sizedAttachAbove {
		textSize = g.opts.Size
	}
	return max(0, int(float64(textSize-g.base[kind])/g.perByte[kind]))
}

func abs(n int) int { return max(n, -n) }

// Mix returns message i of the natural mix (New(Options{}).Message(i)).
func Mix(i int) Message { return defaultGenerator.Message(i) }

var defaultGenerator = New(Options{})

// newMsg prepares message i of kind with its natural sizes.
func (g *Generator) newMsg(kind Kind, i int, r *rand.Rand) *msg {
	w := &writer{r: r, pr: rand.New(rand.NewPCG(r.Uint64(), uint64(i)))}
	org := orgs[i%len(orgs)]
	n := i % g.opts.Recipients
	m := &msg{
		writer: w, kind: kind, i: i, org: org, domain: strings.ToLower(org) + ".example",
		to: fmt.Sprintf("customer%d@example.com", n), toName: w.person(), charset: "utf-8",
		date: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 17 * time.Second),
	}
	lo, hi := naturalProse[kind][0], naturalProse[kind][1]
	m.prose = lo + r.IntN(hi-lo+1)
	m.attach = -1 // natural
	m.lean = r.IntN(4) == 0 || g.opts.Size > 0 && g.opts.Size < leanBelow
	return m
}

// naturalProse is each kind's range of prose bytes (the variable text of its template).
var naturalProse = [numKinds][2]int{
	Receipt: {200, 1500}, Shipping: {150, 800}, PasswordReset: {60, 400}, Welcome: {300, 1500},
	Notification: {150, 3000}, Newsletter: {1500, 7000}, Invoice: {200, 900}, Calendar: {100, 600},
	Report: {200, 900}, German: {300, 1800}, French: {400, 2500}, Spanish: {300, 1500},
	Polish: {300, 1500}, Russian: {300, 1500}, Japanese: {300, 1500}, JapaneseSJIS: {300, 1500},
	Chinese: {300, 1500},
}

// measure calibrates the sized mode: each kind's bytes with no prose and per byte of prose,
// averaged over a few messages. The figures depend on nothing but the kinds, so they are
// measured once for all generators.
func (g *Generator) measure() {
	calibration.once.Do(func() {
		const samples = 8
		c := &calibration
		for k := range numKinds {
			var l0, l1 int
			for i := range samples {
				size := func(prose int) int {
					m := g.newMsg(k, i, rand.New(rand.NewPCG(1, uint64(i))))
					m.prose, m.attach, m.lean = prose, 0, false
					return len(m.build().Raw)
				}
				l0 += size(0)
				l1 += size(4000)
			}
			c.base[k] = l0 / samples
			c.perByte[k] = max(float64(l1-l0)/samples/4000, 0.1)
		}
		// Lean HTML (below 8 KB) saves the mailer's skeleton: measure it too.
		for k := range numKinds {
			var l0 int
			for i := range samples {
				m := g.newMsg(k, i, rand.New(rand.NewPCG(1, uint64(i))))
				m.prose, m.attach, m.lean = 0, 0, true
				l0 += len(m.build().Raw)
			}
			c.leanBase[k] = l0 / samples
		}
	})
	g.perByte = calibration.perByte
	g.base = calibration.base
	if g.opts.Size < leanBelow {
		g.base = calibration.leanBase
	}
}

// calibration is what measure found.
var calibration struct {
	once           sync.Once
	base, leanBase [numKinds]int
	perByte        [numKinds]float64
}

// leanBelow is the Size below which sized messages have lean HTML.
const leanBelow = 8 << 10

// sized sets m's prose and attachment so that the message is about size bytes.
func (m *msg) sized(size, base int, perByte float64) {
	textSize := size
	if size > sizedAttachAbove {
		textSize = min(size, 6<<10)
	}
	m.prose = max(0, int(float64(textSize-base)/perByte))
	m.attach = 0
	if size > sizedAttachAbove {
		// base64 is 4/3 of the content plus a CRLF every 76 characters; a part header ~250 bytes.
		m.attach = max(0, (size-textSize-250)*3/4*76/78)
	}
}

// msg is one message being built.
type msg struct {
	*writer
	kind    Kind
	i       int
	org     string
	domain  string
	to      string // the customer's address
	toName  string
	date    time.Time
	prose   int  // bytes of variable prose
	lean    bool // plain HTML without a mailer's skeleton and styles
	attach  int  // attachment content bytes; -1: the kind's natural attachment, 0: none
	charset string

	// Set by the kind's builder.
	fromName, fromAddr string
	subject            string
	cc                 []string
	extra              []string // more header lines
	root               *part
}

// build runs the kind's builder and writes the message.
func (m *msg) build() Message {
	builders[m.kind](m)
	if m.attach > 0 && !m.hasAttachment() {
		m.root = m.multipart("mixed", m.root, m.attachment(m.attach))
	}
	var b bytes.Buffer
	b.Grow(4096)
	m.traceHeaders(&b)
	fmt.Fprintf(&b, "Date: %s\r\n", m.date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\r\n", address(m.charset, m.fromName, m.fromAddr))
	fmt.Fprintf(&b, "To: %s\r\n", address(m.charset, m.toName, m.to))
	if len(m.cc) > 0 {
		b.WriteString(fold("Cc", strings.Join(m.cc, ", ")) + "\r\n")
	}
	if enc := headerWord(m.charset, m.subject, m.kind == French || m.kind == German); enc != m.subject {
		fmt.Fprintf(&b, "Subject: %s\r\n", enc)
	} else {
		b.WriteString(fold("Subject", m.subject) + "\r\n")
	}
	fmt.Fprintf(&b, "Message-ID: %s\r\n", m.messageID())
	b.WriteString("MIME-Version: 1.0\r\n")
	for _, h := range m.extra {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	m.root.write(&b)
	to := []string{m.to}
	for _, c := range m.cc {
		if i := strings.LastIndexByte(c, '<'); i >= 0 {
			c = strings.Trim(c[i:], "<>")
		}
		to = append(to, c)
	}
	return Message{Kind: m.kind, From: m.fromAddr, To: to, Org: m.org, Raw: b.Bytes()}
}

// hasAttachment reports whether the message already has an attachment (which sized mode fills).
func (m *msg) hasAttachment() bool {
	return m.kind == Invoice || m.kind == Report
}

// messageID is a Message-ID in one of the common mailers' styles.
func (m *msg) messageID() string {
	switch m.r.IntN(4) {
	case 0:
		return fmt.Sprintf("<%s.%s@%s>", m.date.Format("20060102150405"), m.randomString(hexChars, 12), m.domain)
	case 1:
		return fmt.Sprintf("<%s-%s-%s@email.amazonses.com>", m.randomString(hexChars, 16), m.randomString(hexChars, 8), m.randomString(hexChars, 12))
	case 2:
		return fmt.Sprintf("<%s@%s.mail>", m.linkToken(22), m.domain)
	default:
		return fmt.Sprintf("<CA+%s@mail.gmail.com>", m.linkToken(40))
	}
}

// traceHeaders writes what a relay in staging adds to a quarter of the mail: Received lines
// and a DKIM signature, each unique.
func (m *msg) traceHeaders(b *bytes.Buffer) {
	if m.r.IntN(4) != 0 {
		return
	}
	fmt.Fprintf(b, "Received: from mail-%s.%s (mail-%s.%s [10.%d.%d.%d])\r\n\tby mx.staging.example with ESMTPS id %s\r\n\tfor <%s>; %s\r\n",
		m.randomString(hexChars, 6), m.domain, m.randomString(hexChars, 6), m.domain, m.r.IntN(256), m.r.IntN(256), m.r.IntN(256),
		m.randomString(base64URL, 12), m.to, m.date.Format(time.RFC1123Z))
	fmt.Fprintf(b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=s1;\r\n\tt=%d; h=from:to:subject:date:message-id:mime-version;\r\n\tbh=%s=;\r\n\tb=%s\r\n",
		m.domain, m.date.Unix(), m.randomString(base64Std, 43), wrapToken(m.randomString(base64Std, 342)+"==", 70, "\r\n\t  "))
}

// wrapToken cuts s into lines of n characters joined by sep.
func wrapToken(s string, n int, sep string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), sep)
}
