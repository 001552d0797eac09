package catcher

import (
	"github.com/letterbox-mail/letterbox/metrics"
	"github.com/letterbox-mail/letterbox/smtpd"
)

// smtpMetrics registers the SMTP server's sessions and messages with reg (nil: metrics are off).
func smtpMetrics(reg *metrics.Registry, srv *smtpd.Server) {
	if reg == nil {
		return
	}
	stat := func(f func(smtpd.Stats) int64) func() float64 {
		return func() float64 { return float64(f(srv.Stats())) }
	}
	reg.GaugeFunc("smtp_sessions_open", "SMTP connections open now.", stat(func(s smtpd.Stats) int64 { return s.SessionsOpen }))
	reg.CounterFunc("smtp_sessions_total", "SMTP connections served.", stat(func(s smtpd.Stats) int64 { return s.Sessions }))
	reg.CounterFunc("smtp_connections_refused_total", "SMTP connections refused with 421 (over --smtp-max-connections).",
		stat(func(s smtpd.Stats) int64 { return s.ConnectionsRefused }))
	reg.CounterFunc("smtp_messages_accepted_total", "Messages stored and acknowledged with 250.", stat(func(s smtpd.Stats) int64 { return s.SMTPAccepted }))
	reg.CounterFunc("smtp_accepted_bytes_total", "Bytes of the messages acknowledged with 250, as received.", stat(func(s smtpd.Stats) int64 { return s.SMTPAcceptedSize }))
	reg.CounterFunc("smtp_refused_by_rules_total", "SMTP commands refused or connections dropped by the policy (--smtp-rules, chaos, Jim, recipient checks).",
		stat(func(s smtpd.Stats) int64 { return s.PolicyRefused }))
	reg.CounterFunc("smtp_messages_rejected_total", "Messages refused: too big, a line too long, or a storage failure.",
		stat(func(s smtpd.Stats) int64 { return s.SMTPRejected }))
}

// clientMetrics registers letterbox_clients{protocol=...}, the clients of one server connected now.
func clientMetrics(reg *metrics.Registry, protocol string, n func() int) {
	if reg == nil {
		return
	}
	reg.GaugeFunc("clients", "Clients connected now: websocket (live inbox and API events), IMAP and POP3 sessions.",
		func() float64 { return float64(n()) }, "protocol", protocol)
}
