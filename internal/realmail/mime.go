package realmail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// part is a MIME entity: a leaf with an encoded body, or a multipart with children.
type part struct {
	header   []string // "Name: value" lines, Content-Type first
	body     string   // a leaf's body, transfer-encoded, CRLF line ends, no final CRLF
	children []*part
	boundary string
	preamble string
}

// leaf is a part with content type ctype whose content is encoded with cte ("7bit",
// "quoted-printable", "base64", "8bit").
func leaf(ctype, cte string, content []byte, extra ...string) *part {
	p := &part{header: append([]string{"Content-Type: " + ctype, "Content-Transfer-Encoding: " + cte}, extra...)}
	switch cte {
	case "quoted-printable":
		p.body = qp(content)
	case "base64":
		p.body = b64(content)
	default:
		p.body = crlf(string(content))
	}
	return p
}

// multipart is a multipart/subtype part of children.
func (w *writer) multipart(subtype string, children ...*part) *part {
	boundary := w.boundary()
	ctype := fmt.Sprintf("multipart/%s; boundary=%q", subtype, boundary)
	if subtype == "related" {
		ctype += `; type="text/html"`
	}
	return &part{header: []string{"Content-Type: " + ctype}, children: children, boundary: boundary}
}

// boundary is a multipart boundary in the style of one of the common mailers.
func (w *writer) boundary() string {
	switch w.r.IntN(4) {
	case 0: // JavaMail
		return fmt.Sprintf("----=_Part_%d_%d.%d", w.r.IntN(1e6), w.r.IntN(1e9), 1700000000000+w.r.Int64N(1e11))
	case 1: // Rails
		return fmt.Sprintf("--==_mimepart_%s_%d", w.randomString(hexChars, 13), w.r.IntN(1e5))
	case 2: // Gmail and Go
		return "000000000000" + w.randomString(hexChars, 16)
	default: // Nodemailer
		return "--_NmP-" + w.randomString(hexChars, 16) + "-Part_1"
	}
}

// write appends p, its header and body, to b.
func (p *part) write(b *bytes.Buffer) {
	for _, h := range p.header {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	if p.children == nil {
		b.WriteString(p.body)
		return
	}
	if p.preamble != "" {
		b.WriteString(p.preamble)
		b.WriteString("\r\n")
	}
	for _, c := range p.children {
		b.WriteString("--" + p.boundary + "\r\n")
		c.write(b)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + p.boundary + "--\r\n")
}

// crlf gives text CRLF line ends.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// qp is content in quoted-printable, CRLF line ends.
func qp(content []byte) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write(bytes.ReplaceAll(content, []byte("\r\n"), []byte("\n")))
	w.Close()
	return strings.TrimSuffix(crlf(b.String()), "\r\n")
}

// b64 is content in base64, lines of 76 characters.
func b64(content []byte) string {
	enc := base64.StdEncoding.EncodeToString(content)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/76*2)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	return b.String()
}

// charsets maps the charsets the generator writes to their encoders.
var charsets = map[string]encoding.Encoding{
	"iso-8859-1":   charmap.ISO8859_1,
	"iso-8859-2":   charmap.ISO8859_2,
	"iso-8859-15":  charmap.ISO8859_15,
	"windows-1252": charmap.Windows1252,
	"koi8-r":       charmap.KOI8R,
	"shift_jis":    japanese.ShiftJIS,
	"iso-2022-jp":  japanese.ISO2022JP,
	"gb2312":       simplifiedchinese.GBK, // the characters used are GB 2312's, which GBK encodes alike
	"gbk":          simplifiedchinese.GBK,
}

// encode converts UTF-8 text to charset (utf-8: as it is). A few signs some charsets lack are
// written as mailers write them there (EUR for €, x for ×); any other character a charset lacks
// is a bug in the word lists.
func encode(charset, s string) []byte {
	enc, ok := charsets[charset]
	if !ok {
		return []byte(s)
	}
	out, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		out, err = enc.NewEncoder().Bytes([]byte(substitutes.Replace(s)))
	}
	if err != nil {
		panic(fmt.Sprintf("realmail: %q in %s: %v", s, charset, err))
	}
	return out
}

var substitutes = strings.NewReplacer("€", "EUR", "×", "x", "’", "'", "—", "-", "“", `"`, "”", `"`, "œ", "oe", "©", "(c)")

// headerWord is s as RFC 2047 encoded-words in charset (B encoding), or s itself when it is
// ASCII. Each encoded-word holds whole characters, and for a stateful charset (ISO-2022-JP)
// whole escape sequences, so each decodes on its own.
func headerWord(charset, s string, q bool) string {
	if isASCII(s) {
		return s
	}
	var words []string
	for len(s) > 0 {
		n := 0
		for n < len(s) && n < 30 {
			_, size := utf8.DecodeRuneInString(s[n:])
			n += size
		}
		chunk := encode(charset, s[:n])
		s = s[n:]
		if q {
			words = append(words, "=?"+charset+"?Q?"+qword(chunk)+"?=")
		} else {
			words = append(words, "=?"+charset+"?B?"+base64.StdEncoding.EncodeToString(chunk)+"?=")
		}
	}
	return strings.Join(words, "\r\n ")
}

// qword is RFC 2047's Q encoding of b.
func qword(b []byte) string {
	var out strings.Builder
	for _, c := range b {
		switch {
		case c == ' ':
			out.WriteByte('_')
		case c > ' ' && c < 0x7f && c != '=' && c != '?' && c != '_':
			out.WriteByte(c)
		default:
			fmt.Fprintf(&out, "=%02X", c)
		}
	}
	return out.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// address is "Name <addr>" with the name quoted or encoded as needed.
func address(charset, name, addr string) string {
	if name == "" {
		return addr
	}
	if !isASCII(name) {
		return headerWord(charset, name, false) + " <" + addr + ">"
	}
	if strings.ContainsAny(name, `,.;:"()<>@`) {
		return fmt.Sprintf("%q <%s>", name, addr)
	}
	return name + " <" + addr + ">"
}

// fold wraps a long header value at spaces so that no line exceeds 78 characters.
func fold(name, value string) string {
	line := name + ": "
	var b strings.Builder
	for i, f := range strings.Split(value, " ") {
		if i > 0 {
			if len(line)+1+len(f) > 78 {
				b.WriteString(line)
				b.WriteString("\r\n")
				line = " " + f
				continue
			}
			line += " "
		}
		line += f
	}
	b.WriteString(line)
	return b.String()
}
