package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/letterbox-mail/letterbox/client"
)

// Deliverer is the optional Mailbox method deliverability_report needs; *client.Client has it.
type Deliverer interface {
	Deliverability(ctx context.Context, id string, opts client.DeliverabilityOptions) (*client.Deliverability, error)
}

// DeliverabilityInput is deliverability_report's input.
type DeliverabilityInput struct {
	ID         string   `json:"id" jsonschema:"the message's ID (from search_messages or wait_for_message), or latest for the newest message"`
	SendingIPs []string `json:"sending_ips,omitempty" jsonschema:"the addresses production mail leaves from, to judge SPF and reverse DNS for; default: the server's --sending-ip, else the SMTP client's address"`
	CheckLinks bool     `json:"check_links,omitempty" jsonschema:"also check that every link answers (HTTP requests to the links' hosts)"`
}

// DeliverabilityOutput is deliverability_report's output.
type DeliverabilityOutput struct {
	ID          string                  `json:"id"`
	Verdict     string                  `json:"verdict" jsonschema:"pass, warn or fail"`
	Summary     string                  `json:"summary"`
	SendingIPs  []string                `json:"sending_ips"`
	Note        string                  `json:"note,omitempty" jsonschema:"a caveat, such as SPF being judged for a local address"`
	DKIM        []string                `json:"dkim" jsonschema:"one line per DKIM signature: result, domain, reason"`
	SPF         string                  `json:"spf"`
	DMARC       string                  `json:"dmarc"`
	Problems    []DeliverabilityProblem `json:"problems" jsonschema:"the sender rules that do not pass, with the fix"`
	HTMLIssues  []string                `json:"html_issues" jsonschema:"the HTML and CSS features least supported by email clients, with the lines they are on"`
	BrokenLinks []string                `json:"broken_links,omitempty"`
	SpamScore   *float64                `json:"spam_score,omitempty" jsonschema:"SpamAssassin's score, when configured"`
	SpamRules   []string                `json:"spam_rules,omitempty"`
}

// DeliverabilityProblem is one rule that warns or fails.
type DeliverabilityProblem struct {
	Rule   string `json:"rule"`
	Status string `json:"status" jsonschema:"warn or fail"`
	Reason string `json:"reason"`
	Fix    string `json:"fix"`
	Source string `json:"source"`
}

func (s *Server) addDeliverabilityTool() {
	if _, ok := s.mb.(Deliverer); !ok {
		return
	}
	addTool(s, "deliverability_report", "Deliverability report",
		"Judge whether a captured message would be delivered by Gmail, Yahoo and Outlook: DKIM, SPF and DMARC verdicts, "+
			"the providers' sender rules (one-click unsubscribe, alignment, Message-ID, line endings, ...) with the fix for each "+
			"that fails, HTML features email clients do not support, and the spam score when SpamAssassin is configured.",
		reads, s.deliverability)
}

func (s *Server) deliverability(ctx context.Context, in DeliverabilityInput) (DeliverabilityOutput, error) {
	if strings.TrimSpace(in.ID) == "" {
		return DeliverabilityOutput{}, errors.New("give the message's id")
	}
	d, err := s.mb.(Deliverer).Deliverability(ctx, in.ID, client.DeliverabilityOptions{IPs: in.SendingIPs, Links: in.CheckLinks})
	if err != nil {
		return DeliverabilityOutput{}, toolError(err)
	}
	out := DeliverabilityOutput{ID: d.ID, Verdict: d.Verdict, Summary: d.Summary, SendingIPs: d.SendingIPs, Note: d.SendingIPNote,
		DKIM: []string{}, Problems: []DeliverabilityProblem{}, HTMLIssues: []string{},
		SPF:   fmt.Sprintf("%s for %s: %s", d.SPF.Result, d.SPF.Domain, d.SPF.Reason),
		DMARC: fmt.Sprintf("%s for %s: %s", d.DMARC.Result, d.DMARC.FromDomain, d.DMARC.Reason)}
	for _, k := range d.DKIM {
		out.DKIM = append(out.DKIM, fmt.Sprintf("%s for d=%s (s=%s): %s", k.Result, k.Domain, k.Selector, k.Reason))
	}
	for _, r := range d.Checklist {
		if r.Status == "pass" {
			continue
		}
		p := DeliverabilityProblem{Rule: r.Title, Status: r.Status, Reason: r.Reason, Fix: r.Fix}
		if len(r.Sources) > 0 {
			p.Source = r.Sources[0].Name + " " + r.Sources[0].URL
		}
		out.Problems = append(out.Problems, p)
	}
	if h := d.HTMLCheck; h != nil {
		for i, w := range h.Warnings {
			if i == 10 {
				break
			}
			out.HTMLIssues = append(out.HTMLIssues, fmt.Sprintf("%s: unsupported by %.0f%%, partly by %.0f%% of clients; lines %v", w.Title, w.Score.Unsupported, w.Score.Partial, w.Lines))
		}
	}
	if l := d.LinkCheck; l != nil {
		for _, x := range l.Links {
			if x.StatusCode == 0 || x.StatusCode >= 400 {
				out.BrokenLinks = append(out.BrokenLinks, fmt.Sprintf("%s: %d %s", x.URL, x.StatusCode, x.Status))
			}
		}
	}
	if sa := d.SpamAssassin; sa != nil && sa.Error == "" {
		score := sa.Score
		out.SpamScore = &score
		for _, r := range sa.Rules {
			if r.Score != 0 {
				out.SpamRules = append(out.SpamRules, fmt.Sprintf("%+.1f %s: %s", r.Score, r.Name, r.Description))
			}
		}
	}
	return out, nil
}
