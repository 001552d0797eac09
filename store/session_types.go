package store

import "time"

// Session is one SMTP connection as the SMTP server recorded it: who connected, what was said
// in order, what was stored, what faults were injected and how it ended. It is kept whether or
// not a message was stored (probes, refusals, failed TLS handshakes, silent connections).
type Session struct {
	ID            string
	Started       time.Time
	Ended         time.Time // zero while the session is in progress
	RemoteAddr    string    // the client's host:port
	Helo          string    // the last HELO/EHLO name
	TLSVersion    string    // such as "TLS 1.3"; "" when the session was not encrypted
	TLSCipher     string    // such as "TLS_AES_128_GCM_SHA256"
	AuthMechanism string    // the SASL mechanism of a successful AUTH
	AuthUsername  string    // its username; the password and the SASL exchange are never kept
	Outcome       string    // how it ended (see the Outcome constants); "" while in progress
	Error         string    // what went wrong, for OutcomeError
	Messages      int       // messages stored in the session (its count as it ends; the store counts them while it runs)
	Faults        []string  // faults the SMTP policy injected (refusals, delays, throttles, drops), in order
	Transcript    []SessionLine

	// TranscriptFrom is the position of Transcript[0] in the whole transcript: RecordSession
	// and Add store lines a part at a time. 0 when a session is read.
	TranscriptFrom int

	// MessageIDs lists the messages stored in the session, in order; filled by the store when a
	// session is read, ignored when one is recorded.
	MessageIDs []string
}

// SessionLine is one line of a session's transcript.
type SessionLine struct {
	At   int64  // milliseconds since the session began
	Dir  string // SessionClient, SessionServer or SessionNote
	Text string // the line without CRLF; AUTH arguments and SASL responses are redacted
}

// The directions of a SessionLine.
const (
	SessionClient = "C" // a command the client sent
	SessionServer = "S" // a reply the server sent
	SessionNote   = "*" // what happened besides: a message's size and ID, a fault, an error
)

// How a session ended (Session.Outcome).
const (
	OutcomeQuit     = "quit"     // the client said QUIT
	OutcomeDropped  = "dropped"  // the client closed the connection without QUIT
	OutcomeTimeout  = "timeout"  // the client was silent too long
	OutcomeError    = "error"    // a protocol or TLS error ended it (Session.Error says which)
	OutcomeShutdown = "shutdown" // the server was shutting down
	OutcomeFault    = "fault"    // the SMTP policy dropped the connection
	OutcomeRefused  = "refused"  // refused at once: too many connections
	OutcomeClosed   = "closed"   // the server closed it (after a 421 reply, or too many errors)
	OutcomeAPI      = "api"      // not SMTP: a message given to the HTTP send API (POST /api/v1/send)
)

// SessionFilter selects sessions for Sessions. The zero value selects all.
type SessionFilter struct {
	RemoteAddr   string // the client's IP address, or host:port; "" for any
	Outcome      string // one of the Outcome constants; "" for any
	WithMessages *bool  // true: only sessions that stored a message; false: only those that did not
}

// SessionResult is one page of sessions, newest first, without their transcripts.
type SessionResult struct {
	Sessions []Session // never nil
	Total    int       // sessions matching the filter
}
