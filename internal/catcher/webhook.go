package catcher

import (
	"strconv"

	"github.com/letterbox-mail/letterbox/metrics"
	"github.com/letterbox-mail/letterbox/webhook/sender"
)

// buildWebhooks makes the webhook sender when URLs are configured.
func (c *Catcher) buildWebhooks() error {
	if len(c.cfg.WebhookURLs) == 0 {
		return nil
	}
	w, err := sender.New(c.Store, sender.Options{URLs: c.cfg.WebhookURLs, Secret: c.cfg.WebhookSecret, Logger: c.log, Version: c.cfg.Version})
	if err != nil {
		return err
	}
	c.Webhooks = w
	webhookMetrics(c.metrics, w)
	return nil
}

// webhookMetrics registers the webhook counters with reg (nil: metrics are off), one series per
// configured URL (shown without credentials or query).
func webhookMetrics(reg *metrics.Registry, w *sender.Sender) {
	if reg == nil || w == nil {
		return
	}
	seen := map[string]int{}
	for i, u := range w.Stats() {
		label := u.URL
		if seen[label]++; seen[label] > 1 {
			label += " #" + strconv.Itoa(seen[label])
		}
		stat := func(f func(sender.Stats) int64) func() float64 {
			return func() float64 { return float64(f(w.Stats()[i].Stats)) }
		}
		for _, o := range []struct {
			outcome string
			f       func(sender.Stats) int64
		}{
			{"queued", func(s sender.Stats) int64 { return s.Queued }},
			{"delivered", func(s sender.Stats) int64 { return s.Delivered }},
			{"failed", func(s sender.Stats) int64 { return s.Failed }},
			{"dropped", func(s sender.Stats) int64 { return s.Dropped }},
		} {
			reg.CounterFunc("webhook_events_total", "Webhook events by outcome: queued, delivered (2xx), failed (given up after retries or a 4xx), dropped (queue full or shut down first).",
				stat(o.f), "url", label, "outcome", o.outcome)
		}
		reg.CounterFunc("webhook_retries_total", "Webhook attempts after the first (after network errors, 408, 425, 429, 5xx).",
			stat(func(s sender.Stats) int64 { return s.Retries }), "url", label)
	}
	reg.CounterFunc("webhook_lagged_total", "Times the webhook sender fell behind the store's events (messages in the gap got no webhook).",
		func() float64 { return float64(w.Total().Lagged) })
}
