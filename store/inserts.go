package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// inserts writes prepared records for the writer, several rows per statement. Its statements are
// prepared on the writer's connection once for each row count used, and kept until the writer
// idles (forgetBatchStatements).
type inserts struct {
	conn  *sql.Conn
	stmts map[insertKey]*sql.Stmt
	other map[string]*sql.Stmt // other statements the writer runs for every batch
	args  []any                // reused argument list
}

type insertKey struct {
	table int
	rows  int
}

// The tables inserts writes, with each one's statement head and row placeholders.
const (
	tMessages = iota
	tContents
	tRecipients
	tTags
	tFTS
	tSessions     // sessions.go: the sessions a batch's messages came in
	tSessionEnds  // sessions.go: the records of sessions that ended
	tSessionLines // sessions.go: their transcripts' new lines
)

var insertSQL = [...]struct{ head, row string }{
	tMessages: {`INSERT INTO messages (uid, id, created, date, read, size, message_id, subject, from_json, to_json, cc_json, bcc_json, reply_to_json, username, attachments, inlines, snippet, session_id) VALUES `,
		`(?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
	tContents:   {`INSERT INTO contents (uid, content, body_size) VALUES `, `(?, ?, ?)`},
	tRecipients: {`INSERT OR IGNORE INTO recipients (addr, uid, kinds) VALUES `, `(?, ?, ?)`},
	tTags:       {`INSERT OR IGNORE INTO tags (tag, uid) VALUES `, `(?, ?)`},
	tFTS:        {`INSERT INTO fts_pending (uid, subject, sender, recipients, message_id, headers, body, attachments) VALUES `, `(?, ?, ?, ?, ?, ?, ?, ?)`},
	tSessions: {`INSERT OR IGNORE INTO sessions (id, started, remote_addr, remote_ip, helo, tls_version, tls_cipher, auth_mechanism, auth_username) VALUES `,
		`(?, ?, ?, ?, ?, ?, ?, ?, ?)`},
	tSessionEnds: {`INSERT INTO sessions (id, started, ended, remote_addr, remote_ip, helo, tls_version, tls_cipher, auth_mechanism,
		auth_username, outcome, error, messages, faults) VALUES `, `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
	tSessionLines: {`INSERT OR IGNORE INTO session_lines (session, first, chunk) VALUES `, `((SELECT uid FROM sessions WHERE id = ?), ?, ?)`},
}

// insertTail ends the statements of the tables that need more than their rows.
var insertTail = map[int]string{
	tSessionEnds: ` ON CONFLICT (id) DO UPDATE SET ended = excluded.ended, helo = excluded.helo, tls_version = excluded.tls_version,
		tls_cipher = excluded.tls_cipher, auth_mechanism = excluded.auth_mechanism, auth_username = excluded.auth_username,
		outcome = excluded.outcome, error = excluded.error, messages = excluded.messages, faults = excluded.faults`,
}

// maxInsertRows is the most rows one statement inserts; more take several statements.
const maxInsertRows = 32

func newInserts(conn *sql.Conn) *inserts {
	return &inserts{conn: conn, stmts: map[insertKey]*sql.Stmt{}, other: map[string]*sql.Stmt{}}
}

func (ins *inserts) close() {
	for _, st := range ins.stmts {
		st.Close()
	}
	for _, st := range ins.other {
		st.Close()
	}
}

// keptInsertStatements is the most insert statements kept when the writer idles: one row count
// for each table, as single messages use. A burst prepares a statement for each table and each
// row count up to maxInsertRows (some MB of SQLite's memory), which the next burst prepares again
// in well under a millisecond.
const keptInsertStatements = 16

// forgetBatchStatements closes the insert statements when a burst left more than
// keptInsertStatements of them.
func (ins *inserts) forgetBatchStatements() {
	if len(ins.stmts) <= keptInsertStatements {
		return
	}
	for k, st := range ins.stmts {
		st.Close()
		delete(ins.stmts, k)
	}
}

// stmt returns query prepared on the writer's connection: the driver would otherwise compile it
// again at every run.
func (ins *inserts) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := ins.other[query]; st != nil {
		return st, nil
	}
	st, err := ins.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ins.other[query] = st
	return st, nil
}

// run executes query (prepared once) on the writer's connection.
func (ins *inserts) run(ctx context.Context, query string, args ...any) error {
	st, err := ins.stmt(ctx, query)
	if err == nil {
		_, err = st.ExecContext(ctx, args...)
	}
	return err
}

// exec inserts rows rows into table; row(i) appends the arguments of row i to ins.args.
func (ins *inserts) exec(ctx context.Context, table, rows int, row func(i int)) error {
	for start := 0; start < rows; start += maxInsertRows {
		n := min(rows-start, maxInsertRows)
		key := insertKey{table, n}
		st := ins.stmts[key]
		if st == nil {
			q := insertSQL[table]
			var err error
			if st, err = ins.conn.PrepareContext(ctx, q.head+strings.TrimSuffix(strings.Repeat(q.row+", ", n), ", ")+insertTail[table]); err != nil {
				return err
			}
			ins.stmts[key] = st
		}
		ins.args = ins.args[:0]
		for i := start; i < start+n; i++ {
			row(i)
		}
		_, err := st.ExecContext(ctx, ins.args...)
		clear(ins.args)
		if err != nil {
			return err
		}
	}
	return nil
}

// insert writes records inside the writer's transaction, giving each its UID (rec.sum.UID), and
// adds them to the store's counters. Their full-text rows are added later, by index.
func (ins *inserts) insert(ctx context.Context, recs []*record) error {
	// UIDs are assigned here, the writer being the only one that inserts: after the highest ever
	// used, which AUTOINCREMENT keeps in sqlite_sequence.
	var next int64
	st, err := ins.stmt(ctx, `SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
		COALESCE((SELECT max(uid) FROM messages), 0)) + 1`)
	if err == nil {
		err = st.QueryRowContext(ctx).Scan(&next)
	}
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	var size int64
	var recipients, tags []struct {
		uid int64
		a   string
	}
	var kinds []int // of recipients
	for _, rec := range recs {
		rec.sum.UID = next
		next++
		size += rec.sum.Size
		for _, a := range rec.recipients {
			recipients = append(recipients, struct {
				uid int64
				a   string
			}{rec.sum.UID, a})
		}
		kinds = append(kinds, rec.kinds...)
		for _, t := range rec.sum.Tags {
			tags = append(tags, struct {
				uid int64
				a   string
			}{rec.sum.UID, t})
		}
	}
	err = ins.exec(ctx, tMessages, len(recs), func(i int) {
		r := recs[i]
		sum := &r.sum
		var date int64
		if !sum.Date.IsZero() {
			date = sum.Date.UnixMicro()
		}
		ins.args = append(ins.args, sum.UID, sum.ID, sum.Created.UnixMicro(), date, sum.Size,
			sum.MessageID, sum.Subject, r.fromJSON, r.toJSON, r.ccJSON, r.bccJSON, r.replyToJSON,
			sum.Username, sum.Attachments, sum.Inlines, sum.Snippet, r.sessionID)
	})
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	if err := ins.exec(ctx, tContents, len(recs), func(i int) {
		ins.args = append(ins.args, recs[i].sum.UID, recs[i].contentZ, recs[i].bodySize)
	}); err != nil {
		return fmt.Errorf("store: insert content: %w", err)
	}
	if err := ins.exec(ctx, tRecipients, len(recipients), func(i int) {
		ins.args = append(ins.args, recipients[i].a, recipients[i].uid, kinds[i])
	}); err != nil {
		return fmt.Errorf("store: insert recipient: %w", err)
	}
	if err := ins.exec(ctx, tTags, len(tags), func(i int) {
		ins.args = append(ins.args, tags[i].a, tags[i].uid)
	}); err != nil {
		return fmt.Errorf("store: insert tag: %w", err)
	}
	// New messages are unread.
	if err := ins.run(ctx, `UPDATE counters SET total = total + ?, unread = unread + ?, size = size + ?`,
		len(recs), len(recs), size); err != nil {
		return fmt.Errorf("store: count messages: %w", err)
	}
	return nil
}

// index adds the full-text rows of records already inserted. The writer runs it once per batch,
// after every other insert: FTS5 flushes its pending index data to disk whenever a later
// statement opens a statement savepoint, so indexing last keeps the batch's index data in
// memory until the commit writes it as one segment.
func (ins *inserts) index(ctx context.Context, recs []*record) error {
	if err := ins.exec(ctx, tFTS, len(recs), func(i int) {
		f := &recs[i].fts
		ins.args = append(ins.args, recs[i].sum.UID, f.subject, f.sender, f.recipients, f.messageID, f.headers, f.body, f.attachments)
	}); err != nil {
		return fmt.Errorf("store: index: %w", err)
	}
	return nil
}
