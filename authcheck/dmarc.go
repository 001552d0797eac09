package authcheck

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// DMARCResult is the DMARC verdict for the From domain (RFC 7489).
type DMARCResult struct {
	FromDomain    string // the RFC 5322 From domain
	RecordDomain  string // where the policy record was found: the From domain or its organizational domain
	Record        string // the policy record as published; "" when none
	Policy        string // p= (or sp= for a subdomain whose policy comes from the organizational domain)
	Percent       int    // pct=, 100 when absent
	DKIMAlignment string // relaxed or strict (adkim=)
	SPFAlignment  string // relaxed or strict (aspf=)
	DKIMAligned   bool   // a passing DKIM signature's d= aligns with the From domain
	DKIMDomain    string // that signature's domain
	SPFAligned    bool   // SPF passed for a domain aligned with the From domain
	SPFDomain     string // the SPF domain (MAIL FROM or HELO)
	Result        string // pass, fail, none, temperror or permerror
	AppliedPolicy string // what a receiver would do with the message: none, quarantine or reject
	Reason        string // why, in words
}

// Alignment modes as shown in results.
const (
	Relaxed = "relaxed"
	Strict  = "strict"
)

func checkDMARC(l *lookups, in Input, dkims []DKIMResult, spfRes SPFResult) DMARCResult {
	res := DMARCResult{FromDomain: in.FromDomain, SPFDomain: spfRes.Domain, Percent: 100,
		DKIMAlignment: Relaxed, SPFAlignment: Relaxed, AppliedPolicy: "none"}
	if in.FromDomain == "" {
		res.Result, res.Reason = PermError, "the message needs exactly one From address for DMARC (RFC 7489 §6.6.1)"
		return res
	}
	rec, where, raw, err := lookupPolicy(l, in.FromDomain)
	switch {
	case err != nil && dmarc.IsTempFail(err):
		res.Result = TempError
		res.Reason = "policy unavailable: " + ErrDNSUnreachable.Error()
		if bad := l.unreachable(); bad != nil {
			res.Reason += " (" + bad.Error() + ")"
		}
		return res
	case errors.Is(err, dmarc.ErrNoPolicy):
		res.Result = None
		res.Reason = fmt.Sprintf("no DMARC record at _dmarc.%s", in.FromDomain)
		if org := orgDomain(in.FromDomain); org != in.FromDomain {
			res.Reason += " or _dmarc." + org
		}
		alignment(&res, in.FromDomain, dkims, spfRes)
		return res
	case err != nil:
		res.Result, res.Reason, res.Record, res.RecordDomain = PermError, "the DMARC record cannot be interpreted: "+err.Error(), raw, where
		return res
	}
	res.RecordDomain, res.Record = where, raw
	res.Policy = string(rec.Policy)
	if where != canonical(in.FromDomain) && rec.SubdomainPolicy != "" {
		res.Policy = string(rec.SubdomainPolicy)
	}
	if rec.Percent != nil {
		res.Percent = *rec.Percent
	}
	if rec.DKIMAlignment == dmarc.AlignmentStrict {
		res.DKIMAlignment = Strict
	}
	if rec.SPFAlignment == dmarc.AlignmentStrict {
		res.SPFAlignment = Strict
	}
	alignment(&res, in.FromDomain, dkims, spfRes)
	switch {
	case res.DKIMAligned || res.SPFAligned:
		res.Result = Pass
		via := []string{}
		if res.DKIMAligned {
			via = append(via, "DKIM ("+res.DKIMDomain+")")
		}
		if res.SPFAligned {
			via = append(via, "SPF ("+res.SPFDomain+")")
		}
		res.Reason = fmt.Sprintf("%s passes and is aligned with %s", strings.Join(via, " and "), in.FromDomain)
	case spfRes.Result == TempError || anyDKIM(dkims, TempError):
		res.Result = TempError
		res.Reason = "SPF or DKIM could not be evaluated: " + ErrDNSUnreachable.Error()
	default:
		res.Result = Fail
		res.AppliedPolicy = res.Policy
		res.Reason = "neither a passing DKIM signature nor a passing SPF domain is aligned with " + in.FromDomain + misalignment(&res, dkims, spfRes)
		if res.Percent < 100 {
			res.Reason += fmt.Sprintf("; pct=%d: the %s policy applies to %d%% of failing mail", res.Percent, res.Policy, res.Percent)
		}
	}
	return res
}

// misalignment explains what passed but did not align.
func misalignment(res *DMARCResult, dkims []DKIMResult, spfRes SPFResult) string {
	var why []string
	for _, d := range dkims {
		if d.Result == Pass {
			why = append(why, fmt.Sprintf("DKIM d=%s is not %s-aligned", d.Domain, res.DKIMAlignment))
		}
	}
	if spfRes.Result == Pass {
		why = append(why, fmt.Sprintf("SPF domain %s is not %s-aligned", spfRes.Domain, res.SPFAlignment))
	}
	if len(why) == 0 {
		return " (neither passed)"
	}
	return " (" + strings.Join(why, "; ") + ")"
}

// alignment sets the DKIM and SPF alignment of res for the From domain.
func alignment(res *DMARCResult, from string, dkims []DKIMResult, spfRes SPFResult) {
	for _, d := range dkims {
		if d.Result == Pass && aligned(d.Domain, from, res.DKIMAlignment == Strict) {
			res.DKIMAligned, res.DKIMDomain = true, d.Domain
			break
		}
	}
	res.SPFAligned = spfRes.Result == Pass && aligned(spfRes.Domain, from, res.SPFAlignment == Strict)
}

// aligned compares two domains: equal (strict) or with the same organizational domain (relaxed).
func aligned(a, from string, strict bool) bool {
	a, from = canonical(a), canonical(from)
	if a == "" {
		return false
	}
	if strict {
		return a == from
	}
	return orgDomain(a) == orgDomain(from)
}

// orgDomain is the organizational domain (RFC 7489 §3.2): the public suffix plus one label.
func orgDomain(d string) string {
	d = canonical(d)
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// lookupPolicy finds the DMARC record for domain, falling back to its organizational domain
// (RFC 7489 §6.6.3). It returns the record, where it was found and its text.
func lookupPolicy(l *lookups, domain string) (*dmarc.Record, string, string, error) {
	domain = canonical(domain)
	candidates := []string{domain}
	if org := orgDomain(domain); org != domain {
		candidates = append(candidates, org)
	}
	var err error
	for _, d := range candidates {
		var rec *dmarc.Record
		rec, err = dmarc.LookupWithOptions(d, &dmarc.LookupOptions{LookupTXT: l.lookupTXTNoCtx})
		txt := policyText(l, d)
		if err == nil {
			return rec, d, txt, nil
		}
		if !errors.Is(err, dmarc.ErrNoPolicy) {
			return nil, d, txt, err
		}
	}
	return nil, "", "", err
}

// policyText returns the DMARC record text looked up for domain.
func policyText(l *lookups, domain string) string {
	txts, _ := l.recorded("_dmarc." + domain)
	for _, t := range txts {
		if strings.HasPrefix(t, "v=DMARC1") {
			return t
		}
	}
	return ""
}

func anyDKIM(ds []DKIMResult, result string) bool {
	for _, d := range ds {
		if d.Result == result {
			return true
		}
	}
	return false
}
