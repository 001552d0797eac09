package webui

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// SessionStore is where SMTP session transcripts are read; *store.Store implements it.
type SessionStore interface {
	Sessions(ctx context.Context, f store.SessionFilter, p store.Page) (store.SessionResult, error)
	Session(ctx context.Context, id string) (*store.Session, error)
	DeleteSessions(ctx context.Context) error
}

var _ SessionStore = (*store.Store)(nil)

// SessionSummary is an SMTP session in /api/v1/sessions and the websocket "session" event.
type SessionSummary struct {
	ID            string
	Started       time.Time
	Ended         *time.Time // null while the session is in progress
	RemoteAddr    string
	Helo          string
	TLSVersion    string
	TLSCipher     string
	AuthMechanism string
	AuthUsername  string
	Outcome       string // quit, dropped, timeout, error, shutdown, fault, refused, closed, api (the send API); "" in progress
	Error         string
	Messages      int
	Faults        []string
}

// SessionLine is one line of a transcript: At milliseconds after the session began, Dir "C"
// (client), "S" (server) or "*" (what happened besides: a message stored, a fault, TLS).
type SessionLine struct {
	At   int64
	Dir  string
	Text string
}

// SessionDetail is /api/v1/session/{ID}: the summary, the messages stored and the transcript.
type SessionDetail struct {
	SessionSummary
	MessageIDs []string
	Transcript []SessionLine
}

// SessionList is the envelope of /api/v1/sessions.
type SessionList struct {
	Total    int              `json:"total"` // sessions matching
	Start    int              `json:"start"`
	Count    int              `json:"count"`
	Sessions []SessionSummary `json:"sessions"`
}

func sessionJSON(s store.Session) SessionSummary {
	out := SessionSummary{
		ID: s.ID, Started: s.Started, RemoteAddr: s.RemoteAddr, Helo: s.Helo, TLSVersion: s.TLSVersion,
		TLSCipher: s.TLSCipher, AuthMechanism: s.AuthMechanism, AuthUsername: s.AuthUsername,
		Outcome: s.Outcome, Error: s.Error, Messages: s.Messages, Faults: nonNil(s.Faults),
	}
	if !s.Ended.IsZero() {
		e := s.Ended
		out.Ended = &e
	}
	return out
}

func (s *Server) sessionRoutes() []route {
	hf := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	return []route{
		{"GET", "/api/v1/sessions", nil, hf(s.listSessions)},
		{"DELETE", "/api/v1/sessions", nil, hf(s.deleteSessions)},
		{"GET", "/api/v1/session/{ID}", nil, hf(s.getSession)},
	}
}

// sessionsOn answers 404 when this server's store keeps no sessions.
func (s *Server) sessionsOn(w http.ResponseWriter) bool {
	if s.opts.Sessions == nil {
		http.Error(w, "webui: SMTP sessions are not recorded by this store", http.StatusNotFound)
		return false
	}
	return true
}

// listSessions is GET /api/v1/sessions?start=&limit=&remote=&outcome=&messages=true|false.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	if !s.sessionsOn(w) {
		return
	}
	pg, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := store.SessionFilter{RemoteAddr: q.Get("remote"), Outcome: q.Get("outcome")}
	if v := q.Get("messages"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.fail(w, r, badf("messages=%q: use true or false", v))
			return
		}
		f.WithMessages = &b
	}
	res, err := s.opts.Sessions.Sessions(r.Context(), f, pg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := SessionList{Total: res.Total, Start: pg.Offset, Count: len(res.Sessions), Sessions: make([]SessionSummary, 0, len(res.Sessions))}
	for _, ss := range res.Sessions {
		out.Sessions = append(out.Sessions, sessionJSON(ss))
	}
	writeJSON(w, http.StatusOK, out)
}

// getSession is GET /api/v1/session/{ID}: one session with its transcript.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	if !s.sessionsOn(w) {
		return
	}
	ss, err := s.opts.Sessions.Session(r.Context(), r.PathValue("ID"))
	if err != nil {
		if err == store.ErrNotFound {
			http.Error(w, "webui: session not found", http.StatusNotFound)
			return
		}
		s.fail(w, r, err)
		return
	}
	d := SessionDetail{SessionSummary: sessionJSON(*ss), MessageIDs: nonNil(ss.MessageIDs), Transcript: make([]SessionLine, 0, len(ss.Transcript))}
	for _, l := range ss.Transcript {
		d.Transcript = append(d.Transcript, SessionLine(l))
	}
	writeJSON(w, http.StatusOK, d)
}

// deleteSessions is DELETE /api/v1/sessions: forget every session (the messages stay).
func (s *Server) deleteSessions(w http.ResponseWriter, r *http.Request) {
	if !s.sessionsOn(w) {
		return
	}
	if err := s.opts.Sessions.DeleteSessions(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	writeOK(w)
}

// sessionFrame is the websocket "session" event.
func sessionFrame(ev store.Event) (any, bool) {
	if ev.Session == nil {
		return nil, false
	}
	return Event{Type: "session", Data: sessionJSON(*ev.Session)}, true
}
