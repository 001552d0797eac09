package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"

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
	return eps, nil
}
