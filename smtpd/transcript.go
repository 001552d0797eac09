package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/letterbox-mail/letterbox/store"
)

// SessionRecorder keeps session transcripts; *store.Store is one. When the Deliverer is also a
// SessionRecorder, every session is recorded: the record so far goes with each message stored
// (Envelope.Session, in the message's transaction) and the whole of it when the session ends.
type SessionRecorder interface {
	// RecordSession stores s, replacing the fields of an earlier record of the same ID and
	// appending s.Transcript to the lines already stored for it.
	RecordSession(ctx context.Context, s *store.Session) error
}

// Bounds of one session's transcript, so that a client cannot grow it without limit.
const (
	maxTranscriptLines = 2000
	maxLineText        = 512 // bytes of a line kept
	maxFaults          = 100
)

// recording is a session's transcript as it happens. Its methods are safe for concurrent use
// and do nothing when the server records no sessions.
type recording struct {
	on      bool
	id      string
	remote  string
	ip      netip.Addr
	started time.Time

	mu      sync.Mutex
	sess    store.Session // fields; Transcript holds every line kept
	flushed int           // lines of sess.Transcript already stored
	omitted int           // lines beyond maxTranscriptLines
}

func (r *recording) begin(s *Server, remote string) {
	r.remote = remote
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		r.ip = ap.Addr().Unmap()
	}
	if s.recorder == nil && s.policy == nil {
		return
	}
	r.id = store.NewID()
	if s.recorder == nil {
		return
	}
	r.on = true
	r.started = time.Now()
	r.sess = store.Session{ID: r.id, Started: r.started, RemoteAddr: remote}
}

// add appends a line; r.mu must be held.
func (r *recording) add(dir string, text []byte) {
	if len(r.sess.Transcript) >= maxTranscriptLines {
		r.omitted++
		return
	}
	text = bytes.TrimRight(text, "\r\n")
	s := ""
	if len(text) > maxLineText {
		s = string(text[:maxLineText]) + "…"
	} else {
		s = string(text)
	}
	if !utf8.ValidString(s) {
		s = string(bytes.ToValidUTF8([]byte(s), []byte("\uFFFD")))
	}
	r.sess.Transcript = append(r.sess.Transcript, store.SessionLine{At: time.Since(r.started).Milliseconds(), Dir: dir, Text: s})
}

func (r *recording) line(dir string, text []byte) {
	if !r.on {
		return
	}
	r.mu.Lock()
	r.add(dir, text)
	r.mu.Unlock()
}

// command records a command line; AUTH's arguments after the mechanism are redacted.
func (r *recording) command(line []byte, v verb) {
	if !r.on {
		return
	}
	if v == verbAUTH {
		f := bytes.Fields(line)
		red := []byte("AUTH")
		if len(f) > 1 {
			red = append(append(red, ' '), f[1]...)
		}
		if len(f) > 2 {
			red = append(red, " ***"...)
		}
		line = red
	}
	r.line(store.SessionClient, line)
}

// client records a line that is not a command: a SASL response (redacted), or a piece of an
// over-long line.
func (r *recording) client(line []byte, sasl, partial bool) {
	switch {
	case !r.on:
	case sasl && bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte("*")):
		r.line(store.SessionClient, []byte("*"))
	case sasl:
		r.line(store.SessionClient, []byte("***"))
	case partial:
		r.line(store.SessionClient, line)
	}
}

func (r *recording) server(line []byte) { r.line(store.SessionServer, line) }

// note records what happened besides the conversation.
func (r *recording) note(text string) { r.line(store.SessionNote, []byte(text)) }

// fault records a fault the Policy injected.
func (r *recording) fault(stage Stage, a Action) {
	if !r.on {
		return
	}
	what := a.Fault
	if what == "" {
		what = "policy"
	}
	var acts []string
	if a.Delay > 0 {
		acts = append(acts, "delay "+a.Delay.String())
	}
	if a.Throttle > 0 {
		acts = append(acts, fmt.Sprintf("throttle %d B/s", a.Throttle))
	}
	switch {
	case a.Disconnect && stage == StageData:
		acts = append(acts, fmt.Sprintf("disconnect after %d bytes", max(a.DisconnectAfter, 0)))
	case a.Disconnect:
		acts = append(acts, "disconnect")
	case a.Code != 0:
		acts = append(acts, fmt.Sprintf("reply %d", a.Code))
	}
	text := fmt.Sprintf("%s at %s: %s", what, stage, joinComma(acts))
	r.mu.Lock()
	if len(r.sess.Faults) < maxFaults {
		r.sess.Faults = append(r.sess.Faults, text)
	}
	r.add(store.SessionNote, []byte("fault: "+text))
	r.mu.Unlock()
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}

func (r *recording) setTLS(st tls.ConnectionState) {
	if !r.on {
		return
	}
	r.mu.Lock()
	r.sess.TLSVersion = tls.VersionName(st.Version)
	r.sess.TLSCipher = tls.CipherSuiteName(st.CipherSuite)
	r.add(store.SessionNote, []byte("TLS established: "+r.sess.TLSVersion+", "+r.sess.TLSCipher))
	r.mu.Unlock()
}

func (r *recording) setAuth(mech, username string) {
	if !r.on {
		return
	}
	r.mu.Lock()
	r.sess.AuthMechanism, r.sess.AuthUsername = mech, username
	r.mu.Unlock()
}

func (r *recording) setHelo(name string) {
	if !r.on {
		return
	}
	r.mu.Lock()
	r.sess.Helo = name
	r.mu.Unlock()
}

// pending returns the record to store with a message: the fields, and the lines not stored yet.
// The caller passes their count to stored once the message is committed.
func (r *recording) pending() (*store.Session, int) {
	if !r.on {
		return nil, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sess
	s.Faults = nil // written when the session ends
	s.Transcript = s.Transcript[r.flushed:len(s.Transcript):len(s.Transcript)]
	s.TranscriptFrom = r.flushed
	return &s, len(r.sess.Transcript)
}

// stored marks the first n lines as stored.
func (r *recording) stored(n int) {
	r.mu.Lock()
	r.flushed = max(r.flushed, n)
	r.mu.Unlock()
}

// message records a message stored (or not) in the session.
func (r *recording) message(id string, size int64) {
	if !r.on {
		return
	}
	r.mu.Lock()
	if id != "" {
		r.sess.Messages++
		r.add(store.SessionNote, fmt.Appendf(nil, "message of %d bytes stored as %s", size, id))
	} else {
		r.add(store.SessionNote, fmt.Appendf(nil, "message of %d bytes not stored", size))
	}
	r.mu.Unlock()
}

// final returns the whole record as the session ended.
func (r *recording) final(outcome string, err error) *store.Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.omitted > 0 {
		r.sess.Transcript = append(r.sess.Transcript, store.SessionLine{At: time.Since(r.started).Milliseconds(),
			Dir: store.SessionNote, Text: fmt.Sprintf("%d more lines not kept", r.omitted)})
		r.omitted = 0
	}
	s := r.sess
	s.Ended = time.Now()
	s.Outcome = outcome
	if err != nil && outcome == store.OutcomeError {
		s.Error = err.Error()
	}
	s.Transcript = s.Transcript[r.flushed:]
	s.TranscriptFrom = r.flushed
	r.flushed = len(r.sess.Transcript)
	return &s
}

// finishSession has the session's record written once the connection is closed and its message
// in progress, if any, has been stored or given up.
func (s *Server) finishSession(c *conn) {
	if !c.rec.on || !s.beginRecord() {
		return
	}
	go func() {
		defer s.records.Done()
		if sess := c.session(); sess != nil {
			sess.waitData()
		}
		outcome, err := c.endOutcome()
		rec := c.rec.final(outcome, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.recorder.RecordSession(ctx, rec); err != nil && !errors.Is(err, store.ErrClosed) {
			s.log.Warn("recording the session failed", "session", rec.ID, "err", err)
		}
	}()
}
