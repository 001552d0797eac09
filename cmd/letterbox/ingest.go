package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/letterbox-mail/letterbox/archive"
	"github.com/letterbox-mail/letterbox/mbox"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/store/postgres"
)

// parseInterleaved parses fs's flags wherever they are among the arguments
// ("letterbox ingest mail.mbox --db x.db" as well as "--db x.db mail.mbox").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// openEngine opens the database db names, as the server does: a postgres:// URL or a SQLite file.
func openEngine(ctx context.Context, db string) (store.Engine, error) {
	opts := store.Options{Path: db, Logger: slog.New(slog.DiscardHandler)}
	if postgres.IsURL(db) {
		return postgres.Open(ctx, db, opts)
	}
	return store.Open(ctx, opts)
}

// progressFlag declares --progress auto|bar|lines and returns a function that resolves it.
func progressFlag(fs *flag.FlagSet) func(w io.Writer) (bool, error) {
	mode := fs.String("progress", "auto", "auto (a progress bar on a terminal, plain lines otherwise), bar or lines")
	return func(w io.Writer) (bool, error) {
		switch *mode {
		case "auto":
			return isTerminal(w), nil
		case "bar":
			return true, nil
		case "lines":
			return false, nil
		}
		return false, fmt.Errorf("--progress %q: use auto, bar or lines", *mode)
	}
}

// runIngest is "letterbox ingest PATH...": .eml files, directories, mbox files and Maildirs into
// the store (or over SMTP). Exit status 0 when everything was stored, 1 when something was
// skipped (each reported), 2 for a usage error.
func runIngest(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("letterbox ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", defaultDB(getenv), "database to store into (as the server's --db) ["+envName("db")+"]")
	smtpAddr := fs.String("smtp-addr", "", "submit the messages over SMTP to this catcher instead (host:port; its own trace fields are added)")
	format := fs.String("mbox-format", "mboxrd", "quoting of mbox files: mboxrd or mboxo")
	bar := progressFlag(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: letterbox ingest [--db PATH | --smtp-addr HOST:PORT] [--mbox-format mboxrd|mboxo] PATH...\n\n"+
			"Stores .eml files, mbox files, Maildirs and directories of them, byte for byte.\n\n")
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	mf, err := mbox.ParseFormat(*format)
	showBar, berr := bar(stderr)
	if err == nil {
		err = berr
	}
	if err == nil && len(paths) == 0 {
		err = errors.New("no PATH to ingest (see --help)")
	}
	if err != nil {
		fmt.Fprintf(stderr, "letterbox ingest: %v\n", err)
		return 2
	}
	var sink archive.Sink
	if *smtpAddr != "" {
		sink = &archive.SMTPSink{Addr: *smtpAddr}
	} else {
		st, err := openEngine(ctx, *db)
		if err != nil {
			fmt.Fprintf(stderr, "letterbox ingest: %v\n", err)
			return 1
		}
		defer st.Close()
		sink = st
	}
	p := newProgress(stderr, showBar, "ingested")
	stats, err := archive.Ingest(ctx, paths, sink, archive.IngestOptions{Mbox: mf, Progress: p})
	p.finish()
	if err != nil {
		fmt.Fprintf(stderr, "letterbox ingest: %v\n", err)
		return 1
	}
	if stats.Skipped > 0 {
		return 1
	}
	return 0
}

// defaultDB is --db's default: LETTERBOX_DB, else the server's default path.
func defaultDB(getenv func(string) string) string {
	if v := getenv(envName("db")); v != "" {
		return v
	}
	return defaultDBPath()
}

// runExport is "letterbox export --format mbox|maildir|eml [--query Q] DEST".
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("letterbox export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", defaultDB(getenv), "database to read (as the server's --db) ["+envName("db")+"]")
	format := fs.String("format", "mbox", "mbox (one file; - for standard output), maildir or eml (a directory)")
	query := fs.String("query", "", "export only the messages this search matches (inbox search syntax)")
	mboxFormat := fs.String("mbox-format", "mboxrd", "quoting for --format mbox: mboxrd (exact) or mboxo")
	bar := progressFlag(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: letterbox export [--format mbox|maildir|eml] [--query Q] [--db PATH] DEST\n\n"+
			"Writes the stored messages, oldest first, byte for byte as stored.\n\n")
		fs.PrintDefaults()
	}
	dests, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	usage := func(err error) int {
		fmt.Fprintf(stderr, "letterbox export: %v\n", err)
		return 2
	}
	if len(dests) != 1 {
		return usage(errors.New("give one DEST (see --help)"))
	}
	f, err := archive.ParseFormat(*format)
	if err != nil {
		return usage(err)
	}
	mf, err := mbox.ParseFormat(*mboxFormat)
	if err != nil {
		return usage(err)
	}
	q, err := store.ParseQuery(*query)
	if err != nil {
		return usage(fmt.Errorf("--query: %w", err))
	}
	showBar, err := bar(stderr)
	if err != nil {
		return usage(err)
	}
	if _, err := os.Stat(*db); err != nil && !postgres.IsURL(*db) {
		fmt.Fprintf(stderr, "letterbox export: no database at %s (--db)\n", *db)
		return 1
	}
	st, err := openEngine(ctx, *db)
	if err != nil {
		fmt.Fprintf(stderr, "letterbox export: %v\n", err)
		return 1
	}
	defer st.Close()
	p := newProgress(stderr, showBar, "exported")
	opts := archive.ExportOptions{Mbox: mf, Exported: p.Stored}
	if f == archive.FormatMbox && dests[0] == "-" {
		_, err = archive.WriteMbox(ctx, stdout, st, store.Filter{Query: q}, opts)
	} else {
		_, err = archive.Export(ctx, st, store.Filter{Query: q}, f, dests[0], opts)
	}
	p.finish()
	if err != nil {
		fmt.Fprintf(stderr, "letterbox export: %v\n", err)
		return 1
	}
	return 0
}
