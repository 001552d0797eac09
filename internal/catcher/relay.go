package catcher

import (
	"errors"
	"fmt"

	"github.com/letterbox-mail/letterbox/relay"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/webui"
)

// relayMatching turns Config.RelayMatching (or RelayAll) into the filter the store queues
// auto-relay jobs by; nil when auto-relay is off.
func relayMatching(cfg Config) (*store.Filter, error) {
	if cfg.RelayMatching == "" && !cfg.RelayAll {
		return nil, nil
	}
	if cfg.Relay == nil || !cfg.Relay.Enabled() {
		return nil, errors.New("relay: --relay-matching and --relay-all need a relay (--relay-config FILE or --relay-host)")
	}
	if cfg.RelayAll {
		return &store.Filter{}, nil
	}
	q, err := store.ParseQuery(cfg.RelayMatching)
	if err != nil {
		return nil, fmt.Errorf("relay: --relay-matching: %w", err)
	}
	if len(q.Terms) == 0 {
		return nil, errors.New("relay: --relay-matching: an empty search; use --relay-all to relay everything")
	}
	return &store.Filter{Query: q}, nil
}

// buildRelay makes the relay (when one is configured, or release hosts are) and the worker that
// delivers the store's relay queue.
func (c *Catcher) buildRelay() error {
	cfg := c.cfg
	enabled := cfg.Relay != nil && cfg.Relay.Enabled()
	if !enabled && len(cfg.ReleaseHosts) == 0 {
		return nil
	}
	rc := relay.Config{}
	if enabled {
		rc = *cfg.Relay
	}
	r, err := relay.New(rc, relay.Options{ClientOptions: relay.ClientOptions{Hostname: cfg.Hostname}, ReleaseHosts: cfg.ReleaseHosts})
	if err != nil {
		return err
	}
	c.Relay = r
	if !enabled {
		return nil
	}
	c.log.Info("relay configured", "relay", r.Config(), "auto", cfg.RelayMatching != "" || cfg.RelayAll)
	c.RelayWorker = relay.NewWorker(r, c.Store, relay.WorkerOptions{RetryDelay: cfg.RelayRetryDelay, MaxAttempts: cfg.RelayRetries, Logger: c.log})
	if reg := c.metrics; reg != nil {
		w := c.RelayWorker
		for _, o := range []struct {
			outcome string
			f       func(relay.WorkerStats) int64
		}{
			{"sent", func(s relay.WorkerStats) int64 { return s.Sent }},
			{"deferred", func(s relay.WorkerStats) int64 { return s.Deferred }},
			{"failed", func(s relay.WorkerStats) int64 { return s.Failed }},
		} {
			reg.CounterFunc("relay_deliveries_total", "Auto-relay delivery attempts by outcome: sent, deferred (a temporary failure, retried), failed (given up).",
				func() float64 { return float64(o.f(w.Stats())) }, "outcome", o.outcome)
		}
	}
	return nil
}

// relayOptions fills in what the web server needs for releases and relay status.
func (c *Catcher) relayOptions(o *webui.Options) {
	o.MaxMessageSize, o.Hostname = c.cfg.MaxMessageSize, c.cfg.Hostname
	if c.Relay != nil {
		o.Relay = c.Relay
	}
	o.RelayLog = c.Store
}
