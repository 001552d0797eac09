package smtpd

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/letterbox-mail/letterbox/store"
)

// Replies for the failures the session reports. go-smtp writes an *smtp.SMTPError as it is.
var (
	errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}
	errStoreFailed  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure storing the message, try again later"}
	errAborted      = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Message transfer aborted"}
)

// backend is the go-smtp Backend: one session per client greeting (and a new one after STARTTLS).
type backend struct{ s *Server }

var _ smtp.Backend = backend{}

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState() // STARTTLS
	if wc, ok := c.Conn().(*conn); ok && wc.tls {
		isTLS = true // implicit TLS
	}
	return &session{
		srv:    b.s,
		conn:   c,
		remote: c.Conn().RemoteAddr().String(),
		tls:    isTLS,
	}, nil
}

// session is one client's SMTP session. go-smtp calls its methods from the connection's goroutine,
// except Data for BDAT (a goroutine of its own, which an RSET may overlap) and Logout when the
// server closes the connection: mu guards the mutable fields.
type session struct {
	srv    *Server
	conn   *smtp.Conn
	remote string
	tls    bool

	mu         sync.Mutex
	username   string
	inTx       bool
	helo       string        // the client's HELO/EHLO name when the transaction began
	dataDone   chan struct{} // closed when the Data call in progress returns; nil when none
	from       string
	recipients []string
	withdraw   func() // withdraws the transaction's announcement to the store (Expect)
}

// expecter is a Deliverer that can be told a message is on its way (store.Store is one).
type expecter interface {
	Expect() (withdraw func())
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

// AuthMechanisms lists the SASL mechanisms offered; every one accepts any credentials.
func (s *session) AuthMechanisms() []string {
	return []string{sasl.Plain, mechLogin, mechCRAMMD5}
}

// Auth returns the SASL server for mech; it records the username the client gives.
func (s *session) Auth(mech string) (sasl.Server, error) {
	accept := func(username string) {
		s.mu.Lock()
		s.username = username
		s.mu.Unlock()
		s.srv.log.Debug("client authenticated", "remote", s.remote, "mechanism", mech, "username", username)
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			accept(username)
			return nil
		}), nil
	case mechLogin:
		return &loginServer{accept: accept}, nil
	case mechCRAMMD5:
		return &cramMD5Server{hostname: s.srv.hostname, accept: accept}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// Mail starts a transaction. Any sender is accepted, "" being the null sender.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endTx()
	if !s.srv.beginTx() {
		return errShuttingDown
	}
	s.inTx = true
	if e, ok := s.srv.store.(expecter); ok {
		s.withdraw = e.Expect()
	}
	s.helo = s.conn.Hostname() // go-smtp sets it on the connection's goroutine, as this runs
	s.from = from
	s.recipients = nil
	return nil
}

// Rcpt adds a recipient; any address is accepted (go-smtp enforces MaxRecipients).
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recipients = append(s.recipients, to)
	return nil
}

// Data streams the message to the Deliverer and answers 250 with its ID once it is stored.
func (s *session) Data(r io.Reader) error {
	if !s.srv.beginStore() {
		return errShuttingDown
	}
	defer s.srv.endStore()

	done := make(chan struct{})
	defer close(done)
	s.mu.Lock()
	s.dataDone = done
	env := store.Envelope{
		MailFrom:   s.from,
		Recipients: s.recipients,
		Helo:       s.helo,
		RemoteAddr: s.remote,
		Username:   s.username,
		TLS:        s.tls,
		Received:   time.Now(),
	}
	withdraw := s.withdraw
	s.withdraw = nil
	s.mu.Unlock()
	body := &bodyReader{r: r, started: withdraw}
	sum, err := s.srv.store.Add(s.srv.ctx, env, body)
	if withdraw != nil {
		withdraw()
	}

	log := s.srv.log
	switch {
	case body.err != nil:
		if err == nil {
			// The Deliverer should have failed: it stored a truncated message. Never answer 250.
			log.Error("deliverer stored a message whose transfer failed", "id", sum.ID, "read_err", body.err)
		}
		var se *smtp.SMTPError
		switch {
		case errors.As(body.err, &se) && se.Code == smtp.ErrDataTooLarge.Code:
			s.srv.rejected.Add(1)
			log.Info("message rejected: too big", "remote", s.remote, "limit", s.srv.plain.MaxMessageBytes)
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
				Message: fmt.Sprintf("Message too big (limit %d bytes)", s.srv.plain.MaxMessageBytes)}
		case errors.Is(body.err, smtp.ErrTooLongLine):
			s.srv.rejected.Add(1)
			log.Info("message rejected: line too long", "remote", s.remote, "limit", s.srv.plain.MaxLineLength)
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
				Message: fmt.Sprintf("Line too long (limit %d bytes)", s.srv.plain.MaxLineLength)}
		}
		log.Debug("message transfer aborted", "remote", s.remote, "err", body.err)
		return errAborted
	case err != nil:
		s.srv.rejected.Add(1)
		log.Error("storing message failed", "remote", s.remote, "from", env.MailFrom, "err", err)
		return errStoreFailed
	}

	s.srv.accepted.Add(1)
	s.srv.acceptedSize.Add(body.n)
	log.Info("message stored", "id", sum.ID, "remote", s.remote, "from", env.MailFrom,
		"recipients", len(env.Recipients), "size", body.n, "tls", env.TLS, "username", env.Username)
	// A 250 carrying the ID: go-smtp writes an *SMTPError's code and text as given.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + sum.ID}
}

// Reset abandons the transaction (RSET, a new EHLO, and after each message).
//
// An RSET during a BDAT transfer runs while Data is still reading the aborted chunks in its own
// goroutine; Reset waits for that Data to return (promptly: its reader now fails). go-smtp
// v0.25.1 lets that goroutine deliver its result through a field the next BDAT transfer
// reassigns, so a stale result could otherwise answer the next message.
func (s *session) Reset() {
	s.mu.Lock()
	done := s.dataDone
	s.dataDone = nil
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endTx()
	s.from = ""
	s.recipients = nil
}

// Logout ends the session.
func (s *session) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endTx()
	return nil
}

// endTx ends the transaction, if any; s.mu must be held.
func (s *session) endTx() {
	if s.withdraw != nil {
		s.withdraw()
		s.withdraw = nil
	}
	if s.inTx {
		s.inTx = false
		s.srv.endTx()
	}
}

// bodyReader counts the bytes of the message and keeps the transfer's error, so that a failure
// is answered for what it is whatever the Deliverer makes of it.
type bodyReader struct {
	r       io.Reader
	n       int64
	err     error
	started func() // called at the first Read, if set: the Deliverer has begun on the message
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.started != nil {
		b.started()
		b.started = nil
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}
