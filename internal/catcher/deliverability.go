package catcher

import (
	"fmt"

	"github.com/letterbox-mail/letterbox/authcheck"
	"github.com/letterbox-mail/letterbox/deliverability"
	"github.com/letterbox-mail/letterbox/linkcheck"
	"github.com/letterbox-mail/letterbox/netguard"
	"github.com/letterbox-mail/letterbox/spamassassin"
	"github.com/letterbox-mail/letterbox/webui"
)

// buildChecks makes the deliverability checker (DNS through Config.DNS, links through a netguard
// that refuses private targets, SpamAssassin when configured) and puts it in the web options.
// Nothing runs at ingest: reports are made when asked for.
func (c *Catcher) buildChecks(o *webui.Options) error {
	resolver := authcheck.NewResolver(c.cfg.DNS)
	links := linkcheck.New(linkcheck.Options{Guard: netguard.New(netguard.Options{Resolver: resolver}), UserAgent: "letterbox/" + c.cfg.Version})
	var spam *spamassassin.Client
	if c.cfg.SpamAssassin != "" {
		var err error
		if spam, err = spamassassin.New(spamassassin.Options{Addr: c.cfg.SpamAssassin}); err != nil {
			return fmt.Errorf("--spamassassin: %w", err)
		}
		o.SpamAssassin = spam
	}
	c.Deliverability = deliverability.New(deliverability.Options{
		Auth:       authcheck.New(authcheck.Options{Resolver: resolver}),
		Resolver:   resolver,
		Links:      links,
		Spam:       spam,
		SendingIPs: c.cfg.SendingIPs,
		Bulk:       c.cfg.Bulk,
	})
	o.Deliverability, o.LinkChecker = c.Deliverability, links
	return nil
}
