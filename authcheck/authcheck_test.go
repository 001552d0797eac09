package authcheck

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/dkimtest"
	"github.com/letterbox-mail/letterbox/internal/dnstest"
)

func keys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) { return dkimtest.Keys(t) }

func keyRecord(t *testing.T, pub crypto.PublicKey) string { return dkimtest.Record(t, pub) }

func message(from string, extra ...string) []byte {
	h := []string{
		"From: Sender <" + from + ">",
		"To: bob@example.net",
		"Subject: Your receipt",
		"Date: Tue, 01 Dec 2026 10:00:00 +0000",
		"Message-ID: <r1@" + from[strings.IndexByte(from, '@')+1:] + ">",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
	}
	h = append(h, extra...)
	return []byte(strings.Join(h, "\r\n") + "\r\n\r\nThank you for your order.\r\nTotal: 12.00 EUR\r\n")
}

func sign(t *testing.T, raw []byte, domain, selector string, key crypto.Signer) []byte {
	return dkimtest.Sign(t, raw, domain, selector, key, "From", "To", "Subject", "Date", "Message-ID")
}

func checker(dns *dnstest.Server) *Checker {
	return New(Options{Resolver: dns.Resolver(), Timeout: 10 * time.Second})
}

func ips(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestDKIM(t *testing.T) {
	key, wrong := keys(t)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	dns := dnstest.Start(t)
	dns.TXT("s1._domainkey.shop.test", keyRecord(t, key.Public()))
	dns.TXT("ed._domainkey.shop.test", keyRecord(t, edKey.Public()))
	dns.TXT("rotated._domainkey.shop.test", keyRecord(t, wrong.Public()))
	c := checker(dns)

	signed := sign(t, message("orders@shop.test"), "shop.test", "s1", key)
	changed := bytes.Replace(signed, []byte("12.00 EUR"), []byte("1.00 EUR"), 1)
	cases := []struct {
		name, result, bodyHash, reason string
		bits                           int
		raw                            []byte
	}{
		{"pass", Pass, Pass, "verified", 2048, signed},
		{"ed25519", Pass, Pass, "verified", 256, sign(t, message("orders@shop.test"), "shop.test", "ed", edKey)},
		{"body changed after signing", Fail, Fail, "body was changed", 2048, changed},
		{"wrong key", Fail, Pass, "does not match", 2048, sign(t, message("orders@shop.test"), "shop.test", "rotated", key)},
		{"missing record", PermError, "", "no public key at gone._domainkey.shop.test", 0, sign(t, message("orders@shop.test"), "shop.test", "gone", key)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := c.Check(context.Background(), Input{Raw: tc.raw, FromDomain: "shop.test"})
			if len(res.DKIM) != 1 {
				t.Fatalf("%d DKIM results, want 1", len(res.DKIM))
			}
			d := res.DKIM[0]
			if d.Result != tc.result || d.BodyHash != tc.bodyHash || !strings.Contains(d.Reason, tc.reason) || d.KeyBits != tc.bits {
				t.Errorf("got %+v\nwant result %s, body hash %q, key bits %d, reason containing %q", d, tc.result, tc.bodyHash, tc.bits, tc.reason)
			}
			if d.Domain != "shop.test" || d.Algorithm == "" || !d.Covers("subject") {
				t.Errorf("signature fields: %+v", d)
			}
		})
	}

	t.Run("every signature", func(t *testing.T) {
		raw := sign(t, sign(t, message("orders@shop.test"), "shop.test", "s1", key), "shop.test", "gone", key)
		res := c.Check(context.Background(), Input{Raw: raw, FromDomain: "shop.test"})
		if len(res.DKIM) != 2 || res.DKIM[0].Selector != "gone" || res.DKIM[0].Result != PermError || res.DKIM[1].Result != Pass {
			t.Fatalf("two signatures: %+v", res.DKIM)
		}
		if !res.DKIMPass() {
			t.Error("DKIMPass false with one passing signature")
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		res := c.Check(context.Background(), Input{Raw: message("orders@shop.test"), FromDomain: "shop.test"})
		if len(res.DKIM) != 0 || res.DKIMPass() {
			t.Fatalf("unsigned message: %+v", res.DKIM)
		}
	})
}

func TestSPF(t *testing.T) {
	dns := dnstest.Start(t)
	dns.TXT("shop.test", "v=spf1 include:_spf.mailer.test -all")
	dns.TXT("_spf.mailer.test", "v=spf1 include:_netblocks.mailer.test ip6:2001:db8::/32 -all")
	dns.TXT("_netblocks.mailer.test", "v=spf1 ip4:203.0.113.0/24 -all")
	dns.TXT("soft.test", "v=spf1 ip4:192.0.2.1 ~all")
	dns.TXT("neutral.test", "v=spf1 ?all")
	dns.TXT("loop.test", "v=spf1 include:loop.test -all")
	dns.TXT("mx.shop.test", "v=spf1 a -all")
	dns.Host("mx.shop.test", "203.0.113.9")
	c := checker(dns)

	cases := []struct {
		name, from, helo string
		ips              []netip.Addr
		result, reason   string
	}{
		{"include chain pass", "bounce@shop.test", "mx.shop.test", ips("203.0.113.7"), Pass, "is authorised by the SPF record of shop.test"},
		{"include chain ipv6", "bounce@shop.test", "mx.shop.test", ips("2001:db8::25"), Pass, "authorised"},
		{"include chain fail", "bounce@shop.test", "mx.shop.test", ips("198.51.100.4"), Fail, "-all"},
		{"softfail", "bounce@soft.test", "mx.soft.test", ips("198.51.100.4"), SoftFail, "~all"},
		{"neutral", "bounce@neutral.test", "mx.neutral.test", ips("198.51.100.4"), Neutral, "no assertion"},
		{"no record", "bounce@nospf.test", "mx.nospf.test", ips("198.51.100.4"), None, "publishes no SPF record"},
		{"include loop", "bounce@loop.test", "mx.loop.test", ips("198.51.100.4"), PermError, ""},
		{"worst of several addresses", "bounce@shop.test", "mx.shop.test", ips("203.0.113.7", "198.51.100.4"), Fail, "worst of 2"},
		{"null sender uses HELO", "", "mx.shop.test", ips("203.0.113.9"), Pass, "mx.shop.test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := c.Check(context.Background(), Input{Raw: message("a@shop.test"), MailFrom: tc.from, Helo: tc.helo, IPs: tc.ips})
			if res.SPF.Result != tc.result || !strings.Contains(res.SPF.Reason, tc.reason) {
				t.Errorf("SPF %s (%s), want %s with %q", res.SPF.Result, res.SPF.Reason, tc.result, tc.reason)
			}
		})
	}

	res := c.Check(context.Background(), Input{Raw: message("a@shop.test"), MailFrom: "bounce@shop.test", Helo: "mx.shop.test", IPs: ips("203.0.113.7")})
	var chain []string
	for _, r := range res.SPF.Chain {
		chain = append(chain, r.Domain)
	}
	if strings.Join(chain, " ") != "shop.test _spf.mailer.test _netblocks.mailer.test" {
		t.Errorf("chain %q", chain)
	}
	helo := res.SPF.Checks[1]
	if helo.Identity != "helo" || helo.Domain != "mx.shop.test" || helo.Result != Fail {
		t.Errorf("HELO check %+v: mx.shop.test allows only 203.0.113.9", helo)
	}
}

func TestDMARC(t *testing.T) {
	key, _ := keys(t)
	dns := dnstest.Start(t)
	for _, d := range []string{"brand.test", "mailer.test", "news.brand.test"} {
		dns.TXT("k._domainkey."+d, keyRecord(t, key.Public()))
	}
	dns.TXT("brand.test", "v=spf1 ip4:203.0.113.0/24 -all")
	dns.TXT("mailer.test", "v=spf1 ip4:203.0.113.0/24 -all")
	dns.TXT("bounces.brand.test", "v=spf1 ip4:203.0.113.0/24 -all")
	dns.TXT("_dmarc.brand.test", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@brand.test")
	dns.TXT("_dmarc.strict.test", "v=DMARC1; p=quarantine; adkim=s; aspf=s; pct=50")
	dns.TXT("k._domainkey.strict.test", keyRecord(t, key.Public()))
	dns.TXT("k._domainkey.mail.strict.test", keyRecord(t, key.Public()))
	c := checker(dns)
	ip := ips("203.0.113.5")

	cases := []struct {
		name, from, signer, mailFrom string
		result, policy, applied      string
		dkimAligned, spfAligned      bool
		reason                       string
	}{
		{"aligned DKIM and SPF", "a@brand.test", "brand.test", "b@brand.test", Pass, "reject", "none", true, true, "aligned"},
		{"relaxed: subdomain SPF aligns", "a@brand.test", "", "b@bounces.brand.test", Pass, "reject", "none", false, true, "SPF (bounces.brand.test)"},
		{"alignment failing: third-party DKIM and SPF", "a@brand.test", "mailer.test", "b@mailer.test", Fail, "reject", "reject", false, false, "d=mailer.test is not relaxed-aligned"},
		{"subdomain policy from organizational domain", "a@news.brand.test", "mailer.test", "b@mailer.test", Fail, "quarantine", "quarantine", false, false, "neither"},
		{"relaxed: subdomain DKIM aligns", "a@news.brand.test", "brand.test", "b@mailer.test", Pass, "quarantine", "none", true, false, "DKIM (brand.test)"},
		{"strict: subdomain DKIM does not align", "a@strict.test", "mail.strict.test", "", Fail, "quarantine", "quarantine", false, false, "pct=50"},
		{"no policy", "a@mailer.test", "mailer.test", "b@mailer.test", None, "", "none", true, true, "no DMARC record at _dmarc.mailer.test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := message(tc.from)
			if tc.signer != "" {
				raw = sign(t, raw, tc.signer, "k", key)
			}
			res := c.Check(context.Background(), Input{Raw: raw, MailFrom: tc.mailFrom, Helo: "mta.mailer.test", IPs: ip, FromDomain: domainOf(tc.from)})
			d := res.DMARC
			if d.Result != tc.result || d.Policy != tc.policy || d.AppliedPolicy != tc.applied ||
				d.DKIMAligned != tc.dkimAligned || d.SPFAligned != tc.spfAligned || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("got %+v\nwant %s, policy %q applied %q, DKIM aligned %v, SPF aligned %v, reason with %q",
					d, tc.result, tc.policy, tc.applied, tc.dkimAligned, tc.spfAligned, tc.reason)
			}
		})
	}
}

// TestDNSUnreachable: with no DNS server answering, every verdict is temperror, never a pass.
func TestDNSUnreachable(t *testing.T) {
	key, _ := keys(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	c := New(Options{Resolver: NewResolver(dead), Timeout: 10 * time.Second})
	raw := sign(t, message("a@brand.test"), "brand.test", "k", key)
	res := c.Check(context.Background(), Input{Raw: raw, MailFrom: "b@brand.test", Helo: "mx.brand.test", IPs: ips("203.0.113.5"), FromDomain: "brand.test"})
	if len(res.DKIM) != 1 || res.DKIM[0].Result != TempError || !strings.Contains(res.DKIM[0].Reason, "DNS unreachable") {
		t.Errorf("DKIM %+v", res.DKIM)
	}
	if res.SPF.Result != TempError || !strings.Contains(res.SPF.Reason, "DNS unreachable") {
		t.Errorf("SPF %+v", res.SPF)
	}
	// Each identity's reason names its own lookup (not the first that failed in the check).
	for _, ck := range res.SPF.Checks {
		if ck.Result != TempError || !strings.Contains(ck.Reason, "DNS unreachable") || !strings.Contains(ck.Reason, "lookup "+ck.Domain+":") {
			t.Errorf("SPF check %+v", ck)
		}
	}
	if len(res.SPF.Checks) != 2 {
		t.Errorf("SPF checks %+v, want mailfrom and helo", res.SPF.Checks)
	}
	if res.DMARC.Result != TempError || !strings.Contains(res.DMARC.Reason, "DNS unreachable") {
		t.Errorf("DMARC %+v", res.DMARC)
	}
}
