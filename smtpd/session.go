package smtpd

import (
	"bytes"
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
	errDropped      = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Connection dropped"} // sent to no one
	errNoSender     = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Bad sequence of commands (MAIL required before RCPT)"}
)

// backend is the go-smtp Backend: one session per client greeting (and a new one after STARTTLS).
type backend struct{ s *Server }

var _ smtp.Backend = backend{}

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	wc, ok := c.Conn().(*conn)
	if !ok {
		return nil, errors.New("smtpd: connection not from this server")
	}
	s := &session{srv: b.s, conn: c, wc: wc, remote: c.Conn().RemoteAddr().String()}
	wc.setSession(s)
	return s, nil
}

// session is one client's SMTP session. go-smtp calls its methods from the connection's goroutine,
// except Data for BDAT (a goroutine of its own, which an RSET may overlap) and Logout when the
// server closes the connection: mu guards the mutable fields.
type session struct {
	srv    *Server
	conn   *smtp.Conn
	wc     *conn // the connection layer under go-smtp
	remote string

	mu         sync.Mutex
	mechanism  string // of the successful AUTH
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
	accept := func(username string) error {
		if err := s.ask(StageAuth, func(c *Check) { c.Mechanism, c.Username = mech, username }); err != nil {
			return err
		}
		s.mu.Lock()
		s.mechanism, s.username = mech, username
		s.mu.Unlock()
		s.wc.rec.setAuth(mech, username)
		s.srv.log.Debug("client authenticated", "remote", s.remote, "mechanism", mech, "username", username)
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			return accept(username)
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
	if err := s.ask(StageMail, func(c *Check) { c.MailFrom = from }); err != nil {
		s.Reset()
		return err
	}
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
	inTx := s.inTx
	s.mu.Unlock()
	if !inTx {
		return errNoSender // a MAIL the policy refused after an earlier one go-smtp remembers
	}
	if err := s.ask(StageRcpt, func(c *Check) { c.Recipient = to }); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recipients = append(s.recipients, to)
	return nil
}

// Data streams the message to the Deliverer and answers 250 with its ID once it is stored. When
// the Policy looks at whole messages (StageDataEnd), the message is read first and stored only
// if the Policy accepts it.
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
		TLS:        s.wc.isTLS(),
		Received:   time.Now(),
		SessionID:  s.wc.rec.id,
	}
	withdraw := s.withdraw
	s.withdraw = nil
	s.mu.Unlock()
	body := &bodyReader{r: r, started: withdraw}
	var raw io.Reader = body
	if p := s.srv.policy; p != nil && p.Wants(StageDataEnd) {
		data, err := io.ReadAll(body)
		if err == nil {
			err = s.ask(StageDataEnd, func(c *Check) { c.Size, c.Data = int64(len(data)), data })
		}
		if err != nil {
			if withdraw != nil {
				withdraw()
			}
			if body.err != nil {
				return s.transferFailed(body.err)
			}
			return err
		}
		raw = bytes.NewReader(data)
	}
	var lines int
	env.Session, lines = s.wc.rec.pending()
	sum, err := s.srv.store.Add(s.srv.ctx, env, raw)
	if withdraw != nil {
		withdraw()
	}
	switch {
	case body.err != nil:
		if err == nil {
			// The Deliverer should have failed: it stored a truncated message. Never answer 250.
			s.srv.log.Error("deliverer stored a message whose transfer failed", "id", sum.ID, "read_err", body.err)
		}
		s.wc.rec.message("", body.n)
		return s.transferFailed(body.err)
	case err != nil:
		s.srv.rejected.Add(1)
		s.wc.rec.message("", body.n)
		s.srv.log.Error("storing message failed", "remote", s.remote, "from", env.MailFrom, "err", err)
		return errStoreFailed
	}
	s.wc.rec.stored(lines)
	s.wc.rec.message(sum.ID, body.n)
	s.srv.accepted.Add(1)
	s.srv.acceptedSize.Add(body.n)
	s.srv.log.Info("message stored", "id", sum.ID, "remote", s.remote, "from", env.MailFrom,
		"recipients", len(env.Recipients), "size", body.n, "tls", env.TLS, "username", env.Username)
	// A 250 carrying the ID: go-smtp writes an *SMTPError's code and text as given.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + sum.ID}
}

// transferFailed answers a message whose transfer failed: too big, a line too long, or cut off.
func (s *session) transferFailed(err error) error {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se) && se.Code == smtp.ErrDataTooLarge.Code:
		s.srv.rejected.Add(1)
		s.srv.log.Info("message rejected: too big", "remote", s.remote, "limit", s.srv.smtp.MaxMessageBytes)
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
			Message: fmt.Sprintf("Message too big (limit %d bytes)", s.srv.smtp.MaxMessageBytes)}
	case errors.Is(err, smtp.ErrTooLongLine):
		s.srv.rejected.Add(1)
		s.srv.log.Info("message rejected: line too long", "remote", s.remote, "limit", s.srv.smtp.MaxLineLength)
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
			Message: fmt.Sprintf("Line too long (limit %d bytes)", s.srv.smtp.MaxLineLength)}
	}
	s.srv.log.Debug("message transfer aborted", "remote", s.remote, "err", err)
	return errAborted
}

// ask consults the Policy at stage (fill adds what the stage knows) and returns the reply that
// refuses the command, or nil to go on.
func (s *session) ask(stage Stage, fill func(*Check)) error {
	p := s.srv.policy
	if p == nil || !p.Wants(stage) {
		return nil
	}
	c := s.wc.check(stage)
	s.fill(c)
	fill(c)
	a := p.Check(s.srv.ctx, c)
	switch s.wc.apply(a, stage) {
	case actDrop:
		return errDropped
	case actReply:
		return &smtp.SMTPError{Code: a.Code, EnhancedCode: smtp.EnhancedCode(a.enhanced()), Message: a.text()}
	}
	return nil
}

// fill adds the session's state to a Check.
func (s *session) fill(c *Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Mechanism, c.Username = s.mechanism, s.username
	if s.inTx {
		c.MailFrom, c.Recipients = s.from, s.recipients
	}
}

// startTLS forgets what the client said before STARTTLS (RFC 3207 section 4.2).
func (s *session) startTLS() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mechanism, s.username = "", ""
}

// waitData waits for the message in progress, if any, to be stored or given up.
func (s *session) waitData() {
	s.mu.Lock()
	done := s.dataDone
	s.mu.Unlock()
	if done != nil {
		<-done
	}
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
