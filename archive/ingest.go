// Package archive moves messages in and out of letterbox as files: .eml files (RFC 5322, one
// message each), mbox files (RFC 4155, mboxrd or mboxo quoting) and Maildirs. Ingest stores
// them as they are, byte for byte (or submits them over SMTP); Export writes what a search
// selects. An export ingested into an empty store gives back every message byte-identical.
package archive

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/letterbox-mail/letterbox/maildir"
	"github.com/letterbox-mail/letterbox/mbox"
	"github.com/letterbox-mail/letterbox/store"
)

// Sink takes ingested messages: the store (*store.Store), or an SMTP submission (SMTPSink).
type Sink interface {
	Add(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error)
}

// ReadMarker is a Sink that can also mark messages read (for Maildir's S flag); *store.Store is one.
type ReadMarker interface {
	SetRead(ctx context.Context, ids []string, read bool) error
}

// Progress hears of each message stored and each file or message skipped. Its methods are
// called one at a time.
type Progress interface {
	Stored(path string)                   // one more message from path
	Skipped(path string, err error)       // path (or one message in it) could not be read or stored
	Done(path string, n int, kind string) // path is finished: n messages of that kind (eml, mbox, maildir)
}

// IngestOptions configure Ingest. The zero value is valid.
type IngestOptions struct {
	// Mbox is the quoting of mbox files. Default mbox.MboxRD.
	Mbox mbox.Format
	// Progress is told of each message. nil tells nobody.
	Progress Progress
	// Parallel is how many messages are stored at once (their order may change within that
	// many). Default 8.
	Parallel int
}

// Stats count what Ingest did.
type Stats struct {
	Messages int // stored
	Skipped  int // files or messages that could not be read or stored
}

// ingester is one Ingest run. Messages are stored by up to IngestOptions.Parallel goroutines at
// once, so that the store commits them in groups (one at a time, each commit waits for the disk).
type ingester struct {
	ctx  context.Context
	sink Sink
	opts IngestOptions
	sem  chan struct{} // one token per message being stored

	mu    sync.Mutex // guards stats and the calls to Progress
	stats Stats
}

// group is the messages of one container (file, Maildir) being stored.
type group struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	n    int
	read []string // IDs of messages to mark read
}

// Ingest reads every path: an .eml file, an mbox file, a Maildir (with its Maildir++ folders),
// or a directory of them (searched recursively; there only *.eml, *.mbox, *.mbx files and files
// without an extension are taken, hidden ones are not). Each message is stored as it is (Envelope.NoTrace), with the
// received time its container records (an mbox separator's date, a Maildir name's time, an .eml
// file's modification time); Maildir's S flag marks it read. A file or message that cannot be
// read or stored is reported to Progress and skipped; the run goes on. Ingest stops early only
// when ctx ends.
func Ingest(ctx context.Context, paths []string, sink Sink, opts IngestOptions) (Stats, error) {
	if opts.Progress == nil {
		opts.Progress = quiet{}
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	in := &ingester{ctx: ctx, sink: sink, opts: opts, sem: make(chan struct{}, opts.Parallel)}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return in.stats, err
		}
		fi, err := os.Stat(p)
		if err != nil {
			in.skip(p, err)
			continue
		}
		if fi.IsDir() {
			in.dir(p)
		} else {
			in.file(p)
		}
	}
	return in.stats, ctx.Err()
}

type quiet struct{}

func (quiet) Stored(string)            {}
func (quiet) Skipped(string, error)    {}
func (quiet) Done(string, int, string) {}

func (in *ingester) skip(path string, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats.Skipped++
	in.opts.Progress.Skipped(path, err)
}

// done waits for a container's messages and reports it.
func (in *ingester) done(path string, g *group, kind string) {
	g.wg.Wait()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.opts.Progress.Done(path, g.n, kind)
}

// dir ingests a Maildir, or walks a directory for messages and Maildirs.
func (in *ingester) dir(root string) {
	if maildir.Is(root) {
		in.maildirTree(root)
		return
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if in.ctx.Err() != nil {
			return in.ctx.Err()
		}
		if err != nil {
			in.skip(p, err)
			return nil
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != root && maildir.Is(p) {
				in.maildirTree(p)
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && mailName(d.Name()) {
			in.file(p)
		}
		return nil
	})
}

// mailName reports whether a file found in a directory walk is taken as mail by its name.
func mailName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".eml", ".mbox", ".mbx", "":
		return true
	}
	return false
}

// file ingests one file as mbox or eml: by its extension, else by whether it starts with an mbox
// separator line.
func (in *ingester) file(path string) {
	f, err := os.Open(path)
	if err != nil {
		in.skip(path, err)
		return
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	ext := strings.ToLower(filepath.Ext(path))
	isMbox := ext == ".mbox" || ext == ".mbx"
	if ext != ".eml" && !isMbox {
		head, _ := br.Peek(1024)
		isMbox = looksLikeMbox(head)
	}
	if isMbox {
		in.mbox(path, br)
		return
	}
	fi, err := f.Stat()
	if err != nil {
		in.skip(path, err)
		return
	}
	raw, err := io.ReadAll(br)
	if err != nil {
		in.skip(path, err)
		return
	}
	g := &group{}
	in.add(g, path, store.Envelope{NoTrace: true, Received: fi.ModTime()}, raw, false)
	in.done(path, g, "eml")
}

// looksLikeMbox reports whether a file starts with an mbox separator: "From ", a sender and a date.
func looksLikeMbox(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	if !mbox.IsSeparator(line) {
		return false
	}
	m, err := mbox.NewReader(bytes.NewReader(append(line, '\n')), mbox.MboxRD).Next()
	return err == nil && !m.Date.IsZero()
}

// mbox ingests every message of an mbox file.
func (in *ingester) mbox(path string, r io.Reader) {
	mr := mbox.NewReader(r, in.opts.Mbox)
	g := &group{}
	defer in.done(path, g, "mbox")
	for n := 0; in.ctx.Err() == nil; n++ {
		m, err := mr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			in.skip(path, fmt.Errorf("after %d messages: %w", n, err))
			return
		}
		env := store.Envelope{NoTrace: true, Received: m.Date}
		if m.Sender != "MAILER-DAEMON" && m.Sender != "-" && strings.Contains(m.Sender, "@") {
			env.MailFrom = m.Sender
		}
		in.add(g, fmt.Sprintf("%s:%d", path, m.Line), env, m.Raw, false)
	}
}

// maildirTree ingests a Maildir and its Maildir++ folders (Dovecot's and Courier's layout:
// subdirectories named ".Sent", ".Archive.2024", each a Maildir of its own).
func (in *ingester) maildirTree(dir string) {
	in.maildir(dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		in.skip(dir, err)
		return
	}
	for _, e := range entries {
		if in.ctx.Err() != nil {
			return
		}
		if sub := filepath.Join(dir, e.Name()); e.IsDir() && strings.HasPrefix(e.Name(), ".") && maildir.Is(sub) {
			in.maildir(sub)
		}
	}
}

// maildir ingests every message of a Maildir, marking those with the S flag read.
func (in *ingester) maildir(dir string) {
	list, err := maildir.List(dir)
	if err != nil {
		in.skip(dir, err)
		return
	}
	g := &group{}
	for _, m := range list {
		if in.ctx.Err() != nil {
			break
		}
		raw, err := os.ReadFile(m.Path)
		if err != nil {
			in.skip(m.Path, err)
			continue
		}
		in.add(g, m.Path, store.Envelope{NoTrace: true, Received: m.Received}, raw, m.Seen())
	}
	g.wg.Wait()
	if rm, ok := in.sink.(ReadMarker); ok && len(g.read) > 0 {
		if err := rm.SetRead(in.ctx, g.read, true); err != nil {
			in.skip(dir, fmt.Errorf("marking %d messages read: %w", len(g.read), err))
		}
	}
	in.done(dir, g, "maildir")
}

// add stores one message in the background (waiting while Parallel are being stored), counts
// it in g, and notes its ID to mark read when read is set. Failures are reported and skipped.
func (in *ingester) add(g *group, where string, env store.Envelope, raw []byte, read bool) {
	if env.Received.After(time.Now()) {
		env.Received = time.Time{} // a clock in the future: now
	}
	select {
	case in.sem <- struct{}{}:
	case <-in.ctx.Done():
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() { <-in.sem }()
		sum, err := in.sink.Add(in.ctx, env, bytes.NewReader(raw))
		if err != nil {
			in.skip(where, err)
			return
		}
		g.mu.Lock()
		g.n++
		if read && sum.ID != "" {
			g.read = append(g.read, sum.ID)
		}
		g.mu.Unlock()
		in.mu.Lock()
		in.stats.Messages++
		in.opts.Progress.Stored(where)
		in.mu.Unlock()
	}()
}
