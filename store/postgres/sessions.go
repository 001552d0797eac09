package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/letterbox-mail/letterbox/store"
)

// SMTP session transcripts, as store.Store keeps them (store/sessions.go): a session's row is
// made in the transaction of its first message, each later message adds its transcript lines in
// its own transaction, and the whole record is written when the session ends, batched with
// whatever the writer commits. Every write takes the counters row lock first, so pruning at
// MaxSessions runs in one process at a time and never deletes twice.

var _ store.SessionEngine = (*Store)(nil)

// RecordSession stores sess, replacing the fields of an earlier record of the same ID and
// adding sess.Transcript at sess.TranscriptFrom to the lines stored for it. It returns once the
// record is committed and its EventSession published.
func (s *Store) RecordSession(ctx context.Context, sess *store.Session) error {
	if sess == nil || sess.ID == "" {
		return errors.New("postgres: a session record needs an ID")
	}
	_, err := s.queue(ctx, &insertReq{session: sess}, func() {})
	return err
}

// writeSessions writes the session records of batch, in the transaction that stores its
// messages, prunes the oldest beyond MaxSessions when rows were added, and returns the
// EventSession of each request that carried one. Three statements for the whole batch: the rows
// of sessions whose first message this is (a session in progress is not updated: it is brought
// up to date when it ends), the rows of the sessions that ended (inserted or replaced), and every
// session's new transcript lines.
func (s *Store) writeSessions(ctx context.Context, tx pgx.Tx, batch []*insertReq) (map[*insertReq]store.Event, error) {
	var first, ended, withLines []*store.Session
	evs := map[*insertReq]store.Event{}
	for _, req := range batch {
		sess := req.session
		if req.p != nil {
			sess = req.p.Session
		}
		if sess == nil || sess.ID == "" {
			continue
		}
		cleanSession(sess)
		switch {
		case req.p == nil:
			ended = append(ended, sess)
		case sess.TranscriptFrom == 0:
			first = append(first, sess)
		}
		if len(sess.Transcript) > 0 {
			withLines = append(withLines, sess)
		}
		evs[req] = store.SessionEvent(*sess)
	}
	if len(evs) == 0 {
		return nil, nil
	}
	added := false
	if len(first) > 0 {
		var c sessionCols
		for _, ss := range first {
			c.add(ss)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO sessions (id, started, remote_addr, remote_ip, helo, tls_version, tls_cipher, auth_mechanism, auth_username)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
			ON CONFLICT (id) DO NOTHING`, c.id, c.started, c.addr, c.ip, c.helo, c.tlsVersion, c.tlsCipher, c.authMech, c.authUser)
		if err != nil {
			return nil, fmt.Errorf("record sessions: %w", err)
		}
		added = tag.RowsAffected() > 0
	}
	if len(ended) > 0 {
		n, err := endSessions(ctx, tx, ended)
		if err != nil {
			return nil, err
		}
		added = added || n > 0
	}
	if err := writeLines(ctx, tx, withLines); err != nil {
		return nil, err
	}
	if added {
		if err := s.pruneSessions(ctx, tx); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// sessionCols are session records as column arrays, for unnest.
type sessionCols struct {
	id, addr, ip, helo, tlsVersion, tlsCipher, authMech, authUser, outcome, errText, faults []string
	started, ended                                                                          []int64
	messages                                                                                []int32
}

func (c *sessionCols) add(ss *store.Session) {
	var ended int64
	if !ss.Ended.IsZero() {
		ended = ss.Ended.UnixMicro()
	}
	faults, _ := json.Marshal(ss.Faults)
	if ss.Faults == nil {
		faults = []byte("[]")
	}
	c.id, c.started, c.ended = append(c.id, ss.ID), append(c.started, ss.Started.UnixMicro()), append(c.ended, ended)
	c.addr, c.ip = append(c.addr, ss.RemoteAddr), append(c.ip, store.SessionRemoteIP(ss.RemoteAddr))
	c.helo, c.tlsVersion, c.tlsCipher = append(c.helo, ss.Helo), append(c.tlsVersion, ss.TLSVersion), append(c.tlsCipher, ss.TLSCipher)
	c.authMech, c.authUser = append(c.authMech, ss.AuthMechanism), append(c.authUser, ss.AuthUsername)
	c.outcome, c.errText, c.faults = append(c.outcome, ss.Outcome), append(c.errText, ss.Error), append(c.faults, clean(string(faults)))
	c.messages = append(c.messages, int32(ss.Messages))
}

// endSessions writes the whole records of sessions that ended: each row replaced, or inserted
// when the session stored nothing (or its row was pruned while it ran). It returns how many rows
// were new. A session named twice keeps its last record.
func endSessions(ctx context.Context, tx pgx.Tx, list []*store.Session) (int, error) {
	last := map[string]int{}
	for i, ss := range list {
		last[ss.ID] = i
	}
	var c sessionCols
	for i, ss := range list {
		if last[ss.ID] == i {
			c.add(ss)
		}
	}
	rows, err := tx.Query(ctx, `INSERT INTO sessions AS s (id, started, ended, remote_addr, remote_ip, helo, tls_version, tls_cipher,
			auth_mechanism, auth_username, outcome, error, messages, faults)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[])
		ON CONFLICT (id) DO UPDATE SET ended = excluded.ended, helo = excluded.helo, tls_version = excluded.tls_version,
			tls_cipher = excluded.tls_cipher, auth_mechanism = excluded.auth_mechanism, auth_username = excluded.auth_username,
			outcome = excluded.outcome, error = excluded.error, messages = excluded.messages, faults = excluded.faults
		RETURNING s.xmax = 0`,
		c.id, c.started, c.ended, c.addr, c.ip, c.helo, c.tlsVersion, c.tlsCipher, c.authMech, c.authUser, c.outcome, c.errText,
		c.messages, c.faults)
	if err != nil {
		return 0, fmt.Errorf("record sessions: %w", err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		return 0, fmt.Errorf("record sessions: %w", err)
	}
	n := 0
	for _, ins := range inserted {
		if ins {
			n++
		}
	}
	return n, nil
}

// writeLines stores the sessions' new transcript lines, one chunk each. Lines of a session whose
// row was pruned meanwhile are dropped (the join finds no row).
func writeLines(ctx context.Context, tx pgx.Tx, list []*store.Session) error {
	if len(list) == 0 {
		return nil
	}
	ids, firsts, chunks := make([]string, len(list)), make([]int32, len(list)), make([]string, len(list))
	for i, ss := range list {
		ids[i], firsts[i], chunks[i] = ss.ID, int32(ss.TranscriptFrom), clean(store.EncodeSessionLines(ss.Transcript))
	}
	_, err := tx.Exec(ctx, `INSERT INTO session_lines (session, first, chunk)
		SELECT s.uid, l.first, l.chunk FROM unnest($1::text[], $2::int[], $3::text[]) AS l (id, first, chunk)
		JOIN sessions s ON s.id = l.id
		ON CONFLICT DO NOTHING`, ids, firsts, chunks)
	if err != nil {
		return fmt.Errorf("record session lines: %w", err)
	}
	return nil
}

// pruneSessions deletes the oldest sessions beyond the limit (the counters row is locked).
func (s *Store) pruneSessions(ctx context.Context, tx pgx.Tx) error {
	limit := s.opts.SessionLimit()
	if limit == 0 {
		return nil
	}
	var n int64
	if err := tx.QueryRow(ctx, "SELECT sessions FROM counters").Scan(&n); err != nil || n <= int64(limit) {
		return err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE uid IN (SELECT uid FROM sessions ORDER BY uid LIMIT $1)", n-int64(limit)); err != nil {
		return fmt.Errorf("prune sessions: %w", err)
	}
	return nil
}

// pruneOldSessions deletes the sessions that began before cutoff (retention, MaxAge).
func (s *Store) pruneOldSessions(ctx context.Context, cutoff time.Time) error {
	return s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE started < $1", cutoff.UnixMicro()); err != nil {
			return nil, fmt.Errorf("prune sessions: %w", err)
		}
		return nil, nil
	})
}

// DeleteSessions deletes every session record (messages are kept).
func (s *Store) DeleteSessions(ctx context.Context) error {
	return s.change(ctx, func(tx pgx.Tx) ([]store.Event, error) {
		if _, err := tx.Exec(ctx, "DELETE FROM sessions"); err != nil {
			return nil, fmt.Errorf("delete sessions: %w", err)
		}
		return nil, nil
	})
}

// cleanSession makes the texts of sess storable (see clean), so that what is published is what
// is stored.
func cleanSession(ss *store.Session) {
	for _, p := range []*string{&ss.ID, &ss.RemoteAddr, &ss.Helo, &ss.TLSVersion, &ss.TLSCipher, &ss.AuthMechanism,
		&ss.AuthUsername, &ss.Outcome, &ss.Error} {
		*p = clean(*p)
	}
	for i, f := range ss.Faults {
		ss.Faults[i] = clean(f)
	}
}

// sessionColumns are what scanSession reads, from sessions s; a session in progress counts its
// messages.
const sessionColumns = `s.id, s.started, s.ended, s.remote_addr, s.helo, s.tls_version, s.tls_cipher, s.auth_mechanism,
	s.auth_username, s.outcome, s.error,
	CASE WHEN s.ended = 0 THEN (SELECT count(*) FROM messages WHERE session_id = s.id) ELSE s.messages END, s.faults`

func scanSession(row pgx.Row, extra ...any) (store.Session, error) {
	var ss store.Session
	var started, ended int64
	var faults string
	err := row.Scan(append(extra, &ss.ID, &started, &ended, &ss.RemoteAddr, &ss.Helo, &ss.TLSVersion, &ss.TLSCipher,
		&ss.AuthMechanism, &ss.AuthUsername, &ss.Outcome, &ss.Error, &ss.Messages, &faults)...)
	if err != nil {
		return ss, err
	}
	ss.Started = micros(started)
	if ended != 0 {
		ss.Ended = micros(ended)
	}
	if err := json.Unmarshal([]byte(faults), &ss.Faults); err != nil || ss.Faults == nil {
		ss.Faults = []string{}
	}
	return ss, nil
}

// sessionWhere turns a filter into SQL on sessions s, its placeholders from $1.
func sessionWhere(f store.SessionFilter) (string, []any) {
	var conds []string
	var a []any
	if v, hostPort := store.SessionRemote(f); hostPort {
		a = append(a, v)
		conds = append(conds, fmt.Sprintf("s.remote_addr = $%d", len(a)))
	} else if v != "" {
		a = append(a, v)
		conds = append(conds, fmt.Sprintf("s.remote_ip = $%d", len(a)))
	}
	if f.Outcome != "" {
		a = append(a, f.Outcome)
		conds = append(conds, fmt.Sprintf("s.outcome = $%d", len(a)))
	}
	if f.WithMessages != nil {
		has := "(s.messages > 0 OR s.ended = 0 AND EXISTS (SELECT 1 FROM messages WHERE session_id = s.id))"
		if !*f.WithMessages {
			has = "NOT " + has
		}
		conds = append(conds, has)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), a
}

// Sessions returns a page of the sessions matching f, newest first, without their transcripts.
func (s *Store) Sessions(ctx context.Context, f store.SessionFilter, p store.Page) (store.SessionResult, error) {
	where, a := sessionWhere(f)
	res := store.SessionResult{Sessions: []store.Session{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM sessions s"+where, a...).Scan(&res.Total); err != nil {
			return err
		}
		q := "SELECT " + sessionColumns + " FROM sessions s" + where + " ORDER BY s.uid DESC"
		if p.Limit > 0 {
			q += fmt.Sprintf(" LIMIT %d", p.Limit)
		}
		if p.Offset > 0 {
			q += fmt.Sprintf(" OFFSET %d", p.Offset)
		}
		list, err := s.querySessions(ctx, tx, q, a...)
		res.Sessions = append(res.Sessions, list...)
		return err
	})
	if err != nil {
		return store.SessionResult{Sessions: []store.Session{}}, fmt.Errorf("postgres: sessions: %w", unavailable(err))
	}
	return res, nil
}

// querySessions runs a query of sessionColumns.
func (s *Store) querySessions(ctx context.Context, q querier, sql string, a ...any) ([]store.Session, error) {
	rows, err := q.Query(ctx, sql, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}

// readSessions returns the sessions cond selects (its placeholders from $1), oldest first.
func (s *Store) readSessions(ctx context.Context, cond string, a ...any) ([]store.Session, error) {
	list, err := s.querySessions(ctx, s.pool, "SELECT "+sessionColumns+" FROM sessions s WHERE "+cond+" ORDER BY s.uid", a...)
	return list, unavailable(err)
}

// sessionsOfMessages returns the sessions the messages with these UIDs came in, by message UID.
func (s *Store) sessionsOfMessages(ctx context.Context, uids []int64) (map[int64]store.Session, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT m.uid, "+sessionColumns+` FROM messages m JOIN sessions s ON s.id = m.session_id
		WHERE m.uid = ANY($1) AND m.session_id <> ''`, uids)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out := map[int64]store.Session{}
	for rows.Next() {
		var uid int64
		ss, err := scanSession(rows, &uid)
		if err != nil {
			return nil, err
		}
		out[uid] = ss
	}
	return out, unavailable(rows.Err())
}

// Session returns one session with its transcript and the IDs of the messages it stored.
func (s *Store) Session(ctx context.Context, id string) (*store.Session, error) {
	var ss store.Session
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var uid int64
		var err error
		ss, err = scanSession(tx.QueryRow(ctx, "SELECT s.uid, "+sessionColumns+" FROM sessions s WHERE s.id = $1", id), &uid)
		if err != nil {
			return err
		}
		chunks, err := queryStrings(ctx, tx, "SELECT chunk FROM session_lines WHERE session = $1 ORDER BY first", uid)
		if err != nil {
			return err
		}
		ss.Transcript = []store.SessionLine{}
		for _, c := range chunks {
			ss.Transcript = store.DecodeSessionLines(c, ss.Transcript)
		}
		ss.MessageIDs, err = queryStrings(ctx, tx, "SELECT id FROM messages WHERE session_id = $1 ORDER BY uid", id)
		if ss.MessageIDs == nil {
			ss.MessageIDs = []string{}
		}
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: session %s: %w", id, unavailable(err))
	}
	return &ss, nil
}
