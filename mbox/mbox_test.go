package mbox

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// tricky are messages whose bytes an mbox must keep exactly.
var tricky = []string{
	"Subject: plain\n\nhello\n",
	"Subject: crlf\r\n\r\nhello\r\nFrom the start of a line\r\n",
	"Subject: no final newline\n\nlast line",
	"Subject: ends in From\n\nbody\nFrom nowhere",
	"From the very first line\nSubject: x\n\nbody\n",
	"Subject: quoted\n\n>From already quoted\n>>From twice\n>>>From thrice\n",
	"Subject: near misses\n\nFrom: not a separator? it is: starts with From and a space? no, a colon\nFromage\n From indented\n>Fro\n>\n",
	"Subject: blank lines\n\n\n\n\nFrom after blanks\n\n",
	"",
	"\n",
	"Subject: bare cr\r\rFrom inside a CR line\r",
}

func roundTrip(t *testing.T, f Format, msgs []string) []*Message {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, f)
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for i, m := range msgs {
		if err := w.Write("sender@example.com", date.Add(time.Duration(i)*time.Second), []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(buf.Bytes()), f)
	var got []*Message
	for {
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v\nmbox:\n%s", err, buf.String())
		}
		got = append(got, m)
	}
	if len(got) != len(msgs) {
		t.Fatalf("read %d messages, wrote %d\nmbox:\n%q", len(got), len(msgs), buf.String())
	}
	for i, m := range got {
		if m.Sender != "sender@example.com" || !m.Date.Equal(date.Add(time.Duration(i)*time.Second)) {
			t.Errorf("message %d: separator read as %q %v", i, m.Sender, m.Date)
		}
	}
	return got
}

func TestRoundTripMboxrdIsExact(t *testing.T) {
	got := roundTrip(t, MboxRD, tricky)
	for i, m := range got {
		if string(m.Raw) != tricky[i] {
			t.Errorf("message %d:\n got %q\nwant %q", i, m.Raw, tricky[i])
		}
	}
}

func TestRoundTripMboxoLosesOnlyQuotedFrom(t *testing.T) {
	got := roundTrip(t, MboxO, tricky)
	for i, m := range got {
		want := tricky[i]
		// mboxo cannot tell an original ">From " from a quoted "From ": it reads it back as "From ".
		want = strings.ReplaceAll(want, "\n>From already", "\nFrom already")
		if string(m.Raw) != want {
			t.Errorf("message %d:\n got %q\nwant %q", i, m.Raw, want)
		}
	}
}

func TestWriterQuoting(t *testing.T) {
	raw := "From first\n>From one\n>>From two\nFromage\n>Fromage\n"
	for _, tc := range []struct {
		f    Format
		want string
	}{
		{MboxRD, ">From first\n>>From one\n>>>From two\nFromage\n>Fromage\n"},
		{MboxO, ">From first\n>From one\n>>From two\nFromage\n>Fromage\n"},
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf, tc.f)
		w.Write("a@b", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), []byte(raw))
		w.Flush()
		want := "From a@b Tue Jan  2 03:04:05 2024\n" + tc.want + "\n"
		if buf.String() != want {
			t.Errorf("%v:\n got %q\nwant %q", tc.f, buf.String(), want)
		}
	}
}

func TestReaderUnquoting(t *testing.T) {
	in := "From a@b Tue Jan  2 03:04:05 2024\n>From one\n>>From two\n>Fromage\n\n"
	for _, tc := range []struct {
		f    Format
		want string
	}{
		{MboxRD, "From one\n>From two\n>Fromage\n"},
		{MboxO, "From one\n>>From two\n>Fromage\n"},
	} {
		m, err := NewReader(strings.NewReader(in), tc.f).Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Raw) != tc.want {
			t.Errorf("%v: got %q, want %q", tc.f, m.Raw, tc.want)
		}
	}
}

func TestReaderWindowsSeparators(t *testing.T) {
	in := "From a@b Tue Jan  2 03:04:05 2024\r\nSubject: one\r\n\r\nbody\r\n\r\nFrom c@d Tue Jan  2 03:04:06 2024\r\nSubject: two\r\n\r\nbody\r\n\r\n"
	r := NewReader(strings.NewReader(in), MboxRD)
	for _, want := range []string{"Subject: one\r\n\r\nbody\r\n", "Subject: two\r\n\r\nbody\r\n"} {
		m, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Raw) != want {
			t.Errorf("got %q, want %q", m.Raw, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last: %v, want io.EOF", err)
	}
}

func TestReaderNotMbox(t *testing.T) {
	r := NewReader(strings.NewReader("\n\nSubject: an eml file\n\nbody\n"), MboxRD)
	if _, err := r.Next(); !errors.Is(err, ErrNotMbox) {
		t.Fatalf("got %v, want ErrNotMbox", err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrNotMbox) {
		t.Fatalf("second call: got %v, want ErrNotMbox again", err)
	}
	if _, err := NewReader(strings.NewReader(""), MboxRD).Next(); err != io.EOF {
		t.Fatalf("empty input: got %v, want io.EOF", err)
	}
}

func TestReaderLineNumbersAndSeparatorForms(t *testing.T) {
	in := "\nFrom MAILER-DAEMON Thu Feb 29 23:59:59 2024\nA: 1\n\n" +
		"From x@y Thu Feb 29 23:59:59 2024 +0200\nB: 2\n\n" +
		"From 1781234567890123456@xxx Fri Feb 03 12:34:56 +0000 2023\nG: 4\n\n" + // Gmail Takeout's
		"From z@w\nC: 3\n"
	r := NewReader(strings.NewReader(in), MboxRD)
	want := []struct {
		sender string
		date   time.Time
		line   int
		raw    string
	}{
		{"MAILER-DAEMON", time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC), 2, "A: 1\n"},
		{"x@y", time.Date(2024, 2, 29, 21, 59, 59, 0, time.UTC), 5, "B: 2\n"},
		{"1781234567890123456@xxx", time.Date(2023, 2, 3, 12, 34, 56, 0, time.UTC), 8, "G: 4\n"},
		{"z@w", time.Time{}, 11, "C: 3"},
	}
	for _, w := range want {
		m, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.Sender != w.sender || !m.Date.Equal(w.date) || m.Line != w.line || string(m.Raw) != w.raw {
			t.Errorf("got %q %v line %d %q, want %q %v line %d %q", m.Sender, m.Date, m.Line, m.Raw, w.sender, w.date, w.line, w.raw)
		}
	}
}

func TestWriterSenderFallback(t *testing.T) {
	for _, sender := range []string{"", "two words", "a\nb"} {
		var buf bytes.Buffer
		w := NewWriter(&buf, MboxRD)
		w.Write(sender, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), []byte("x\n"))
		w.Flush()
		if !strings.HasPrefix(buf.String(), "From MAILER-DAEMON Tue Jan  2 03:04:05 2024\n") {
			t.Errorf("sender %q: separator %q", sender, buf.String())
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": MboxRD, "mboxrd": MboxRD, "MBOXO": MboxO} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("mboxcl2"); err == nil {
		t.Error("mboxcl2 accepted")
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, m := range tricky {
		f.Add([]byte(m))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var buf bytes.Buffer
		w := NewWriter(&buf, MboxRD)
		w.Write("a@b", time.Time{}, raw)
		w.Write("a@b", time.Time{}, raw)
		w.Flush()
		r := NewReader(&buf, MboxRD)
		for i := 0; i < 2; i++ {
			m, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Raw, raw) {
				t.Fatalf("message %d: got %q, want %q", i, m.Raw, raw)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("got %v, want io.EOF", err)
		}
	})
}
