// Package authcheck computes the authentication verdicts a receiving mail server would reach for
// a message: every DKIM signature (RFC 6376, verified with go-msgauth), SPF for the envelope
// sender and the HELO name (RFC 7208, evaluated with blitiri.com.ar/go/spf) for the addresses
// the mail will come from, and DMARC (RFC 7489) for the From domain with relaxed or strict
// alignment and the policy that would be applied.
//
// Every DNS query goes through the *net.Resolver given in Options (see NewResolver for --dns). A
// resolver that cannot be reached makes the verdicts that depend on it temperror with
// "DNS unreachable", never a pass.
package authcheck

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// The verdicts of RFC 8601 §2.7 (DKIM, SPF and DMARC share them).
const (
	Pass      = "pass"
	Fail      = "fail"
	SoftFail  = "softfail"
	Neutral   = "neutral"
	None      = "none"
	TempError = "temperror"
	PermError = "permerror"
)

// DefaultTimeout bounds one Check when Options.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Options configure a Checker. The zero value uses the system's resolver.
type Options struct {
	// Resolver answers every DNS query. nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Timeout bounds one Check; lookups still running then fail as temperror. 0 means DefaultTimeout.
	Timeout time.Duration
	// Now is the time signatures are checked at (expiry). nil means time.Now.
	Now func() time.Time
}

// Checker computes verdicts. It is safe for concurrent use.
type Checker struct {
	opts Options
}

// New returns a Checker.
func New(opts Options) *Checker {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Checker{opts: opts}
}

// Input is one message as a receiver would see it.
type Input struct {
	Raw        []byte       // the whole message, as received
	MailFrom   string       // envelope sender (MAIL FROM); "" for the null sender
	Helo       string       // HELO/EHLO name
	IPs        []netip.Addr // the addresses the mail comes from; SPF is evaluated for each
	FromDomain string       // the RFC 5322 From domain; "" when the message has none or several
}

// Result is every verdict for one message.
type Result struct {
	DKIM  []DKIMResult // one per DKIM-Signature, in header order; empty when unsigned
	SPF   SPFResult
	DMARC DMARCResult
}

// DKIMPass reports whether at least one signature verified.
func (r *Result) DKIMPass() bool {
	for _, d := range r.DKIM {
		if d.Result == Pass {
			return true
		}
	}
	return false
}

// Check computes every verdict for in. The DKIM and SPF lookups run concurrently; DMARC
// follows from them. Check never fails: what cannot be decided is temperror or permerror.
func (c *Checker) Check(ctx context.Context, in Input) Result {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	l := newLookups(ctx, c.opts.Resolver)
	var res Result
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); res.DKIM = c.checkDKIM(l, in.Raw) }()
	go func() { defer wg.Done(); res.SPF = checkSPF(ctx, l, in) }()
	wg.Wait()
	res.DMARC = checkDMARC(l, in, res.DKIM, res.SPF)
	return res
}
