package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/letterbox-mail/letterbox/store"
)

// querier runs queries: the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// summaryColumns are the columns scanSummary reads, from messages m.
const summaryColumns = `m.uid, m.id, m.created, m.date, m.read, m.size, m.message_id, m.subject, m.from_json,
	m.to_json, m.cc_json, m.bcc_json, m.reply_to_json, m.username, m.attachments, m.inlines, m.snippet,
	COALESCE((SELECT string_agg(tag, E'\x1f' ORDER BY tag) FROM tags t WHERE t.uid = m.uid), '')`

func micros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func scanSummary(row pgx.Row) (store.Summary, error) {
	var s store.Summary
	var created, date int64
	var from, to, cc, bcc, replyTo, tags string
	if err := row.Scan(&s.UID, &s.ID, &created, &date, &s.Read, &s.Size, &s.MessageID, &s.Subject, &from,
		&to, &cc, &bcc, &replyTo, &s.Username, &s.Attachments, &s.Inlines, &s.Snippet, &tags); err != nil {
		return store.Summary{}, err
	}
	s.Created = micros(created)
	if date != 0 {
		s.Date = micros(date)
	}
	s.To, s.Cc, s.Bcc, s.ReplyTo = []store.Address{}, []store.Address{}, []store.Address{}, []store.Address{}
	for _, p := range []struct {
		src string
		dst any
	}{{from, &s.From}, {to, &s.To}, {cc, &s.Cc}, {bcc, &s.Bcc}, {replyTo, &s.ReplyTo}} {
		if err := json.Unmarshal([]byte(p.src), p.dst); err != nil {
			return store.Summary{}, fmt.Errorf("decode addresses of %s: %w", s.ID, err)
		}
	}
	s.Tags = []string{}
	if tags != "" {
		s.Tags = strings.Split(tags, "\x1f")
	}
	return s, nil
}

// Summary returns the list entry of one message.
func (s *Store) Summary(ctx context.Context, id string) (store.Summary, error) {
	sum, err := scanSummary(s.pool.QueryRow(ctx, "SELECT "+summaryColumns+" FROM messages m WHERE m.id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Summary{}, store.ErrNotFound
	}
	if err != nil {
		return store.Summary{}, fmt.Errorf("postgres: summary %s: %w", id, unavailable(err))
	}
	return sum, nil
}

// summaries returns the list entries of the messages with these UIDs, in UID order.
func (s *Store) summaries(ctx context.Context, uids []int64) ([]store.Summary, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+summaryColumns+" FROM messages m WHERE m.uid = ANY($1) ORDER BY m.uid", uids)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []store.Summary
	for rows.Next() {
		sum, err := scanSummary(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, unavailable(rows.Err())
}

// Message returns a whole message, as parsed at ingest, with its parts' checksums. It does not
// change its read state.
func (s *Store) Message(ctx context.Context, id string) (*store.Message, error) {
	var m *store.Message
	err := s.readStored(ctx, id, func(sum store.Summary, z []byte, bodySize int64) (err error) {
		m, err = s.in.Message(sum, z, bodySize)
		return err
	})
	return m, err
}

// readStored reads message id's Summary and stored content in one snapshot and hands them to
// decode; store.ErrNotFound when there is no such message.
func (s *Store) readStored(ctx context.Context, id string, decode func(sum store.Summary, z []byte, bodySize int64) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		sum, err := scanSummary(tx.QueryRow(ctx, "SELECT "+summaryColumns+" FROM messages m WHERE m.id = $1", id))
		if err != nil {
			return err
		}
		var z []byte
		var bodySize int64
		if err := tx.QueryRow(ctx, "SELECT content, body_size FROM contents WHERE uid = $1", sum.UID).Scan(&z, &bodySize); err != nil {
			return err
		}
		return decode(sum, z, bodySize)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: message %s: %w", id, unavailable(err))
	}
	return nil
}

// Raw returns the message exactly as stored: the bytes received, after the trace header fields.
func (s *Store) Raw(ctx context.Context, id string) ([]byte, error) {
	var z []byte
	var bodySize int64
	err := s.pool.QueryRow(ctx, "SELECT c.content, c.body_size FROM contents c JOIN messages m ON m.uid = c.uid WHERE m.id = $1", id).Scan(&z, &bodySize)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: raw %s: %w", id, unavailable(err))
	}
	raw, err := s.in.Raw(z, bodySize)
	if err != nil {
		return nil, fmt.Errorf("postgres: raw %s: %w", id, err)
	}
	return raw, nil
}

// MessageRaw returns a message as Message does, without the checksums its parts were stored
// without, and its raw bytes as Raw does, from one read of the stored content (see
// store.Store.MessageRaw).
func (s *Store) MessageRaw(ctx context.Context, id string) (*store.Message, []byte, error) {
	var m *store.Message
	var raw []byte
	err := s.readStored(ctx, id, func(sum store.Summary, z []byte, bodySize int64) (err error) {
		m, raw, err = s.in.MessageRaw(sum, z, bodySize)
		return err
	})
	return m, raw, err
}

// Part returns an attachment or inline part of a message, with its checksums, and its decoded
// content: parsed again from the raw message, or as stored by earlier versions (see
// store.Ingester.ReadPart). It is store.ErrNotFound when the message or the part does not exist.
func (s *Store) Part(ctx context.Context, id, partID string) (store.Part, []byte, error) {
	return s.in.ReadPart(ctx, partReads{s}, id, partID)
}

// partReads are the reads store.Ingester.ReadPart makes on PostgreSQL.
type partReads struct{ *Store }

// StoredPart returns the zstd content of a part as earlier versions stored it, or store.ErrNotFound.
func (r partReads) StoredPart(ctx context.Context, uid int64, partID string) ([]byte, error) {
	var z []byte
	err := r.pool.QueryRow(ctx, "SELECT content FROM parts WHERE uid = $1 AND part_id = $2", uid, clean(partID)).Scan(&z)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: part %d/%s: %w", uid, partID, unavailable(err))
	}
	return z, nil
}

// Stats returns store-wide figures; DatabaseSize is the whole database's (pg_database_size).
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	st := store.Stats{Tags: map[string]int{}, Stored: s.stored.Load(), Deleted: s.deleted.Load(),
		Commits: s.commits.Load(), Writes: s.committed.Load()}
	err := s.pool.QueryRow(ctx, "SELECT total, unread, size, pg_database_size(current_database()) FROM counters").
		Scan(&st.Total, &st.Unread, &st.Size, &st.DatabaseSize)
	if err != nil {
		return st, fmt.Errorf("postgres: stats: %w", unavailable(err))
	}
	rows, err := s.pool.Query(ctx, `SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY tag COLLATE "C"`)
	if err != nil {
		return st, fmt.Errorf("postgres: stats: %w", unavailable(err))
	}
	defer rows.Close()
	for rows.Next() {
		var tag string
		var n int
		if err := rows.Scan(&tag, &n); err != nil {
			return st, fmt.Errorf("postgres: stats: %w", err)
		}
		st.Tags[tag] = n
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("postgres: stats: %w", unavailable(err))
	}
	return st, nil
}

// Tags returns every tag in use, sorted.
func (s *Store) Tags(ctx context.Context) ([]string, error) {
	tags, err := queryStrings(ctx, s.pool, `SELECT tag FROM tags GROUP BY tag ORDER BY tag COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: tags: %w", unavailable(err))
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}

// NextUID returns the UID the next stored message will get (IMAP UIDNEXT), in any process.
func (s *Store) NextUID(ctx context.Context) (int64, error) {
	var last int64
	if err := s.pool.QueryRow(ctx, "SELECT last_uid FROM counters").Scan(&last); err != nil {
		return 0, fmt.Errorf("postgres: next uid: %w", unavailable(err))
	}
	return last + 1, nil
}

// queryStrings runs a query whose rows are one string each, and returns them.
func queryStrings(ctx context.Context, q querier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
