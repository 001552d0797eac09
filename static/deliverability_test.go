package static_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/letterbox-mail/letterbox/authcheck"
	"github.com/letterbox-mail/letterbox/deliverability"
	"github.com/letterbox-mail/letterbox/internal/dnstest"
	"github.com/letterbox-mail/letterbox/webui"
)

// TestDeliverabilityTab opens the Deliverability tab of a newsletter from shop.test: the
// verdict, the checklist, the local-address caveat, the HTML findings beside their lines, a
// sending address typed in, and no script from the mail running in the inbox.
func TestDeliverabilityTab(t *testing.T) {
	dns := dnstest.Start(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	dns.TXT("k1._domainkey.shop.test", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub))
	dns.TXT("shop.test", "v=spf1 ip4:203.0.113.0/24 -all")
	dns.TXT("_dmarc.shop.test", "v=DMARC1; p=none")
	s := newStackWith(t, filepath.Join(t.TempDir(), "letterbox.db"), func(o *webui.Options) {
		o.Deliverability = deliverability.New(deliverability.Options{
			Resolver: dns.Resolver(), Auth: authcheck.New(authcheck.Options{Resolver: dns.Resolver()}),
		})
	})
	html := strings.Join([]string{
		"<html><body>",
		`<div class="row" style="display:flex">`,
		"<p>December offers</p>",
		"<script>window.parent.pwned = 1</script>",
		"</div></body></html>",
	}, "\n")
	s.send(t, "news@shop.test", []string{"dev@example.com"}, mail{
		From: "Shop <news@shop.test>", Subject: "Offers", Text: "December offers", HTML: html,
		Headers: []string{"List-Unsubscribe: <mailto:u@shop.test>"},
	}.bytes())

	ctx := browser(t, 1280, 900)
	open(t, ctx, s.url)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#list-rows a`)))
	waitJS(t, ctx, `!!document.getElementById('tab-deliverability')`, 5*time.Second)
	do(t, ctx, chromedp.Click(chromedp.ID("tab-deliverability")))
	waitJS(t, ctx, `!!document.getElementById('dv-summary')`, 15*time.Second)

	if v := eval[string](t, ctx, `document.querySelector('.dv').dataset.verdict`); v != "fail" {
		t.Errorf("verdict %q, want fail (bulk mail without one-click unsubscribe, no DKIM)", v)
	}
	status := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll('.dv-rule')].map((r) => [r.dataset.rule, r.dataset.status]))`)
	if status["one-click-unsubscribe"] != "fail" || status["dmarc-record"] != "pass" || status["tls"] != "warn" || len(status) < 12 {
		t.Errorf("checklist %v", status)
	}
	if !eval[bool](t, ctx, `[...document.querySelectorAll('.dv-rule[data-rule="one-click-unsubscribe"] .dv-sources a')].some((a) => a.href.startsWith('https://') && a.rel.includes('noopener'))`) {
		t.Error("the unsubscribe rule cites no source link")
	}
	if note := eval[string](t, ctx, `(document.getElementById('dv-ip-note') || {}).textContent || ''`); !strings.Contains(note, "127.0.0.1") || !strings.Contains(note, "SPF cannot pass") {
		t.Errorf("local-address note %q", note)
	}
	// The display:flex finding sits right after line 2 of the HTML.
	finding := eval[map[string]string](t, ctx, `(() => {
		const li = document.querySelector('.dv-finding[data-slug="css-display-flex"]');
		if (!li) return {};
		const ul = li.closest('.dv-findings'), line = ul.previousElementSibling;
		return {line: ul.dataset.line, code: line.querySelector('.dv-code').textContent, ln: line.dataset.line};
	})()`)
	if finding["line"] != "2" || finding["ln"] != "2" || !strings.Contains(finding["code"], "display:flex") {
		t.Errorf("display:flex finding %v", finding)
	}
	// The mail's script is shown as text and never runs here.
	if eval[bool](t, ctx, `window.pwned === 1`) || !eval[bool](t, ctx, `[...document.querySelectorAll('.dv-code')].some((c) => c.textContent.includes('<script>'))`) {
		t.Error("the message's script ran, or its line is not shown as text")
	}

	if dir := os.Getenv("LETTERBOX_SHOT"); dir != "" {
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(filepath.Join(dir, "deliverability-top.png"), png, 0o644)
		}
		eval[bool](t, ctx, `(document.getElementById('dv-html').scrollIntoView(), true)`)
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(filepath.Join(dir, "deliverability-html.png"), png, 0o644)
		}
		eval[bool](t, ctx, `(document.getElementById('tab-deliverability').scrollIntoView(), true)`)
	}
	// The production address, typed in: SPF passes for it.
	do(t, ctx, chromedp.SendKeys(chromedp.ID("dv-ip"), "203.0.113.5"), chromedp.Click(chromedp.ID("dv-recheck")))
	waitJS(t, ctx, `!!document.getElementById('dv-summary') && !document.getElementById('dv-ip-note')`, 15*time.Second)
	spf := eval[string](t, ctx, `[...document.querySelectorAll('#dv-auth .kv-row')].find((r) => r.querySelector('dt').textContent === 'Result' && r.closest('dl').previousElementSibling.textContent === 'SPF').querySelector('.dv-badge').textContent`)
	if spf != "pass" {
		t.Errorf("SPF for 203.0.113.5: %q", spf)
	}
}
