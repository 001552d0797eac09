package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxSessions is how many SMTP sessions the store keeps when Options.MaxSessions is 0.
const DefaultMaxSessions = 10000

// EventSession is published when a session's record is written (with a message it stored, and
// when it ends); Event.Session holds its fields, without the transcript.
const EventSession EventType = "session"

// RecordSession stores sess, replacing the fields of an earlier record of the same ID and
// adding sess.Transcript at sess.TranscriptFrom to the lines stored for it. It returns once the
// record is committed, batched with whatever else the writer commits.
func (s *Store) RecordSession(ctx context.Context, sess *Session) error {
	if sess == nil || sess.ID == "" {
		return errors.New("store: a session record needs an ID")
	}
	return s.submit(ctx, writeReq{session: sess}).err
}

// sessionWrite is a session record waiting in a batch: alone (RecordSession), or with the
// message of batch[idx] (Envelope.Session).
type sessionWrite struct {
	sess    *Session
	message bool
	idx     int // the request it came with, whose events get the EventSession
}

// writeSessions writes the pending session records and adds their events, in three statements
// for the whole batch: the rows of sessions writing for the first time with a message (the row
// of a session in progress is not updated again), the rows of the sessions that ended (inserted
// or updated), and every new chunk of transcript lines.
func (s *Store) writeSessions(ctx context.Context, ins *inserts, pending []sessionWrite, events [][]Event) (inserted bool, err error) {
	var first, ended, all []*Session
	for _, w := range pending {
		all = append(all, w.sess)
		switch {
		case !w.message:
			ended = append(ended, w.sess)
		case w.sess.TranscriptFrom == 0: // the session's first write: its row is made
			first = append(first, w.sess)
		}
	}
	if len(first) > 0 {
		inserted = true
		if err := ins.exec(ctx, tSessions, len(first), func(i int) {
			ss := first[i]
			ins.args = append(ins.args, ss.ID, ss.Started.UnixMicro(), ss.RemoteAddr, remoteIP(ss.RemoteAddr), ss.Helo,
				ss.TLSVersion, ss.TLSCipher, ss.AuthMechanism, ss.AuthUsername)
		}); err != nil {
			return inserted, fmt.Errorf("store: record session: %w", err)
		}
	}
	if len(ended) > 0 {
		inserted = true // or updated: the count says
		faults := make([]string, len(ended))
		for i, ss := range ended {
			js, err := json.Marshal(nonNilStrings(ss.Faults))
			if err != nil {
				return inserted, err
			}
			faults[i] = string(js)
		}
		if err := ins.exec(ctx, tSessionEnds, len(ended), func(i int) {
			ss := ended[i]
			var end int64
			if !ss.Ended.IsZero() {
				end = ss.Ended.UnixMicro()
			}
			ins.args = append(ins.args, ss.ID, ss.Started.UnixMicro(), end, ss.RemoteAddr, remoteIP(ss.RemoteAddr), ss.Helo,
				ss.TLSVersion, ss.TLSCipher, ss.AuthMechanism, ss.AuthUsername, ss.Outcome, ss.Error, ss.Messages, faults[i])
		}); err != nil {
			return inserted, fmt.Errorf("store: record session: %w", err)
		}
	}
	if err := writeLines(ctx, ins, all); err != nil {
		return inserted, err
	}
	for _, w := range pending {
		events[w.idx] = append(events[w.idx], SessionEvent(*w.sess))
	}
	return inserted, nil
}

// writeLines stores the sessions' new transcript lines, one chunk each. Lines of a session whose
// row was pruned meanwhile are dropped (the row lookup gives NULL, which OR IGNORE skips).
func writeLines(ctx context.Context, ins *inserts, list []*Session) error {
	var with []*Session
	for _, ss := range list {
		if len(ss.Transcript) > 0 {
			with = append(with, ss)
		}
	}
	if err := ins.exec(ctx, tSessionLines, len(with), func(i int) {
		ins.args = append(ins.args, with[i].ID, with[i].TranscriptFrom, encodeLines(with[i].Transcript))
	}); err != nil {
		return fmt.Errorf("store: record session lines: %w", err)
	}
	return nil
}

// pruneSessions deletes the oldest sessions beyond the limit.
func (s *Store) pruneSessions(ctx context.Context, ins *inserts) error {
	max := s.maxSessions()
	if max == 0 {
		return nil
	}
	var n int
	st, err := ins.stmt(ctx, `SELECT n FROM session_count`)
	if err == nil {
		err = st.QueryRowContext(ctx).Scan(&n)
	}
	if err != nil || n <= max {
		return err
	}
	return ins.run(ctx, `DELETE FROM sessions WHERE uid IN (SELECT uid FROM sessions ORDER BY uid LIMIT ?)`, n-max)
}

// lineBreaks turns CR and LF into spaces (one Replacer for all: building one costs more than
// replacing).
var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

// encodeLines writes lines as "ms TAB dir TAB text" separated by LF (text never holds CR or LF).
func encodeLines(lines []SessionLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strconv.FormatInt(l.At, 10))
		b.WriteByte('\t')
		b.WriteString(l.Dir)
		b.WriteByte('\t')
		b.WriteString(lineBreaks.Replace(l.Text))
		b.WriteByte('\n')
	}
	return b.String()
}

func decodeLines(chunk string, into []SessionLine) []SessionLine {
	for _, line := range strings.Split(strings.TrimSuffix(chunk, "\n"), "\n") {
		at, rest, _ := strings.Cut(line, "\t")
		dir, text, _ := strings.Cut(rest, "\t")
		ms, _ := strconv.ParseInt(at, 10, 64)
		into = append(into, SessionLine{At: ms, Dir: dir, Text: text})
	}
	return into
}

// remoteIP returns the host of host:port (the address itself when it has no port).
func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sessionColumns are what a Session is read from; a session in progress counts its messages.
const sessionColumns = `id, started, ended, remote_addr, helo, tls_version, tls_cipher, auth_mechanism, auth_username,
	outcome, error, CASE WHEN ended = 0 THEN (SELECT count(*) FROM messages WHERE session_id = sessions.id) ELSE messages END, faults`

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var ss Session
	var started, ended int64
	var faults string
	err := row.Scan(&ss.ID, &started, &ended, &ss.RemoteAddr, &ss.Helo, &ss.TLSVersion, &ss.TLSCipher,
		&ss.AuthMechanism, &ss.AuthUsername, &ss.Outcome, &ss.Error, &ss.Messages, &faults)
	if err != nil {
		return ss, err
	}
	ss.Started = time.UnixMicro(started).UTC()
	if ended != 0 {
		ss.Ended = time.UnixMicro(ended).UTC()
	}
	if err := json.Unmarshal([]byte(faults), &ss.Faults); err != nil || ss.Faults == nil {
		ss.Faults = []string{}
	}
	return ss, nil
}

// sessionWhere turns a filter into SQL.
func sessionWhere(f SessionFilter) (string, []any) {
	var conds []string
	var args []any
	if a, hostPort := SessionRemote(f); hostPort {
		conds, args = append(conds, "remote_addr = ?"), append(args, a)
	} else if a != "" {
		conds, args = append(conds, "remote_ip = ?"), append(args, a)
	}
	if f.Outcome != "" {
		conds, args = append(conds, "outcome = ?"), append(args, f.Outcome)
	}
	if f.WithMessages != nil {
		has := "(messages > 0 OR ended = 0 AND EXISTS (SELECT 1 FROM messages WHERE session_id = sessions.id))"
		if *f.WithMessages {
			conds = append(conds, has)
		} else {
			conds = append(conds, "NOT "+has)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Sessions returns a page of the sessions matching f, newest first, without their transcripts.
func (s *Store) Sessions(ctx context.Context, f SessionFilter, p Page) (SessionResult, error) {
	where, args := sessionWhere(f)
	res := SessionResult{Sessions: []Session{}}
	if err := s.readDB.QueryRowContext(ctx, "SELECT count(*) FROM sessions"+where, args...).Scan(&res.Total); err != nil {
		return res, fmt.Errorf("store: sessions: %w", err)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.readDB.QueryContext(ctx, "SELECT "+sessionColumns+" FROM sessions"+where+" ORDER BY uid DESC LIMIT ? OFFSET ?",
		append(args, limit, max(p.Offset, 0))...)
	if err != nil {
		return res, fmt.Errorf("store: sessions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return res, fmt.Errorf("store: sessions: %w", err)
		}
		res.Sessions = append(res.Sessions, ss)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("store: sessions: %w", err)
	}
	return res, nil
}

// Session returns one session with its transcript and the IDs of the messages it stored.
func (s *Store) Session(ctx context.Context, id string) (*Session, error) {
	ss, err := scanSession(s.readDB.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: session: %w", err)
	}
	ss.Transcript, ss.MessageIDs = []SessionLine{}, []string{}
	rows, err := s.readDB.QueryContext(ctx, `SELECT chunk FROM session_lines WHERE session = (SELECT uid FROM sessions WHERE id = ?) ORDER BY first`, id)
	if err != nil {
		return nil, fmt.Errorf("store: session: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var chunk string
		if err := rows.Scan(&chunk); err != nil {
			return nil, fmt.Errorf("store: session: %w", err)
		}
		ss.Transcript = decodeLines(chunk, ss.Transcript)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: session: %w", err)
	}
	ids, err := s.readDB.QueryContext(ctx, `SELECT id FROM messages WHERE session_id = ? ORDER BY uid`, id)
	if err != nil {
		return nil, fmt.Errorf("store: session: %w", err)
	}
	defer ids.Close()
	for ids.Next() {
		var mid string
		if err := ids.Scan(&mid); err != nil {
			return nil, fmt.Errorf("store: session: %w", err)
		}
		ss.MessageIDs = append(ss.MessageIDs, mid)
	}
	return &ss, ids.Err()
}

// DeleteSessions deletes every session record (messages are kept).
func (s *Store) DeleteSessions(ctx context.Context) error {
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions`); err != nil {
			return nil, fmt.Errorf("store: delete sessions: %w", err)
		}
		return nil, nil
	})
}

// pruneOldSessions deletes the sessions that began before cutoff (retention, MaxAge).
func (s *Store) pruneOldSessions(ctx context.Context, cutoff time.Time) error {
	return s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE started < ?`, cutoff.UnixMicro()); err != nil {
			return nil, fmt.Errorf("store: prune sessions: %w", err)
		}
		return nil, nil
	})
}
