// Package deliverability answers "will this mail be delivered?" for one captured message: the
// DKIM, SPF and DMARC verdicts a receiver would reach (package authcheck), the big mailbox
// providers' sender rules as a checklist (Gmail and Yahoo from February 2024, Microsoft from May
// 2025; each pass, warn or fail with the reason, the fix and the source), reverse DNS of the
// sending addresses, HTML compatibility (htmlcheck), optionally the links (linkcheck) and the
// SpamAssassin score (spamassassin), and an overall verdict.
//
// Reports are computed on demand, never at ingest, and cached per message and request.
package deliverability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/letterbox-mail/letterbox/authcheck"
	"github.com/letterbox-mail/letterbox/htmlcheck"
	"github.com/letterbox-mail/letterbox/linkcheck"
	"github.com/letterbox-mail/letterbox/spamassassin"
)

// Options configure a Checker.
type Options struct {
	// Auth computes the DKIM, SPF and DMARC verdicts. nil means authcheck.New over Resolver.
	Auth *authcheck.Checker
	// Resolver answers the reverse DNS lookups. nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Links checks links when a request asks; nil leaves links out of reports.
	Links *linkcheck.Checker
	// Spam scores messages with SpamAssassin; nil leaves the score out.
	Spam *spamassassin.Client
	// SendingIPs are the addresses production mail leaves from (--sending-ip); SPF and reverse
	// DNS are evaluated for them. Empty means the SMTP client's own address.
	SendingIPs []netip.Addr
	// Bulk treats every message as bulk mail (--bulk).
	Bulk bool
	// CacheSize is how many reports are kept. 0 means 256.
	CacheSize int
	// CacheTTL is how long a report is reused (DNS records change). 0 means 10 minutes.
	CacheTTL time.Duration
}

// Input is the message to judge.
type Input struct {
	ID         string
	Raw        []byte // the message as stored
	MailFrom   string
	Helo       string
	RemoteAddr string // the SMTP client's address, host:port
	TLS        bool
	HTML, Text string // the decoded bodies
}

// Request says what to include.
type Request struct {
	IPs     []netip.Addr // sending addresses for this report; empty means Options.SendingIPs or the client's
	Links   bool         // check the links
	Follow  bool         // follow redirects when checking links
	Refresh bool         // compute again even if a cached report exists
}

// Verdicts of a whole report.
const (
	VerdictPass = "pass"
	VerdictWarn = "warn"
	VerdictFail = "fail"
)

// Report is the whole deliverability report of one message.
type Report struct {
	ID       string
	Verdict  string    // pass, warn or fail: fail when a rule fails, SpamAssassin calls it spam or links are broken
	Summary  string    // the verdict in one sentence
	Computed time.Time // when the report was computed
	Cached   bool      // served from the cache

	SendingIPs      []string // the addresses SPF and reverse DNS were evaluated for
	SendingIPSource string   // request, --sending-ip, or client
	SendingIPNote   string   // the caveat for local addresses, when there is one
	Bulk            bool     // judged as bulk mail
	BulkReason      string   // why

	DKIM       []authcheck.DKIMResult
	SPF        authcheck.SPFResult
	DMARC      authcheck.DMARCResult
	ReverseDNS []PTRResult

	Checklist []Rule

	HTMLCheck    *htmlcheck.Response  // nil when the message has no HTML
	LinkCheck    *linkcheck.Response  // nil unless the request asked for links
	SpamAssassin *spamassassin.Result // nil when SpamAssassin is not configured
}

// PTRResult is the reverse DNS of one sending address.
type PTRResult struct {
	IP        string
	Names     []string // PTR names
	Confirmed string   // a PTR name whose A/AAAA records include the address; "" when none
	Result    string   // pass, warn or fail
	Reason    string
}

// Checker makes reports. It is safe for concurrent use.
type Checker struct {
	opts  Options
	cache *cache
}

// New returns a Checker.
func New(opts Options) *Checker {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Auth == nil {
		opts.Auth = authcheck.New(authcheck.Options{Resolver: opts.Resolver})
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 256
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 10 * time.Minute
	}
	return &Checker{opts: opts, cache: newCache(opts.CacheSize, opts.CacheTTL)}
}

// SpamAssassin returns the configured client, or nil.
func (c *Checker) SpamAssassin() *spamassassin.Client { return c.opts.Spam }

// LinkChecker returns the configured link checker, or nil.
func (c *Checker) LinkChecker() *linkcheck.Checker { return c.opts.Links }

// Report returns the message's report, from the cache when a fresh one exists for the same
// request; concurrent requests for one report compute it once.
func (c *Checker) Report(ctx context.Context, in Input, req Request) (*Report, error) {
	ips, source := c.sendingIPs(in, req)
	key := cacheKey(in.ID, ips, req.Links && c.opts.Links != nil, req.Follow)
	return c.cache.get(ctx, key, req.Refresh, func() (*Report, error) {
		return c.compute(ctx, in, req, ips, source), nil
	})
}

// sendingIPs picks the addresses to evaluate and says where they came from.
func (c *Checker) sendingIPs(in Input, req Request) ([]netip.Addr, string) {
	switch {
	case len(req.IPs) > 0:
		return req.IPs, "request"
	case len(c.opts.SendingIPs) > 0:
		return c.opts.SendingIPs, "--sending-ip"
	}
	host, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		host = in.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, "client"
	}
	return nil, "client"
}

func (c *Checker) compute(ctx context.Context, in Input, req Request, ips []netip.Addr, source string) *Report {
	rep := &Report{ID: in.ID, Computed: time.Now().UTC(), SendingIPSource: source, SendingIPs: []string{}}
	for _, ip := range ips {
		rep.SendingIPs = append(rep.SendingIPs, ip.String())
	}
	var local []string
	for _, ip := range ips {
		if isLocal(ip) {
			local = append(local, ip.String())
		}
	}
	if len(local) > 0 {
		rep.SendingIPNote = fmt.Sprintf("%s is a local or private address: no public SPF record authorises it and receivers never see it, so SPF cannot pass here as it would in production. Give the address your production mail leaves from with --sending-ip, or edit it for this message.",
			strings.Join(local, ", "))
	}

	hdr := parseHeader(in.Raw)
	f := &facts{raw: in.Raw, header: hdr, tls: in.TLS, helo: in.Helo}
	f.bulk, f.bulkWhy = c.isBulk(f)
	rep.Bulk, rep.BulkReason = f.bulk, f.bulkWhy

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		f.auth = c.opts.Auth.Check(ctx, authcheck.Input{Raw: in.Raw, MailFrom: in.MailFrom, Helo: in.Helo, IPs: ips, FromDomain: fromDomain(hdr)})
	}()
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(ctx, authcheck.DefaultTimeout)
		defer cancel()
		f.ptr = c.reverseDNS(ctx, ips)
	}()
	if c.opts.Spam != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.opts.Spam.Check(ctx, in.Raw)
			if err != nil {
				r = spamassassin.Result{Error: err.Error()}
			}
			rep.SpamAssassin = &r
		}()
	}
	if req.Links && c.opts.Links != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.opts.Links.Check(ctx, linkcheck.Extract(in.HTML, in.Text), req.Follow)
			rep.LinkCheck = &r
		}()
	}
	if in.HTML != "" {
		if h, err := htmlcheck.Check(in.HTML); err == nil {
			rep.HTMLCheck = slim(h)
		}
	}
	wg.Wait()
	rep.DKIM, rep.SPF, rep.DMARC, rep.ReverseDNS = f.auth.DKIM, f.auth.SPF, f.auth.DMARC, f.ptr
	rep.Checklist = checklist(f)
	rep.Verdict, rep.Summary = verdict(rep)
	return rep
}

// slim drops what makes an HTML check large (every client version's result, the notes, the
// platform list), so that cached reports stay small; /html-check answers with all of it.
func slim(h *htmlcheck.Response) *htmlcheck.Response {
	h.Platforms = map[string][]string{}
	for i := range h.Warnings {
		h.Warnings[i].Results = []htmlcheck.Result{}
		h.Warnings[i].NotesByNumber = map[string]string{}
	}
	return h
}

// isBulk says whether the message is bulk or marketing mail, and why.
func (c *Checker) isBulk(f *facts) (bool, string) {
	if c.opts.Bulk {
		return true, "--bulk is set"
	}
	if len(f.values("List-Unsubscribe")) > 0 {
		return true, "it has a List-Unsubscribe header"
	}
	for _, p := range f.values("Precedence") {
		if p = strings.ToLower(strings.TrimSpace(p)); p == "bulk" || p == "list" || p == "junk" {
			return true, "Precedence: " + p
		}
	}
	return false, "no List-Unsubscribe or Precedence: bulk header, and --bulk is not set"
}

// verdict sums a report up.
func verdict(rep *Report) (string, string) {
	var fails, warns []string
	for _, r := range rep.Checklist {
		switch r.Status {
		case StatusFail:
			fails = append(fails, "“"+r.Title+"” fails")
		case StatusWarn:
			warns = append(warns, "“"+r.Title+"” warns")
		}
	}
	if s := rep.SpamAssassin; s != nil && s.Error == "" && s.IsSpam {
		fails = append(fails, fmt.Sprintf("SpamAssassin scores it %.1f: spam", s.Score))
	}
	if l := rep.LinkCheck; l != nil && l.Errors > 0 {
		fails = append(fails, fmt.Sprintf("%d broken links", l.Errors))
	}
	switch {
	case len(fails) > 0:
		return VerdictFail, "Likely to be rejected or filtered as spam: " + strings.Join(fails, "; ") + "."
	case len(warns) > 0:
		return VerdictWarn, "May be delivered, with risks: " + strings.Join(warns, "; ") + "."
	}
	return VerdictPass, "Meets every rule checked."
}

// reverseDNS checks each address's PTR records and their forward confirmation.
func (c *Checker) reverseDNS(ctx context.Context, ips []netip.Addr) []PTRResult {
	out := []PTRResult{}
	for _, ip := range ips {
		p := PTRResult{IP: ip.String(), Names: []string{}}
		if isLocal(ip) {
			p.Result, p.Reason = StatusWarn, "a local or private address: receivers will see your production address instead (--sending-ip)"
			out = append(out, p)
			continue
		}
		names, err := c.opts.Resolver.LookupAddr(ctx, ip.String())
		if err != nil {
			var de *net.DNSError
			switch {
			case errors.As(err, &de) && de.IsNotFound:
				p.Result, p.Reason = StatusFail, "no PTR record"
			case errors.As(err, &de):
				// Not de.Error(): it names the system's DNS server, which --dns may have replaced.
				p.Result, p.Reason = StatusWarn, "could not be checked: "+authcheck.ErrDNSUnreachable.Error()+" (lookup "+de.Name+": "+de.Err+")"
			default:
				p.Result, p.Reason = StatusWarn, "could not be checked: "+authcheck.ErrDNSUnreachable.Error()+" ("+err.Error()+")"
			}
			out = append(out, p)
			continue
		}
		for _, n := range names {
			p.Names = append(p.Names, strings.TrimSuffix(n, "."))
			addrs, err := c.opts.Resolver.LookupNetIP(ctx, "ip", n)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if a.Unmap() == ip.Unmap() && p.Confirmed == "" {
					p.Confirmed = strings.TrimSuffix(n, ".")
				}
			}
		}
		if p.Confirmed != "" {
			p.Result, p.Reason = StatusPass, "PTR "+p.Confirmed+", which resolves back to it"
		} else {
			p.Result, p.Reason = StatusFail, "PTR "+strings.Join(p.Names, ", ")+" does not resolve back to it"
		}
		out = append(out, p)
	}
	return out
}

// cgnat is the shared address space (RFC 6598), local to a carrier's network.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// isLocal reports whether ip is one receivers on the Internet never see a message come from:
// loopback, private, link-local, unspecified or shared address space.
func isLocal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || cgnat.Contains(ip)
}

// parseHeader returns the message's header fields, or nil when they do not parse.
func parseHeader(raw []byte) mail.Header {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	return m.Header
}

// fromDomain is the domain of the one From address, or "" when there is not exactly one.
func fromDomain(h mail.Header) string {
	if h == nil || len(h["From"]) != 1 {
		return ""
	}
	list, err := mail.ParseAddressList(h["From"][0])
	if err != nil || len(list) != 1 {
		return ""
	}
	a := list[0].Address
	return strings.ToLower(a[strings.LastIndexByte(a, '@')+1:])
}
