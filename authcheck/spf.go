package authcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"
)

// SPFResult is the SPF verdict for the envelope sender (and, separately, the HELO name).
type SPFResult struct {
	Domain string      // the domain evaluated: the MAIL FROM domain, or the HELO name for the null sender
	Result string      // the worst MAIL FROM result over every address (the mail may leave from any of them)
	Reason string      // why, in words
	Checks []SPFCheck  // one per address and identity
	Chain  []SPFRecord // the SPF records consulted: the domain's own, then what it includes or redirects to
}

// SPFCheck is one evaluation: one address, one identity.
type SPFCheck struct {
	IP       string // the client address evaluated
	Identity string // "mailfrom" or "helo" (RFC 7208 §2.3, §2.4)
	Domain   string
	Result   string // pass, fail, softfail, neutral, none, temperror or permerror
	Reason   string
}

// SPFRecord is one SPF record met while evaluating (includes and redirects follow the first).
type SPFRecord struct {
	Domain string
	Record string
}

// spfRank orders results from best to worst, for "the worst result over every address".
var spfRank = map[string]int{Pass: 0, Neutral: 1, None: 2, SoftFail: 3, TempError: 4, PermError: 5, Fail: 6}

func checkSPF(ctx context.Context, l *lookups, in Input) SPFResult {
	sender := in.MailFrom
	domain := domainOf(sender)
	if sender == "" || domain == "" {
		// RFC 7208 §2.4: for the null sender, check postmaster@ the HELO name.
		sender, domain = "postmaster@"+in.Helo, in.Helo
	}
	res := SPFResult{Domain: domain, Checks: []SPFCheck{}, Chain: []SPFRecord{}}
	if len(in.IPs) == 0 {
		res.Result, res.Reason = None, "no sending address to evaluate"
		return res
	}
	worst := ""
	for _, ip := range in.IPs {
		c := evalSPF(ctx, l, ip.AsSlice(), in.Helo, sender, "mailfrom", domain)
		res.Checks = append(res.Checks, c)
		if worst == "" || spfRank[c.Result] > spfRank[worst] {
			worst = c.Result
			res.Reason = c.Reason
		}
		if in.Helo != "" && !isAddressLiteral(in.Helo) {
			res.Checks = append(res.Checks, evalSPF(ctx, l, ip.AsSlice(), in.Helo, "postmaster@"+in.Helo, "helo", in.Helo))
		}
	}
	res.Result = worst
	if len(in.IPs) > 1 {
		res.Reason = fmt.Sprintf("worst of %d addresses: %s", len(in.IPs), res.Reason)
	}
	res.Chain = spfChain(l, domain)
	return res
}

func evalSPF(ctx context.Context, l *lookups, ip net.IP, helo, sender, identity, domain string) SPFCheck {
	c := SPFCheck{IP: ip.String(), Identity: identity, Domain: domain}
	if domain == "" {
		c.Result, c.Reason = None, "no domain to evaluate"
		return c
	}
	r, err := spf.CheckHostWithSender(ip, helo, sender, spf.WithResolver(l), spf.WithContext(ctx))
	c.Result = string(r)
	c.Reason = spfReason(r, err, ip, domain, l)
	return c
}

// spfReason explains a result in words.
func spfReason(r spf.Result, err error, ip net.IP, domain string, l *lookups) string {
	detail := ""
	if err != nil {
		detail = " (" + err.Error() + ")"
	}
	switch r {
	case spf.Pass:
		return fmt.Sprintf("%s is authorised by the SPF record of %s%s", ip, domain, detail)
	case spf.Fail:
		return fmt.Sprintf("%s is not authorised by the SPF record of %s, which ends in -all%s", ip, domain, detail)
	case spf.SoftFail:
		return fmt.Sprintf("%s is not authorised by the SPF record of %s, which ends in ~all (softfail)%s", ip, domain, detail)
	case spf.Neutral:
		return fmt.Sprintf("the SPF record of %s makes no assertion for %s (?all)%s", domain, ip, detail)
	case spf.None:
		return fmt.Sprintf("%s publishes no SPF record", domain)
	case spf.TempError:
		// This evaluation's own lookup, not the first that failed in the whole check (that may
		// be another identity's, or a DKIM key's).
		var de *net.DNSError
		if errors.As(err, &de) && de.IsTemporary {
			return de.Err
		}
		if bad := l.unreachable(); bad != nil {
			return ErrDNSUnreachable.Error() + ": " + bad.Error()
		}
		return "temporary DNS error" + detail
	case spf.PermError:
		if errors.Is(err, spf.ErrLookupLimitReached) {
			return "the SPF record needs more than 10 DNS lookups (RFC 7208 §4.6.4)"
		}
		return "the SPF record cannot be interpreted" + detail
	}
	return string(r) + detail
}

// spfChain lists the SPF records met evaluating domain: its own, then those it includes or
// redirects to, depth first (names with macros are not followed).
func spfChain(l *lookups, domain string) []SPFRecord {
	out := []SPFRecord{}
	seen := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		name = canonical(name)
		if seen[name] || len(out) > 20 {
			return
		}
		seen[name] = true
		txts, _ := l.recorded(name)
		for _, t := range txts {
			lt := strings.ToLower(t)
			if lt != "v=spf1" && !strings.HasPrefix(lt, "v=spf1 ") {
				continue
			}
			out = append(out, SPFRecord{Domain: name, Record: t})
			for _, term := range strings.Fields(lt)[1:] {
				term = strings.TrimLeft(term, "+-~?")
				target, ok := strings.CutPrefix(term, "include:")
				if !ok {
					target, ok = strings.CutPrefix(term, "redirect=")
				}
				if ok && !strings.Contains(target, "%") {
					walk(target)
				}
			}
		}
	}
	walk(domain)
	return out
}

// domainOf returns the domain of an address, lower case.
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}

// isAddressLiteral reports whether a HELO name is an address literal ([192.0.2.1]) or a bare address.
func isAddressLiteral(helo string) bool {
	h := strings.Trim(helo, "[]")
	h = strings.TrimPrefix(strings.TrimPrefix(h, "IPv6:"), "ipv6:")
	return net.ParseIP(h) != nil
}
