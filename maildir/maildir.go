// Package maildir reads and writes Maildirs, as qmail defined them and Dovecot, mutt and
// mbsync use them: a directory with tmp/, new/ and cur/; a message is written under tmp/ and
// then renamed into new/ (unseen by a mail reader) or cur/ (with flags), so a reader never sees
// half a message.
//
// File names are "<seconds>.M<microseconds>P<pid>Q<count>R<random>.<host>" (unique on one
// machine at any moment), followed in cur/ by ":2," and the flags in ASCII order: D (draft),
// F (flagged), P (passed), R (replied), S (seen), T (trashed). In the host part '/' is written
// \057 and ':' \072, as the specification asks.
package maildir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The subdirectories of a Maildir.
const (
	Tmp = "tmp"
	New = "new"
	Cur = "cur"
)

// validFlags are the flags of the specification, in the order names carry them.
const validFlags = "DFPRST"

// ErrNotMaildir is returned when a directory lacks cur/ or new/.
var ErrNotMaildir = errors.New("maildir: not a Maildir (no cur/ and new/)")

// Is reports whether dir looks like a Maildir: it has cur/ and new/ subdirectories.
func Is(dir string) bool {
	for _, sub := range []string{Cur, New} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// Create makes dir and its tmp/, new/ and cur/ (mode 0700), keeping those that exist.
func Create(dir string) error {
	for _, sub := range []string{Tmp, New, Cur} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("maildir: %w", err)
		}
	}
	return nil
}

var counter atomic.Uint64

// hostname is this machine's name with '/' and ':' escaped, for unique names.
var hostname = func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return strings.NewReplacer("/", `\057`, ":", `\072`).Replace(h)
}()

// UniqueName returns a new file name for a message delivered at t (without the ":2," info).
func UniqueName(t time.Time) string {
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("%d.M%06dP%dQ%dR%s.%s", t.Unix(), t.Nanosecond()/1000, os.Getpid(), counter.Add(1), hex.EncodeToString(r[:]), hostname)
}

// CleanFlags returns flags reduced to the valid ones, each once, in ASCII order.
func CleanFlags(flags string) string {
	var b strings.Builder
	for _, f := range validFlags {
		if strings.ContainsRune(flags, f) {
			b.WriteRune(f)
		}
	}
	return b.String()
}

// Deliver writes raw into the Maildir dir as a message delivered at received (zero: now):
// into tmp/, synced, then renamed to new/ when flags is "" and to cur/NAME:2,FLAGS otherwise.
// The file's modification time is set to received, which readers show as the delivery date.
// It returns the path of the delivered file.
func Deliver(dir string, raw []byte, flags string, received time.Time) (string, error) {
	if received.IsZero() {
		received = time.Now()
	}
	name := UniqueName(received)
	tmp := filepath.Join(dir, Tmp, name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("maildir: %w", err)
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(tmp, received, received)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("maildir: %w", err)
	}
	dest := filepath.Join(dir, New, name)
	if flags = CleanFlags(flags); flags != "" {
		dest = filepath.Join(dir, Cur, name+":2,"+flags)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("maildir: %w", err)
	}
	return dest, nil
}

// Message is one message file found in a Maildir.
type Message struct {
	Path     string    // the file
	Key      string    // the unique part of the name, without ":2,..."
	New      bool      // in new/ (not yet seen by a mail reader)
	Flags    string    // the flags of a name in cur/, e.g. "RS"
	Received time.Time // the time the name starts with, or the file's modification time
}

// Seen reports whether the message carries the S flag.
func (m Message) Seen() bool { return strings.ContainsRune(m.Flags, 'S') }

// ParseName splits a file name into its key and flags ("" when it has no ":2," info; a name
// with experimental ":1," info has no flags).
func ParseName(name string) (key, flags string) {
	i := strings.LastIndexByte(name, ':')
	if i < 0 {
		// Some Windows tools write '!' or ';' for ':', which Windows file names cannot hold.
		i = strings.LastIndexAny(name, "!;")
		if i < 0 || !strings.HasPrefix(name[i+1:], "2,") {
			return name, ""
		}
	}
	key, info := name[:i], name[i+1:]
	if rest, ok := strings.CutPrefix(info, "2,"); ok {
		return key, CleanFlags(rest)
	}
	return key, ""
}

// List returns the messages of the Maildir dir, from new/ and cur/ (tmp/ holds deliveries in
// progress and is left alone), oldest first by the time their names start with, then by name.
// Hidden files (a leading dot) are skipped.
func List(dir string) ([]Message, error) {
	if !Is(dir) {
		return nil, fmt.Errorf("%w: %s", ErrNotMaildir, dir)
	}
	var out []Message
	for _, sub := range []string{New, Cur} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
				continue
			}
			m := Message{Path: filepath.Join(dir, sub, e.Name()), New: sub == New}
			m.Key, m.Flags = ParseName(e.Name())
			if m.New {
				m.Flags = ""
			}
			m.Received = nameTime(m.Key)
			if m.Received.IsZero() {
				if fi, err := e.Info(); err == nil {
					m.Received = fi.ModTime()
				}
			}
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Received.Equal(out[j].Received) {
			return out[i].Received.Before(out[j].Received)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// nameTime reads the delivery time a unique name starts with: seconds, and the microseconds of
// an "M" part when the name has one. Zero when the name does not start with digits and a dot.
func nameTime(key string) time.Time {
	secs, rest, ok := strings.Cut(key, ".")
	if !ok {
		return time.Time{}
	}
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || s <= 0 {
		return time.Time{}
	}
	var usec int64
	if rest, ok := strings.CutPrefix(rest, "M"); ok {
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end > 0 {
			usec, _ = strconv.ParseInt(rest[:end], 10, 64)
		}
	}
	return time.Unix(s, usec*1000).UTC()
}
