package webui

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/letterbox-mail/letterbox/compose"
	"github.com/letterbox-mail/letterbox/store"
)

// DefaultMaxMessageSize is the send API's size limit when Options.MaxMessageSize is 0 (as SMTP's).
const DefaultMaxMessageSize = 50 << 20

// jsonError answers as Mailpit's send API does: {"Error": "..."} with the status.
func jsonError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct{ Error string }{msg})
}

// send is POST /api/v1/send (Mailpit's send API): it builds a message from the JSON body and
// stores it as if it had come over SMTP: same parsing, events, tags and retention, a Received:
// field saying it came over HTTP from the client's address. Bad input is 400 naming the field;
// a message over the size limit (or a body too large to hold one) is 413; nothing is stored
// unless the whole request is good.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	limit := s.opts.MaxMessageSize
	if limit <= 0 {
		limit = DefaultMaxMessageSize
	}
	// Base64 makes attachments 4/3 their size, JSON escaping may double text: a body may be
	// larger than the message it builds, but not by more than that.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 2*limit+1<<20))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			jsonError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("webui: send: request body over %d bytes (the message limit is %d)", tooBig.Limit, limit))
			return
		}
		jsonError(w, http.StatusBadRequest, "webui: send: read body: "+err.Error())
		return
	}
	var req compose.Request
	if err := decodeStrict(body, &req); err != nil {
		jsonError(w, http.StatusBadRequest, "webui: send: "+err.Error())
		return
	}
	msg, err := compose.Build(req, compose.Options{Hostname: s.opts.Hostname})
	if err != nil {
		var fe *compose.FieldError
		if errors.As(err, &fe) {
			jsonError(w, http.StatusBadRequest, "webui: send: "+fe.Error())
			return
		}
		s.log.Error("send: build failed", "err", err)
		jsonError(w, http.StatusInternalServerError, "webui: send: could not build the message (see the server log)")
		return
	}
	if int64(len(msg.Raw)) > limit {
		jsonError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("webui: send: the message is %d bytes, over the limit of %d (--max-message-size)", len(msg.Raw), limit))
		return
	}
	env := store.Envelope{MailFrom: msg.From, Recipients: msg.Recipients, RemoteAddr: r.RemoteAddr, Helo: "api", Protocol: "HTTP", TLS: r.TLS != nil}
	if r.TLS != nil {
		env.Protocol = "HTTPS"
	}
	if user, _, ok := r.BasicAuth(); ok {
		env.Username = user
	}
	rec, _ := s.st.(sessionRecorder)
	var sess *store.Session
	if rec != nil {
		sess = apiSession(r, started, msg)
		env.Session, env.SessionID = sess, sess.ID
	}
	sum, err := s.st.Add(r.Context(), env, bytes.NewReader(msg.Raw))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rec != nil {
		// The session ends with the message stored, as an SMTP session ends with QUIT.
		end := *sess
		end.Ended, end.Outcome, end.Messages = time.Now(), store.OutcomeAPI, 1
		end.TranscriptFrom, end.Transcript = len(sess.Transcript), []store.SessionLine{
			{At: time.Since(started).Milliseconds(), Dir: store.SessionNote, Text: fmt.Sprintf("message of %d bytes stored as %s", len(msg.Raw), sum.ID)},
		}
		if err := rec.RecordSession(context.WithoutCancel(r.Context()), &end); err != nil {
			s.log.Warn("send: recording the API session failed", "id", sum.ID, "err", err)
		}
	}
	s.log.Debug("message sent through the API", "id", sum.ID, "from", msg.From, "recipients", len(msg.Recipients), "size", len(msg.Raw))
	writeJSON(w, http.StatusOK, struct{ ID string }{sum.ID})
}

// sessionRecorder keeps session records; *store.Store is one.
type sessionRecorder interface {
	RecordSession(ctx context.Context, sess *store.Session) error
}

// apiSession is the session record of a send API request: who called, over what, and the
// envelope, as an SMTP session would show them (its outcome is store.OutcomeAPI). The basic
// auth password is not in it.
func apiSession(r *http.Request, started time.Time, msg *compose.Message) *store.Session {
	sess := &store.Session{ID: store.NewID(), Started: started, RemoteAddr: r.RemoteAddr, Helo: "api"}
	if r.TLS != nil {
		sess.TLSVersion, sess.TLSCipher = tls.VersionName(r.TLS.Version), tls.CipherSuiteName(r.TLS.CipherSuite)
	}
	if user, _, ok := r.BasicAuth(); ok {
		sess.AuthMechanism, sess.AuthUsername = "HTTP Basic", user
	}
	at := time.Since(started).Milliseconds()
	note := func(text string) {
		sess.Transcript = append(sess.Transcript, store.SessionLine{At: at, Dir: store.SessionNote, Text: text})
	}
	note(fmt.Sprintf("%s %s: Mailpit's send API over HTTP, not SMTP", r.Method, r.URL.Path))
	note("envelope sender <" + msg.From + ">")
	for _, rcpt := range msg.Recipients {
		note("envelope recipient <" + rcpt + ">")
	}
	return sess
}

// decodeStrict decodes a JSON object into v and says which field has the wrong type.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty request body: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%s: expected %s, got a JSON %s", te.Field, jsonKind(te.Type.String()), te.Value)
		}
		return fmt.Errorf("the body is not valid JSON: %w", err)
	}
	if dec.More() {
		return errors.New("the body holds more than one JSON value")
	}
	return nil
}

// jsonKind names a Go type the way a JSON user thinks of it.
func jsonKind(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "."):
		return "an object"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	}
	return t
}
