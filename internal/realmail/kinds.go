package realmail

import (
	"encoding/binary"
	"fmt"
	"html"
	"strings"
	"time"
)

// builders fill in a msg of each kind: sender, subject, extra headers and the MIME tree.
var builders [numKinds]func(*msg)

func init() {
	builders = [numKinds]func(*msg){
		Receipt: (*msg).receipt, Shipping: (*msg).shipping, PasswordReset: (*msg).reset,
		Welcome: (*msg).welcome, Notification: (*msg).notification, Newsletter: (*msg).newsletter,
		Invoice: (*msg).invoice, Calendar: (*msg).calendar, Report: (*msg).report,
		German: (*msg).local, French: (*msg).local, Spanish: (*msg).local, Polish: (*msg).local,
		Russian: (*msg).local, Japanese: (*msg).local, JapaneseSJIS: (*msg).local, Chinese: (*msg).local,
	}
}

// lineItem is one line of an order.
type lineItem struct {
	name  string
	sku   string
	qty   int
	cents int
}

func (m *msg) items(n int) ([]lineItem, int) {
	var list []lineItem
	total := 0
	for range n {
		it := lineItem{name: m.product(), sku: m.randomString(base32Chars, 10), qty: 1 + m.r.IntN(3), cents: 499 + m.r.IntN(19000)}
		total += it.qty * it.cents
		list = append(list, it)
	}
	return list, total
}

// transactional sets the usual headers of a transactional mailer.
func (m *msg) transactional(local, name string) {
	m.fromName, m.fromAddr = name, local+"@"+m.domain
	m.extra = append(m.extra, pick(m.writer, []string{
		"X-Mailer: " + m.org + " Mailer 3.2",
		"X-SES-Outgoing: 2026.01.01-54.240.8." + fmt.Sprint(m.r.IntN(256)),
		"X-SG-EID: " + m.linkToken(64),
		"X-Entity-Ref-ID: " + m.randomString(hexChars, 32),
		"X-PM-Message-Id: " + m.randomString(hexChars, 8) + "-" + m.randomString(hexChars, 4) + "-" + m.randomString(hexChars, 12),
	}))
	if m.r.IntN(3) == 0 {
		m.extra = append(m.extra, "Reply-To: support@"+m.domain)
	}
}

// alternative is the usual text and HTML pair, each in a transfer encoding mailers use for it.
func (m *msg) alternative(text, htmlBody string) *part {
	textCTE := pick(m.writer, []string{"quoted-printable", "quoted-printable", "7bit", "8bit"})
	if textCTE == "7bit" && !isASCII(text) {
		textCTE = "8bit"
	}
	htmlCTE := pick(m.writer, []string{"quoted-printable", "quoted-printable", "base64"})
	return m.multipart("alternative",
		leaf("text/plain; charset=utf-8", textCTE, []byte(text)),
		leaf("text/html; charset=utf-8", htmlCTE, []byte(htmlBody)))
}

// htmlPage wraps content in a mailer's HTML skeleton with inline styles.
func (m *msg) htmlPage(title, preheader, content string) string {
	var b strings.Builder
	if m.lean {
		// Some mailers send plain HTML: no skeleton, no styles.
		fmt.Fprintf(&b, "<html><head><meta charset=\"utf-8\"><title>%s</title></head><body>\n%s\n<p style=\"color:#888\">&copy; 2026 %s</p></body></html>\n",
			html.EscapeString(title), content, m.org)
		return b.String()
	}
	fmt.Fprintf(&b, `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<meta name="viewport" content="width=device-width, initial-scale=1.0" /><title>%s</title>
<style type="text/css">body{margin:0;padding:0;background:#f4f4f7;font-family:Helvetica,Arial,sans-serif}
a{color:#3869d4}.button{background:#22bc66;color:#fff;border-radius:3px;padding:10px 18px;text-decoration:none}
@media only screen and (max-width:600px){.email-body_inner,.email-footer{width:100%% !important}}</style></head>
<body style="margin:0;padding:0;background-color:#f4f4f7;">
<span style="display:none;visibility:hidden;mso-hide:all;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;">%s</span>
<table class="email-wrapper" width="100%%" cellpadding="0" cellspacing="0" role="presentation"><tr><td align="center">
<table class="email-content" width="100%%" cellpadding="0" cellspacing="0" role="presentation">
<tr><td class="email-masthead" style="padding:25px 0;text-align:center;"><a href="https://www.%s/" style="font-size:16px;font-weight:bold;color:#a8aaaf;text-decoration:none;">%s</a></td></tr>
<tr><td class="email-body" width="570" cellpadding="0" cellspacing="0" style="width:100%%;margin:0;padding:0;">
<table class="email-body_inner" align="center" width="570" cellpadding="0" cellspacing="0" role="presentation" style="width:570px;margin:0 auto;background:#ffffff;">
<tr><td class="content-cell" style="padding:35px;">
`, html.EscapeString(title), html.EscapeString(preheader), m.domain, m.org)
	b.WriteString(content)
	fmt.Fprintf(&b, `
</td></tr></table></td></tr>
<tr><td><table class="email-footer" align="center" width="570" cellpadding="0" cellspacing="0" role="presentation"><tr>
<td class="content-cell" align="center" style="padding:35px;color:#a8aaaf;font-size:13px;">
<p style="font-size:13px;line-height:1.6;color:#a8aaaf;">&copy; 2026 %s, Inc. All rights reserved.<br />%s</p>
</td></tr></table></td></tr></table></td></tr></table></body></html>
`, m.org, html.EscapeString(m.postal()))
	return b.String()
}

// htmlParagraphs is paragraphs as HTML <p> elements with the mailer's inline style.
func htmlParagraphs(paras []string) string {
	var b strings.Builder
	for _, p := range paras {
		b.WriteString(`<p style="margin:.4em 0 1.1875em;font-size:16px;line-height:1.625;color:#51545e;">`)
		b.WriteString(html.EscapeString(p))
		b.WriteString("</p>\n")
	}
	return b.String()
}

func (m *msg) receipt() {
	m.transactional("orders", m.org)
	order := m.orderNumber(strings.ToUpper(m.org[:2]), m.i)
	first := strings.Fields(m.toName)[0]
	m.subject = pick(m.writer, []string{
		"Your " + m.org + " order " + order,
		"Order confirmation: " + order,
		"Thanks for your order, " + first + "!",
		"We’ve received your order #" + order,
	})
	list, total := m.items(1 + m.r.IntN(5))
	ship := []int{0, 499, 799, 1299}[m.r.IntN(4)]
	tax := total * 8 / 100
	token := m.linkToken(32)
	orderURL := fmt.Sprintf("https://www.%s/account/orders/%s?utm_source=email&utm_medium=transactional&utm_campaign=order_confirmation&t=%s", m.domain, order, token)
	prose := m.paragraphs(langEnglish, m.prose)

	var t strings.Builder
	fmt.Fprintf(&t, "Hi %s,\n\nThanks for shopping with %s! We’ve received your order %s placed on %s and we’re getting it ready.\n\n",
		first, m.org, order, m.date.Format("January 2, 2006"))
	t.WriteString("ORDER SUMMARY\n")
	for _, it := range list {
		fmt.Fprintf(&t, "%-40s  SKU %s  x%d  %s\n", it.name, it.sku, it.qty, m.money(it.qty*it.cents, "USD"))
	}
	fmt.Fprintf(&t, "\nSubtotal: %s\nShipping: %s\nTax: %s\nTotal: %s\n\nShipping to:\n%s\n%s\n\nView your order: %s\n\n",
		m.money(total, "USD"), m.money(ship, "USD"), m.money(tax, "USD"), m.money(total+ship+tax, "USD"), m.toName, m.postal(), orderURL)
	t.WriteString(strings.Join(prose, "\n\n"))
	fmt.Fprintf(&t, "\n\nQuestions? Reply to this email or visit https://help.%s/ — we’re happy to help.\n\n— The %s team\n", m.domain, m.org)

	var h strings.Builder
	fmt.Fprintf(&h, `<h1 style="margin-top:0;color:#333333;font-size:22px;font-weight:bold;">Thanks for your order, %s!</h1>
<p style="font-size:16px;line-height:1.625;color:#51545e;">Order <strong>%s</strong> placed on %s.</p>
<table class="purchase" width="100%%" cellpadding="0" cellspacing="0" style="width:100%%;margin:0;padding:35px 0;">
<tr><th align="left" style="padding-bottom:8px;border-bottom:1px solid #eaeaec;"><p style="margin:0;color:#85878e;font-size:12px;">Description</p></th>
<th align="right" style="padding-bottom:8px;border-bottom:1px solid #eaeaec;"><p style="margin:0;color:#85878e;font-size:12px;">Amount</p></th></tr>
`, html.EscapeString(first), order, m.date.Format("January 2, 2006"))
	for _, it := range list {
		fmt.Fprintf(&h, `<tr><td width="80%%" class="purchase_item" style="padding:10px 0;color:#51545e;font-size:15px;line-height:18px;"><span style="color:#51545e;">%s</span> <span style="color:#a8aaaf;font-size:12px;">SKU %s &times; %d</span></td>
<td class="align-right" width="20%%" align="right" style="padding:10px 0;color:#51545e;font-size:15px;">%s</td></tr>
`, html.EscapeString(it.name), it.sku, it.qty, m.money(it.qty*it.cents, "USD"))
	}
	fmt.Fprintf(&h, `<tr><td width="80%%" class="purchase_footer" valign="middle" style="padding-top:15px;border-top:1px solid #eaeaec;"><p style="margin:0;font-size:15px;font-weight:bold;">Total</p></td>
<td width="20%%" class="purchase_footer" valign="middle" align="right" style="padding-top:15px;border-top:1px solid #eaeaec;"><p style="margin:0;font-size:15px;font-weight:bold;">%s</p></td></tr></table>
<table align="center" width="100%%" cellpadding="0" cellspacing="0" role="presentation"><tr><td align="center"><a href="%s" class="button button--green" target="_blank" style="background-color:#22bc66;border-radius:3px;color:#fff;display:inline-block;text-decoration:none;padding:10px 18px;">View your order</a></td></tr></table>
`, m.money(total+ship+tax, "USD"), html.EscapeString(orderURL))
	h.WriteString(htmlParagraphs(prose))
	m.root = m.alternative(t.String(), m.htmlPage("Order "+order, "Your order "+order+" is confirmed.", h.String()))
}

func (m *msg) shipping() {
	m.transactional("shipping", m.org+" Shipping")
	order := m.orderNumber(strings.ToUpper(m.org[:2]), m.i)
	carrier := pick(m.writer, []string{"UPS", "FedEx", "USPS", "DHL Express"})
	tracking := "1Z" + m.randomString(base32Chars, 16)
	eta := m.date.Add(time.Duration(2+m.r.IntN(5)) * 24 * time.Hour).Format("Monday, January 2")
	m.subject = pick(m.writer, []string{"Your order " + order + " has shipped", "Shipped: " + m.product() + " and more", "On its way! Track order " + order})
	trackURL := m.trackedURL("email."+m.domain, "/track/"+tracking)
	prose := m.paragraphs(langEnglish, m.prose)
	text := fmt.Sprintf("Good news, %s!\n\nYour order %s is on its way with %s.\nTracking number: %s\nEstimated delivery: %s\n\nTrack your package: %s\n\n%s\n\n%s Shipping\n",
		strings.Fields(m.toName)[0], order, carrier, tracking, eta, trackURL, strings.Join(prose, "\n\n"), m.org)
	h := fmt.Sprintf(`<h1 style="font-size:22px;">Your package is on its way</h1>
<p>Order <b>%s</b> shipped with %s. Tracking number <a href="%s">%s</a>.</p>
<p style="font-size:18px;">Estimated delivery: <strong>%s</strong></p>
%s`, order, carrier, html.EscapeString(trackURL), tracking, eta, htmlParagraphs(prose))
	m.root = m.alternative(text, m.htmlPage("Shipped", "Arriving "+eta, h))
}

func (m *msg) reset() {
	m.transactional(pick(m.writer, []string{"no-reply", "noreply", "security", "accounts"}), m.org)
	ip := fmt.Sprintf("%d.%d.%d.%d", 20+m.r.IntN(200), m.r.IntN(256), m.r.IntN(256), 1+m.r.IntN(254))
	browser := pick(m.writer, []string{"Chrome on macOS", "Firefox on Windows", "Safari on iPhone", "Edge on Windows", "Chrome on Android"})
	paras := m.paragraphs(langEnglish, m.prose)
	request := fmt.Sprintf("Request ID: %s-%s-4%s", m.randomString(hexChars, 8), m.randomString(hexChars, 4), m.randomString(hexChars, 11))
	paras = append(paras, request)
	prose := strings.Join(paras, "\n\n")
	var text, h string
	switch m.r.IntN(3) {
	case 0:
		link := fmt.Sprintf("https://accounts.%s/reset-password?token=%s&uid=%d", m.domain, m.linkToken(43), 100000+m.i)
		m.subject = "Reset your " + m.org + " password"
		text = fmt.Sprintf("Hi %s,\n\nSomeone requested a password reset for your %s account (%s).\n\nReset your password: %s\n\nThis link expires in 60 minutes. Request made from %s (%s). If you didn’t ask for this, you can safely ignore this email.\n\n%s\n",
			m.toName, m.org, m.to, link, browser, ip, prose)
		h = fmt.Sprintf(`<p>Hi %s,</p><p>Someone requested a password reset for your %s account.</p>
<p><a href="%s" class="button" style="background:#3869d4;color:#fff;padding:10px 18px;">Reset password</a></p>
<p style="font-size:13px;color:#6b6e76;">This link expires in 60 minutes. Request made from %s (%s).</p>`, html.EscapeString(m.toName), m.org, html.EscapeString(link), browser, ip)
	case 1:
		code := fmt.Sprintf("%06d", (m.i*7919+m.r.IntN(1000))%1000000)
		m.subject = pick(m.writer, []string{code + " is your " + m.org + " verification code", "Your " + m.org + " sign-in code"})
		text = fmt.Sprintf("Your verification code is %s\n\nEnter it to finish signing in from %s. It expires in 10 minutes.\nIf this wasn’t you, change your password right away.\n\n%s\n", code, browser, prose)
		h = fmt.Sprintf(`<p>Your verification code is</p><p style="font-size:32px;letter-spacing:6px;font-weight:bold;">%s</p><p>Signing in from %s, IP %s.</p>`, code, browser, ip)
	default:
		link := fmt.Sprintf("https://app.%s/auth/magic?token=%s", m.domain, m.jwt())
		m.subject = "Sign in to " + m.org
		text = fmt.Sprintf("Click the link below to sign in to %s:\n\n%s\n\nThe link can be used once and expires in 15 minutes.\n\n%s\n", m.org, link, prose)
		h = fmt.Sprintf(`<p>Click the button below to sign in.</p><p><a href="%s" style="background:#111;color:#fff;padding:12px 20px;">Sign in to %s</a></p>`, html.EscapeString(link), m.org)
	}
	h += htmlParagraphs(paras)
	m.root = m.alternative(text, m.htmlPage(m.subject, "", h))
}

func (m *msg) welcome() {
	m.transactional("hello", m.org)
	first := strings.Fields(m.toName)[0]
	m.subject = pick(m.writer, []string{"Welcome to " + m.org + ", " + first + "!", "Confirm your email for " + m.org, "You’re in! Getting started with " + m.org})
	confirm := fmt.Sprintf("https://app.%s/confirm/%s", m.domain, m.linkToken(40))
	prose := m.paragraphs(langEnglish, m.prose)
	text := fmt.Sprintf("Welcome, %s!\n\nPlease confirm your address: %s\n\n%s\n\nCheers,\n%s\n", first, confirm, strings.Join(prose, "\n\n"), m.person())
	logo := ""
	if m.attach != 0 {
		logo = `<img src="cid:logo@` + m.domain + `" width="120" height="40" alt="` + m.org + `" />`
	}
	h := fmt.Sprintf(`%s<h1>Welcome, %s!</h1><p><a href="%s" class="button">Confirm your email</a></p>%s`, logo, html.EscapeString(first), html.EscapeString(confirm), htmlParagraphs(prose))
	alt := m.alternative(text, m.htmlPage("Welcome", "Let’s get you set up.", h))
	if m.attach == 0 {
		m.root = alt
		return
	}
	png := m.binary("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 2000+m.r.IntN(6000))
	img := leaf("image/png; name=\"logo.png\"", "base64", png, "Content-ID: <logo@"+m.domain+">", "Content-Disposition: inline; filename=\"logo.png\"")
	m.root = m.multipart("related", alt, img)
}

func (m *msg) notification() {
	repo := strings.ToLower(m.org) + "/" + pick(m.writer, []string{"api", "web", "infra", "mobile", "docs", "sdk-go"})
	num := 100 + m.i%9000
	title := capitalize(m.word(langEnglish)) + " " + pick(m.writer, techWords) + " " + pick(m.writer, []string{"fails on retry", "leaks under load", "needs a timeout", "is flaky in CI", "breaks the build", "should be configurable"})
	author := strings.ToLower(pick(m.writer, firstNames)) + "-" + strings.ToLower(pick(m.writer, lastNames))
	m.fromName, m.fromAddr = author, "notifications@"+m.domain
	m.subject = fmt.Sprintf("Re: [%s] %s (#%d)", repo, title, num)
	m.extra = append(m.extra, "Reply-To: "+repo+" <reply+"+m.randomString(base32Chars, 40)+"@reply."+m.domain+">",
		"List-ID: "+repo+" <"+strings.ReplaceAll(repo, "/", ".")+"."+m.domain+">",
		"List-Archive: https://code."+m.domain+"/"+repo,
		"X-Code-Reason: "+pick(m.writer, []string{"mention", "author", "review_requested", "subscribed"}),
		"In-Reply-To: <"+repo+"/pull/"+fmt.Sprint(num)+"@code."+m.domain+">")
	var t strings.Builder
	fmt.Fprintf(&t, "@%s commented on this pull request.\n\n", author)
	for _, p := range m.paragraphs(langEnglish, m.prose/2) {
		t.WriteString(p + "\n\n")
	}
	lang := langTech
	for range 1 + m.r.IntN(3) {
		fmt.Fprintf(&t, "In commit %s:\n> %s\n\n", m.randomString(hexChars, 40), m.sentence(lang))
	}
	for _, p := range m.paragraphs(lang, m.prose/2) {
		t.WriteString(p + "\n\n")
	}
	fmt.Fprintf(&t, "—\nReply to this email directly, view it on https://code.%s/%s/pull/%d#issuecomment-%d, or unsubscribe: https://code.%s/notifications/unsubscribe-auth/%s\nYou are receiving this because you were mentioned.\n%s Code\n",
		m.domain, repo, num, 1000000+m.i, m.domain, m.randomString(base32Chars, 52), m.org)
	cte := pick(m.writer, []string{"quoted-printable", "7bit", "8bit"})
	text := t.String()
	if cte == "7bit" && !isASCII(text) {
		cte = "8bit"
	}
	if m.r.IntN(2) == 0 {
		m.root = leaf("text/plain; charset=UTF-8", cte, []byte(text))
		return
	}
	h := "<p><b>@" + author + "</b> commented on this pull request.</p>\n" + htmlParagraphs(strings.Split(strings.TrimSpace(text), "\n\n"))
	m.root = m.alternative(text, h)
}

// binary is n bytes that start with magic and compress as badly as a PNG's or a PDF's streams.
func (m *msg) binary(magic string, n int) []byte {
	b := make([]byte, max(n, len(magic))+8)
	for i := len(magic); i < len(b)-8; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], m.r.Uint64())
	}
	copy(b, magic)
	return b[:len(b)-8]
}
