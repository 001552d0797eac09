package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/metrics"
	"github.com/letterbox-mail/letterbox/pop3d"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/static"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/webui"
)

// buildServers creates every server whose address is not "off".
// reg, when not nil, gets each server's figures.
func buildServers(cfg *config, st *store.Store, tlsCfg *tls.Config, hostname string, log *slog.Logger, reg *metrics.Registry) ([]endpoint, error) {
	var eps []endpoint
	// add appends the plain and implicit-TLS endpoints of one server.
	add := func(name, addr, tlsName, tlsAddr string, srv server) {
		if addr != off {
			eps = append(eps, endpoint{name: name, addr: addr, srv: srv})
		}
		if tlsAddr != off {
			eps = append(eps, endpoint{name: tlsName, addr: tlsAddr, srv: srv, tls: true})
		}
	}
	var smtpStats func() webui.SMTPStats
	if cfg.SMTP != off || cfg.SMTPS != off {
		srv, err := smtpd.New(st, smtpd.Options{
			Hostname:       hostname,
			MaxMessageSize: cfg.MaxMessageSize,
			MaxConnections: cfg.SMTPMaxConnections,
			TLSConfig:      tlsCfg,
			Logger:         log,
		})
		if err != nil {
			return nil, fmt.Errorf("smtp: %w", err)
		}
		add("smtp", cfg.SMTP, "smtps", cfg.SMTPS, srv)
		smtpMetrics(reg, srv)
		smtpStats = func() webui.SMTPStats {
			s := srv.Stats()
			return webui.SMTPStats{Accepted: s.SMTPAccepted, AcceptedSize: s.SMTPAcceptedSize, Rejected: s.SMTPRejected, Ignored: s.SMTPIgnored}
		}
	}
	if cfg.HTTP != off {
		smtpAddr := cfg.SMTP
		if smtpAddr == off {
			smtpAddr = ""
		}
		srv, err := webui.New(webui.Options{
			Store:        st,
			Static:       static.Files,
			Logger:       log,
			AllowedHosts: splitList(cfg.HTTPAllowedHosts),
			CORSOrigins:  splitList(cfg.CORS),
			AuthFile:     cfg.HTTPAuthFile,
			Version:      version,
			SMTPAddr:     smtpAddr,
			SMTPStats:    smtpStats,
			Database:     cfg.DB,
			Metrics:      reg.Handler(),
		})
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		add("http", cfg.HTTP, "", off, srv)
		clientMetrics(reg, "websocket", srv.WebsocketClients)
	}
	if cfg.POP3 != off || cfg.POP3S != off {
		srv, err := pop3d.New(st, pop3d.Options{Hostname: hostname, TLSConfig: tlsCfg, AuthFile: cfg.ReadAuthFile, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("pop3: %w", err)
		}
		add("pop3", cfg.POP3, "pop3s", cfg.POP3S, srv)
		clientMetrics(reg, "pop3", srv.Sessions)
	}
	if cfg.IMAP != off || cfg.IMAPS != off {
		srv, err := imapd.New(imapd.Options{Store: st, TLSConfig: tlsCfg, AuthFile: cfg.ReadAuthFile, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("imap: %w", err)
		}
		add("imap", cfg.IMAP, "imaps", cfg.IMAPS, srv)
		clientMetrics(reg, "imap", srv.Sessions)
	}
	return eps, nil
}
