package realmail

import (
	"bytes"
	"fmt"
	"html"
	"strings"
	"time"
)

// newsletterCSS is the kind of style block newsletter builders put in the head.
const newsletterCSS = `<style type="text/css">
#outlook a{padding:0}.ReadMsgBody{width:100%}.ExternalClass{width:100%}
.ExternalClass,.ExternalClass p,.ExternalClass span,.ExternalClass font,.ExternalClass td,.ExternalClass div{line-height:100%}
body,table,td,p,a,li,blockquote{-webkit-text-size-adjust:100%;-ms-text-size-adjust:100%}
table,td{mso-table-lspace:0pt;mso-table-rspace:0pt}img{-ms-interpolation-mode:bicubic;border:0;height:auto;line-height:100%;outline:none;text-decoration:none}
body{margin:0;padding:0;width:100%!important;background-color:#eeeeee}
.mcnTextContent{word-break:break-word;color:#202020;font-family:Georgia,serif;font-size:16px;line-height:150%}
.mcnTextContent h1{display:block;margin:0;padding:0;color:#202020;font-size:26px;font-style:normal;font-weight:bold;line-height:125%}
.mcnButton{background-color:#2baadf;border-radius:3px;color:#ffffff;font-family:Arial;font-size:16px;font-weight:bold;padding:15px}
@media only screen and (max-width:480px){body,table,td,p,a,li,blockquote{-webkit-text-size-adjust:none!important}
body{width:100%!important;min-width:100%!important}.mcnImage{width:100%!important}
.mcnCaptionTopContent,.mcnCaptionBottomContent,.mcnTextContentContainer,.mcnBoxedTextContentContainer{max-width:100%!important;width:100%!important}
.mcnTextContent,.mcnBoxedTextContentColumn{padding-right:18px!important;padding-left:18px!important}}
</style>`

func (m *msg) newsletter() {
	m.fromName, m.fromAddr = m.org+" Weekly", "news@news."+m.domain
	campaign := m.randomString(hexChars, 10)
	unsub := m.trackedURL("click.news."+m.domain, "/unsubscribe?c="+campaign)
	m.subject = pick(m.writer, []string{
		capitalize(m.word(langEnglish)) + ", " + m.word(langEnglish) + " and " + m.word(langEnglish) + ": this week at " + m.org,
		"🎉 " + capitalize(m.word(langEnglish)) + " " + m.word(langEnglish) + " — up to " + fmt.Sprint(10+m.r.IntN(60)) + "% off",
		"The " + m.org + " digest: " + m.sentence(langEnglish),
		"Last chance: " + m.product() + " is almost gone",
	})
	m.extra = append(m.extra, "List-Unsubscribe: <"+unsub+">, <mailto:unsubscribe-"+campaign+"@news."+m.domain+">",
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click", "Precedence: bulk",
		"X-Campaign-ID: "+campaign, "Feedback-ID: "+campaign+":"+m.randomString(hexChars, 6)+":newsletter:"+m.org)

	type article struct {
		title, url, img string
		paras           []string
	}
	var articles []article
	for left := m.prose; left > 0 || len(articles) == 0; {
		a := article{title: capitalize(m.sentence(langEnglish)), url: m.trackedURL("click.news."+m.domain, "/blog/"+m.linkToken(10)),
			img: fmt.Sprintf("https://cdn.%s/img/%s.jpg", m.domain, m.randomString(hexChars, 24))}
		a.paras = m.paragraphs(langEnglish, min(left, 400+m.r.IntN(900)))
		for _, p := range a.paras {
			left -= len(p)
		}
		articles = append(articles, a)
	}
	var h strings.Builder
	fmt.Fprintf(&h, "<!doctype html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:v=\"urn:schemas-microsoft-com:vml\" xmlns:o=\"urn:schemas-microsoft-com:office:office\">\n<head><meta charset=\"UTF-8\"><meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>%s</title>\n<!--[if gte mso 9]><xml><o:OfficeDocumentSettings><o:AllowPNG/><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]-->\n%s\n</head>\n",
		html.EscapeString(m.subject), newsletterCSS)
	fmt.Fprintf(&h, "<body><center><table align=\"center\" border=\"0\" cellpadding=\"0\" cellspacing=\"0\" height=\"100%%\" width=\"100%%\" id=\"bodyTable\"><tr><td align=\"center\" valign=\"top\" id=\"bodyCell\">\n<!--[if (gte mso 9)|(IE)]><table align=\"center\" border=\"0\" cellspacing=\"0\" cellpadding=\"0\" width=\"600\" style=\"width:600px;\"><tr><td align=\"center\" valign=\"top\" width=\"600\" style=\"width:600px;\"><![endif]-->\n<table border=\"0\" cellpadding=\"0\" cellspacing=\"0\" width=\"100%%\" class=\"templateContainer\">\n<tr><td valign=\"top\" id=\"templateHeader\"><a href=\"%s\"><img align=\"center\" alt=\"%s\" src=\"https://cdn.%s/logo.png\" width=\"564\" style=\"max-width:1200px;padding-bottom:0;display:inline!important;vertical-align:bottom;\" class=\"mcnImage\"></a></td></tr>\n",
		m.trackedURL("click.news."+m.domain, "/"), m.org, m.domain)
	for _, a := range articles {
		fmt.Fprintf(&h, "<tr><td valign=\"top\" class=\"mcnTextBlockInner\" style=\"padding-top:9px;\">\n<table align=\"left\" border=\"0\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:100%%;min-width:100%%;\" width=\"100%%\" class=\"mcnTextContentContainer\"><tr>\n<td valign=\"top\" class=\"mcnTextContent\" style=\"padding-top:0;padding-right:18px;padding-bottom:9px;padding-left:18px;\">\n<a href=\"%s\"><img src=\"%s\" width=\"564\" alt=\"\" style=\"max-width:564px;\" class=\"mcnImage\"></a>\n<h1>%s</h1>\n",
			a.url, a.img, html.EscapeString(a.title))
		for _, p := range a.paras {
			fmt.Fprintf(&h, "<p style=\"margin:10px 0;padding:0;color:#202020;font-family:Georgia,serif;font-size:16px;line-height:150%%;\">%s</p>\n", html.EscapeString(p))
		}
		fmt.Fprintf(&h, "<table border=\"0\" cellpadding=\"0\" cellspacing=\"0\" class=\"mcnButtonContentContainer\" style=\"border-collapse:separate!important;border-radius:3px;background-color:#2BAADF;\"><tr><td align=\"center\" valign=\"middle\" class=\"mcnButtonContent\" style=\"font-family:Arial;font-size:16px;padding:15px;\"><a class=\"mcnButton\" title=\"Read more\" href=\"%s\" target=\"_blank\" style=\"font-weight:bold;letter-spacing:normal;line-height:100%%;text-align:center;text-decoration:none;color:#FFFFFF;\">Read more</a></td></tr></table>\n</td></tr></table></td></tr>\n", a.url)
	}
	// A grid of products.
	h.WriteString("<tr><td><table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\"><tr>\n")
	for j := range 3 + m.r.IntN(4) {
		if j > 0 && j%3 == 0 {
			h.WriteString("</tr><tr>\n")
		}
		fmt.Fprintf(&h, "<td width=\"33%%\" valign=\"top\" style=\"padding:9px;text-align:center;\"><a href=\"%s\"><img src=\"https://cdn.%s/p/%s.jpg\" width=\"180\" alt=\"\"></a><p style=\"font-size:14px;\">%s<br><b>%s</b></p></td>\n",
			m.trackedURL("click.news."+m.domain, "/p/"+m.randomString(base32Chars, 8)), m.domain, m.randomString(hexChars, 20), m.product(), m.money(999+m.r.IntN(20000), "USD"))
	}
	fmt.Fprintf(&h, "</tr></table></td></tr>\n<tr><td valign=\"top\" id=\"templateFooter\" style=\"color:#656565;font-size:12px;line-height:150%%;text-align:center;\"><em>Copyright &copy; 2026 %s, All rights reserved.</em><br>You are receiving this email because you opted in via our website.<br><br><strong>Our mailing address is:</strong><br>%s<br><br>Want to change how you receive these emails?<br>You can <a href=\"%s\">update your preferences</a> or <a href=\"%s\">unsubscribe from this list</a>.<img src=\"https://click.news.%s/open/%s.gif\" width=\"1\" height=\"1\" alt=\"\"></td></tr>\n</table>\n<!--[if (gte mso 9)|(IE)]></td></tr></table><![endif]-->\n</td></tr></table></center></body></html>\n",
		m.org, html.EscapeString(m.postal()), m.trackedURL("click.news."+m.domain, "/prefs"), unsub, m.domain, m.linkToken(48))
	htmlBody := []byte(h.String())

	switch m.r.IntN(4) {
	case 0: // HTML only
		m.root = leaf("text/html; charset=\"UTF-8\"", "quoted-printable", htmlBody)
		return
	case 1: // a stub text part
		text := fmt.Sprintf("View this email in your browser: %s\n\n%s\n\nUnsubscribe: %s\n", m.trackedURL("click.news."+m.domain, "/view"), m.subject, unsub)
		m.root = m.multipart("alternative", leaf("text/plain; charset=\"UTF-8\"", "7bit", []byte(text)), leaf("text/html; charset=\"UTF-8\"", "quoted-printable", htmlBody))
		return
	}
	var t strings.Builder
	for _, a := range articles {
		fmt.Fprintf(&t, "** %s\n------------------------------------------------------------\n%s\n\nRead more (%s)\n\n", strings.ToUpper(a.title), strings.Join(a.paras, "\n\n"), a.url)
	}
	fmt.Fprintf(&t, "============================================================\nCopyright © 2026 %s, All rights reserved.\nunsubscribe from this list (%s)\n", m.org, unsub)
	m.root = m.multipart("alternative", leaf("text/plain; charset=\"UTF-8\"", "quoted-printable", []byte(t.String())), leaf("text/html; charset=\"UTF-8\"", "quoted-printable", htmlBody))
}

// pdf is a PDF-shaped document of about n bytes: a few objects, text operators with the given
// lines, and a compressed (incompressible) stream filling the rest.
func (m *msg) pdf(lines []string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n")
	b.WriteString("3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>\nendobj\n")
	var content bytes.Buffer
	content.WriteString("BT /F1 11 Tf 50 790 Td 14 TL\n")
	for _, l := range lines {
		fmt.Fprintf(&content, "(%s) Tj T*\n", strings.NewReplacer("(", `\(`, ")", `\)`).Replace(l))
	}
	content.WriteString("ET\n")
	fmt.Fprintf(&b, "4 0 obj\n<< /Length %d >>\nstream\n%sendstream\nendobj\n", content.Len(), content.String())
	b.WriteString("5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n")
	fill := max(0, n-b.Len()-200)
	fmt.Fprintf(&b, "6 0 obj\n<< /Type /XObject /Subtype /Image /Width 400 /Height 120 /BitsPerComponent 8 /ColorSpace /DeviceRGB /Filter /FlateDecode /Length %d >>\nstream\n", fill)
	b.Write(m.binary("x\x9c", fill))
	fmt.Fprintf(&b, "\nendstream\nendobj\nxref\n0 7\ntrailer\n<< /Size 7 /Root 1 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n", m.randomString(hexChars, 32), m.randomString(hexChars, 32), b.Len())
	return b.Bytes()
}

func (m *msg) invoice() {
	m.fromName, m.fromAddr = m.org+" Billing", "billing@"+m.domain
	number := "INV-" + serial(m.i, 9)
	list, total := m.items(1 + m.r.IntN(4))
	due := m.date.Add(30 * 24 * time.Hour).Format("January 2, 2006")
	m.subject = pick(m.writer, []string{"Your " + m.org + " invoice " + number, "Invoice " + number + " is available", "Payment receipt for " + m.org + " — " + number})
	m.cc = []string{"Accounts Payable <ap@example.com>"}
	prose := m.paragraphs(langEnglish, m.prose)
	lines := []string{m.org + " Inc.", "INVOICE " + number, "Date: " + m.date.Format("2006-01-02"), "Bill to: " + m.toName + ", " + m.postal()}
	for _, it := range list {
		lines = append(lines, fmt.Sprintf("%s  %d x %s", it.name, it.qty, m.money(it.cents, "USD")))
	}
	lines = append(lines, "Total due: "+m.money(total, "USD"), "Due date: "+due)
	payURL := fmt.Sprintf("https://pay.%s/i/%s?k=%s", m.domain, number, m.linkToken(24))
	text := fmt.Sprintf("Hello %s,\n\nYour invoice %s for %s is attached (PDF). Amount due: %s by %s.\n\nPay online: %s\n\n%s\n\nThank you for your business,\n%s Billing\n",
		m.toName, number, m.date.Format("January 2006"), m.money(total, "USD"), due, payURL, strings.Join(prose, "\n\n"), m.org)
	h := fmt.Sprintf(`<p>Hello %s,</p><p>Your invoice <b>%s</b> is attached. Amount due: <b>%s</b> by %s.</p><p><a href="%s" class="button">Pay invoice</a></p>%s`,
		html.EscapeString(m.toName), number, m.money(total, "USD"), due, html.EscapeString(payURL), htmlParagraphs(prose))
	alt := m.alternative(text, m.htmlPage("Invoice "+number, "Amount due "+m.money(total, "USD"), h))
	size := m.attach
	if size < 0 {
		size = 12000 + m.r.IntN(70000)
	}
	if size == 0 {
		m.root = alt
		return
	}
	name := number + ".pdf"
	m.root = m.multipart("mixed", alt, leaf("application/pdf; name=\""+name+"\"", "base64", m.pdf(lines, size), "Content-Disposition: attachment; filename=\""+name+"\""))
}

func (m *msg) calendar() {
	m.fromName, m.fromAddr = m.person(), "calendar-notification@"+m.domain
	start := m.date.Add(time.Duration(24+m.r.IntN(400)) * time.Hour).Truncate(30 * time.Minute)
	topic := capitalize(m.word(langEnglish)) + " " + pick(m.writer, []string{"sync", "review", "planning", "retro", "kickoff", "1:1"})
	uid := m.randomString(hexChars, 26) + "@" + m.domain
	m.subject = fmt.Sprintf("Invitation: %s @ %s (%s)", topic, start.Format("Mon Jan 2, 2006 3pm"), m.to)
	var attendees strings.Builder
	for range 2 + m.r.IntN(5) {
		fmt.Fprintf(&attendees, "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=%s:mailto:%s@example.com\n", m.person(), strings.ToLower(pick(m.writer, firstNames)))
	}
	prose := strings.Join(m.paragraphs(langEnglish, m.prose), "\n\n")
	ics := fmt.Sprintf("BEGIN:VCALENDAR\nPRODID:-//%s//Calendar 1.0//EN\nVERSION:2.0\nCALSCALE:GREGORIAN\nMETHOD:REQUEST\nBEGIN:VEVENT\nDTSTART:%s\nDTEND:%s\nDTSTAMP:%s\nORGANIZER;CN=%s:mailto:%s\nUID:%s\n%sDESCRIPTION:%s\nLOCATION:https://meet.%s/%s\nSEQUENCE:0\nSTATUS:CONFIRMED\nSUMMARY:%s\nTRANSP:OPAQUE\nEND:VEVENT\nEND:VCALENDAR\n",
		m.org, start.Format("20060102T150405Z"), start.Add(time.Hour).Format("20060102T150405Z"), m.date.Format("20060102T150405Z"),
		m.fromName, m.fromAddr, uid, attendees.String(), strings.ReplaceAll(prose, "\n", `\n`), m.domain, m.randomString("abcdefghijklmnopqrstuvwxyz", 10), topic)
	text := fmt.Sprintf("You have been invited to the following event.\n\n%s\nWhen: %s\nJoining: https://meet.%s\n\n%s\n\nInvitation from %s Calendar\n", topic, start.Format(time.RFC1123), m.domain, prose, m.org)
	h := fmt.Sprintf("<div><h2>%s</h2><p><b>When</b> %s</p><p>%s</p></div>", html.EscapeString(topic), start.Format(time.RFC1123), html.EscapeString(prose))
	alt := m.multipart("alternative", leaf("text/plain; charset=\"UTF-8\"", "quoted-printable", []byte(text)),
		leaf("text/html; charset=\"UTF-8\"", "quoted-printable", []byte(h)),
		leaf("text/calendar; charset=\"UTF-8\"; method=REQUEST", "7bit", []byte(ics)))
	m.root = m.multipart("mixed", alt, leaf("application/ics; name=\"invite.ics\"", "base64", []byte(ics), "Content-Disposition: attachment; filename=\"invite.ics\""))
}

func (m *msg) report() {
	m.fromName, m.fromAddr = m.org+" Reports", "reports@"+m.domain
	day := m.date.Format("2006-01-02")
	m.subject = pick(m.writer, []string{"Daily export " + day, "Your weekly " + m.org + " report", "Scheduled report: " + m.word(langEnglish) + " " + day})
	var csv strings.Builder
	csv.WriteString("id,date,customer,email,product,quantity,amount,status\n")
	size := m.attach
	if size < 0 {
		size = 2000 + m.r.IntN(25000)
	}
	for row := 0; csv.Len() < size; row++ {
		fmt.Fprintf(&csv, "%s,%s,%s,%s@example.com,%s,%d,%d.%02d,%s\n", m.randomString(base32Chars, 12), day, m.person(),
			strings.ToLower(pick(m.writer, firstNames)), m.product(), 1+m.r.IntN(5), m.r.IntN(500), m.r.IntN(100),
			pick(m.writer, []string{"paid", "pending", "refunded", "shipped"}))
	}
	text := fmt.Sprintf("Hello,\n\nThe report for %s is attached (%d bytes, CSV).\n\n%s\n\nThis is an automated message from %s.\n", day, csv.Len(), strings.Join(m.paragraphs(langEnglish, m.prose), "\n\n"), m.org)
	body := leaf("text/plain; charset=us-ascii; format=flowed", "7bit", []byte(text))
	if !isASCII(text) {
		body = leaf("text/plain; charset=utf-8", "quoted-printable", []byte(text))
	}
	if m.attach == 0 {
		m.root = body
		return
	}
	name := "export-" + day + ".csv"
	m.root = m.multipart("mixed", body, leaf("text/csv; name=\""+name+"\"", "base64", []byte(csv.String()), "Content-Disposition: attachment; filename=\""+name+"\""))
}

// attachment is a file of n bytes for sized mode to fill a message with: a PDF, an image or an
// archive, in base64.
func (m *msg) attachment(n int) *part {
	switch m.r.IntN(3) {
	case 0:
		name := "document-" + serial(m.i, 6) + ".pdf"
		return leaf("application/pdf; name=\""+name+"\"", "base64", m.pdf([]string{m.sentence(langEnglish)}, n), "Content-Disposition: attachment; filename=\""+name+"\"")
	case 1:
		return leaf("image/jpeg; name=\"photo.jpg\"", "base64", m.binary("\xff\xd8\xff\xe0\x00\x10JFIF", n), "Content-Disposition: attachment; filename=\"photo.jpg\"")
	default:
		return leaf("application/zip; name=\"files.zip\"", "base64", m.binary("PK\x03\x04", n), "Content-Disposition: attachment; filename=\"files.zip\"")
	}
}
