package pop3d

import (
	"bufio"
	"bytes"
	"testing"
)

// normalize is what a client must get back after un-stuffing: every line ending as CRLF, and a
// CRLF after a last line that had none.
func normalize(raw []byte) []byte {
	var out []byte
	for len(raw) > 0 {
		line := raw
		raw = nil
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, raw = line[:i], line[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		out = append(append(out, line...), "\r\n"...)
	}
	return out
}

func render(raw []byte, bodyLines int) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeMessage(w, raw, bodyLines)
	w.Flush()
	return b.Bytes()
}

// unstuff checks that wire is a well-formed multi-line body and returns its content.
func unstuff(t *testing.T, wire []byte) []byte {
	t.Helper()
	if !bytes.HasSuffix(wire, []byte(".\r\n")) || !(len(wire) == 3 || bytes.HasSuffix(wire, []byte("\r\n.\r\n"))) {
		t.Fatalf("no terminating line: %q", wire)
	}
	body := wire[:len(wire)-3]
	var out []byte
	for len(body) > 0 {
		i := bytes.Index(body, []byte("\r\n"))
		if i < 0 {
			t.Fatalf("line without CRLF: %q", body)
		}
		line := body[:i]
		body = body[i+2:]
		if bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("bare LF inside a line: %q", line)
		}
		if bytes.Equal(line, []byte(".")) {
			t.Fatalf("a content line is the terminator: %q", wire)
		}
		out = append(append(out, bytes.TrimPrefix(line, []byte("."))...), "\r\n"...)
	}
	return out
}

func FuzzWriteMessage(f *testing.F) {
	for _, s := range []string{
		"", "\r\n", "\n", ".", "..", ".\r\n", "a\r\n.\r\nb", "H: v\r\n\r\n.x\r\n..y\r\n.\r\n",
		"H: v\n\nbody\n", "no newline", "cr\ronly", "x\r\r\n", "H: v\r\n\r\n\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, raw []byte, top uint8) {
		full := unstuff(t, render(raw, -1))
		if want := normalize(raw); !bytes.Equal(full, want) {
			t.Fatalf("RETR content\n got %q\nwant %q", full, want)
		}
		if bytes.Equal(raw, normalize(raw)) && !bytes.Equal(full, raw) {
			t.Fatalf("a CRLF message did not come back byte for byte")
		}
		part := unstuff(t, render(raw, int(top)))
		if !bytes.HasPrefix(full, part) {
			t.Fatalf("TOP %d is not a prefix of RETR: %q", top, part)
		}
		// TOP n gives the header, the blank line and n body lines (or everything there is).
		lines := bytes.SplitAfter(full, []byte("\r\n"))
		lines = lines[:len(lines)-1]
		want := full
		for i, l := range lines {
			if bytes.Equal(l, []byte("\r\n")) {
				want = bytes.Join(lines[:i+1+min(int(top), len(lines)-i-1)], nil)
				break
			}
		}
		if !bytes.Equal(part, want) {
			t.Fatalf("TOP %d\n got %q\nwant %q", top, part, want)
		}
	})
}
