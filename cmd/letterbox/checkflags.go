package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/letterbox-mail/letterbox/spamassassin"
)

// checkFlags are the deliverability checks' flags.
type checkFlags struct {
	DNS          string
	SendingIPs   ipList
	SpamAssassin string
	Bulk         bool
}

// ipList is a comma-separated list of IP addresses (--sending-ip 203.0.113.5,2001:db8::25).
type ipList []netip.Addr

func (l *ipList) String() string {
	var s []string
	for _, a := range *l {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

func (l *ipList) Set(v string) error {
	for _, item := range splitList(v) {
		a, err := netip.ParseAddr(item)
		if err != nil {
			return fmt.Errorf("%q is not an IP address", item)
		}
		*l = append(*l, a.Unmap())
	}
	return nil
}

func declareCheckFlags(fs *flag.FlagSet, cfg *config) {
	c := &cfg.Checks
	fs.StringVar(&c.DNS, "dns", "", "DNS server for DKIM, SPF, DMARC and reverse DNS checks and link checks, host[:port] (default: the system's) ["+envName("dns")+"]")
	fs.Var(&c.SendingIPs, "sending-ip", "addresses your production mail leaves from, IP[,IP]: SPF and reverse DNS are judged for them (default: the SMTP client's address) ["+envName("sending-ip")+"]")
	fs.StringVar(&c.SpamAssassin, "spamassassin", "", "spamd address, HOST:PORT or unix:/path, for SpamAssassin scores (/sa-check; default: off) ["+envName("spamassassin")+"]")
	fs.BoolVar(&c.Bulk, "bulk", false, "judge every message as bulk mail (one-click unsubscribe, SPF and DKIM, DMARC required) ["+envName("bulk")+"]")
}

// validateChecks checks the flags' values.
func validateChecks(c checkFlags) error {
	if c.SpamAssassin != "" {
		if _, err := spamassassin.New(spamassassin.Options{Addr: c.SpamAssassin}); err != nil {
			return fmt.Errorf("--spamassassin: %w", err)
		}
	}
	return nil
}
