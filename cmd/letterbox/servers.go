package main

import (
	"log/slog"
	"strings"

	"github.com/letterbox-mail/letterbox/internal/catcher"
	"github.com/letterbox-mail/letterbox/static"
)

// catcherConfig turns the flags into the servers to run (package catcher builds them).
func catcherConfig(cfg *config, log *slog.Logger) catcher.Config {
	addr := func(a string) string {
		if a == off {
			return ""
		}
		return a
	}
	if len(cfg.Relay.unknown) > 0 {
		log.Warn("relay config: keys letterbox does not know are ignored", "file", cfg.Relay.ConfigFile, "keys", strings.Join(cfg.Relay.unknown, ","))
	}
	return catcher.Config{
		SMTP: addr(cfg.SMTP), SMTPS: addr(cfg.SMTPS), HTTP: addr(cfg.HTTP),
		POP3: addr(cfg.POP3), POP3S: addr(cfg.POP3S), IMAP: addr(cfg.IMAP), IMAPS: addr(cfg.IMAPS),
		DB:                 cfg.DB,
		Hostname:           cfg.Hostname,
		Version:            version,
		Logger:             log,
		TLSCert:            cfg.TLSCert,
		TLSKey:             cfg.TLSKey,
		MaxMessageSize:     cfg.MaxMessageSize,
		SMTPMaxConnections: cfg.SMTPMaxConnections,
		MaxMessages:        cfg.MaxMessages,
		MaxAge:             cfg.MaxAge,
		Static:             static.Files,
		AllowedHosts:       splitList(cfg.HTTPAllowedHosts),
		CORSOrigins:        splitList(cfg.CORS),
		HTTPAuthFile:       cfg.HTTPAuthFile,
		ReadAuthFile:       cfg.ReadAuthFile,
		Metrics:            cfg.Metrics,
		MCP:                cfg.MCP,
		MCPAllowDelete:     cfg.MCPAllowDelete,
		WebhookURLs:        cfg.WebhookURLs,
		WebhookSecret:      cfg.WebhookSecret,
		Relay:              cfg.Relay.config,
		ReleaseHosts:       splitList(cfg.Relay.ReleaseHosts),
		RelayMatching:      cfg.Relay.Matching,
		RelayAll:           cfg.Relay.All,
		RelayRetryDelay:    cfg.Relay.RetryDelay,
		RelayRetries:       cfg.Relay.Retries,
		DNS:                cfg.Checks.DNS,
		SendingIPs:         cfg.Checks.SendingIPs,
		SpamAssassin:       cfg.Checks.SpamAssassin,
		Bulk:               cfg.Checks.Bulk,
		Faults:             faultConfig(cfg.Faults),
	}
}
