// Command letterbox is a mail catcher for developers: it accepts every message over SMTP, never
// delivers it, keeps it durably in SQLite, and shows it in a live web inbox, a JSON API (Mailpit-
// and MailHog-compatible), and over POP3 and IMAP.
//
// Run "letterbox --help" for the flags; each can also be set with a LETTERBOX_* variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// gcPercent is the garbage collector target the binary runs with unless GOGC is set. Ingest
// allocates a lot of short-lived memory over a small live heap, so Go's default (100) collects
// constantly; 400 cut ingest CPU per message by about a quarter in BenchmarkStoreIngest while the
// idle heap stays a few megabytes.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	if filepath.Base(os.Args[0]) == "sendmail" {
		// Started through a link named sendmail (/usr/sbin/sendmail, PHP's sendmail_path).
		args = append([]string{"sendmail"}, args...)
	}
	os.Exit(run(ctx, args, os.Stdout, os.Stderr, os.Getenv))
}

// run is the whole program; it returns the exit status. It stops when ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-version":
			fmt.Fprintf(stdout, "letterbox %s\n", version)
			return 0
		case "bench":
			if err := runBench(ctx, args[1:], stdout, stderr); err != nil {
				fmt.Fprintf(stderr, "letterbox bench: %v\n", err)
				return 1
			}
			return 0
		case "sendmail":
			return runSendmail(ctx, args[1:], os.Stdin, stderr, getenv)
		case "ingest":
			return runIngest(ctx, args[1:], stderr, getenv)
		case "export":
			return runExport(ctx, args[1:], stdout, stderr, getenv)
		case "mcp":
			return runMCP(ctx, args[1:], os.Stdin, stdout, stderr, getenv)
		case "serve":
			args = args[1:]
		}
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "letterbox: %v\n", err)
		return 2
	}
	if err := serve(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "letterbox: %v\n", err)
		return 1
	}
	return 0
}
