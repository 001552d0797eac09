package policy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/letterbox-mail/letterbox/smtpd"
)

// Recipients is the list of --smtp-accept-recipients: the addresses (or glob patterns) the
// server accepts at RCPT TO and confirms at VRFY; every other recipient is unknown.
type Recipients struct {
	patterns []matcher
	n        int
}

// ParseRecipients reads a comma-separated list of addresses and globs ("*@example.com,
// qa+*@test.io"), or, as "@FILE", a file of them, one a line (blank lines and # comments skipped).
func ParseRecipients(spec string) (*Recipients, error) {
	var items []string
	if name, ok := strings.CutPrefix(spec, "@"); ok {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("recipients: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line != "" && !strings.HasPrefix(line, "#") {
				items = append(items, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("recipients: %s: %w", name, err)
		}
	} else {
		for _, s := range strings.Split(spec, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("recipients: %q lists no address", spec)
	}
	r := &Recipients{n: len(items)}
	for i, it := range items {
		m, err := compilePattern(fmt.Sprintf("recipients[%d]", i), strings.Trim(it, "<>"))
		if err != nil {
			return nil, err
		}
		r.patterns = append(r.patterns, m)
	}
	return r, nil
}

// Accepts reports whether addr is on the list.
func (r *Recipients) Accepts(addr string) bool { return anyMatchOf(r.patterns, addr) }

func anyMatchOf(ms []matcher, s string) bool {
	for _, m := range ms {
		if m(s) {
			return true
		}
	}
	return false
}

// unknownRecipient is the reply to a recipient off the list (Postfix's wording).
func unknownRecipient(addr string) smtpd.Action {
	return smtpd.Action{Code: 550, Enhanced: [3]int{5, 1, 1},
		Text: fmt.Sprintf("<%s>: Recipient address rejected: User unknown", addr), Fault: "recipient not accepted"}
}

// recipientsAction answers RCPT TO and VRFY from the list.
func recipientsAction(r *Recipients, c *smtpd.Check) smtpd.Action {
	switch c.Stage {
	case smtpd.StageRcpt:
		if !r.Accepts(c.Recipient) {
			return unknownRecipient(c.Recipient)
		}
	case smtpd.StageVrfy:
		if !r.Accepts(c.Recipient) {
			return unknownRecipient(c.Recipient)
		}
		return smtpd.Action{Code: 250, Enhanced: [3]int{2, 1, 5}, Text: "<" + c.Recipient + ">", Fault: "recipient list"}
	}
	return smtpd.Action{}
}
