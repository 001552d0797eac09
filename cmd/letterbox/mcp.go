package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/internal/catcher"
	"github.com/letterbox-mail/letterbox/mcpserver"
)

// declareMCPFlags declares --mcp and --mcp-allow-delete.
func declareMCPFlags(fs *flag.FlagSet, cfg *config) {
	fs.BoolVar(&cfg.MCP, "mcp", true, "serve the MCP server for coding agents at /mcp on the HTTP port, behind --http-auth-file ["+envName("mcp")+"]")
	fs.BoolVar(&cfg.MCPAllowDelete, "mcp-allow-delete", false, "let MCP clients delete messages (the delete_messages tool); read-only otherwise ["+envName("mcp-allow-delete")+"]")
}

// runMCP is "letterbox mcp": an MCP server on stdin and stdout, for an agent that starts it as
// a subprocess. With --url it serves the mail of a letterbox running elsewhere; without, it runs
// a whole letterbox (every flag of "letterbox" applies) and serves its mail. Logs and the
// start-up banner go to stderr: stdout carries the protocol.
func runMCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	var url string
	cfg, err := parseConfig(args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&url, "url", "", "serve the mail of the letterbox at this URL (http://[user:password@]host:port) instead of running one ["+envName("url")+"]")
		fs.Usage = func() {
			fmt.Fprintf(stderr, "letterbox mcp serves MCP (Model Context Protocol) on stdin/stdout for coding agents.\n\n"+
				"Usage:\n  letterbox mcp --url http://127.0.0.1:8025   the mail of a running letterbox\n"+
				"  letterbox mcp [flags]                       run letterbox itself (SMTP, web inbox...) and serve its mail\n\n"+
				"Flags (with --url only --mcp-allow-delete, --log-level and --log-format apply):\n")
			fs.PrintDefaults()
		}
	})
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "letterbox mcp: %v\n", err)
		return 2
	}
	in, out := io.NopCloser(stdin), nopWriteCloser{stdout}
	cfg.MCP = true
	if url == "" {
		err = serveAlongside(ctx, cfg, stderr, stderr, func(ctx context.Context, c *catcher.Catcher) error {
			return c.MCP.ServeStdio(ctx, in, out)
		})
	} else {
		err = serveRemote(ctx, cfg, url, in, out, stderr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "letterbox mcp: %v\n", err)
		return 1
	}
	return 0
}

// serveRemote serves one stdio session whose tools use the letterbox at url.
func serveRemote(ctx context.Context, cfg *config, url string, in io.ReadCloser, out io.WriteCloser, stderr io.Writer) error {
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		return err
	}
	mb, err := client.New(url)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if _, err := mb.Info(ctx); err != nil {
		log.Warn("letterbox does not answer yet; the tools will fail until it does", "url", mb.URL(), "err", err)
	}
	srv := mcpserver.New(mb, mcpserver.Options{AllowDelete: cfg.MCPAllowDelete, Version: version, Logger: log})
	return srv.ServeStdio(ctx, in, out)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
