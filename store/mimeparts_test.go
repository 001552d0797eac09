package store_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jhillyerd/enmime/v2"
	"github.com/letterbox-mail/letterbox/internal/realmail"
	"github.com/letterbox-mail/letterbox/store"
)

// cutCases are multipart messages written to probe the store's own cutting of parts: cut says
// whether it must take them (and agree with enmime) or leave them to enmime.
var cutCases = []struct {
	name string
	cut  bool
	raw  string
}{
	{"alternative-crlf", true, string(store.Message4K(7))},
	{"alternative-lf", true, strings.ReplaceAll(string(store.Message4K(7)), "\r\n", "\n")},
	{"nested-preamble-epilogue", true, "Subject: nested\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"This is a preamble.\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
		"inner preamble\r\n--inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9\r\n\r\n" +
		"--inner\r\nContent-Type: text/html\r\n\r\n<p>Caf&eacute;</p>\r\n--inner--\r\ninner epilogue\r\n" +
		"--outer\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--outer--\r\nthe epilogue\r\n"},
	{"padding-and-quoted-boundary", true, "Content-Type: multipart/mixed; boundary=\"a b'c\"\r\n\r\n--a b'c  \t\r\n" +
		"Content-Type: text/plain\r\n\r\none\r\n\r\n\r\n--a b'c\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--a b'c--"},
	{"blank-lines-lf", true, "Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\n\n\none\n\n--x\nContent-Type: image/gif\n\nGIF\n--x--\n"},
	{"boundary-inside-line", false, "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee --b1 here\r\n--b1--\r\n"},
	{"cr-before-line-break", false, "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\none\r\r\n--b1--\r\n"},
	{"cr-two-before", false, "Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\none\rx\n--b1--\n"},
	{"not-closed", false, "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\none\r\n"},
	{"part-without-type", false, "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n\r\none\r\n--b1--\r\n"},
	{"empty-part", false, "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n--b1\r\nContent-Type: text/plain\r\n\r\none\r\n--b1--\r\n"},
	{"text-with-boundary", false, "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; boundary=zz\r\n\r\none\r\n--b1--\r\n"},
	{"multipart-without-boundary-part", false, "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: multipart/related\r\n\r\none\r\n--b1--\r\n"},
	{"similar-boundary", false, "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\none\r\n--b1x\r\n--b1--\r\n"},
	{"single-part", false, "Content-Type: text/plain\r\n\r\n--b1\r\n"},
	{"nested-10", true, nested(10)},
	{"nested-20", false, nested(20)}, // deeper than the store cuts
	{"delimiter-at-eof", false, "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\none\r\n--b1"},
}

// nested returns a message of depth multiparts nested in each other, a text part at the bottom.
func nested(depth int) string {
	var b strings.Builder
	b.WriteString("Subject: nested\r\n")
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"level-%d-end\"\r\n\r\n--level-%d-end\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--level-%d-end--\r\n", i)
	}
	return b.String()
}

// TestCutPartsAgreesWithEnmime holds the store's cutting of multipart messages to enmime's own
// reading: whenever it cuts, the part tree (every field, content and error) and the Envelope must
// be enmime's. It runs on the cases above, the repository's and the shared corpus's messages.
func TestCutPartsAgreesWithEnmime(t *testing.T) {
	for _, c := range cutCases {
		t.Run(c.name, func(t *testing.T) {
			if cut := checkCut(t, []byte(c.raw)); cut != c.cut {
				t.Errorf("cut %v, want %v", cut, c.cut)
			}
		})
	}
	files := corpusFiles(t, filepath.Join("..", "testdata"))
	cut, multipart := 0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if checkCut(t, raw) {
			cut++
		}
		if bytes.Contains(bytes.ToLower(raw), []byte("multipart/")) {
			multipart++
		}
	}
	t.Logf("%d of %d messages (%d mention multipart) cut by the store", cut, len(files), multipart)
	if cut < multipart/2 {
		t.Errorf("only %d of %d multipart messages cut by the store", cut, multipart)
	}
}

// FuzzCutParts checks the agreement on mutations of the cases above.
func FuzzCutParts(f *testing.F) {
	for _, c := range cutCases {
		f.Add([]byte(c.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkCut(t, raw)
	})
}

// checkCut reports whether the store cuts raw itself, failing t when the result is not enmime's.
func checkCut(t *testing.T, raw []byte) bool {
	t.Helper()
	got, ok := store.CutParts(raw)
	if !ok {
		return false
	}
	p := enmime.NewParser(store.ParserOptions()...)
	want, err := p.ReadParts(bytes.NewReader(raw))
	if err != nil {
		t.Errorf("store cut a message enmime fails on (%v):\n%q", err, raw)
		return true
	}
	if g, w := dumpParts(got), dumpParts(want); g != w {
		t.Errorf("part trees differ for\n%q\nstore:\n%s\nenmime:\n%s", raw, g, w)
		return true
	}
	genv, err := p.EnvelopeFromPart(got)
	if err != nil {
		t.Fatalf("envelope: %v", err)
	}
	_ = genv.GatherNestedErrors()
	wenv, err := p.ReadEnvelope(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("enmime envelope: %v", err)
	}
	if g, w := dumpEnvelope(genv), dumpEnvelope(wenv); g != w {
		t.Errorf("envelopes differ for\n%q\nstore:\n%s\nenmime:\n%s", raw, g, w)
	}
	return true
}

// dumpParts writes out every field of a part tree that parsing sets.
func dumpParts(p *enmime.Part) string {
	var b strings.Builder
	var walk func(p *enmime.Part, depth int)
	walk = func(p *enmime.Part, depth int) {
		fmt.Fprintf(&b, "%s%s type=%q params=%v disp=%q file=%q charset=%q orig=%q cid=%q boundary=%q date=%v\n",
			strings.Repeat("  ", depth), p.PartID, p.ContentType, p.ContentTypeParams, p.Disposition, p.FileName,
			p.Charset, p.OrigCharset, p.ContentID, p.Boundary, p.FileModDate)
		keys := make([]string, 0, len(p.Header))
		for k := range p.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  header %s=%q\n", k, p.Header[k])
		}
		fmt.Fprintf(&b, "  content=%q epilogue=%q\n", p.Content, p.Epilogue)
		for _, e := range p.Errors {
			fmt.Fprintf(&b, "  error %v\n", e)
		}
		for c := p.FirstChild; c != nil; c = c.NextSibling {
			if c.Parent != p {
				fmt.Fprintf(&b, "  child %s has the wrong parent\n", c.PartID)
			}
			walk(c, depth+1)
		}
	}
	walk(p, 0)
	return b.String()
}

// dumpEnvelope writes out what the store takes from an Envelope.
func dumpEnvelope(e *enmime.Envelope) string {
	var b strings.Builder
	fmt.Fprintf(&b, "text=%q\nhtml=%q\n", e.Text, e.HTML)
	for _, list := range [][]*enmime.Part{e.Attachments, e.Inlines, e.OtherParts} {
		for _, p := range list {
			fmt.Fprintf(&b, "%s ", p.PartID)
		}
		b.WriteString("\n")
	}
	for _, err := range e.Errors {
		fmt.Fprintf(&b, "error %v\n", err)
	}
	return b.String()
}

// measureCases are base64 parts ingest may measure instead of decoding, and ones it must not.
var measureCases = func() []string {
	msg := func(ctype, cte, body string) string {
		return "From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" +
			"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n" +
			"--B\r\nContent-Type: " + ctype + "; name=\"f\"\r\nContent-Disposition: attachment; filename=\"f\"\r\n" +
			"Content-Transfer-Encoding: " + cte + "\r\n\r\n" + body + "\r\n--B--\r\n"
	}
	b64 := base64.StdEncoding.EncodeToString
	long := b64(bytes.Repeat([]byte("attachment bytes \x00\xff "), 400))
	var wrapped strings.Builder
	for i := 0; i < len(long); i += 76 {
		wrapped.WriteString(long[i:min(i+76, len(long))] + "\r\n")
	}
	return []string{
		msg("application/pdf", "base64", wrapped.String()),
		msg("application/pdf", "BASE64", b64([]byte("a"))),
		msg("image/png", "base64", b64([]byte("ab"))),
		msg("image/png", "base64", b64([]byte("abc"))),
		msg("image/png", "base64", base64.RawStdEncoding.EncodeToString([]byte("abcde"))), // no padding
		msg("image/png", "base64", "QQ==QQ=="),                                            // padding inside
		msg("image/png", "base64", " QUJD\tREVG \r\n"),
		msg("image/png", "base64", "QUJDR"),     // one character too many: corrupt
		msg("image/png", "base64", "QUJD*REVG"), // a character enmime warns about
		msg("image/png", "base64", "QUJD\xc1REVG"),
		msg("image/png", "base64", ""),
		msg("image/png", "base64 ", "QUJD"),
		msg("text/plain", "base64", b64([]byte("text the bodies need"))),
		msg("message/rfc822", "base64", b64([]byte("Subject: inner\r\n\r\nbody\r\n"))),
		msg("application/octet-stream", "quoted-printable", "a=3Db"),
	}
}()

// TestIngestMeasuresAsEnmimeDecodes holds ingest's parse, which measures base64 attachments
// instead of decoding them, to the full parse: the same part tree, envelope and errors, and for
// every part the size decoding gives. It also checks that measuring happens.
func TestIngestMeasuresAsEnmimeDecodes(t *testing.T) {
	var raws [][]byte
	for _, c := range measureCases {
		raws = append(raws, []byte(c))
	}
	for _, f := range corpusFiles(t, filepath.Join("..", "testdata")) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	gen, err := realmail.Load("100k")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		raws = append(raws, gen(i).Raw, realmail.Mix(i).Raw)
	}
	measured := 0
	for _, raw := range raws {
		measured += checkMeasured(t, raw)
	}
	t.Logf("%d parts measured in %d messages", measured, len(raws))
	if measured < 40 {
		t.Errorf("only %d parts measured: ingest decodes what it could measure", measured)
	}
}

// FuzzIngestMeasures checks the agreement on mutations of the cases above.
func FuzzIngestMeasures(f *testing.F) {
	for _, c := range measureCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkMeasured(t, raw) })
}

// checkMeasured compares ingest's parse of raw with the full one and returns how many parts
// ingest measured.
func checkMeasured(t *testing.T, raw []byte) int {
	t.Helper()
	env, size, measured, err := store.ParseForIngest(raw)
	full, ferr := store.Parse(raw)
	if (err == nil) != (ferr == nil) {
		t.Fatalf("ingest parse error %v, full parse error %v for\n%q", err, ferr, raw)
	}
	if err != nil {
		return 0
	}
	dump := func(env *enmime.Envelope, size func(*enmime.Part) int64) string {
		var b strings.Builder
		var walk func(p *enmime.Part)
		walk = func(p *enmime.Part) {
			for ; p != nil; p = p.NextSibling {
				fmt.Fprintf(&b, "%s %q %q %q size=%d errors=%d\n", p.PartID, p.ContentType, p.FileName, p.Disposition, size(p), len(p.Errors))
				if strings.HasPrefix(p.ContentType, "text/") {
					fmt.Fprintf(&b, "  %q\n", p.Content)
				}
				walk(p.FirstChild)
			}
		}
		walk(env.Root)
		return b.String() + dumpEnvelope(env)
	}
	if g, w := dump(env, size), dump(full, func(p *enmime.Part) int64 { return int64(len(p.Content)) }); g != w {
		t.Errorf("ingest's parse differs for\n%q\ningest:\n%s\nfull:\n%s", raw, g, w)
	}
	return measured
}
