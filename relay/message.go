package relay

import (
	"bytes"
	"net/mail"
	"strings"
)

// header is a message's header block cut into fields, byte for byte, and the body after it.
type header struct {
	fields [][]byte // each field with its folded lines and line endings
	body   []byte   // from the blank line that ends the header (included) to the end
	eol    string   // the line ending the message uses
}

// parseHeader cuts raw into its header fields and body. Text before the first field that is not
// a field (a stray line) stays with the field before it, or becomes a field of its own.
func parseHeader(raw []byte) *header {
	h := &header{eol: "\r\n"}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 && (i == 0 || raw[i-1] != '\r') {
		h.eol = "\n"
	}
	rest := raw
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			h.body = rest
			return h
		}
		if (line[0] == ' ' || line[0] == '\t') && len(h.fields) > 0 {
			last := len(h.fields) - 1
			h.fields[last] = append(h.fields[last], line...)
		} else {
			h.fields = append(h.fields, append([]byte(nil), line...))
		}
		rest = rest[len(line):]
	}
	return h
}

// name returns a field's name.
func fieldName(f []byte) string {
	if i := bytes.IndexByte(f, ':'); i > 0 {
		return strings.TrimSpace(string(f[:i]))
	}
	return ""
}

// value returns a field's value, unfolded.
func fieldValue(f []byte) string {
	i := bytes.IndexByte(f, ':')
	if i < 0 {
		return ""
	}
	v := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(f[i+1:]))
	return strings.TrimSpace(v)
}

// get returns the first value of the named field.
func (h *header) get(name string) (string, bool) {
	for _, f := range h.fields {
		if strings.EqualFold(fieldName(f), name) {
			return fieldValue(f), true
		}
	}
	return "", false
}

// del removes every field of that name.
func (h *header) del(name string) {
	out := h.fields[:0]
	for _, f := range h.fields {
		if !strings.EqualFold(fieldName(f), name) {
			out = append(out, f)
		}
	}
	h.fields = out
}

// set replaces the first field of that name (removing any others), or adds it at the end.
func (h *header) set(name, value string) {
	line := []byte(name + ": " + value + h.eol)
	for i, f := range h.fields {
		if strings.EqualFold(fieldName(f), name) {
			h.fields[i] = line
			rest := h.fields[i+1:]
			tail := &header{fields: append([][]byte(nil), rest...)}
			tail.del(name)
			h.fields = append(h.fields[:i+1], tail.fields...)
			return
		}
	}
	h.add(name, value)
}

// add appends a field.
func (h *header) add(name, value string) {
	if n := len(h.fields); n > 0 && !bytes.HasSuffix(h.fields[n-1], []byte("\n")) {
		h.fields[n-1] = append(h.fields[n-1], h.eol...) // a header that ended without a line ending
	}
	h.fields = append(h.fields, []byte(name+": "+value+h.eol))
}

// prepend puts a field first.
func (h *header) prepend(name, value string) {
	h.fields = append([][]byte{[]byte(name + ": " + value + h.eol)}, h.fields...)
}

// bytes reassembles the message.
func (h *header) bytes() []byte {
	n := len(h.body)
	for _, f := range h.fields {
		n += len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range h.fields {
		out = append(out, f...)
	}
	return append(out, h.body...)
}

// overrideFrom replaces the address of the From field with addr, keeping its display name, and
// records the original address in X-Original-From, as Mailpit's override-from does. A message
// without From gets one.
func (h *header) overrideFrom(addr string) {
	v, ok := h.get("From")
	if !ok {
		h.prepend("From", addr)
		return
	}
	orig := v
	replaced := (&mail.Address{Address: addr}).String()
	if a, err := mail.ParseAddress(v); err == nil {
		orig = a.Address
		a.Address = addr
		replaced = a.String()
	}
	h.set("From", replaced)
	h.prepend("X-Original-From", orig)
}

// senderOf returns the address of the message's Sender field, else of its From field.
func (h *header) senderOf() string {
	for _, name := range []string{"Sender", "From"} {
		if v, ok := h.get(name); ok {
			if list, err := mail.ParseAddressList(v); err == nil && len(list) > 0 {
				return list[0].Address
			}
		}
	}
	return ""
}
