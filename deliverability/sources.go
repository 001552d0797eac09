package deliverability

// Source is where a rule comes from.
type Source struct {
	Name string // e.g. "Gmail: Email sender guidelines (enforced from February 2024)"
	URL  string
}

// The sources the checklist cites.
var (
	srcGmail = Source{"Gmail: Email sender guidelines (requirements for all senders, and for 5,000+ messages a day, enforced from February 2024)",
		"https://support.google.com/a/answer/81126"}
	srcGmailFAQ = Source{"Gmail: Email sender guidelines FAQ (bulk senders, one-click unsubscribe)",
		"https://support.google.com/a/answer/14229414"}
	srcYahoo = Source{"Yahoo: Sender Best Practices (requirements for bulk senders from February 2024)",
		"https://senders.yahooinc.com/best-practices/"}
	srcMicrosoft = Source{"Microsoft: Outlook's new requirements for high-volume senders (5,000+ a day, enforced from 5 May 2025)",
		"https://techcommunity.microsoft.com/blog/microsoftdefenderforoffice365blog/strengthening-email-ecosystem-outlook%E2%80%99s-new-requirements-for-high%E2%80%90volume-senders/4399730"}
	srcRFC5322 = Source{"RFC 5322: Internet Message Format (§2.1.1 line length, §2.3 CRLF, §3.6 required fields, §3.6.4 Message-ID)",
		"https://www.rfc-editor.org/rfc/rfc5322"}
	srcRFC5321 = Source{"RFC 5321: SMTP (§2.3.8 lines end in CRLF, §4.1.1.1 EHLO gives the client's fully qualified domain name)",
		"https://www.rfc-editor.org/rfc/rfc5321"}
	srcRFC8058 = Source{"RFC 8058: Signaling One-Click Functionality for List Email Headers",
		"https://www.rfc-editor.org/rfc/rfc8058"}
	srcRFC7489 = Source{"RFC 7489: DMARC (§3.1 identifier alignment, §6.6 policy discovery)",
		"https://www.rfc-editor.org/rfc/rfc7489"}
	srcRFC8301 = Source{"RFC 8301: Cryptographic Algorithm and Key Usage Update to DKIM (keys of at least 1024 bits, 2048 recommended)",
		"https://www.rfc-editor.org/rfc/rfc8301"}
)
