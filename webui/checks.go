package webui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/letterbox-mail/letterbox/deliverability"
	"github.com/letterbox-mail/letterbox/htmlcheck"
	"github.com/letterbox-mail/letterbox/linkcheck"
	"github.com/letterbox-mail/letterbox/spamassassin"
	"github.com/letterbox-mail/letterbox/store"
)

// Deliverability makes a message's deliverability report (*deliverability.Checker).
type Deliverability interface {
	Report(ctx context.Context, in deliverability.Input, req deliverability.Request) (*deliverability.Report, error)
}

// LinkChecker checks links (*linkcheck.Checker).
type LinkChecker interface {
	Check(ctx context.Context, links []string, follow bool) linkcheck.Response
}

// SpamChecker scores a message with SpamAssassin (*spamassassin.Client).
type SpamChecker interface {
	Check(ctx context.Context, raw []byte) (spamassassin.Result, error)
}

// checkedMessage loads the message {ID} (or latest).
func (s *Server) checkedMessage(r *http.Request) (*store.Message, error) {
	id, err := s.messageID(r, r.PathValue("ID"))
	if err != nil {
		return nil, err
	}
	return s.st.Message(r.Context(), id)
}

// htmlCheck is GET /api/v1/message/{ID}/html-check (Mailpit's shape; 400 without HTML).
func (s *Server) htmlCheck(w http.ResponseWriter, r *http.Request) {
	m, err := s.checkedMessage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := htmlcheck.Check(m.HTML)
	if errors.Is(err, htmlcheck.ErrNoHTML) {
		s.fail(w, r, badf("%s", err.Error()))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// linkCheck is GET /api/v1/message/{ID}/link-check?follow=true (Mailpit's shape).
func (s *Server) linkCheck(w http.ResponseWriter, r *http.Request) {
	if s.opts.LinkChecker == nil {
		s.fail(w, r, badf("link checking is off"))
		return
	}
	if s.fetchesRefused(w, r) {
		return
	}
	m, err := s.checkedMessage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	follow := boolParam(r, "follow")
	res := s.opts.LinkChecker.Check(r.Context(), linkcheck.Extract(m.HTML, m.Text), follow)
	if res.Links == nil {
		res.Links = []linkcheck.Link{}
	}
	writeJSON(w, http.StatusOK, res)
}

// saCheck is GET /api/v1/message/{ID}/sa-check (Mailpit's shape): 400 without --spamassassin;
// when spamd cannot be asked, 200 with Error set, as Mailpit answers.
func (s *Server) saCheck(w http.ResponseWriter, r *http.Request) {
	if s.opts.SpamAssassin == nil {
		s.fail(w, r, badf("no SpamAssassin service defined (letterbox --spamassassin HOST:PORT)"))
		return
	}
	id, err := s.messageID(r, r.PathValue("ID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw, err := s.st.Raw(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.opts.SpamAssassin.Check(r.Context(), raw)
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		res = spamassassin.Result{Error: err.Error()}
	}
	if res.Rules == nil && res.Error == "" {
		res.Rules = []spamassassin.Rule{}
	}
	writeJSON(w, http.StatusOK, res)
}

// deliverabilityReport is GET /api/v1/message/{ID}/deliverability: the whole report.
// ip=1.2.3.4[,…] sets the sending addresses; links=true checks links (follow=true follows
// redirects); refresh=true computes it again.
func (s *Server) deliverabilityReport(w http.ResponseWriter, r *http.Request) {
	if s.opts.Deliverability == nil {
		s.fail(w, r, badf("deliverability checks are off"))
		return
	}
	req := deliverability.Request{Links: boolParam(r, "links"), Follow: boolParam(r, "follow"), Refresh: boolParam(r, "refresh")}
	if req.Links && s.fetchesRefused(w, r) {
		return
	}
	for _, v := range strings.FieldsFunc(r.URL.Query().Get("ip"), func(c rune) bool { return c == ',' || c == ' ' }) {
		a, err := netip.ParseAddr(v)
		if err != nil {
			s.fail(w, r, badf("ip %q: not an IP address", v))
			return
		}
		req.IPs = append(req.IPs, a.Unmap())
	}
	m, err := s.checkedMessage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw, err := s.st.Raw(r.Context(), m.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.opts.Deliverability.Report(r.Context(), deliverability.Input{
		ID: m.ID, Raw: raw, MailFrom: m.Envelope.MailFrom, Helo: m.Envelope.Helo, RemoteAddr: m.Envelope.RemoteAddr,
		TLS: m.Envelope.TLS, HTML: m.HTML, Text: m.Text,
	}, req)
	if err != nil {
		s.fail(w, r, fmt.Errorf("webui: deliverability: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// fetchesRefused reports, and answers 403, when a request that makes letterbox fetch URLs comes
// from another site's page (an <img> pointing at /link-check): like a change of state, it needs
// the user's own inbox or a --cors origin.
func (s *Server) fetchesRefused(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") != "cross-site" {
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" && s.corsAllowed(origin) {
		return false
	}
	http.Error(w, "webui: cross-site request to check links refused", http.StatusForbidden)
	return true
}

// boolParam reads a true/1 query parameter.
func boolParam(r *http.Request, name string) bool {
	v := strings.ToLower(r.URL.Query().Get(name))
	return v == "true" || v == "1" || v == "yes"
}
