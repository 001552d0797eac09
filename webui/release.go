package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/letterbox-mail/letterbox/relay"
	"github.com/letterbox-mail/letterbox/store"
)

// Relayer sends stored messages on to real SMTP servers; *relay.Relay is one.
type Relayer interface {
	Info() relay.Info
	Release(ctx context.Context, m relay.Stored, to []string) (*relay.Result, error)
	ReleaseMailHog(ctx context.Context, m relay.Stored, req relay.MailHogRelease) (*relay.Result, error)
}

// RelayLog keeps each message's relay history; *store.Store is one.
type RelayLog interface {
	AddRelay(ctx context.Context, id string, job store.RelayJob) (store.RelayJob, error)
	RelayJobs(ctx context.Context, id string) ([]store.RelayJob, error)
}

var (
	_ Relayer  = (*relay.Relay)(nil)
	_ RelayLog = (*store.Store)(nil)
)

// relayInfo describes the configured relay for /api/v1/webui (never its password).
func (s *Server) relayInfo() relay.Info {
	if s.opts.Relay == nil {
		return relay.Info{}
	}
	return s.opts.Relay.Info()
}

// stored reads what a release sends: the raw message and the envelope sender it came with.
func (s *Server) stored(ctx context.Context, id string) (relay.Stored, error) {
	m, err := s.st.Message(ctx, id)
	if err != nil {
		return relay.Stored{}, err
	}
	raw, err := s.st.Raw(ctx, id)
	if err != nil {
		return relay.Stored{}, err
	}
	return relay.Stored{MailFrom: m.Envelope.MailFrom, Raw: raw}, nil
}

// release is Mailpit's POST /api/v1/message/{ID}/release {"To": [...]}: the stored message goes
// to those recipients through the configured relay, now. 200 "ok" when the relay took it for
// every recipient (its reply in the X-Relay-Reply header); 400 when no relay is configured or a
// recipient is not an address or not allowed (nothing sent); 502 with the relay's answer when
// it refused or could not be reached. Every attempt goes into the message's relay history.
func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	if !s.relayInfo().Enabled {
		http.Error(w, "webui: release: no relay configured (start letterbox with --relay-config FILE or --relay-host)", http.StatusBadRequest)
		return
	}
	id, err := s.messageID(r, r.PathValue("ID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body struct{ To []string }
	if err := readJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.stored(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.opts.Relay.Release(r.Context(), m, body.To)
	s.answerRelease(w, r, id, body.To, res, err, func() { writeOK(w) })
}

// mhRelease is MailHog's POST /api/v1/messages/{id}/release {"Host", "Port", "Email",
// "Username", "Password", "Mechanism"}: to the configured relay, or to a host --release-hosts
// allows (see package relay). 200 with {"Reply": ...} when sent; 400 for a bad body or a host
// not allowed; 502 when the server refused or could not be reached.
func (s *Server) mhRelease(w http.ResponseWriter, r *http.Request) {
	id := mhID(r.PathValue("id"))
	var body struct {
		Host, Email, Username, Password, Mechanism string
		Port                                       json.RawMessage // "1025" (MailHog's UI) or 1025
	}
	if err := readJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.opts.Relay == nil {
		http.Error(w, "webui: release: no relay configured and no --release-hosts: letterbox sends mail nowhere", http.StatusBadRequest)
		return
	}
	req := relay.MailHogRelease{Host: body.Host, Email: body.Email, Username: body.Username, Password: body.Password, Mechanism: body.Mechanism}
	if len(body.Port) > 0 && string(body.Port) != "null" {
		if err := json.Unmarshal(body.Port, &req.Port); err != nil {
			req.Port = string(body.Port) // a number
		}
	}
	m, err := s.stored(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.opts.Relay.ReleaseMailHog(r.Context(), m, req)
	s.answerRelease(w, r, id, []string{body.Email}, res, err, func() {
		writeJSON(w, http.StatusOK, struct{ Reply string }{res.Reply})
	})
}

// answerRelease records a release in the relay history and answers it: ok() when the server
// took it for every recipient.
func (s *Server) answerRelease(w http.ResponseWriter, r *http.Request, id string, to []string, res *relay.Result, err error, ok func()) {
	var (
		fe *relay.FieldError
		re *relay.RecipientError
		he *relay.HostError
	)
	switch {
	case errors.As(err, &fe):
		http.Error(w, "webui: release: "+fe.Error(), http.StatusBadRequest)
		return
	case errors.As(err, &re), errors.As(err, &he), errors.Is(err, relay.ErrNotConfigured):
		http.Error(w, "webui: "+strings.TrimPrefix(err.Error(), "relay: "), http.StatusBadRequest)
		return
	case errors.Is(err, relay.ErrNoRecipients):
		http.Error(w, "webui: release: no recipients (To)", http.StatusBadRequest)
		return
	}
	job := store.RelayJob{Kind: store.RelayRelease, Recipients: to, Attempts: 1}
	if err != nil {
		job.State, job.Reply = store.RelayFailed, err.Error()
	} else {
		job.State, job.Reply, job.Recipients = store.RelaySent, res.Reply, res.Accepted
		for _, ref := range res.Refused {
			job.Reply += "; refused " + ref.String()
		}
	}
	if s.opts.RelayLog != nil {
		if _, lerr := s.opts.RelayLog.AddRelay(context.WithoutCancel(r.Context()), id, job); lerr != nil && !errors.Is(lerr, store.ErrNotFound) {
			s.log.Error("release: recording it failed", "id", id, "err", lerr)
		}
	}
	s.log.Info("released", "id", id, "state", string(job.State), "reply", job.Reply)
	if err != nil {
		http.Error(w, "webui: release failed: "+strings.TrimPrefix(err.Error(), "relay: "), http.StatusBadGateway)
		return
	}
	if len(res.Refused) > 0 {
		http.Error(w, fmt.Sprintf("webui: release: sent to %s (%s); %s", strings.Join(res.Accepted, ", "), res.Reply, strings.TrimPrefix(job.Reply, res.Reply+"; ")), http.StatusBadGateway)
		return
	}
	w.Header().Set("X-Relay-Reply", strings.Map(func(c rune) rune {
		if c < ' ' || c > '~' {
			return ' '
		}
		return c
	}, res.Reply))
	ok()
}

// RelayStatus is the body of GET /api/v1/message/{ID}/relay.
type RelayStatus struct {
	// State is the newest job's state: "" when the message was never relayed, else queued,
	// sending, sent or failed.
	State string
	Jobs  []RelayJobJSON
}

// RelayJobJSON is one relay job as the API shows it.
type RelayJobJSON struct {
	Kind       string // auto, release
	Recipients []string
	State      string
	Attempts   int
	Due        *time.Time `json:",omitempty"` // the next try, while queued
	Created    time.Time
	Updated    time.Time
	Reply      string // the server's answer, or why it failed
}

// relayStatus is GET /api/v1/message/{ID}/relay: the message's relay history, oldest first.
func (s *Server) relayStatus(w http.ResponseWriter, r *http.Request) {
	id, err := s.messageID(r, r.PathValue("ID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st := RelayStatus{Jobs: []RelayJobJSON{}}
	if s.opts.RelayLog == nil {
		if _, err := s.st.Summary(r.Context(), id); err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
		return
	}
	jobs, err := s.opts.RelayLog.RelayJobs(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, j := range jobs {
		js := RelayJobJSON{Kind: j.Kind, Recipients: j.Recipients, State: string(j.State), Attempts: j.Attempts,
			Created: j.Created, Updated: j.Updated, Reply: j.Reply}
		if j.State == store.RelayQueued {
			due := j.Due
			js.Due = &due
		}
		st.Jobs = append(st.Jobs, js)
		st.State = js.State
	}
	writeJSON(w, http.StatusOK, st)
}
