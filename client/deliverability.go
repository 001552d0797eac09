package client

import (
	"context"
	"net/url"
	"strings"
)

// DeliverabilityOptions select what a deliverability report covers.
type DeliverabilityOptions struct {
	IPs     []string // sending addresses to judge SPF and reverse DNS for; nil means the server's default
	Links   bool     // check the message's links too
	Refresh bool     // compute the report again instead of using the cached one
}

// Deliverability is the main part of GET /api/v1/message/{ID}/deliverability (the server's
// OpenAPI description has every field).
type Deliverability struct {
	ID            string
	Verdict       string // pass, warn or fail
	Summary       string
	SendingIPs    []string
	SendingIPNote string
	Bulk          bool
	DKIM          []struct{ Domain, Selector, Algorithm, Result, Reason string }
	SPF           struct{ Domain, Result, Reason string }
	DMARC         struct{ FromDomain, Policy, Result, AppliedPolicy, Reason string }
	Checklist     []ChecklistRule
	HTMLCheck     *struct {
		Warnings []struct {
			Slug, Title, URL string
			Score            struct {
				Found                           int
				Supported, Partial, Unsupported float64
			}
			Lines []int
		}
		Total struct{ Supported, Partial, Unsupported float64 }
	}
	LinkCheck *struct {
		Errors int
		Links  []struct {
			URL        string
			StatusCode int
			Status     string
		}
	}
	SpamAssassin *struct {
		IsSpam bool
		Error  string
		Score  float64
		Rules  []struct {
			Score       float64
			Name        string
			Description string
		}
	}
}

// ChecklistRule is one of the mailbox providers' sender rules, judged for a message.
type ChecklistRule struct {
	ID, Title, Applies, Status, Reason, Fix string
	Sources                                 []struct{ Name, URL string }
}

// Deliverability returns a message's deliverability report (id may be "latest").
func (c *Client) Deliverability(ctx context.Context, id string, opts DeliverabilityOptions) (*Deliverability, error) {
	q := url.Values{}
	if len(opts.IPs) > 0 {
		q.Set("ip", strings.Join(opts.IPs, ","))
	}
	if opts.Links {
		q.Set("links", "true")
	}
	if opts.Refresh {
		q.Set("refresh", "true")
	}
	var d Deliverability
	if _, err := c.do(ctx, request{method: "GET", path: messagePath(id, "deliverability"), query: q}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
