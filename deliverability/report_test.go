package deliverability

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/authcheck"
	"github.com/letterbox-mail/letterbox/internal/dkimtest"
	"github.com/letterbox-mail/letterbox/internal/dnstest"
)

// world is a test DNS with brand.test set up as a careful bulk sender would.
func world(t testing.TB) *dnstest.Server {
	dns := dnstest.Start(t)
	key, _ := dkimtest.Keys(t)
	dns.TXT("mail._domainkey.brand.test", dkimtest.Record(t, key.Public()))
	dns.TXT("brand.test", "v=spf1 include:_spf.esp.test -all")
	dns.TXT("_spf.esp.test", "v=spf1 ip4:203.0.113.0/24 ~all")
	dns.TXT("_dmarc.brand.test", "v=DMARC1; p=reject")
	dns.PTR("203.0.113.5", "out5.esp.test")
	dns.Host("out5.esp.test", "203.0.113.5")
	dns.PTR("203.0.113.6", "generic.example.net")
	return dns
}

func newsletter(t testing.TB, extra ...string) []byte {
	h := append([]string{
		"From: Brand News <news@brand.test>",
		"To: bob@example.net",
		"Subject: December offers",
		"Date: Tue, 01 Dec 2026 10:00:00 +0000",
		"Message-ID: <nl-2026-12@brand.test>",
		"List-Unsubscribe: <https://brand.test/u/abc123>, <mailto:u@brand.test?subject=abc123>",
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
		"MIME-Version: 1.0",
		"Content-Type: text/html; charset=utf-8",
	}, extra...)
	raw := []byte(strings.Join(h, "\r\n") + "\r\n\r\n<p>Our December offers: <a href=\"https://brand.test/offers\">see them</a>.</p>\r\n")
	key, _ := dkimtest.Keys(t)
	return dkimtest.Sign(t, raw, "brand.test", "mail", key, "From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post")
}

func input(raw []byte) Input {
	return Input{ID: "m1", Raw: raw, MailFrom: "bounce@brand.test", Helo: "out5.esp.test", RemoteAddr: "127.0.0.1:50000", TLS: true,
		HTML: "<p>Our December offers</p>"}
}

func newChecker(dns *dnstest.Server, opts Options) *Checker {
	opts.Resolver = dns.Resolver()
	opts.Auth = authcheck.New(authcheck.Options{Resolver: dns.Resolver(), Timeout: 10 * time.Second})
	return New(opts)
}

func rules(rep *Report) map[string]Rule {
	m := map[string]Rule{}
	for _, r := range rep.Checklist {
		m[r.ID] = r
	}
	return m
}

func TestCarefulBulkSenderPasses(t *testing.T) {
	dns := world(t)
	c := newChecker(dns, Options{SendingIPs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}})
	rep, err := c.Report(context.Background(), input(newsletter(t)), Request{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Checklist {
		if r.Status != StatusPass {
			t.Errorf("%s: %s (%s)", r.ID, r.Status, r.Reason)
		}
		if len(r.Sources) == 0 || r.Sources[0].URL == "" {
			t.Errorf("%s cites no source", r.ID)
		}
	}
	if rep.Verdict != VerdictPass || !rep.Bulk || rep.SendingIPSource != "--sending-ip" || rep.SendingIPNote != "" {
		t.Errorf("verdict %s (%s), bulk %v, source %s, note %q", rep.Verdict, rep.Summary, rep.Bulk, rep.SendingIPSource, rep.SendingIPNote)
	}
	if rep.DMARC.Result != authcheck.Pass || rep.SPF.Result != authcheck.Pass || len(rep.SPF.Chain) != 2 {
		t.Errorf("DMARC %+v SPF %+v", rep.DMARC, rep.SPF)
	}
	if rep.ReverseDNS[0].Confirmed != "out5.esp.test" {
		t.Errorf("reverse DNS %+v", rep.ReverseDNS)
	}
	if rep.HTMLCheck == nil || rep.SpamAssassin != nil || rep.LinkCheck != nil {
		t.Errorf("content checks: html %v spam %v links %v", rep.HTMLCheck != nil, rep.SpamAssassin, rep.LinkCheck)
	}
}

func TestChecklistFailures(t *testing.T) {
	dns := world(t)
	ip := []netip.Addr{netip.MustParseAddr("203.0.113.6")}
	c := newChecker(dns, Options{SendingIPs: ip})
	ctx := context.Background()

	// Not one-click: the Post header is missing; and a bare LF, a long line, no TLS, a bad HELO.
	raw := newsletter(t)
	raw = bytes.Replace(raw, []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), nil, 1)
	raw = append(raw, []byte("tail\nline "+strings.Repeat("x", 1200)+"\r\n")...)
	in := input(raw)
	in.ID, in.TLS, in.Helo = "m2", false, "localhost"
	rep, err := c.Report(ctx, in, Request{})
	if err != nil {
		t.Fatal(err)
	}
	got := rules(rep)
	want := map[string]string{
		"one-click-unsubscribe": StatusFail, "line-endings": StatusFail, "line-length": StatusFail,
		"tls": StatusWarn, "helo-fqdn": StatusWarn, "reverse-dns": StatusFail,
		// The appended text changed the body, so DKIM fails; SPF still passes for 203.0.113.6.
		"spf-or-dkim": StatusPass, "spf-and-dkim": StatusFail,
	}
	for id, status := range want {
		if got[id].Status != status {
			t.Errorf("%s: %s (%s), want %s", id, got[id].Status, got[id].Reason, status)
		}
		if status != StatusPass && got[id].Fix == "" {
			t.Errorf("%s has no fix", id)
		}
	}
	if !strings.Contains(got["one-click-unsubscribe"].Reason, "List-Unsubscribe-Post") {
		t.Errorf("unsubscribe reason: %s", got["one-click-unsubscribe"].Reason)
	}
	if rep.Verdict != VerdictFail || !strings.Contains(rep.Summary, "one-click") {
		t.Errorf("verdict %s: %s", rep.Verdict, rep.Summary)
	}

	// Transactional mail from a third party: DMARC fails alignment and p=reject applies.
	third := []byte("From: Shop <orders@brand.test>\r\nTo: bob@example.net\r\nSubject: Receipt\r\n" +
		"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <r1@shop>\r\n\r\nThanks.\r\n")
	in = input(third)
	in.ID, in.MailFrom = "m3", "bounce@esp.test"
	rep, _ = c.Report(ctx, in, Request{})
	if r := rules(rep)["dmarc-alignment"]; r.Status != StatusFail || !strings.Contains(r.Reason, "reject") {
		t.Errorf("alignment: %+v", r)
	}
	if r := rules(rep)["one-click-unsubscribe"]; r.Status != StatusPass || rep.Bulk {
		t.Errorf("transactional mail judged bulk: %+v", r)
	}
}

func TestLocalClientAddress(t *testing.T) {
	dns := world(t)
	c := newChecker(dns, Options{})
	rep, _ := c.Report(context.Background(), input(newsletter(t)), Request{})
	if rep.SendingIPSource != "client" || rep.SendingIPs[0] != "127.0.0.1" || !strings.Contains(rep.SendingIPNote, "SPF cannot pass") {
		t.Errorf("source %s ips %v note %q", rep.SendingIPSource, rep.SendingIPs, rep.SendingIPNote)
	}
	if rep.SPF.Result == authcheck.Pass {
		t.Error("SPF passed for 127.0.0.1")
	}
	// The address can be set per request.
	rep, _ = c.Report(context.Background(), input(newsletter(t)), Request{IPs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}})
	if rep.SendingIPSource != "request" || rep.SPF.Result != authcheck.Pass || rep.Verdict != VerdictPass {
		t.Errorf("per-request address: %s %s %s", rep.SendingIPSource, rep.SPF.Result, rep.Summary)
	}
}

func TestCachedPerMessage(t *testing.T) {
	dns := world(t)
	c := newChecker(dns, Options{SendingIPs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}})
	ctx := context.Background()
	in := input(newsletter(t))
	first, _ := c.Report(ctx, in, Request{})
	q := dns.Queries()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := c.Report(ctx, in, Request{})
			if err != nil || !rep.Cached || rep.Computed != first.Computed {
				t.Errorf("cached report: %v %v", err, rep)
			}
		}()
	}
	wg.Wait()
	if dns.Queries() != q || first.Cached {
		t.Errorf("%d DNS queries for cached reports; first cached %v", dns.Queries()-q, first.Cached)
	}
	again, _ := c.Report(ctx, in, Request{Refresh: true})
	if again.Cached || dns.Queries() == q {
		t.Error("refresh did not compute again")
	}
	other := in
	other.ID = "m2"
	if rep, _ := c.Report(ctx, other, Request{}); rep.Cached {
		t.Error("another message got the first one's report")
	}
}

// TestDNSUnreachableNeverPasses: offline, nothing that needs DNS passes, and the verdict is not pass.
func TestDNSUnreachableNeverPasses(t *testing.T) {
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	dead := pc.LocalAddr().String()
	pc.Close()
	r := authcheck.NewResolver(dead)
	c := New(Options{Resolver: r, Auth: authcheck.New(authcheck.Options{Resolver: r, Timeout: 10 * time.Second}),
		SendingIPs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}})
	rep, _ := c.Report(context.Background(), input(newsletter(t)), Request{})
	for _, id := range []string{"spf-or-dkim", "spf-and-dkim", "dmarc-record", "dmarc-alignment", "reverse-dns", "one-click-unsubscribe"} {
		if r := rules(rep)[id]; r.Status == StatusPass {
			t.Errorf("%s passed offline: %s", id, r.Reason)
		}
	}
	if rep.Verdict == VerdictPass || rep.DMARC.Result != authcheck.TempError || !strings.Contains(rules(rep)["spf-or-dkim"].Reason, "DNS unreachable") {
		t.Errorf("verdict %s, DMARC %s, %s", rep.Verdict, rep.DMARC.Result, rules(rep)["spf-or-dkim"].Reason)
	}
	// The reverse DNS says which server did not answer: the one asked, not the system's.
	if len(rep.ReverseDNS) != 1 || rep.ReverseDNS[0].Result != StatusWarn || !strings.Contains(rep.ReverseDNS[0].Reason, "DNS unreachable") ||
		!strings.Contains(rep.ReverseDNS[0].Reason, dead) || regexp.MustCompile(` on \S+:\d+: `).MatchString(rep.ReverseDNS[0].Reason) {
		t.Errorf("reverse DNS %+v", rep.ReverseDNS)
	}
}

// BenchmarkReport is one report computed afresh (DKIM verification, SPF with an include, DMARC,
// reverse DNS over a loopback DNS server, the checklist and the HTML check); and one from the cache.
func BenchmarkReport(b *testing.B) {
	dns := world(b)
	c := newChecker(dns, Options{SendingIPs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}})
	in := input(newsletter(b))
	ctx := context.Background()
	b.Run("fresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if rep, _ := c.Report(ctx, in, Request{Refresh: true}); rep.Verdict != VerdictPass {
				b.Fatal(rep.Summary)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if rep, _ := c.Report(ctx, in, Request{}); !rep.Cached {
				b.Fatal("not cached")
			}
		}
	})
}
