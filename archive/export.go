package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"

	"github.com/letterbox-mail/letterbox/maildir"
	"github.com/letterbox-mail/letterbox/mbox"
	"github.com/letterbox-mail/letterbox/store"
)

// Source is where exported messages come from; *store.Store is one.
type Source interface {
	Index(ctx context.Context, f store.Filter) ([]store.Entry, error)
	Raw(ctx context.Context, id string) ([]byte, error)
}

// Format is an export format.
type Format string

// The export formats.
const (
	FormatMbox    Format = "mbox"    // one mbox file
	FormatMaildir Format = "maildir" // a Maildir: read messages in cur/ with the S flag, others in new/
	FormatEML     Format = "eml"     // a directory of .eml files, named by received time and ID
)

// ParseFormat reads mbox, maildir or eml.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatMbox, FormatMaildir, FormatEML:
		return f, nil
	}
	return "", fmt.Errorf("archive: format %q: use mbox, maildir or eml", s)
}

// ExportOptions configure Export. The zero value is valid.
type ExportOptions struct {
	Mbox     mbox.Format     // quoting of an mbox export; default mboxrd (exact)
	Exported func(id string) // called after each message is written
}

// Export writes the messages f selects, oldest first, to dest in format: for mbox a file ("-"
// is stdout; an existing file is not overwritten), for maildir and eml a directory (created;
// files already there stay, and no name is reused). It returns how many it wrote.
func Export(ctx context.Context, src Source, f store.Filter, format Format, dest string, opts ExportOptions) (int, error) {
	switch format {
	case FormatMbox:
		var w io.Writer = os.Stdout
		if dest != "-" {
			file, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return 0, fmt.Errorf("archive: %w", err)
			}
			defer file.Close()
			w = file
			n, err := WriteMbox(ctx, w, src, f, opts)
			if err == nil {
				err = file.Sync()
			}
			if cerr := file.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("archive: %w", cerr)
			}
			return n, err
		}
		return WriteMbox(ctx, w, src, f, opts)
	case FormatMaildir:
		if err := maildir.Create(dest); err != nil {
			return 0, err
		}
		return each(ctx, src, f, opts, func(e store.Entry, raw []byte) error {
			flags := ""
			if e.Read {
				flags = "S"
			}
			_, err := maildir.Deliver(dest, raw, flags, e.Created)
			return err
		})
	case FormatEML:
		if err := os.MkdirAll(dest, 0o700); err != nil {
			return 0, fmt.Errorf("archive: %w", err)
		}
		return each(ctx, src, f, opts, func(e store.Entry, raw []byte) error {
			name := filepath.Join(dest, e.Created.UTC().Format("20060102-150405.000000")+"-"+e.ID+".eml")
			return writeFile(name, raw, e)
		})
	}
	return 0, fmt.Errorf("archive: format %q: use mbox, maildir or eml", format)
}

// writeFile writes an .eml file (never over another) with the message's received time.
func writeFile(name string, raw []byte, e store.Entry) error {
	file, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	_, err = file.Write(raw)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(name, e.Created, e.Created)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// WriteMbox writes the messages f selects, oldest first, as an mbox to w. The separator line
// names the envelope sender (the message's leading Return-Path, else its From address, else
// MAILER-DAEMON) and the time letterbox received it.
func WriteMbox(ctx context.Context, w io.Writer, src Source, f store.Filter, opts ExportOptions) (int, error) {
	mw := mbox.NewWriter(w, opts.Mbox)
	n, err := each(ctx, src, f, opts, func(e store.Entry, raw []byte) error {
		return mw.Write(SenderOf(raw), e.Created, raw)
	})
	if ferr := mw.Flush(); err == nil {
		err = ferr
	}
	return n, err
}

// each calls write for every message f selects, oldest first. A message deleted meanwhile is
// passed over.
func each(ctx context.Context, src Source, f store.Filter, opts ExportOptions, write func(store.Entry, []byte) error) (int, error) {
	entries, err := src.Index(ctx, f)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		raw, err := src.Raw(ctx, e.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if err := write(e, raw); err != nil {
			return n, err
		}
		n++
		if opts.Exported != nil {
			opts.Exported(e.ID)
		}
	}
	return n, nil
}

// SenderOf returns the envelope sender a message records: the address of its Return-Path field
// (letterbox puts one first), else of its From field; "" when neither has one.
func SenderOf(raw []byte) string {
	end := bytes.Index(raw, []byte("\n\n"))
	if e := bytes.Index(raw, []byte("\r\n\r\n")); e >= 0 && (end < 0 || e < end) {
		end = e
	}
	if end < 0 {
		end = len(raw)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(append(append([]byte(nil), raw[:end]...), "\r\n\r\n"...)))
	if err != nil {
		return ""
	}
	if rp := strings.Trim(strings.TrimSpace(msg.Header.Get("Return-Path")), "<>"); rp != "" && !strings.ContainsAny(rp, " \t") {
		return rp
	}
	if list, err := msg.Header.AddressList("From"); err == nil && len(list) > 0 {
		return list[0].Address
	}
	return ""
}
