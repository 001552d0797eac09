package deliverability

import (
	"bytes"
	"fmt"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"

	"github.com/letterbox-mail/letterbox/authcheck"
)

// Rule statuses.
const (
	StatusPass = "pass"
	StatusWarn = "warn"
	StatusFail = "fail"
)

// Rule is one item of the providers' checklist.
type Rule struct {
	ID      string   // stable identifier, such as one-click-unsubscribe
	Title   string   // the rule, in a few words
	Applies string   // "all senders" or "bulk senders"
	Status  string   // pass, warn or fail
	Reason  string   // why this status, for this message
	Fix     string   // what to change; "" when it passes
	Sources []Source // where the rule comes from
}

// facts is what the checklist reads about a message.
type facts struct {
	raw     []byte
	header  mail.Header // nil when the header does not parse
	auth    authcheck.Result
	bulk    bool
	bulkWhy string
	tls     bool
	helo    string
	ptr     []PTRResult
}

func (f *facts) values(name string) []string {
	if f.header == nil {
		return nil
	}
	return f.header[textproto.CanonicalMIMEHeaderKey(name)]
}

// checklist evaluates every rule.
func checklist(f *facts) []Rule {
	return []Rule{
		ruleSPFOrDKIM(f), ruleSPFAndDKIM(f), ruleDMARCRecord(f), ruleDMARCAligned(f),
		ruleUnsubscribe(f), ruleSingleFrom(f), ruleDate(f), ruleMessageID(f),
		ruleLineEndings(f), ruleLineLength(f), ruleTLS(f), ruleHelo(f), ruleReverseDNS(f), ruleKeySize(f),
	}
}

func scope(bulk bool) string {
	if bulk {
		return "bulk senders"
	}
	return "all senders"
}

func ruleSPFOrDKIM(f *facts) Rule {
	r := Rule{ID: "spf-or-dkim", Title: "SPF or DKIM passes", Applies: "all senders", Sources: []Source{srcGmail, srcYahoo}}
	spf, dkim := f.auth.SPF.Result, f.auth.DKIMPass()
	switch {
	case spf == authcheck.Pass || dkim:
		r.Status, r.Reason = StatusPass, authSummary(f)
	case spf == authcheck.TempError || anyDKIM(f, authcheck.TempError):
		unchecked(&r, authSummary(f)+" ("+f.auth.SPF.Reason+")")
	default:
		r.Status, r.Reason = StatusFail, authSummary(f)
		r.Fix = "Sign the mail with DKIM for your From domain, and publish an SPF record listing the addresses your mail leaves from."
	}
	return r
}

func ruleSPFAndDKIM(f *facts) Rule {
	r := Rule{ID: "spf-and-dkim", Title: "SPF and DKIM both pass", Applies: "bulk senders", Sources: []Source{srcGmail, srcYahoo, srcMicrosoft}}
	spf, dkim := f.auth.SPF.Result == authcheck.Pass, f.auth.DKIMPass()
	switch {
	case spf && dkim:
		r.Status, r.Reason = StatusPass, authSummary(f)
	case !f.bulk:
		r.Status = StatusWarn
		r.Reason = "not bulk mail, so one of them is enough; once you send 5,000 or more a day to Gmail or Outlook both are required: " + authSummary(f)
		r.Fix = fixAuth(spf, dkim)
	default:
		r.Status, r.Reason, r.Fix = StatusFail, "bulk mail ("+f.bulkWhy+") must pass both: "+authSummary(f), fixAuth(spf, dkim)
	}
	return r
}

func fixAuth(spf, dkim bool) string {
	switch {
	case !spf && !dkim:
		return "Sign with DKIM and publish an SPF record that authorises your sending addresses."
	case !spf:
		return "Publish (or extend) the SPF record of the envelope sender's domain to authorise your sending addresses."
	}
	return "Sign every message with DKIM (a 2048-bit key) for your domain."
}

func authSummary(f *facts) string {
	dk := "no DKIM signature"
	if len(f.auth.DKIM) > 0 {
		var parts []string
		for _, d := range f.auth.DKIM {
			parts = append(parts, fmt.Sprintf("DKIM %s for d=%s", d.Result, d.Domain))
		}
		dk = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("SPF %s for %s; %s", f.auth.SPF.Result, f.auth.SPF.Domain, dk)
}

func anyDKIM(f *facts, result string) bool {
	for _, d := range f.auth.DKIM {
		if d.Result == result {
			return true
		}
	}
	return false
}

func ruleDMARCRecord(f *facts) Rule {
	r := Rule{ID: "dmarc-record", Title: "The From domain publishes a DMARC record (p=none is enough)", Applies: "bulk senders",
		Sources: []Source{srcGmail, srcYahoo, srcMicrosoft, srcRFC7489}}
	d := f.auth.DMARC
	switch d.Result {
	case authcheck.TempError:
		unchecked(&r, d.Reason)
	case authcheck.None:
		r.Status, r.Reason = statusFor(f.bulk), d.Reason
		r.Fix = fmt.Sprintf("Publish a TXT record at _dmarc.%s, such as \"v=DMARC1; p=none; rua=mailto:dmarc@%s\".", d.FromDomain, d.FromDomain)
	case authcheck.PermError:
		r.Status, r.Reason = statusFor(f.bulk), d.Reason
		r.Fix = "Fix the DMARC record (it must start with v=DMARC1 and have a valid p= tag), and send with exactly one From address."
	default:
		r.Status, r.Reason = StatusPass, fmt.Sprintf("_dmarc.%s: %s", d.RecordDomain, d.Record)
	}
	return r
}

// unchecked makes r a warning that DNS could not answer: never a pass, not a verdict on the mail.
func unchecked(r *Rule, why string) {
	r.Status, r.Reason, r.Fix = StatusWarn, "could not be checked: "+why, "Make the DNS resolver reachable (--dns) and check again."
}

// statusFor is fail for bulk mail, warn otherwise.
func statusFor(bulk bool) string {
	if bulk {
		return StatusFail
	}
	return StatusWarn
}

func ruleDMARCAligned(f *facts) Rule {
	r := Rule{ID: "dmarc-alignment", Title: "The From domain is aligned with the SPF or DKIM domain (DMARC passes)", Applies: "bulk senders",
		Sources: []Source{srcGmail, srcYahoo, srcMicrosoft, srcRFC7489}}
	d := f.auth.DMARC
	switch {
	case d.Result == authcheck.Pass:
		r.Status, r.Reason = StatusPass, d.Reason
	case d.Result == authcheck.TempError:
		unchecked(&r, d.Reason)
	case d.Result == authcheck.Fail && (d.AppliedPolicy == "reject" || d.AppliedPolicy == "quarantine"):
		r.Applies = "all senders"
		r.Status = StatusFail
		r.Reason = d.Reason + "; the domain's policy is " + d.AppliedPolicy + ", so receivers will " + map[string]string{"reject": "reject it", "quarantine": "put it in spam"}[d.AppliedPolicy]
		r.Fix = fixAlign(d)
	default:
		r.Status, r.Reason, r.Fix = statusFor(f.bulk), d.Reason, fixAlign(d)
	}
	return r
}

func fixAlign(d authcheck.DMARCResult) string {
	return fmt.Sprintf("Sign with DKIM as d=%s (or a subdomain of it, with relaxed alignment), or send with an envelope sender (Return-Path) at %s whose SPF record authorises your sending addresses.",
		d.FromDomain, d.FromDomain)
}

var httpsURI = regexp.MustCompile(`<(https://[^>]+)>`)

func ruleUnsubscribe(f *facts) Rule {
	r := Rule{ID: "one-click-unsubscribe", Title: "Marketing and bulk mail supports one-click unsubscribe (RFC 8058)", Applies: "bulk senders",
		Sources: []Source{srcGmail, srcGmailFAQ, srcYahoo, srcRFC8058}}
	lu := strings.Join(f.values("List-Unsubscribe"), ", ")
	post := strings.Join(f.values("List-Unsubscribe-Post"), ", ")
	var problems []string
	if lu == "" {
		problems = append(problems, "no List-Unsubscribe header")
	} else if !httpsURI.MatchString(lu) {
		problems = append(problems, "List-Unsubscribe has no <https://...> URI (a mailto: alone is not one-click)")
	}
	if strings.TrimSpace(post) != "List-Unsubscribe=One-Click" {
		problems = append(problems, `no "List-Unsubscribe-Post: List-Unsubscribe=One-Click" header`)
	}
	if lu != "" && post != "" && !signedBoth(f) {
		problems = append(problems, "no passing DKIM signature covers both List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 §4)")
	}
	switch {
	case len(problems) == 0:
		r.Status, r.Reason = StatusPass, "List-Unsubscribe "+lu+" with List-Unsubscribe-Post: List-Unsubscribe=One-Click, DKIM-signed"
	case !f.bulk:
		r.Status, r.Reason = StatusPass, "not bulk mail (no List-Unsubscribe or Precedence: bulk header, no --bulk): not required"
	default:
		r.Status, r.Reason = StatusFail, "bulk mail ("+f.bulkWhy+"): "+strings.Join(problems, "; ")
		r.Fix = "Add \"List-Unsubscribe: <https://example.com/unsubscribe/TOKEN>\" and \"List-Unsubscribe-Post: List-Unsubscribe=One-Click\", include both in the DKIM signature's h= tag, and answer a POST to that URL by unsubscribing at once."
	}
	return r
}

func signedBoth(f *facts) bool {
	for _, d := range f.auth.DKIM {
		if d.Result == authcheck.Pass && d.Covers("List-Unsubscribe") && d.Covers("List-Unsubscribe-Post") {
			return true
		}
	}
	return false
}

func ruleSingleFrom(f *facts) Rule {
	r := Rule{ID: "single-from", Title: "Exactly one From address", Applies: "all senders", Sources: []Source{srcRFC5322, srcRFC7489, srcGmail}}
	froms := f.values("From")
	switch {
	case len(froms) == 0:
		r.Status, r.Reason, r.Fix = StatusFail, "no From header", "Set a From address at your own domain."
	case len(froms) > 1:
		r.Status, r.Reason, r.Fix = StatusFail, fmt.Sprintf("%d From headers", len(froms)), "Send one From header."
	default:
		list, err := mail.ParseAddressList(froms[0])
		switch {
		case err != nil:
			r.Status, r.Reason, r.Fix = StatusFail, "From does not parse: "+err.Error(), "Write From as \"Name <user@example.com>\"."
		case len(list) != 1:
			r.Status, r.Reason, r.Fix = StatusFail, fmt.Sprintf("From has %d addresses: DMARC cannot be evaluated", len(list)), "Put one address in From (others can go in Reply-To)."
		default:
			r.Status, r.Reason = StatusPass, list[0].Address
		}
	}
	return r
}

func ruleDate(f *facts) Rule {
	r := Rule{ID: "date", Title: "A valid Date header", Applies: "all senders", Sources: []Source{srcRFC5322, srcGmail}}
	dates := f.values("Date")
	switch {
	case len(dates) != 1:
		r.Status, r.Reason = StatusFail, fmt.Sprintf("%d Date headers (RFC 5322 requires exactly one)", len(dates))
		r.Fix = "Set one Date header, e.g. \"Date: Tue, 01 Dec 2026 10:00:00 +0000\"; most mail libraries do when asked."
	default:
		if _, err := mail.ParseDate(dates[0]); err != nil {
			r.Status, r.Reason, r.Fix = StatusFail, fmt.Sprintf("Date %q does not parse as an RFC 5322 date", dates[0]), "Format Date as RFC 5322 §3.3 says: \"Tue, 01 Dec 2026 10:00:00 +0000\"."
		} else {
			r.Status, r.Reason = StatusPass, dates[0]
		}
	}
	return r
}

var msgIDRe = regexp.MustCompile(`^\s*<[^<>@\s]+@[^<>@\s]+>\s*$`)

func ruleMessageID(f *facts) Rule {
	r := Rule{ID: "message-id", Title: "A valid Message-ID header", Applies: "all senders", Sources: []Source{srcRFC5322, srcGmail}}
	ids := f.values("Message-Id")
	switch {
	case len(ids) != 1:
		r.Status, r.Reason = StatusFail, fmt.Sprintf("%d Message-ID headers (Gmail rejects mail without one)", len(ids))
		r.Fix = "Set one Message-ID such as <unique-id@your-domain.example>."
	case !msgIDRe.MatchString(ids[0]):
		r.Status, r.Reason, r.Fix = StatusFail, fmt.Sprintf("Message-ID %q is not <left@right>", ids[0]), "Use the form <unique-id@your-domain.example>."
	default:
		r.Status, r.Reason = StatusPass, strings.TrimSpace(ids[0])
	}
	return r
}

func ruleLineEndings(f *facts) Rule {
	r := Rule{ID: "line-endings", Title: "No bare LF or CR: every line ends in CRLF", Applies: "all senders", Sources: []Source{srcRFC5322, srcRFC5321}}
	lf, cr := 0, 0
	firstLine := 0
	line := 1
	for i, c := range f.raw {
		switch c {
		case '\n':
			if i == 0 || f.raw[i-1] != '\r' {
				lf++
				if firstLine == 0 {
					firstLine = line
				}
			}
			line++
		case '\r':
			if i+1 >= len(f.raw) || f.raw[i+1] != '\n' {
				cr++
				if firstLine == 0 {
					firstLine = line
				}
			}
		}
	}
	if lf+cr == 0 {
		r.Status, r.Reason = StatusPass, "every line ends in CRLF"
		return r
	}
	r.Status = StatusFail
	r.Reason = fmt.Sprintf("%d bare LF and %d bare CR, the first on line %d (receivers reject such mail since the SMTP smuggling fixes)", lf, cr, firstLine)
	r.Fix = "Send the message with CRLF line endings; most SMTP libraries convert when given the message as text, not as raw bytes."
	return r
}

func ruleLineLength(f *facts) Rule {
	r := Rule{ID: "line-length", Title: "Lines are at most 998 octets", Applies: "all senders", Sources: []Source{srcRFC5322, srcRFC5321}}
	longest, where, n := 0, 0, 0
	for i, l := range bytes.Split(f.raw, []byte{'\n'}) {
		l = bytes.TrimSuffix(l, []byte{'\r'})
		if len(l) > 998 {
			n++
			if len(l) > longest {
				longest, where = len(l), i+1
			}
		}
	}
	if n == 0 {
		r.Status, r.Reason = StatusPass, "no line is longer than 998 octets"
		return r
	}
	r.Status = StatusFail
	r.Reason = fmt.Sprintf("%d lines over 998 octets, the longest %d octets on line %d: relays may break them", n, longest, where)
	r.Fix = "Use quoted-printable or base64 transfer encoding for long lines (HTML on one line is the usual cause)."
	return r
}

func ruleTLS(f *facts) Rule {
	r := Rule{ID: "tls", Title: "The message is sent over TLS", Applies: "all senders", Sources: []Source{srcGmail}}
	if f.tls {
		r.Status, r.Reason = StatusPass, "the message reached letterbox over TLS"
		return r
	}
	r.Status = StatusWarn
	r.Reason = "the message reached letterbox without TLS; Gmail requires TLS on the connection that delivers mail to it (this is your app's hop: it matters if your app delivers to receivers itself)"
	r.Fix = "Use STARTTLS (port 587) or implicit TLS (port 465) in your production SMTP settings; letterbox offers both (--smtps for implicit TLS)."
	return r
}

func ruleHelo(f *facts) Rule {
	r := Rule{ID: "helo-fqdn", Title: "The HELO/EHLO name is a fully qualified domain", Applies: "all senders", Sources: []Source{srcRFC5321}}
	h := strings.TrimSuffix(f.helo, ".")
	switch {
	case h == "":
		r.Status, r.Reason = StatusWarn, "no HELO name recorded"
	case strings.HasPrefix(h, "["):
		r.Status, r.Reason = StatusWarn, "HELO "+h+" is an address literal: allowed by RFC 5321 but scored as suspicious by many receivers"
	case !strings.Contains(h, ".") || strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localdomain") || strings.HasSuffix(strings.ToLower(h), ".local"):
		r.Status, r.Reason = StatusWarn, "HELO "+h+" is not a fully qualified domain name; receivers that check reject or score it"
	default:
		r.Status, r.Reason = StatusPass, "HELO "+h
	}
	if r.Status != StatusPass {
		r.Fix = "Make the sending server greet with its public host name (the name its address's PTR record gives)."
	}
	return r
}

func ruleReverseDNS(f *facts) Rule {
	r := Rule{ID: "reverse-dns", Title: "Sending addresses have forward-confirmed reverse DNS (PTR)", Applies: "all senders", Sources: []Source{srcGmail, srcYahoo}}
	if len(f.ptr) == 0 {
		r.Status, r.Reason = StatusWarn, "no sending address to check"
		return r
	}
	r.Status = StatusPass
	var reasons []string
	for _, p := range f.ptr {
		reasons = append(reasons, p.IP+": "+p.Reason)
		switch {
		case p.Result == StatusFail:
			r.Status = StatusFail
		case p.Result == StatusWarn && r.Status == StatusPass:
			r.Status = StatusWarn
		}
	}
	r.Reason = strings.Join(reasons, "; ")
	if r.Status != StatusPass {
		r.Fix = "Ask whoever runs the sending address (your provider) for a PTR record naming a host whose A/AAAA record points back to it."
	}
	return r
}

func ruleKeySize(f *facts) Rule {
	r := Rule{ID: "dkim-key-size", Title: "DKIM keys are at least 1024 bits (2048 recommended)", Applies: "all senders", Sources: []Source{srcRFC8301, srcGmail}}
	r.Status, r.Reason = StatusPass, "no DKIM key to judge"
	var parts []string
	for _, d := range f.auth.DKIM {
		if d.KeyBits == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s._domainkey.%s: %s %d bits", d.Selector, d.Domain, d.KeyType, d.KeyBits))
		switch {
		case d.KeyType == "rsa" && d.KeyBits < 1024:
			r.Status = StatusFail
		case d.KeyType == "rsa" && d.KeyBits < 2048 && r.Status == StatusPass:
			r.Status = StatusWarn
		}
	}
	if len(parts) > 0 {
		r.Reason = strings.Join(parts, "; ")
	}
	if r.Status != StatusPass {
		r.Fix = "Publish a 2048-bit RSA key under a new selector and sign with it."
	}
	return r
}
