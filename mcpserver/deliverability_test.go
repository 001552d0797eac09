package mcpserver_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/dnstest"
	"github.com/letterbox-mail/letterbox/internal/smtptest"
	"github.com/letterbox-mail/letterbox/letterboxtest"
	"github.com/letterbox-mail/letterbox/mcpserver"
)

func TestDeliverabilityReportTool(t *testing.T) {
	dns := dnstest.Start(t)
	dns.TXT("shop.test", "v=spf1 ip4:203.0.113.0/24 -all")
	dns.TXT("_dmarc.shop.test", "v=DMARC1; p=quarantine")
	mail := letterboxtest.Start(t, letterboxtest.WithDNS(dns.Addr()), letterboxtest.WithSendingIPs(netip.MustParseAddr("198.51.100.9")))
	s := connectStdio(t, mcpserver.New(mail.Client(), mcpserver.Options{}))
	raw := "From: Shop <orders@shop.test>\r\nTo: b@example.com\r\nSubject: News\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n" +
		"Message-ID: <n1@shop.test>\r\nList-Unsubscribe: <mailto:u@shop.test>\r\nContent-Type: text/html\r\n\r\n<div style=\"display:flex\">Offers</div>\r\n"
	if err := smtptest.Send(mail.SMTPAddr(), "bounce@shop.test", []string{"b@example.com"}, raw); err != nil {
		t.Fatal(err)
	}
	var out mcpserver.DeliverabilityOutput
	call(t, s, "deliverability_report", map[string]any{"id": "latest"}, &out)
	if out.Verdict != "fail" || !strings.HasPrefix(out.SPF, "fail for shop.test") || !strings.HasPrefix(out.DMARC, "fail") {
		t.Errorf("verdict %s, SPF %s, DMARC %s", out.Verdict, out.SPF, out.DMARC)
	}
	rules := map[string]mcpserver.DeliverabilityProblem{}
	for _, p := range out.Problems {
		rules[p.Rule] = p
	}
	unsub := rules["Marketing and bulk mail supports one-click unsubscribe (RFC 8058)"]
	if unsub.Status != "fail" || unsub.Fix == "" || !strings.Contains(unsub.Source, "https://") {
		t.Errorf("problems %+v", out.Problems)
	}
	if len(out.HTMLIssues) == 0 || !strings.Contains(strings.Join(out.HTMLIssues, "\n"), "display:flex") {
		t.Errorf("html issues %v", out.HTMLIssues)
	}
	// With the production address given, SPF passes.
	call(t, s, "deliverability_report", map[string]any{"id": "latest", "sending_ips": []string{"203.0.113.7"}}, &out)
	if !strings.HasPrefix(out.SPF, "pass") {
		t.Errorf("SPF with sending_ips: %s", out.SPF)
	}
}
