package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
)

// buildServers creates every server whose address is not "off".
func buildServers(cfg *config, st *store.Store, tlsCfg *tls.Config, hostname string, log *slog.Logger) ([]endpoint, error) {
	var eps []endpoint
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
		if cfg.SMTP != off {
			eps = append(eps, endpoint{name: "smtp", addr: cfg.SMTP, srv: srv})
		}
		if cfg.SMTPS != off {
			eps = append(eps, endpoint{name: "smtps", addr: cfg.SMTPS, srv: srv, tls: true})
		}
	}
	if cfg.IMAP != off || cfg.IMAPS != off {
		srv, err := imapd.New(imapd.Options{Store: st, TLSConfig: tlsCfg, AuthFile: cfg.ReadAuthFile, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("imap: %w", err)
		}
		if cfg.IMAP != off {
			eps = append(eps, endpoint{name: "imap", addr: cfg.IMAP, srv: srv})
		}
		if cfg.IMAPS != off {
			eps = append(eps, endpoint{name: "imaps", addr: cfg.IMAPS, srv: srv, tls: true})
		}
	}
	return eps, nil
}
