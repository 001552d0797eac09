package webui

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/letterbox-mail/letterbox/policy"
)

// Faults is the SMTP policy engine as the API configures it: Mailpit's chaos, MailHog's Jim and
// letterbox's rules. *policy.Engine implements it.
type Faults interface {
	ChaosEnabled() bool
	Chaos() policy.ChaosTriggers
	SetChaos(policy.ChaosTriggers) (policy.ChaosTriggers, error)
	Jim() (policy.Jim, bool)
	LastJim() policy.Jim
	SetJim(*policy.Jim) error
	Rules() []policy.Rule
	SetRules([]policy.Rule) error
	Status() policy.Status
}

var _ Faults = (*policy.Engine)(nil)

// faultRoutes are the three faces of the SMTP policy engine.
func (s *Server) faultRoutes() []route {
	hf := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	return []route{
		{"GET", "/api/v1/chaos", nil, hf(s.getChaos)},
		{"PUT", "/api/v1/chaos", nil, hf(s.putChaos)},
		{"GET", "/api/v1/chaos/rules", nil, hf(s.getRules)},
		{"PUT", "/api/v1/chaos/rules", nil, hf(s.putRules)},
		{"DELETE", "/api/v1/chaos/rules", nil, hf(s.deleteRules)},
		{"GET", "/api/v2/jim", nil, hf(s.getJim)},
		{"POST", "/api/v2/jim", nil, hf(s.postJim)},
		{"PUT", "/api/v2/jim", nil, hf(s.putJim)},
		{"DELETE", "/api/v2/jim", nil, hf(s.deleteJim)},
	}
}

// mailpitError answers as Mailpit's API does when it refuses: 400 with the reason as plain text.
func mailpitError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, msg)
}

// chaosOn reports whether Mailpit's chaos API is on, answering as Mailpit does when it is off.
func (s *Server) chaosOn(w http.ResponseWriter) bool {
	if s.opts.Faults == nil || !s.opts.Faults.ChaosEnabled() {
		mailpitError(w, "Chaos is not enabled")
		return false
	}
	return true
}

// getChaos is GET /api/v1/chaos: Mailpit's chaos triggers.
func (s *Server) getChaos(w http.ResponseWriter, r *http.Request) {
	if s.chaosOn(w) {
		writeJSON(w, http.StatusOK, s.opts.Faults.Chaos())
	}
}

// putChaos is PUT /api/v1/chaos: triggers left out are reset (off), `{}` resets them all.
func (s *Server) putChaos(w http.ResponseWriter, r *http.Request) {
	if !s.chaosOn(w) {
		return
	}
	var t policy.ChaosTriggers
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&t); err != nil {
		mailpitError(w, err.Error())
		return
	}
	t, err := s.opts.Faults.SetChaos(t)
	if err != nil {
		mailpitError(w, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// rulesOn answers 404 when the server has no policy engine.
func (s *Server) rulesOn(w http.ResponseWriter) bool {
	if s.opts.Faults == nil {
		http.Error(w, "webui: SMTP rules are not available on this server", http.StatusNotFound)
		return false
	}
	return true
}

// getRules is GET /api/v1/chaos/rules: letterbox's SMTP rules in force.
func (s *Server) getRules(w http.ResponseWriter, r *http.Request) {
	if s.rulesOn(w) {
		writeJSON(w, http.StatusOK, policy.RuleSet{Rules: s.opts.Faults.Rules()})
	}
}

// putRules is PUT /api/v1/chaos/rules: replaces the rules in force; a rule that does not hold
// gets 400 naming its field, and the rules in force stay.
func (s *Server) putRules(w http.ResponseWriter, r *http.Request) {
	if !s.rulesOn(w) {
		return
	}
	rules, err := policy.DecodeRules(io.LimitReader(r.Body, maxBody))
	if err == nil {
		err = s.opts.Faults.SetRules(rules)
	}
	if err != nil {
		http.Error(w, "webui: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.log.Info("SMTP rules set from the API", "rules", len(rules), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, policy.RuleSet{Rules: s.opts.Faults.Rules()})
}

// deleteRules is DELETE /api/v1/chaos/rules: no rules.
func (s *Server) deleteRules(w http.ResponseWriter, r *http.Request) {
	if !s.rulesOn(w) {
		return
	}
	s.opts.Faults.SetRules(nil)
	writeJSON(w, http.StatusOK, policy.RuleSet{Rules: []policy.Rule{}})
}

// MailHog's Jim, /api/v2/jim, answered as MailHog does: GET 404 while he is off and 200 with
// his settings while on; POST turns him on (201; 400 when he is on already) with the settings
// the body gives, or those he last had when it gives none; PUT changes them (404 while off, 400
// when the body is not JSON); DELETE turns him off (404 while off). Bodies are empty otherwise.

func (s *Server) getJim(w http.ResponseWriter, r *http.Request) {
	j, on := s.jimState()
	if !on {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) jimState() (policy.Jim, bool) {
	if s.opts.Faults == nil {
		return policy.Jim{}, false
	}
	return s.opts.Faults.Jim()
}

func (s *Server) postJim(w http.ResponseWriter, r *http.Request) {
	if _, on := s.jimState(); on || s.opts.Faults == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	// MailHog ignores a body that does not decode, and uses the settings Jim last had.
	j := s.opts.Faults.LastJim()
	var body policy.Jim
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&body); err == nil {
		j = body
	}
	if err := s.opts.Faults.SetJim(&j); err != nil {
		http.Error(w, "webui: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) putJim(w http.ResponseWriter, r *http.Request) {
	if _, on := s.jimState(); !on {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	var j policy.Jim
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&j); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := s.opts.Faults.SetJim(&j); err != nil {
		var fe *policy.FieldError
		if errors.As(err, &fe) {
			http.Error(w, "webui: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) deleteJim(w http.ResponseWriter, r *http.Request) {
	if _, on := s.jimState(); !on {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	s.opts.Faults.SetJim(nil)
	w.WriteHeader(http.StatusOK)
}

// faultStatus is what the web inbox's banner shows (in /api/v1/webui).
func (s *Server) faultStatus() policy.Status {
	if s.opts.Faults == nil {
		return policy.Status{}
	}
	return s.opts.Faults.Status()
}
