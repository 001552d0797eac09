package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/authcheck"
	"github.com/letterbox-mail/letterbox/deliverability"
	"github.com/letterbox-mail/letterbox/internal/dkimtest"
	"github.com/letterbox-mail/letterbox/internal/dnstest"
	"github.com/letterbox-mail/letterbox/internal/spamdtest"
	"github.com/letterbox-mail/letterbox/linkcheck"
	"github.com/letterbox-mail/letterbox/netguard"
	"github.com/letterbox-mail/letterbox/spamassassin"
)

// checksEnv is a server with the deliverability checks over a test DNS, and a signed message
// from shop.test received over real SMTP.
func checksEnv(t *testing.T, spamd string) (*testEnv, string, *httptest.Server) {
	key, _ := dkimtest.Keys(t)
	dns := dnstest.Start(t)
	dns.TXT("s1._domainkey.shop.test", dkimtest.Record(t, key.Public()))
	dns.TXT("shop.test", "v=spf1 ip4:203.0.113.0/24 -all")
	dns.TXT("_dmarc.shop.test", "v=DMARC1; p=reject")
	dns.PTR("203.0.113.5", "mta.shop.test")
	dns.Host("mta.shop.test", "203.0.113.5")
	dns.Host("tracker.shop.test", "127.0.0.1") // a public-looking name resolving to loopback

	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(site.Close)

	guard := netguard.New(netguard.Options{Resolver: dns.Resolver()})
	links := linkcheck.New(linkcheck.Options{Guard: guard, Timeout: 5 * time.Second})
	opts := Options{LinkChecker: links}
	var spam *spamassassin.Client
	if spamd != "" {
		spam, _ = spamassassin.New(spamassassin.Options{Addr: spamd})
		opts.SpamAssassin = spam
	}
	opts.Deliverability = deliverability.New(deliverability.Options{
		Auth:     authcheck.New(authcheck.Options{Resolver: dns.Resolver()}),
		Resolver: dns.Resolver(), Links: links, Spam: spam,
	})
	e := newEnv(t, opts)
	addr, _ := e.startSMTP()

	html := `<html><body><div style="display:flex; border-radius:6px">` +
		`<a href="` + site.URL + `/ok">ok</a> <a href="` + site.URL + `/gone">gone</a> ` +
		`<a href="http://tracker.shop.test:` + site.URL[strings.LastIndexByte(site.URL, ':')+1:] + `/t">t</a></div></body></html>`
	raw := strings.Join([]string{
		"From: Shop <orders@shop.test>", "To: bob@example.net", "Subject: Your order",
		"Date: Tue, 01 Dec 2026 10:00:00 +0000", "Message-ID: <o-1@shop.test>", "MIME-Version: 1.0",
		`Content-Type: multipart/alternative; boundary="b"`, "", "--b", "Content-Type: text/plain; charset=utf-8", "",
		"Thanks for your order.", "--b", "Content-Type: text/html; charset=utf-8", "", html, "--b--", ""}, "\r\n")
	signed := dkimtest.Sign(t, []byte(raw), "shop.test", "s1", key)
	sendSMTP(t, addr, "bounce@shop.test", []string{"bob@example.net"}, string(signed))
	id := ids(e.getJSON("/api/v1/messages"))[0]
	return e, id, site
}

func TestDeliverabilityEndpoint(t *testing.T) {
	e, id, _ := checksEnv(t, "")
	// From the SMTP client's address (127.0.0.1): DKIM and DMARC pass, SPF cannot.
	rep := e.getJSON("/api/v1/message/" + id + "/deliverability")
	if field(rep, "SendingIPSource") != "client" || !strings.Contains(field(rep, "SendingIPNote").(string), "127.0.0.1") {
		t.Errorf("client address: %v %v", field(rep, "SendingIPSource"), field(rep, "SendingIPNote"))
	}
	dk := field(rep, "DKIM").([]any)
	if len(dk) != 1 || field(dk[0], "Result") != "pass" || num(field(dk[0], "KeyBits")) != 2048 {
		t.Errorf("DKIM %v", dk)
	}
	if field(rep, "DMARC", "Result") != "pass" || field(rep, "SPF", "Result") != "fail" {
		t.Errorf("DMARC %v SPF %v", field(rep, "DMARC", "Result"), field(rep, "SPF", "Result"))
	}
	if field(rep, "Cached") != false || field(rep, "HTMLCheck") == nil || field(rep, "LinkCheck") != nil || field(rep, "SpamAssassin") != nil {
		t.Errorf("first report: cached %v, html %v, links %v, spam %v", field(rep, "Cached"), field(rep, "HTMLCheck") != nil, field(rep, "LinkCheck"), field(rep, "SpamAssassin"))
	}
	if again := e.getJSON("/api/v1/message/" + id + "/deliverability"); field(again, "Cached") != true {
		t.Error("second report not from the cache")
	}
	// The production address, set per request: SPF passes too; with links, one is broken, one blocked.
	rep = e.getJSON("/api/v1/message/latest/deliverability?ip=203.0.113.5&links=true")
	if field(rep, "SPF", "Result") != "pass" || field(rep, "SendingIPSource") != "request" {
		t.Errorf("SPF for 203.0.113.5: %v", field(rep, "SPF"))
	}
	if num(field(rep, "LinkCheck", "Errors")) != 2 || field(rep, "Verdict") != "fail" {
		t.Errorf("links %v, verdict %v %v", field(rep, "LinkCheck"), field(rep, "Verdict"), field(rep, "Summary"))
	}
	checklist := map[string]string{}
	for _, r := range field(rep, "Checklist").([]any) {
		checklist[field(r, "ID").(string)] = field(r, "Status").(string)
	}
	if checklist["spf-and-dkim"] != "pass" || checklist["dmarc-alignment"] != "pass" || checklist["tls"] != "warn" || len(checklist) < 12 {
		t.Errorf("checklist %v", checklist)
	}
	if res, body := e.do("GET", "/api/v1/message/"+id+"/deliverability?ip=nope", ""); res.StatusCode != 400 {
		t.Errorf("bad ip: %d %s", res.StatusCode, body)
	}
	if res, _ := e.do("GET", "/api/v1/message/nope/deliverability", ""); res.StatusCode != 404 {
		t.Errorf("unknown message: %d", res.StatusCode)
	}
}

func TestMailpitChecks(t *testing.T) {
	e, id, site := checksEnv(t, "")
	h := e.getJSON("/api/v1/message/" + id + "/html-check")
	checkShape(t, "html-check", map[string]any{"Warnings": h.(map[string]any)["Warnings"], "Platforms": field(h, "Platforms"), "Total": field(h, "Total")},
		map[string]any{"Warnings": "array", "Platforms": "object", "Total": map[string]any{"Tests": "number", "Nodes": "number", "Supported": "number", "Partial": "number", "Unsupported": "number"}})
	found := map[string]bool{}
	for _, w := range field(h, "Warnings").([]any) {
		found[field(w, "Slug").(string)] = true
	}
	if !found["css-display-flex"] || !found["css-border-radius"] {
		t.Errorf("html-check warnings %v", found)
	}

	l := e.getJSON("/api/v1/message/" + id + "/link-check?follow=true")
	links := map[string]any{}
	for _, x := range field(l, "Links").([]any) {
		links[field(x, "URL").(string)] = x
		checkShape(t, "link", x, map[string]any{"URL": "string", "StatusCode": "number", "Status": "string"})
	}
	if num(field(l, "Errors")) != 2 || num(field(links[site.URL+"/ok"], "StatusCode")) != 200 || num(field(links[site.URL+"/gone"], "StatusCode")) != 404 {
		t.Errorf("link-check %v", l)
	}
	for u, x := range links {
		if strings.Contains(u, "tracker.shop.test") && !strings.HasPrefix(field(x, "Status").(string), "blocked") {
			t.Errorf("tracker link not blocked: %v", x)
		}
	}

	// Another site's page cannot make letterbox fetch the links.
	if res, _ := e.do("GET", "/api/v1/message/"+id+"/link-check", "", "Sec-Fetch-Site", "cross-site"); res.StatusCode != 403 {
		t.Errorf("cross-site link-check: %d", res.StatusCode)
	}
	if res, _ := e.do("GET", "/api/v1/message/"+id+"/deliverability?links=true", "", "Sec-Fetch-Site", "cross-site"); res.StatusCode != 403 {
		t.Errorf("cross-site deliverability with links: %d", res.StatusCode)
	}
	if res, body := e.do("GET", "/api/v1/message/"+id+"/sa-check", ""); res.StatusCode != 400 || !strings.Contains(string(body), "SpamAssassin") {
		t.Errorf("sa-check without spamd: %d %s", res.StatusCode, body)
	}
	if field(e.getJSON("/api/v1/webui"), "SpamAssassin") != false {
		t.Error("webui config says SpamAssassin is on")
	}
	plain := e.add(msg{subject: "plain", text: "no html"})
	if res, body := e.do("GET", "/api/v1/message/"+plain.ID+"/html-check", ""); res.StatusCode != 400 || !strings.Contains(string(body), "does not contain HTML") {
		t.Errorf("html-check of a text message: %d %s", res.StatusCode, body)
	}
}

func TestSACheckRealSpamd(t *testing.T) {
	addr := spamdtest.Start(t)
	e, id, _ := checksEnv(t, addr)
	v := e.getJSON("/api/v1/message/" + id + "/sa-check")
	checkShape(t, "sa-check", v, map[string]any{"IsSpam": "bool", "Error": "string", "Score": "number", "Rules": "array"})
	if field(v, "Error") != "" || len(field(v, "Rules").([]any)) == 0 {
		t.Errorf("sa-check %v", v)
	}
	for _, r := range field(v, "Rules").([]any) {
		checkShape(t, "rule", r, map[string]any{"Score": "number", "Name": "string", "Description": "string"})
	}
	if field(e.getJSON("/api/v1/webui"), "SpamAssassin") != true {
		t.Error("webui config says SpamAssassin is off")
	}
	rep := e.getJSON("/api/v1/message/" + id + "/deliverability")
	if field(rep, "SpamAssassin", "Error") != "" || field(rep, "SpamAssassin", "Rules") == nil {
		t.Errorf("report's SpamAssassin %v", field(rep, "SpamAssassin"))
	}
}
