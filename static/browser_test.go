package static_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/letterbox-mail/letterbox/store"
)

// titleRE is what the inbox's tab title may be: its name, with the unread count.
var titleRE = regexp.MustCompile(`^(\(\d+\) )?letterbox$`)

func TestLiveArrival(t *testing.T) {
	s := newStack(t)
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)

	if got := eval[string](t, ctx, `document.title`); got != "letterbox" {
		t.Errorf("title of an empty inbox = %q, want letterbox", got)
	}
	if !eval[bool](t, ctx, `!document.getElementById('empty').hidden`) {
		t.Error("an empty inbox shows no instructions")
	}
	_, port, _ := net.SplitHostPort(s.smtp)
	if got := eval[string](t, ctx, `document.getElementById('empty').textContent`); !strings.Contains(got, "swaks --server 127.0.0.1:"+port) || !strings.Contains(got, "curl -sS smtp://127.0.0.1:"+port) {
		t.Errorf("empty inbox help lacks swaks/curl with the SMTP address %s: %q", s.smtp, got)
	}
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.__noReload = true`))

	start := time.Now()
	s.send(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: "Welcome aboard", Text: "Hi there, thanks for signing up."}.bytes())
	sent := time.Since(start)
	waitJS(t, ctx, `[...document.querySelectorAll('#list-rows .row-subject')].some(e => e.textContent === 'Welcome aboard')`, 2*time.Second)
	t.Logf("message visible %v after the SMTP transaction began (SMTP took %v)", time.Since(start), sent)

	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Error("the page reloaded")
	}
	if got := eval[string](t, ctx, `document.title`); got != "(1) letterbox" {
		t.Errorf("title = %q, want (1) letterbox", got)
	}
	if !eval[bool](t, ctx, `document.querySelector('#list-rows .row').classList.contains('unread')`) {
		t.Error("the new message is not shown as unread")
	}
	row := eval[map[string]string](t, ctx, `(() => { const r = document.querySelector('#list-rows .row');
		return {from: r.querySelector('.row-from').textContent, snippet: r.querySelector('.row-snippet').textContent,
		        tip: r.querySelector('a').title, time: r.querySelector('time').title, size: r.querySelector('.row-size').textContent}; })()`)
	// The page runs under a strict CSP, and the test harness notices a breach.
	if n := eval[int](t, ctx, `(() => { const d = document.createElement('div'); d.setAttribute('style', 'color: red');
		document.body.append(d); d.remove(); return new Promise(r => setTimeout(() => r(window.__cspViolations.length), 100)); })()`); n != 1 {
		t.Errorf("an inline style attribute caused %d CSP violations, want 1: is the CSP header sent?", n)
	}
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.__cspViolations.length = 0`))
	if row["from"] != "App" || !strings.Contains(row["snippet"], "thanks for signing up") ||
		!strings.Contains(row["tip"], "dev@example.com") || !strings.HasPrefix(row["time"], "Received ") || row["size"] == "" {
		t.Errorf("row = %v", row)
	}
}

func TestScreenshot(t *testing.T) {
	if os.Getenv("LETTERBOX_SCREENSHOT") == "" {
		t.Skip("set LETTERBOX_SCREENSHOT=1 to refresh docs/inbox.png")
	}
	dir := filepath.Join("..", "docs")
	extra := false // more views, for reviewing the design
	if d := os.Getenv("LETTERBOX_SCREENSHOT_DIR"); d != "" {
		dir, extra = d, true
	}
	shot := func(ctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", filepath.Join(dir, name))
	}
	s := newStack(t)
	if extra {
		ctx := browser(t, 1280, 800)
		open(t, ctx, s.url)
		shot(ctx, "empty.png")
	}
	seedRealistic(t, s)
	ctx := browser(t, 1440, 900)
	open(t, ctx, s.url)
	waitJS(t, ctx, `document.querySelectorAll('#list-rows .row:not(.loading)').length >= 7`, 5*time.Second)
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#list-rows a')].find(a => a.textContent.includes('Order #10293')).click()`))
	waitJS(t, ctx, `performance.getEntriesByName('letterbox:frame-loaded').length > 0`, 5*time.Second)
	shot(ctx, "inbox.png")
	if !extra {
		return
	}
	do(t, ctx, chromedp.Click(chromedp.ID("theme-btn")), chromedp.Click(chromedp.ID("theme-btn")))
	waitJS(t, ctx, `document.getAnimations().length === 0`, 3*time.Second)
	shot(ctx, "inbox-dark.png")
	do(t, ctx, chromedp.Click(chromedp.ID("tab-headers")))
	shot(ctx, "headers-dark.png")
	do(t, ctx, chromedp.Click(chromedp.ID("theme-btn")), chromedp.Click(chromedp.ID("tab-attachments")))
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#list-rows a')].find(a => a.textContent.includes('INV-2024')).click()`))
	waitJS(t, ctx, `document.getElementById('msg-subject').textContent.includes('INV-2024') && !document.getElementById('panel-attachments').hidden`, 5*time.Second)
	shot(ctx, "attachments.png")
	do(t, ctx, chromedp.Click(chromedp.ID("help-btn")))
	shot(ctx, "search-help.png")
	phone := browser(t, 375, 740)
	open(t, phone, s.url)
	shot(phone, "phone-list.png")
	do(t, phone, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#list-rows a')].find(a => a.textContent.includes('Order #10293')).click()`))
	waitJS(t, phone, `performance.getEntriesByName('letterbox:frame-loaded').length > 0`, 5*time.Second)
	shot(phone, "phone-message.png")
}

// seedRealistic stores a few messages that look like what apps send, received
// over the last two days.
func seedRealistic(t testing.TB, s *stack) {
	type item struct {
		ago  time.Duration
		read bool
		m    mail
	}
	items := []item{
		{50 * time.Hour, true, mail{From: "Acme Billing <billing@acme.test>", To: "Jane Cooper <jane@example.com>", Subject: "Your invoice INV-2024-0042 is ready",
			Text:   "Hi Jane, your invoice for March is attached. Amount due: $1,280.00 by April 15.",
			Attach: []attachment{{Name: "INV-2024-0042.pdf", Type: "application/pdf", Data: bytes.Repeat([]byte("%PDF-1.4 "), 4000)}, {Name: "logo.png", Type: "image/png", Data: onePixelPNG}}}},
		{26 * time.Hour, true, mail{From: "Calendar <calendar@acme.test>", To: "team@example.com", Subject: "Invitation: Sprint review @ Thu 14:00",
			Text:   "You have been invited to Sprint review. Join with the link in the invitation.",
			Attach: []attachment{{Name: "invite.ics", Type: "text/calendar", Data: []byte("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")}}}},
		{5 * time.Hour, true, mail{From: "Newsletter <news@weekly.test>", To: "subscribers@example.com", Subject: "This week: faster builds, smaller images",
			Text: "Five tips to cut your container images in half, plus a look at the new release.", Headers: []string{"X-Tags: newsletter"}}},
		{3 * time.Hour, true, mail{From: "GitHub <noreply@github.test>", To: "dev+ci@example.com", Subject: "[acme/api] CI failed on main (a1b2c3d)",
			Text: "The workflow \"test\" failed on main: 2 failing tests in store_test.go."}},
		{47 * time.Minute, false, mail{From: "Shop <orders@shop.test>", To: "Jane Cooper <jane@example.com>", Subject: "Order #10293 confirmed",
			Text: "Thanks for your order! We'll email you again when it ships.", HTML: orderHTML, Headers: []string{"X-Tags: orders"}}},
		{12 * time.Minute, false, mail{From: "Auth Service <no-reply@auth.acme.test>", To: "jane@example.com", Subject: "Reset your password",
			Text: "Someone asked to reset the password of your account. Use this link within 30 minutes: https://app.acme.test/reset?token=3f9a2c"}},
		{40 * time.Second, false, mail{From: "Acme <welcome@acme.test>", To: "Sam Lee <sam.lee+signup@example.com>", Subject: "Welcome to Acme, Sam!",
			Text: "Confirm your email address to finish creating your account. The link expires in 24 hours."}},
	}
	var read []string
	for _, it := range items {
		it.m.Date = time.Now().Add(-it.ago)
		sum, err := s.store.Add(t.Context(), store.Envelope{MailFrom: "bounce@acme.test", Recipients: []string{"jane@example.com"},
			Helo: "app.local", RemoteAddr: "172.18.0.5:51234", Received: it.m.Date}, bytes.NewReader(it.m.bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if it.read {
			read = append(read, sum.ID)
		}
	}
	if err := s.store.SetRead(t.Context(), read, true); err != nil {
		t.Fatal(err)
	}
}

const orderHTML = `<!doctype html><html><body style="margin:0;background:#f4f4f7;font-family:Helvetica,Arial,sans-serif">
<table width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:32px 12px">
<table width="560" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border-radius:10px">
<tr><td style="padding:28px 32px;background:#111827;border-radius:10px 10px 0 0;color:#fff;font-size:20px;font-weight:bold">Shop</td></tr>
<tr><td style="padding:28px 32px;color:#111827"><h1 style="margin:0 0 12px;font-size:22px">Thanks for your order!</h1>
<p style="margin:0 0 20px;color:#4b5563;line-height:1.5">Order <b>#10293</b> is confirmed. We'll email you again when it ships.</p>
<table width="100%" cellpadding="0" cellspacing="0" style="border-top:1px solid #e5e7eb">
<tr><td style="padding:12px 0;border-bottom:1px solid #e5e7eb">Wireless keyboard</td><td align="right" style="border-bottom:1px solid #e5e7eb">$89.00</td></tr>
<tr><td style="padding:12px 0;border-bottom:1px solid #e5e7eb">USB-C cable (2 m)</td><td align="right" style="border-bottom:1px solid #e5e7eb">$12.00</td></tr>
<tr><td style="padding:12px 0;font-weight:bold">Total</td><td align="right" style="font-weight:bold">$101.00</td></tr></table>
<p style="margin:24px 0 0"><a href="https://shop.test/orders/10293" style="display:inline-block;padding:12px 20px;background:#4f46e5;color:#fff;border-radius:6px;text-decoration:none">View your order</a></p>
<img src="https://shop.test/pixel.gif" width="1" height="1" alt="">
</td></tr></table></td></tr></table></body></html>`

// noOverflow is a JavaScript check that nothing makes the page scroll sideways.
const noOverflow = `document.documentElement.scrollWidth <= window.innerWidth && document.body.scrollWidth <= window.innerWidth`

// rowsText lists the subjects shown in the list, top to bottom.
const rowsText = `[...document.querySelectorAll('#list-rows .row:not(.loading) .row-subject')].map(e => e.textContent)`

func TestOpenMessage(t *testing.T) {
	s := newStack(t)
	sum := s.add(t, "app@example.com", []string{"dev@example.com"}, mail{
		Subject: "Your receipt", Text: "Plain receipt text https://shop.test/r/1",
		HTML:   `<h1>Receipt from HTML</h1><p>Total: <b>$10</b></p><img src="https://tracker.test/p.gif" alt="">`,
		Attach: []attachment{{Name: "dot.png", Type: "image/png", Data: onePixelPNG}},
	}.bytes())
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	if got := eval[string](t, ctx, `document.title`); got != "(1) letterbox" {
		t.Errorf("title = %q", got)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#list-rows a`)))
	waitJS(t, ctx, `performance.getEntriesByName('letterbox:frame-loaded').length > 0`, 5*time.Second)

	frame := eval[map[string]any](t, ctx, `(() => { const f = document.getElementById('html-frame');
		return {sandbox: f.getAttribute('sandbox'), src: f.getAttribute('src')}; })()`)
	if frame["sandbox"] != "" {
		t.Errorf("iframe sandbox = %q, want empty (no permissions)", frame["sandbox"])
	}
	if want := "view/" + sum.ID + ".html"; frame["src"] != want {
		t.Errorf("iframe src = %q, want %q", frame["src"], want)
	}
	text, origin, _ := frameText(t, ctx, "/view/"+sum.ID+".html")
	if !strings.Contains(text, "Receipt from HTML") {
		t.Errorf("iframe shows %q, want the HTML body", text)
	}
	if origin != "null" && origin != "://" {
		t.Errorf("iframe origin = %q, want an opaque origin", origin)
	}
	// Opening marks it read, in the list and in the title.
	waitJS(t, ctx, `document.title === 'letterbox' && !document.querySelector('#list-rows .row').classList.contains('unread')`, 2*time.Second)

	// Remote content is blocked until asked for, for this message only.
	if !eval[bool](t, ctx, `!!document.getElementById('remote-btn')`) {
		t.Error("no button to load the blocked remote image")
	}
	do(t, ctx, chromedp.Click(chromedp.ID("remote-btn")))
	if got := eval[string](t, ctx, `document.getElementById('html-frame').getAttribute('src')`); got != "view/"+sum.ID+".html?remote=1" {
		t.Errorf("after allowing remote content, src = %q", got)
	}
	// Preview widths.
	do(t, ctx, chromedp.Click(chromedp.CSS(`.seg[data-width="phone"]`)))
	if w := eval[int](t, ctx, `document.getElementById('html-frame').getBoundingClientRect().width`); w != 375 {
		t.Errorf("phone preview width = %d, want 375", w)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`.seg[data-width="tablet"]`)))
	if w := eval[int](t, ctx, `document.getElementById('html-frame').getBoundingClientRect().width`); w != 768 {
		t.Errorf("tablet preview width = %d, want 768", w)
	}

	tab := func(name, ready string) string {
		t.Helper()
		do(t, ctx, chromedp.Click(chromedp.ID("tab-"+name)))
		waitJS(t, ctx, ready, 3*time.Second)
		return eval[string](t, ctx, `document.getElementById('panel-`+name+`').textContent`)
	}
	if got := tab("text", `!document.getElementById('panel-text').hidden`); !strings.Contains(got, "Plain receipt text") {
		t.Errorf("Text tab = %q", got)
	}
	if !eval[bool](t, ctx, `document.querySelector('#panel-text a').href === 'https://shop.test/r/1' && document.querySelector('#panel-text a').rel.includes('noopener')`) {
		t.Error("the URL in the text is not a safe link")
	}
	if got := tab("headers", `document.querySelectorAll('#panel-headers tr').length > 3`); !strings.Contains(got, "Subject") || !strings.Contains(got, "Your receipt") {
		t.Errorf("Headers tab = %q", got)
	}
	if got := tab("source", `!document.querySelector('#panel-source .source').textContent.startsWith('Loading')`); !strings.Contains(got, "Subject: Your receipt") {
		t.Errorf("Source tab = %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#panel-source a[download]').getAttribute('href')`); got != "api/v1/message/"+sum.ID+"/raw?dl=1" {
		t.Errorf(".eml link = %q", got)
	}
	if got := tab("attachments", `document.querySelectorAll('#panel-attachments .att').length > 0`); !strings.Contains(got, "dot.png") {
		t.Errorf("Attachments tab = %q", got)
	}
	waitJS(t, ctx, `document.querySelector('#panel-attachments img.att-thumb') && document.querySelector('#panel-attachments img.att-thumb').naturalWidth === 1`, 3*time.Second)
	if got := tab("structure", `document.querySelectorAll('#panel-structure .mime-node').length > 0`); !strings.Contains(got, "multipart/mixed") || !strings.Contains(got, "image/png") {
		t.Errorf("MIME tab = %q", got)
	}
	if got := tab("envelope", `document.querySelectorAll('#panel-envelope .kv-row').length > 0`); !strings.Contains(got, "app@example.com") || !strings.Contains(got, "dev@example.com") {
		t.Errorf("Envelope tab = %q", got)
	}
	// Mark unread again from the toolbar.
	do(t, ctx, chromedp.Click(chromedp.ID("read-btn")))
	waitJS(t, ctx, `document.title === '(1) letterbox' && document.querySelector('#list-rows .row').classList.contains('unread')`, 2*time.Second)
	if m, _ := s.store.Summary(t.Context(), sum.ID); m.Read {
		t.Error("mark unread did not reach the store")
	}
}

func TestHostileMail(t *testing.T) {
	dir := corpusDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "xss-*.eml"))
	if len(files) == 0 {
		t.Fatal("no xss-*.eml in the corpus")
	}
	s := newStack(t)
	ctx := browser(t, 1280, 800)
	dlg := watchDialogs(ctx)
	open(t, ctx, s.url)
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`localStorage.setItem('canary', 'intact'); window.__canary = 'intact'`))
	base := eval[string](t, ctx, `location.origin + location.pathname`)
	storage := eval[string](t, ctx, `JSON.stringify(Object.entries(localStorage).sort())`)

	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s.send(t, "attacker@example.com", []string{"dev@example.com"}, raw)
	}
	waitJS(t, ctx, fmt.Sprintf(`document.querySelectorAll('#list-rows .row:not(.loading)').length === %d`, len(files)), 3*time.Second)

	// Open each message and every view of it.
	for i := range files {
		id := eval[string](t, ctx, fmt.Sprintf(`document.querySelectorAll('#list-rows a')[%d].dataset.id`, i))
		do(t, ctx, chromedp.Evaluate[chromedp.Void](`performance.clearMarks('letterbox:frame-loaded'); performance.clearMarks('letterbox:open-end')`))
		do(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#list-rows li:nth-child(%d) a`, i+1))))
		waitJS(t, ctx, `performance.getEntriesByName('letterbox:open-end').length > 0 && window.letterbox.viewer.id === '`+id+`'`, 5*time.Second)
		if eval[bool](t, ctx, `!!document.getElementById('tab-html')`) {
			do(t, ctx, chromedp.Click(chromedp.ID("tab-html")))
			waitJS(t, ctx, `performance.getEntriesByName('letterbox:frame-loaded').length > 0`, 5*time.Second)
			if eval[bool](t, ctx, `!!document.getElementById('remote-btn')`) {
				do(t, ctx, chromedp.Evaluate[chromedp.Void](`performance.clearMarks('letterbox:frame-loaded')`), chromedp.Click(chromedp.ID("remote-btn")))
				waitJS(t, ctx, `performance.getEntriesByName('letterbox:frame-loaded').length > 0`, 5*time.Second)
			}
		}
		for _, tab := range []string{"text", "headers", "source", "attachments", "structure", "envelope"} {
			do(t, ctx, chromedp.Click(chromedp.ID("tab-"+tab)))
		}
		waitJS(t, ctx, `!(document.querySelector('#panel-source .source')?.textContent ?? 'Loading').startsWith('Loading')`, 3*time.Second)
		// Thumbnails (if any) have loaded or failed.
		waitJS(t, ctx, `[...document.querySelectorAll('#panel-attachments img')].every(i => i.complete)`, 3*time.Second)
	}
	// The subject with markup is shown as text.
	subjects := eval[[]string](t, ctx, rowsText)
	foundMarkup := false
	for _, sub := range subjects {
		if strings.Contains(sub, "<script>alert('subject')</script>") {
			foundMarkup = true
		}
	}
	if !foundMarkup {
		t.Errorf("the subject with markup is not shown literally: %q", subjects)
	}

	// One message refreshes its frame after 5 s: watch a little longer than that for late effects.
	// This is an observation window, not a wait for something expected.
	select {
	case <-dlg.opened:
	case <-time.After(6 * time.Second):
	}

	if d := dlg.list(); len(d) > 0 {
		t.Errorf("dialogs opened: %q", d)
	}
	if got := eval[string](t, ctx, `document.title`); !titleRE.MatchString(got) {
		t.Errorf("title changed to %q", got)
	}
	if got := eval[string](t, ctx, `location.origin + location.pathname`); got != base {
		t.Errorf("location changed from %q to %q", base, got)
	}
	if got := eval[string](t, ctx, `JSON.stringify(Object.entries(localStorage).sort())`); got != storage {
		t.Errorf("localStorage changed from %s to %s", storage, got)
	}
	if got := eval[string](t, ctx, `window.__canary`); got != "intact" {
		t.Errorf("the page was reloaded or replaced (canary %q)", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('script').length`); n != 1 {
		t.Errorf("%d script elements in the inbox, want only the app's", n)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('[onload],[onerror],[onclick],[onmouseover],[onfocus],[ontoggle],object,embed,svg:not(.icon):not(.sprite)').length`); n != 0 {
		t.Errorf("%d elements with handlers or active content in the inbox", n)
	}
	if n := eval[int](t, ctx, `[...document.querySelectorAll('iframe')].filter(f => f.getAttribute('sandbox') !== '').length`); n != 0 {
		t.Errorf("%d iframes without an empty sandbox", n)
	}
	if n := eval[int](t, ctx, `[...document.querySelectorAll('a[href]')].filter(a => !/^(https?:|#|api\/|view\/|$)/.test(a.getAttribute('href'))).length`); n != 0 {
		t.Errorf("%d links with a dangerous scheme", n)
	}
	// The script in one message tried to delete everything through the API.
	if st, _ := s.store.Stats(t.Context()); st.Total != len(files) {
		t.Errorf("store holds %d messages, want %d", st.Total, len(files))
	}
}

func TestSearch(t *testing.T) {
	s := newStack(t)
	s.add(t, "billing@shop.test", []string{"ann@example.com"}, mail{From: "Billing <billing@shop.test>", To: "Ann <ann@example.com>", Subject: "Invoice 1001", Text: "due soon"}.bytes())
	s.add(t, "billing@shop.test", []string{"bob@example.com"}, mail{From: "Billing <billing@shop.test>", To: "Bob <bob@example.com>", Subject: "Invoice 1002", Text: "due later"}.bytes())
	s.add(t, "auth@shop.test", []string{"ann@example.com"}, mail{From: "Auth <auth@shop.test>", To: "Ann <ann@example.com>", Subject: "Password reset", Text: "click the link",
		Attach: []attachment{{Name: "a.txt", Type: "text/plain", Data: []byte("x")}}}.bytes())
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	if n := len(eval[[]string](t, ctx, rowsText)); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	// "/" focuses the search box.
	do(t, ctx, press("/"))
	if !eval[bool](t, ctx, `document.activeElement === document.getElementById('q')`) {
		t.Fatal("/ does not focus the search box")
	}
	do(t, ctx, chromedp.SendKeys(chromedp.ID("q"), "subject:invoice\n"))
	waitJS(t, ctx, rowsText+`.length === 2 && document.getElementById('count').textContent.startsWith('2 matches')`, 3*time.Second)
	if got := eval[string](t, ctx, `location.hash`); got != "#q=subject%3Ainvoice" {
		t.Errorf("hash = %q", got)
	}
	// "Mark all read" marks the matches only.
	do(t, ctx, chromedp.Click(chromedp.ID("mark-all-read")))
	waitJS(t, ctx, `document.querySelectorAll('#list-rows .row.unread').length === 0 && document.title === '(1) letterbox'`, 3*time.Second)
	if st, _ := s.store.Stats(t.Context()); st.Unread != 1 {
		t.Errorf("%d unread after marking the 2 matches read, want 1", st.Unread)
	}
	// Chips add terms to the search.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('q').value = ''; window.letterbox.navigate({q: ''})`))
	waitJS(t, ctx, rowsText+`.length === 3`, 3*time.Second)
	do(t, ctx, chromedp.Click(chromedp.CSS(`.chip[data-term="has:attachment"]`)))
	waitJS(t, ctx, rowsText+`.length === 1 && `+rowsText+`[0] === 'Password reset'`, 3*time.Second)
	if !eval[bool](t, ctx, `document.querySelector('.chip[data-term="has:attachment"]').getAttribute('aria-pressed') === 'true' && document.getElementById('q').value === 'has:attachment'`) {
		t.Error("the chip is not shown as pressed, or the query is not in the search box")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`.chip[data-term="has:attachment"]`)))
	waitJS(t, ctx, rowsText+`.length === 3`, 3*time.Second)

	// Clicking a recipient shows only that mailbox.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#list-rows a')].find(a => a.textContent.includes('Invoice 1002')).click()`))
	waitJS(t, ctx, `[...document.querySelectorAll('#msg-addrs .addr')].some(b => b.textContent.includes('bob@example.com'))`, 3*time.Second)
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#msg-addrs .addr')].find(b => b.textContent.includes('bob@example.com')).click()`))
	waitJS(t, ctx, rowsText+`.length === 1 && `+rowsText+`[0] === 'Invoice 1002' && document.getElementById('q').value === 'to:bob@example.com'`, 3*time.Second)

	// A search the server refuses says why.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.letterbox.navigate({q: 'after:banana', m: ''})`))
	waitJS(t, ctx, `!document.getElementById('empty').hidden && document.getElementById('empty').textContent.includes('not valid')`, 3*time.Second)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#empty button`)))
	if !eval[bool](t, ctx, `!document.getElementById('search-help').hidden`) {
		t.Error("the Search syntax button does not open the help")
	}
	// Examples in the help run a search.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#search-help .example')].find(b => b.textContent === 'has:attachment').click()`))
	waitJS(t, ctx, rowsText+`.join() === 'Password reset' && document.getElementById('search-help').hidden`, 3*time.Second)
	// A search with no match says so.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.letterbox.navigate({q: 'nothing-matches-this', m: ''})`))
	waitJS(t, ctx, `!document.getElementById('empty').hidden && document.getElementById('empty').textContent.includes('No messages match')`, 3*time.Second)
}

func TestDelete(t *testing.T) {
	s := newStack(t)
	for i := 1; i <= 4; i++ {
		s.add(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: fmt.Sprintf("Message %d", i)}.bytes())
	}
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	// Delete the open message with the toolbar button: the next one opens.
	do(t, ctx, chromedp.Click(chromedp.CSS(`#list-rows li:nth-child(1) a`)))
	waitJS(t, ctx, `document.getElementById('msg-subject').textContent === 'Message 4'`, 3*time.Second)
	do(t, ctx, chromedp.Click(chromedp.ID("delete-btn")))
	waitJS(t, ctx, rowsText+`.join() === 'Message 3,Message 2,Message 1' && document.getElementById('msg-subject').textContent === 'Message 3'`, 3*time.Second)
	// The Delete key deletes the open message too.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`), press("Delete"))
	waitJS(t, ctx, rowsText+`.join() === 'Message 2,Message 1'`, 3*time.Second)
	if st, _ := s.store.Stats(t.Context()); st.Total != 2 {
		t.Errorf("store holds %d messages, want 2", st.Total)
	}
	// A message deleted elsewhere (API, another tab) leaves the list too.
	res, _ := s.store.Search(t.Context(), storeFilterAll(), storePage(0, 10))
	if err := s.store.Delete(t.Context(), []string{res.Messages[len(res.Messages)-1].ID}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, rowsText+`.join() === 'Message 2'`, 3*time.Second)

	// Delete all asks first.
	do(t, ctx, chromedp.Click(chromedp.ID("delete-all")))
	waitJS(t, ctx, `document.getElementById('confirm-dialog').open`, 2*time.Second)
	// Cancel, and ask again at once: the cancel's close event, dispatched later, must not answer
	// the second question.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('#confirm-dialog button[value="cancel"]').click();
		document.getElementById('delete-all').click()`))
	if st, _ := s.store.Stats(t.Context()); st.Total != 1 {
		t.Fatalf("cancel deleted messages: %d left", st.Total)
	}
	waitJS(t, ctx, `document.getElementById('confirm-dialog').open`, 2*time.Second)
	do(t, ctx, chromedp.Click(chromedp.ID("confirm-ok")))
	waitJS(t, ctx, rowsText+`.length === 0 && !document.getElementById('empty').hidden && document.title === 'letterbox'`, 3*time.Second)
	if st, _ := s.store.Stats(t.Context()); st.Total != 0 {
		t.Errorf("store holds %d messages after delete all", st.Total)
	}
}

func TestKeyboard(t *testing.T) {
	s := newStack(t)
	for i := 1; i <= 3; i++ {
		s.add(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: fmt.Sprintf("Message %d", i)}.bytes())
	}
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	selected := `document.querySelector('#list-rows .row.selected .row-subject')?.textContent`
	do(t, ctx, press("j"))
	waitJS(t, ctx, selected+` === 'Message 3'`, 2*time.Second)
	do(t, ctx, press("j"))
	waitJS(t, ctx, selected+` === 'Message 2'`, 2*time.Second)
	do(t, ctx, press("k"))
	waitJS(t, ctx, selected+` === 'Message 3'`, 2*time.Second)
	do(t, ctx, press("Enter"))
	waitJS(t, ctx, `document.getElementById('msg-subject').textContent === 'Message 3'`, 2*time.Second)
	// With a message open, j opens the next one.
	do(t, ctx, press("j"))
	waitJS(t, ctx, `document.getElementById('msg-subject').textContent === 'Message 2'`, 2*time.Second)
	do(t, ctx, press("?"))
	waitJS(t, ctx, `document.getElementById('keys-dialog').open`, 2*time.Second)
	do(t, ctx, press("Escape"))
	waitJS(t, ctx, `!document.getElementById('keys-dialog').open`, 2*time.Second)
	// Escape closes the message.
	do(t, ctx, press("Escape"))
	waitJS(t, ctx, `document.getElementById('viewer').hidden && !document.getElementById('placeholder').hidden`, 2*time.Second)
	// Theme toggle cycles and is remembered.
	do(t, ctx, chromedp.Click(chromedp.ID("theme-btn")))
	if got := eval[string](t, ctx, `document.documentElement.dataset.theme + ' ' + localStorage.getItem('letterbox.theme')`); got != "light light" {
		t.Errorf("theme after one click = %q", got)
	}
	do(t, ctx, chromedp.Click(chromedp.ID("theme-btn")))
	if got := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); got == "rgb(244, 245, 247)" {
		t.Errorf("dark theme did not change the background (%s)", got)
	}
}

func TestPhoneWidth(t *testing.T) {
	s := newStack(t)
	long := strings.Repeat("averyveryverylongunbrokenword", 8)
	var to []string
	for i := 0; i < 60; i++ {
		to = append(to, fmt.Sprintf("Recipient Number %d <recipient.number.%d@a-rather-long-domain-name.example.com>", i, i))
	}
	s.add(t, "app@example.com", []string{"dev@example.com"}, mail{
		Subject: "A long subject line that keeps going " + long, To: strings.Join(to, ", "),
		Text: "Text " + long, HTML: `<p>Hello ` + long + `</p>`, Headers: []string{"X-Long: " + long},
		Attach: []attachment{{Name: long + ".pdf", Type: "application/pdf", Data: []byte("x")}},
	}.bytes())
	s.add(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: "Short", Text: "hi", Headers: []string{"X-Tags: alpha, beta, gamma, delta"}}.bytes())
	ctx := browser(t, 375, 740)
	open(t, ctx, s.url)
	if !eval[bool](t, ctx, noOverflow) {
		t.Errorf("the list overflows at 375 px: scrollWidth %d", eval[int](t, ctx, `document.documentElement.scrollWidth`))
	}
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#list-rows a')].find(a => a.textContent.includes('A long subject')).click()`))
	waitJS(t, ctx, `!document.getElementById('viewer').hidden && document.querySelector('.list-pane').offsetParent === null`, 3*time.Second)
	for _, tab := range []string{"html", "text", "headers", "source", "attachments", "structure", "envelope"} {
		do(t, ctx, chromedp.Click(chromedp.ID("tab-"+tab)))
		if tab == "source" {
			waitJS(t, ctx, `!(document.querySelector('#panel-source .source')?.textContent ?? 'Loading').startsWith('Loading')`, 3*time.Second)
		}
		if !eval[bool](t, ctx, noOverflow) {
			t.Errorf("the %s view overflows at 375 px: scrollWidth %d", tab, eval[int](t, ctx, `document.documentElement.scrollWidth`))
		}
		if w := eval[int](t, ctx, `Math.max(...[...document.querySelectorAll('#viewer *')].filter(e => e.offsetParent !== null && !e.closest('.tabs')).map(e => e.getBoundingClientRect().right))`); w > 376 {
			t.Errorf("the %s view has content reaching %d px", tab, w)
		}
	}
	// The back button returns to the list.
	do(t, ctx, chromedp.Click(chromedp.ID("back-btn")))
	waitJS(t, ctx, `document.querySelector('.list-pane').offsetParent !== null && document.getElementById('viewer').hidden`, 3*time.Second)
}

// onePixelPNG is a 1×1 transparent PNG.
var onePixelPNG = []byte{
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
	0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
	0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
	0x42, 0x60, 0x82,
}

func TestLongList(t *testing.T) {
	s := newStack(t)
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				env := store.Envelope{MailFrom: "app@example.com", Recipients: []string{"dev@example.com"}, Received: time.Now().Add(time.Duration(i-n) * time.Minute)}
				if _, err := s.store.Add(context.Background(), env, bytes.NewReader(mail{Subject: fmt.Sprintf("Message %04d", i)}.bytes())); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	if got := eval[int](t, ctx, `document.querySelectorAll('#list-rows .row').length`); got > 40 {
		t.Errorf("%d rows in the DOM for %d messages; the list is not virtual", got, n)
	}
	if got := eval[string](t, ctx, `document.getElementById('count').textContent`); got != "1,000 messages · 1,000 unread" {
		t.Errorf("count = %q", got)
	}
	lastRow := `(() => { const r = [...document.querySelectorAll('#list-rows .row')].sort((a, b) => b.getBoundingClientRect().top - a.getBoundingClientRect().top)[0];
		return r.classList.contains('loading') ? '' : r.querySelector('.row-subject').textContent; })()`
	scroll := func(frac float64) {
		t.Helper()
		do(t, ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`new Promise(resolve => { const l = document.getElementById('list');
			l.scrollTop = (l.scrollHeight - l.clientHeight) * %g; requestAnimationFrame(() => requestAnimationFrame(resolve)); })`, frac), chromedp.EvalAwaitPromise))
		waitJS(t, ctx, `document.querySelectorAll('#list-rows .row.loading').length === 0`, 3*time.Second)
	}
	oldest, err := s.store.Search(t.Context(), storeFilterAll(), storePage(n-1, 1))
	if err != nil || len(oldest.Messages) != 1 {
		t.Fatalf("oldest message: %v", err)
	}
	scroll(1)
	if got := eval[string](t, ctx, lastRow); got != oldest.Messages[0].Subject {
		t.Errorf("the last row is %q, want the oldest message %q", got, oldest.Messages[0].Subject)
	}
	// New mail while the reader is scrolled down does not move what they see.
	scroll(0.5)
	firstVisible := `(() => { const top = document.getElementById('list').getBoundingClientRect().top;
		const r = [...document.querySelectorAll('#list-rows .row')].find(r => r.getBoundingClientRect().top >= top - 1);
		return r.querySelector('.row-subject').textContent; })()`
	before := eval[string](t, ctx, firstVisible)
	s.add(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: "Late arrival"}.bytes())
	waitJS(t, ctx, `window.letterbox.list.total === 1001`, 3*time.Second)
	waitJS(t, ctx, `document.querySelectorAll('#list-rows .row.loading').length === 0`, 3*time.Second)
	// The list moves its rows at the next animation frame after the arrival: measure after it.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)))`, chromedp.EvalAwaitPromise))
	if after := eval[string](t, ctx, firstVisible); after != before {
		t.Errorf("the first visible row changed from %q to %q when a message arrived", before, after)
	}
	// Lists taller than the browser allows are scaled; both ends stay reachable.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.letterbox.list.maxHeight = 30000; window.letterbox.list.render()`))
	if got := eval[int](t, ctx, `document.getElementById('list').scrollHeight`); got > 31000 {
		t.Errorf("scaled list is %d px high", got)
	}
	scroll(1)
	if got := eval[string](t, ctx, lastRow); got != oldest.Messages[0].Subject {
		t.Errorf("scaled: the last row is %q, want the oldest message %q", got, oldest.Messages[0].Subject)
	}
	scroll(0)
	if got := eval[string](t, ctx, firstVisible); got != "Late arrival" {
		t.Errorf("scaled: the first row is %q, want the newest message", got)
	}
}

// TestCorpus opens every message of the shared corpus of odd and broken mail
// in every view: nothing may throw, and each view must show something.
func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	s := newStack(t)
	names := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := s.add(t, "corpus@example.com", []string{"dev@example.com"}, raw)
		names[sum.ID] = filepath.Base(f)
	}
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	problems := 0
	for id, name := range names {
		t.Run(name, func(t *testing.T) {
			do(t, ctx, chromedp.Evaluate[chromedp.Void](`performance.clearMarks('letterbox:open-end')`))
			do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.letterbox.navigate({m: '`+id+`'}, {replace: true})`))
			waitJS(t, ctx, `performance.getEntriesByName('letterbox:open-end').length > 0 && window.letterbox.viewer.id === '`+id+`'`, 10*time.Second)
			if eval[bool](t, ctx, `!!document.getElementById('tab-problems')`) {
				problems++
				do(t, ctx, chromedp.Click(chromedp.ID("tab-problems")))
				if n := eval[int](t, ctx, `document.querySelectorAll('#panel-problems li').length`); n == 0 {
					t.Error("the Problems tab lists nothing")
				}
			}
			for _, tab := range []string{"text", "headers", "source", "attachments", "structure", "envelope"} {
				do(t, ctx, chromedp.Click(chromedp.ID("tab-"+tab)))
			}
			waitJS(t, ctx, `!(document.querySelector('#panel-source .source')?.textContent ?? 'Loading').startsWith('Loading')`, 10*time.Second)
			for _, tab := range []string{"headers", "structure", "envelope"} {
				if eval[string](t, ctx, `document.getElementById('panel-`+tab+`').textContent`) == "" {
					t.Errorf("the %s view is empty", tab)
				}
			}
		})
	}
	if problems == 0 {
		t.Error("no corpus message showed parse problems; the Problems view went untested")
	}
}

// TestAccessibility checks what can be checked mechanically: every control
// has a name, text has WCAG AA contrast in both themes, and the list and the
// tabs are reachable and operable from the keyboard.
func TestAccessibility(t *testing.T) {
	s := newStack(t)
	seedRealistic(t, s)
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#list-rows a')].find(a => a.textContent.includes('INV-2024')).click()`))
	waitJS(t, ctx, `document.getElementById('msg-subject').textContent.includes('INV-2024')`, 3*time.Second)

	unnamed := eval[[]string](t, ctx, `[...document.querySelectorAll('button, a[href], input, [role=tab]')]
		.filter(e => e.offsetParent !== null || e.getClientRects().length)
		.filter(e => !(e.textContent.trim() || e.getAttribute('aria-label') || e.title || (e.labels && e.labels.length) || e.getAttribute('aria-labelledby')))
		.map(e => e.outerHTML.slice(0, 80))`)
	if len(unnamed) > 0 {
		t.Errorf("controls without an accessible name: %q", unnamed)
	}

	const contrast = `(() => {
		const lum = c => { const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
		const bg = e => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor; if (!/rgba\(.*, 0\)$/.test(c) && c !== 'transparent') return c; } return 'rgb(255,255,255)'; };
		const bad = [];
		for (const sel of ['.row-from', '.row-subject', '.row-snippet', '.row-time', '.row-size', '.count', '.chip', '.tab', '.tab[aria-selected=true]',
			'.addr-name', '.addr-email', '.addr-row dt', '.btn-ghost', '.btn-danger', '.conn', '.tag', '.seg', '.search input', '.att-meta', '.kv-row dt']) {
			for (const e of [...document.querySelectorAll(sel)].slice(0, 3)) {
				if (!e.getClientRects().length) continue;
				const a = lum(getComputedStyle(e).color), b = lum(bg(e));
				const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
				if (ratio < 4.5) bad.push(sel + ' ' + ratio.toFixed(2) + ':1');
			}
		}
		return bad; })()`
	// The check itself must see bad contrast.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => { const p = document.createElement('span'); p.className = 'count'; p.id = 'probe';
		p.textContent = 'probe'; p.style.color = '#c8c8c8'; document.querySelector('.list-meta').prepend(p); })()`))
	if bad := eval[[]string](t, ctx, contrast); len(bad) == 0 {
		t.Error("the contrast check does not notice light grey on white")
	}
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('probe').remove()`))
	for _, theme := range []string{"light", "dark"} {
		do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.documentElement.dataset.theme = '`+theme+`'`))
		waitJS(t, ctx, `document.getAnimations().length === 0`, 3*time.Second)
		for _, tab := range []string{"attachments", "envelope"} {
			do(t, ctx, chromedp.Click(chromedp.ID("tab-"+tab)))
			if bad := eval[[]string](t, ctx, contrast); len(bad) > 0 {
				t.Errorf("%s theme, %s view: text below 4.5:1 contrast: %q", theme, tab, bad)
			}
		}
	}

	// Tab from the search box reaches the list, and the list has one tab stop.
	if n := eval[int](t, ctx, `document.querySelectorAll('#list-rows a[tabindex="0"]').length`); n != 1 {
		t.Errorf("%d rows are tab stops, want 1 (roving tabindex)", n)
	}
	// Arrow keys move between tabs.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('tab-text').click(); document.getElementById('tab-text').focus()`), press("ArrowRight"))
	if got := eval[string](t, ctx, `document.activeElement.id + ' ' + document.activeElement.getAttribute('aria-selected')`); got != "tab-headers true" {
		t.Errorf("after ArrowRight on the Text tab, focus is on %q", got)
	}
}

// TestReconnect cuts the connection under the page: it says so, reconnects
// with backoff, and reloads the list to pick up what it missed.
func TestReconnect(t *testing.T) {
	s := newStack(t)
	s.add(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: "Before the outage"}.bytes())
	p := newProxy(t, strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/"))
	ctx := browser(t, 1280, 800)
	open(t, ctx, p.url())
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.__noReload = true`))

	p.cut(true)
	waitJS(t, ctx, `document.getElementById('conn').dataset.state === 'waiting'`, 5*time.Second)
	if got := eval[string](t, ctx, `document.getElementById('conn').textContent`); !strings.Contains(got, "Offline") {
		t.Errorf("status while down = %q", got)
	}
	// Mail that arrives during the outage produces events nobody receives.
	s.add(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: "During the outage"}.bytes())
	p.up()
	waitJS(t, ctx, `document.getElementById('conn').dataset.state === 'open'`, 10*time.Second)
	waitJS(t, ctx, rowsText+`.join() === 'During the outage,Before the outage'`, 3*time.Second)
	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Error("the page reloaded instead of reconnecting")
	}
	// And it is live again.
	s.send(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: "After the outage"}.bytes())
	waitJS(t, ctx, rowsText+`[0] === 'After the outage'`, 2*time.Second)
}

// TestOnboardingCommands runs the swaks and curl one-liners that the empty
// inbox shows, exactly as a user would paste them, and expects their mail.
func TestOnboardingCommands(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "swaks"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required: %v", tool, err)
			}
			t.Skipf("skipping: %s not installed", tool)
		}
	}
	s := newStack(t)
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	waitJS(t, ctx, `document.querySelectorAll('#empty .snippet code').length === 2`, 3*time.Second)
	cmds := eval[[]string](t, ctx, `[...document.querySelectorAll('#empty .snippet code')].map(c => c.textContent)`)
	for _, cmd := range cmds {
		out, err := exec.CommandContext(t.Context(), "bash", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	waitJS(t, ctx, rowsText+`.sort().join() === 'Hello from curl,Hello from swaks'`, 3*time.Second)
}

// TestInlineImages checks that cid: images show in the message frame, while a
// remote image stays blocked until asked for.
func TestInlineImages(t *testing.T) {
	s := newStack(t)
	raw := "From: App <app@example.com>\r\nTo: dev@example.com\r\nSubject: Logo inside\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/related; boundary=rel\r\n\r\n" +
		"--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		`<p>Logo: <img src="cid:logo@app" alt="logo"> remote: <img src="http://127.0.0.1:9/remote.png" alt="remote"></p>` + "\r\n" +
		"--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@app>\r\nContent-Disposition: inline; filename=logo.png\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64(onePixelPNG) + "\r\n--rel--\r\n"
	sum := s.add(t, "app@example.com", []string{"dev@example.com"}, []byte(raw))
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#list-rows a`)))
	waitJS(t, ctx, `performance.getEntriesByName('letterbox:frame-loaded').length > 0`, 5*time.Second)
	_, _, images := frameText(t, ctx, "/view/"+sum.ID+".html")
	if images != "loaded,blocked" {
		t.Errorf("images in the frame: %q, want the cid: image loaded and the remote one blocked", images)
	}
	if got := eval[string](t, ctx, `document.getElementById('remote-notice').textContent`); !strings.Contains(got, "1 item") {
		t.Errorf("remote notice = %q", got)
	}
	do(t, ctx, chromedp.Click(chromedp.ID("tab-attachments")))
	if got := eval[string](t, ctx, `document.getElementById('panel-attachments').textContent`); !strings.Contains(got, "Inline parts") || !strings.Contains(got, "cid:logo@app") {
		t.Errorf("attachments view = %q", got)
	}
}

// TestListConsistency streams and deletes mail under a scrolled list, then
// checks that the list settles on exactly what the store holds.
func TestListConsistency(t *testing.T) {
	s := newStack(t)
	var ids []string
	for i := 0; i < 300; i++ {
		ids = append(ids, s.add(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: fmt.Sprintf("Old %03d", i)}.bytes()).ID)
	}
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	scrollTo := func(frac float64) {
		do(t, ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`new Promise(r => { const l = document.getElementById('list');
			l.scrollTop = (l.scrollHeight - l.clientHeight) * %g; requestAnimationFrame(() => requestAnimationFrame(r)); })`, frac), chromedp.EvalAwaitPromise))
	}
	scrollTo(0.5)
	var wg sync.WaitGroup
	wg.Add(2)
	errs := make(chan error, 2)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			env := store.Envelope{MailFrom: "app@example.com", Recipients: []string{"dev@example.com"}}
			if _, err := s.store.Add(context.Background(), env, bytes.NewReader(mail{Subject: fmt.Sprintf("New %03d", i)}.bytes())); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 300; i += 6 {
			if err := s.store.Delete(context.Background(), []string{ids[i]}); err != nil {
				errs <- err
				return
			}
		}
	}()
	// Scroll around while it happens.
	for _, f := range []float64{0.2, 0.9, 0.4, 0.7, 0.5} {
		scrollTo(f)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := 300 + 200 - 50
	waitJS(t, ctx, fmt.Sprintf(`window.letterbox.list.total === %d && document.querySelectorAll('#list-rows .row.loading').length === 0`, want), 10*time.Second)
	for _, f := range []float64{0, 0.5, 1} {
		scrollTo(f)
		waitJS(t, ctx, `document.querySelectorAll('#list-rows .row.loading').length === 0`, 5*time.Second)
		// The rows wholly in view, and the list position of the first of them, read in one go: row i
		// is wholly in view when i*rowH >= scrollTop - 1 (the filter's 1px of rounding).
		view := eval[struct {
			Rows  []string
			First int
		}](t, ctx, `(() => { const l = document.getElementById('list'); const top = l.getBoundingClientRect().top, bottom = l.getBoundingClientRect().bottom;
			const rows = [...document.querySelectorAll('#list-rows .row')].filter(r => { const b = r.getBoundingClientRect(); return b.top >= top - 1 && b.bottom <= bottom + 1; })
				.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top).map(r => r.querySelector('.row-subject').textContent);
			return { Rows: rows, First: Math.max(0, Math.ceil((l.scrollTop - 1) / window.letterbox.list.rowH)) }; })()`)
		got, first := view.Rows, view.First
		if len(got) == 0 {
			t.Fatalf("at %g of the list no row is wholly in view", f)
		}
		res, err := s.store.Search(t.Context(), storeFilterAll(), storePage(first, len(got)))
		if err != nil {
			t.Fatal(err)
		}
		var wantRows []string
		for _, m := range res.Messages {
			wantRows = append(wantRows, m.Subject)
		}
		if strings.Join(got, ",") != strings.Join(wantRows, ",") {
			t.Errorf("at %g of the list, rows %d.. are\n%q\nthe store has\n%q", f, first, got, wantRows)
		}
	}
}
