package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/letterbox-mail/letterbox/internal/catcher"
	"github.com/letterbox-mail/letterbox/store/postgres"
)

// newLogger returns a logger at the configured level, writing text (key=value) or JSON lines.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// serve opens the store, starts every enabled server, and runs until ctx is cancelled or a
// server fails; then it shuts everything down gracefully.
func serve(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	return serveAlongside(ctx, cfg, stdout, stderr, nil)
}

// serveAlongside is serve that also runs alongside (when not nil) once every server listens:
// its return ends the run as a cancelled ctx does (letterbox mcp's stdio session).
func serveAlongside(ctx context.Context, cfg *config, stdout, stderr io.Writer, alongside func(context.Context, *catcher.Catcher) error) error {
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		return err
	}
	ctx, stopTuner := context.WithCancel(ctx)
	defer stopTuner()
	startMemoryTuner(ctx, int64(cfg.MemoryLimit))
	c, err := catcher.New(ctx, catcherConfig(cfg, log))
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		c.Close()
		return err
	}
	fmt.Fprintf(stdout, "letterbox %s\n  %-9s %s\n", version, "database", postgres.Redact(cfg.DB))
	eps := c.Endpoints()
	for _, ep := range eps {
		shown := ep.Addr
		if ep.Name == "http" {
			shown = "http://" + shown
			warnIfExposed(log, ep.Addr, cfg.HTTPAuthFile != "")
		}
		fmt.Fprintf(stdout, "  %-9s %s\n", ep.Name, shown)
	}
	reloadOnHangup(ctx, c, cfg.Faults.Rules, log)
	fmt.Fprintln(stdout, readyLine(eps))

	var ended chan error
	if alongside != nil {
		ended = make(chan error, 1)
		go func() { ended <- alongside(ctx, c) }()
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-c.Err():
		log.Error("server failed; shutting down", "err", runErr)
	case runErr = <-ended:
		log.Info("session ended; shutting down")
	}
	if err := c.Shutdown(context.Background()); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// warnIfExposed warns when the web inbox listens beyond loopback without a password.
func warnIfExposed(log *slog.Logger, addr string, hasAuth bool) {
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil || tcp.IP.IsLoopback() || hasAuth {
		return
	}
	log.Warn("the web inbox and API listen beyond this machine without a password: anyone who can reach it can read captured mail; set --http-auth-file", "addr", addr)
}

// readyLine tells a person where to send mail and where to read it, once every listener is open.
func readyLine(eps []catcher.Endpoint) string {
	var parts []string
	for _, ep := range eps {
		switch ep.Name {
		case "smtp":
			parts = append(parts, "send mail to smtp://"+ep.Addr)
		case "http":
			parts = append(parts, "read it at http://"+ep.Addr)
		}
	}
	if len(parts) == 0 {
		return "ready"
	}
	return "ready: " + strings.Join(parts, ", ")
}
