// Package mbox reads and writes mbox files: messages one after another, each introduced by a
// "From " separator line (RFC 4155), in the two common quoting variants.
//
//   - mboxrd (the default): the writer prefixes every line that matches ^>*From  with one more
//     '>', and the reader removes one from every line matching ^>+From . The round trip is exact
//     for any message.
//   - mboxo: the writer prefixes lines that begin "From " with '>', and the reader removes the
//     '>' from lines that begin ">From ". A message that itself had a line ">From " comes back as
//     "From ": mboxo loses that distinction, which is why mboxrd exists.
//
// Lines are what ends in LF (a CRLF message keeps its CRs as part of its lines). The writer ends
// every message with one extra line ending before the next separator; the reader takes exactly
// that one away, so a message keeps or lacks its own final newline as it did. The separator's
// line ending (LF from this writer, CRLF in some files made on Windows) says which ending the
// blank line uses.
package mbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Format is an mbox quoting variant.
type Format int

const (
	// MboxRD quotes ^>*From  reversibly (the default; exact round trips).
	MboxRD Format = iota
	// MboxO quotes only ^From  (the original format; lossy for lines starting ">From ").
	MboxO
)

// ParseFormat reads "mboxrd" or "mboxo" (case-insensitive; "" is mboxrd).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "mboxrd":
		return MboxRD, nil
	case "mboxo":
		return MboxO, nil
	}
	return 0, fmt.Errorf("mbox: unknown format %q: use mboxrd or mboxo", s)
}

// String is the format's name, "mboxrd" or "mboxo".
func (f Format) String() string {
	if f == MboxO {
		return "mboxo"
	}
	return "mboxrd"
}

// ErrNotMbox is returned by Reader.Next when the input does not begin with a "From " line.
var ErrNotMbox = errors.New("mbox: input does not start with a \"From \" line")

// Message is one message read from an mbox.
type Message struct {
	// Sender is the envelope sender the separator line names ("MAILER-DAEMON" and "-" are kept as
	// they are; the caller decides what they mean).
	Sender string
	// Date is the separator line's date; zero when it is missing or does not parse.
	Date time.Time
	// Line is the line number (1-based) of the separator line, for error messages.
	Line int
	// Raw is the message with the quoting undone.
	Raw []byte
}

// Reader reads the messages of an mbox one at a time.
type Reader struct {
	r      *bufio.Reader
	format Format
	line   int    // lines read so far
	next   []byte // the separator line read ahead, nil at the start or the end
	err    error
}

// NewReader returns a Reader of r in the given format.
func NewReader(r io.Reader, f Format) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), format: f}
}

// readLine returns the next line with its LF, or what is left before EOF.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.r.ReadBytes('\n')
	if len(line) > 0 {
		r.line++
		return line, nil
	}
	return nil, err
}

// IsSeparator reports whether line begins a message: it starts with "From ".
func IsSeparator(line []byte) bool { return bytes.HasPrefix(line, []byte("From ")) }

// Next returns the next message, or io.EOF after the last one. Empty lines before the first
// separator are skipped; any other text there is ErrNotMbox.
func (r *Reader) Next() (*Message, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.next == nil {
		for {
			line, err := r.readLine()
			if err != nil {
				return nil, r.fail(err, io.EOF)
			}
			if IsSeparator(line) {
				r.next = line
				break
			}
			if len(bytes.TrimRight(line, "\r\n")) != 0 {
				return nil, r.fail(ErrNotMbox, nil)
			}
		}
	}
	sep := r.next
	m := &Message{Line: r.line}
	m.Sender, m.Date = parseSeparator(sep)
	var buf bytes.Buffer
	r.next = nil
	for {
		line, err := r.readLine()
		if err != nil {
			if err != io.EOF {
				return nil, r.fail(err, nil)
			}
			r.err = io.EOF
			break
		}
		if IsSeparator(line) {
			r.next = line
			break
		}
		buf.Write(r.unquote(line))
	}
	m.Raw = trimSeparatorEOL(buf.Bytes(), bytes.HasSuffix(sep, []byte("\r\n")))
	return m, nil
}

// fail records err (or, when err is io.EOF and final is set, final) as the Reader's state.
func (r *Reader) fail(err, final error) error {
	if errors.Is(err, io.EOF) && final != nil {
		r.err = final
	} else {
		r.err = err
	}
	return r.err
}

// trimSeparatorEOL removes the one line ending the writer put between a message and the next
// separator: CRLF when the separator line ended so, LF otherwise.
func trimSeparatorEOL(b []byte, crlf bool) []byte {
	if crlf && bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	if bytes.HasSuffix(b, []byte("\n")) {
		return b[:len(b)-1]
	}
	return b
}

// unquote undoes the format's "From " quoting of one line (in place).
func (r *Reader) unquote(line []byte) []byte {
	if len(line) < 6 || line[0] != '>' {
		return line
	}
	switch r.format {
	case MboxO:
		if bytes.HasPrefix(line, []byte(">From ")) {
			return line[1:]
		}
	default:
		i := 0
		for i < len(line) && line[i] == '>' {
			i++
		}
		if bytes.HasPrefix(line[i:], []byte("From ")) {
			return line[1:]
		}
	}
	return line
}

// separatorDates are the date forms of separator lines: asctime (RFC 4155), with a numeric zone
// after the year or a zone name before it, without seconds, and Gmail Takeout's numeric zone
// before the year ("Fri Feb 03 12:34:56 +0000 2023").
var separatorDates = []string{time.ANSIC, "Mon Jan _2 15:04:05 2006 -0700", "Mon Jan _2 15:04:05 MST 2006",
	"Mon Jan _2 15:04 2006", "Mon Jan _2 15:04:05 -0700 2006"}

// parseSeparator reads "From sender date".
func parseSeparator(line []byte) (string, time.Time) {
	rest := strings.TrimRight(string(line[len("From "):]), "\r\n")
	rest = strings.TrimLeft(rest, " ")
	sender, date, _ := strings.Cut(rest, " ")
	date = strings.TrimSpace(date)
	for _, layout := range separatorDates {
		if t, err := time.Parse(layout, date); err == nil {
			return sender, t
		}
	}
	return sender, time.Time{}
}

// Writer writes messages to an mbox.
type Writer struct {
	w      *bufio.Writer
	format Format
}

// NewWriter returns a Writer to w in the given format. Call Flush when done.
func NewWriter(w io.Writer, f Format) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), format: f}
}

// Write appends one message. sender is the envelope sender for the separator line ("" or one
// with spaces becomes MAILER-DAEMON, as in RFC 4155); date its delivery time (zero: now).
func (w *Writer) Write(sender string, date time.Time, raw []byte) error {
	if sender == "" || strings.ContainsAny(sender, " \t\r\n") {
		sender = "MAILER-DAEMON"
	}
	if date.IsZero() {
		date = time.Now()
	}
	fmt.Fprintf(w.w, "From %s %s\n", sender, date.UTC().Format(time.ANSIC))
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		line := raw
		if i >= 0 {
			line = raw[:i+1]
		}
		raw = raw[len(line):]
		if w.quote(line) {
			w.w.WriteByte('>')
		}
		w.w.Write(line)
	}
	if _, err := w.w.WriteString("\n"); err != nil {
		return fmt.Errorf("mbox: write: %w", err)
	}
	return nil
}

// quote reports whether line needs a '>' in front in the Writer's format.
func (w *Writer) quote(line []byte) bool {
	if w.format == MboxO {
		return IsSeparator(line)
	}
	return IsSeparator(bytes.TrimLeft(line, ">"))
}

// Flush writes what is buffered.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("mbox: write: %w", err)
	}
	return nil
}
