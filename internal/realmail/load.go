package realmail

import (
	"fmt"
	"strings"
)

// Loads names the message streams the benchmarks run, headline first:
//
//   - mix: the natural mix (sizes from 1.5 KB to 120 KB, about 14 KB on average);
//   - 4k and 100k: the mix at about 4 KB and 100 KB a message (100k with a base64 attachment),
//     the sizes ../shared/tools/smtpload sends, for comparison with side-by-side runs;
//   - lorem: the repetitive Lorem ipsum message earlier figures were measured with (about 15
//     distinct words), kept to compare with them. It flatters the index and the parser.
var Loads = []string{"mix", "4k", "100k", "lorem"}

// Load returns the generator of a named load (see Loads).
func Load(name string) (func(i int) Message, error) {
	switch name {
	case "mix":
		return New(Options{}).Message, nil
	case "4k":
		return New(Options{Size: 4 << 10}).Message, nil
	case "100k":
		return New(Options{Size: 100 << 10}).Message, nil
	case "lorem":
		return Lorem, nil
	}
	return nil, fmt.Errorf("realmail: no load %q (have %s)", name, strings.Join(Loads, ", "))
}

var (
	loremText = strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n", 24)
	loremHTML = "<html><body>" + strings.Repeat("<p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit.</p>\r\n", 24) + "</body></html>\r\n"
)

// Lorem is message i of the old benchmark load: 4 KB of multipart/alternative text and HTML
// repeating one Lorem ipsum line, unique only in its subject and Message-ID.
func Lorem(i int) Message {
	raw := fmt.Appendf(nil, "From: Bench Sender <sender@bench.test>\r\n"+
		"To: Bench Recipient <rcpt@bench.test>\r\n"+
		"Subject: Benchmark message %d\r\n"+
		"Date: Sun, 22 Nov 2026 08:00:00 +0000\r\n"+
		"Message-ID: <%d@bench.test>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"+
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"+
		"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s\r\n"+
		"--b1--\r\n", i, i, loremText, loremHTML)
	return Message{Kind: LoremIpsum, From: "sender@bench.test", To: []string{"rcpt@bench.test"}, Org: "Bench", Raw: raw}
}

// Pool holds messages generated ahead, so that a benchmark does not measure the generator:
// messages 0 to n-1 of a load, or as many of them as fit in maxBytes, which At then cycles
// through.
type Pool struct {
	msgs  []Message
	bytes int
}

// NewPool generates up to n messages of load, stopping once they hold maxBytes.
func NewPool(load func(int) Message, n, maxBytes int) *Pool {
	p := &Pool{}
	for i := 0; i < n && (p.bytes < maxBytes || len(p.msgs) == 0); i++ {
		m := load(i)
		p.msgs = append(p.msgs, m)
		p.bytes += len(m.Raw)
	}
	return p
}

// At returns message i (modulo the pool's size).
func (p *Pool) At(i int) Message { return p.msgs[i%len(p.msgs)] }

// Len is the number of distinct messages in the pool.
func (p *Pool) Len() int { return len(p.msgs) }

// MeanSize is the pool's average message size in bytes.
func (p *Pool) MeanSize() int { return p.bytes / len(p.msgs) }
