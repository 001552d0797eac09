package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/metrics"
	"github.com/letterbox-mail/letterbox/pop3d"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/webui"
)

// shutdownGrace is how long transactions and requests in progress get to finish on shutdown.
const shutdownGrace = 5 * time.Second

// server is what every letterbox server provides.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// endpoint is one listener to open: a server on an address, maybe behind implicit TLS.
type endpoint struct {
	name string // shown at start-up: smtp, smtps, http, pop3, ...
	addr string
	srv  server
	tls  bool
}

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

// tlsConfig loads the configured certificate, or makes a self-signed one for the host names.
func tlsConfig(cfg *config, hostname string) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if cfg.TLSCert != "" {
		cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	} else {
		cert, err = smtpd.GenerateCertificate(hostname, "localhost", "127.0.0.1", "::1")
	}
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// serve opens the store, starts every enabled server, and runs until ctx is cancelled or a
// server fails; then it shuts everything down gracefully.
func serve(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		return err
	}
	hostname := cfg.Hostname
	if hostname == "" {
		if hostname, _ = os.Hostname(); hostname == "" {
			hostname = "localhost"
		}
	}
	var reg *metrics.Registry
	opts := store.Options{Path: cfg.DB, MaxMessages: cfg.MaxMessages, MaxAge: cfg.MaxAge, Hostname: hostname, Logger: log}
	if cfg.Metrics {
		reg = metrics.New()
		opts.Observer = reg
	}
	st, err := store.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer st.Close()
	if reg != nil {
		reg.Store(st)
	}
	tlsCfg, err := tlsConfig(cfg, hostname)
	if err != nil {
		return err
	}
	endpoints, err := buildServers(cfg, st, tlsCfg, hostname, log, reg)
	if err != nil {
		return err
	}

	listeners := make([]net.Listener, 0, len(endpoints))
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	fmt.Fprintf(stdout, "letterbox %s\n  %-9s %s\n", version, "database", cfg.DB)
	for _, ep := range endpoints {
		l, err := net.Listen("tcp", ep.addr)
		if err != nil {
			return fmt.Errorf("%s: %w", ep.name, err)
		}
		listeners = append(listeners, l)
		shown := l.Addr().String()
		if ep.name == "http" {
			shown = "http://" + shown
		}
		fmt.Fprintf(stdout, "  %-9s %s\n", ep.name, shown)
		if ep.name == "http" {
			warnIfExposed(log, l.Addr(), cfg.HTTPAuthFile != "")
		}
	}

	fmt.Fprintln(stdout, readyLine(endpoints, listeners))

	errc := make(chan error, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		l := listeners[i]
		if ep.tls {
			l = tls.NewListener(l, tlsCfg)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ep.srv.Serve(l); err != nil && !isClosed(err) {
				errc <- fmt.Errorf("%s: %w", ep.name, err)
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("server failed; shutting down", "err", runErr)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var sw sync.WaitGroup
	for _, srv := range uniqueServers(endpoints) {
		sw.Add(1)
		go func() {
			defer sw.Done()
			if err := srv.Shutdown(shutCtx); err != nil {
				srv.Close()
			}
		}()
	}
	sw.Wait()
	wg.Wait()
	if err := st.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// uniqueServers lists each server once (smtp and smtps share one).
func uniqueServers(eps []endpoint) []server {
	var out []server
	seen := map[server]bool{}
	for _, ep := range eps {
		if !seen[ep.srv] {
			seen[ep.srv] = true
			out = append(out, ep.srv)
		}
	}
	return out
}

// isClosed reports whether err is a server's normal "closed" result.
func isClosed(err error) bool {
	for _, closed := range []error{smtpd.ErrServerClosed, webui.ErrServerClosed, pop3d.ErrServerClosed, imapd.ErrServerClosed, net.ErrClosed} {
		if errors.Is(err, closed) {
			return true
		}
	}
	return false
}

// warnIfExposed warns when the web inbox listens beyond loopback without a password.
func warnIfExposed(log *slog.Logger, addr net.Addr, hasAuth bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsLoopback() || hasAuth {
		return
	}
	log.Warn("the web inbox and API listen beyond this machine without a password: anyone who can reach it can read captured mail; set --http-auth-file", "addr", addr.String())
}

// readyLine tells a person where to send mail and where to read it, once every listener is open.
func readyLine(eps []endpoint, ls []net.Listener) string {
	var smtp, web string
	for i, ep := range eps {
		switch ep.name {
		case "smtp":
			smtp = "send mail to smtp://" + ls[i].Addr().String()
		case "http":
			web = "read it at http://" + ls[i].Addr().String()
		}
	}
	parts := []string{}
	for _, p := range []string{smtp, web} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "ready"
	}
	return "ready: " + strings.Join(parts, ", ")
}
