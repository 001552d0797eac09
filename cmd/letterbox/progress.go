package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress reports an ingest or export as it goes: on a terminal one line rewritten in place
// (count, rate, skipped, the current file) at most ten times a second; elsewhere plain lines,
// one per file done and one per file skipped. It implements archive.Progress.
type progress struct {
	w       io.Writer
	bar     bool
	verb    string // "ingested", "exported"
	started time.Time

	mu      sync.Mutex
	n       int
	skipped int
	current string
	drawn   time.Time
	width   int // of the last bar drawn, to blank it out
}

func newProgress(w io.Writer, bar bool, verb string) *progress {
	return &progress{w: w, bar: bar, verb: verb, started: time.Now()}
}

// Stored counts one message.
func (p *progress) Stored(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.current = path
	if p.bar && time.Since(p.drawn) >= 100*time.Millisecond {
		p.draw()
	}
}

// Skipped reports a file or message that could not be read or stored.
func (p *progress) Skipped(path string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.skipped++
	p.clear()
	fmt.Fprintf(p.w, "skipped %s: %v\n", path, err)
	if p.bar {
		p.draw()
	}
}

// Done reports a file finished.
func (p *progress) Done(path string, n int, kind string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar {
		p.draw()
		return
	}
	fmt.Fprintf(p.w, "%s %s: %d %s\n", p.verb, path, n, plural(n, "message"))
}

// rate is messages a second so far.
func (p *progress) rate() float64 {
	secs := time.Since(p.started).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(p.n) / secs
}

// draw rewrites the progress line.
func (p *progress) draw() {
	line := fmt.Sprintf("%s %d %s  %.0f/s", p.verb, p.n, plural(p.n, "message"), p.rate())
	if p.skipped > 0 {
		line += fmt.Sprintf("  %d skipped", p.skipped)
	}
	if p.current != "" {
		cur := p.current
		if len(cur) > 40 {
			cur = "…" + cur[len(cur)-39:]
		}
		line += "  " + cur
	}
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = fmt.Sprintf("%*s", n, "")
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.width = len(line)
	p.drawn = time.Now()
}

// clear blanks the progress line, so a message line can be written over it.
func (p *progress) clear() {
	if p.bar && p.width > 0 {
		fmt.Fprintf(p.w, "\r%*s\r", p.width, "")
		p.width = 0
	}
}

// finish ends the report with a summary line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	line := fmt.Sprintf("%s %d %s in %s (%.0f/s)", p.verb, p.n, plural(p.n, "message"), time.Since(p.started).Round(time.Millisecond), p.rate())
	if p.skipped > 0 {
		line += fmt.Sprintf("; %d skipped", p.skipped)
	}
	fmt.Fprintln(p.w, line)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
