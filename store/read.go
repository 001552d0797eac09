package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// Summary returns the list entry of one message.
func (s *Store) Summary(ctx context.Context, id string) (Summary, error) {
	sum, err := scanSummary(s.readDB.QueryRowContext(ctx, "SELECT "+summaryColumns+" FROM messages m WHERE m.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Summary{}, ErrNotFound
	}
	if err != nil {
		return Summary{}, fmt.Errorf("store: summary %s: %w", id, err)
	}
	return sum, nil
}

// Message returns a whole message, as parsed at ingest, with its parts' checksums. It does not
// change its read state.
func (s *Store) Message(ctx context.Context, id string) (*Message, error) {
	tx, err := s.readDB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: message %s: %w", id, err)
	}
	defer tx.Rollback()
	sum, err := scanSummary(tx.QueryRowContext(ctx, "SELECT "+summaryColumns+" FROM messages m WHERE m.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: message %s: %w", id, err)
	}
	var z []byte
	var bodySize int64
	err = tx.QueryRowContext(ctx, `SELECT content, body_size FROM contents WHERE uid = ?`, sum.UID).Scan(&z, &bodySize)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: message %s: %w", id, err)
	}
	m, err := s.message(sum, z, bodySize)
	if err != nil {
		return nil, fmt.Errorf("store: message %s: %w", id, err)
	}
	return m, nil
}

// Raw returns the message exactly as stored: the bytes received, after the trace header fields.
func (s *Store) Raw(ctx context.Context, id string) ([]byte, error) {
	var z []byte
	var bodySize int64
	err := s.readDB.QueryRowContext(ctx, "SELECT c.content, c.body_size FROM contents c JOIN messages m ON m.uid = c.uid WHERE m.id = ?", id).Scan(&z, &bodySize)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: raw %s: %w", id, err)
	}
	content, err := s.dec.DecodeAll(z, nil)
	if err == nil && (bodySize < 0 || bodySize > int64(len(content))) {
		err = fmt.Errorf("body size %d beyond the %d bytes stored", bodySize, len(content))
	}
	if err != nil {
		return nil, fmt.Errorf("store: raw %s: decompress: %w", id, err)
	}
	return content[bodySize:], nil
}

// message decodes a message from its Summary and its stored content z, whose first bodySize
// bytes (once decompressed) are its body's JSON, followed by the raw message. The checksums its
// parts were stored without are worked out from the raw message (see partread.go).
func (s *Store) message(sum Summary, z []byte, bodySize int64) (*Message, error) {
	js, raw, err := s.decompressPrefix(z, bodySize)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	rawOf := func() ([]byte, error) {
		if raw == nil {
			content, err := s.dec.DecodeAll(z, nil)
			if err != nil {
				return nil, fmt.Errorf("decompress: %w", err)
			}
			raw = content[len(js):]
		}
		return raw, nil
	}
	b, err := decodeBody(js, rawOf)
	if err != nil {
		return nil, err
	}
	m := messageOf(sum, b)
	if err := s.fillChecksums(m, rawOf); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeBody decodes a body's JSON; the raw message (which raw returns, only when asked) is
// where its text and HTML lie when they are kept as spans of it.
func decodeBody(js []byte, raw func() ([]byte, error)) (body, error) {
	var b body
	if err := json.Unmarshal(js, &b); err != nil {
		return b, fmt.Errorf("decode: %w", err)
	}
	if b.TextAt == nil && b.HTMLAt == nil {
		return b, nil
	}
	msg, err := raw()
	if err != nil {
		return b, err
	}
	span := func(at []int) (string, error) {
		if len(at) != 2 || at[0] < 0 || at[1] < 0 || at[0] > len(msg)-at[1] {
			return "", fmt.Errorf("decode: span %v beyond the %d bytes of the message", at, len(msg))
		}
		return string(msg[at[0] : at[0]+at[1]]), nil
	}
	if b.TextAt != nil {
		if b.Text, err = span(b.TextAt); err != nil {
			return b, err
		}
	}
	if b.HTMLAt != nil {
		if b.HTML, err = span(b.HTMLAt); err != nil {
			return b, err
		}
	}
	return b, nil
}

// decompressPrefix returns the first n bytes of the zstd data z (a message's body, without its
// raw message), and the rest (the raw message) when it decompressed it too. A large message is
// decompressed only as far as needed.
func (s *Store) decompressPrefix(z []byte, n int64) (prefix, rest []byte, err error) {
	var h zstd.Header
	if err := h.Decode(z); err == nil && h.HasFCS && h.FrameContentSize <= 1<<20 {
		out, err := s.dec.DecodeAll(z, nil)
		if err != nil {
			return nil, nil, err
		}
		if n < 0 || n > int64(len(out)) {
			return nil, nil, fmt.Errorf("body size %d beyond the %d bytes stored", n, len(out))
		}
		return out[:n:n], out[n:], nil
	}
	dec, err := zstd.NewReader(bytes.NewReader(z), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, nil, err
	}
	defer dec.Close()
	if n < 0 || n > 1<<31 {
		return nil, nil, fmt.Errorf("body size %d out of range", n)
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(dec, out); err != nil {
		return nil, nil, err
	}
	return out, nil, nil
}

// Part returns an attachment or inline part of a message, with its checksums, and its decoded
// content: parsed again from the raw message, or as stored by earlier versions (see
// partread.go). It is ErrNotFound when the message or the part does not exist.
func (s *Store) Part(ctx context.Context, id, partID string) (Part, []byte, error) {
	return s.loadPart(ctx, partReads{s}, id, partID)
}

// partReads are the reads loadPart makes on SQLite.
type partReads struct{ *Store }

// StoredPart returns the zstd content of a part as earlier versions stored it, or ErrNotFound.
func (r partReads) StoredPart(ctx context.Context, uid int64, partID string) ([]byte, error) {
	var z []byte
	err := r.readDB.QueryRowContext(ctx, "SELECT content FROM parts WHERE uid = ? AND part_id = ?", uid, partID).Scan(&z)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: part %d/%s: %w", uid, partID, err)
	}
	return z, nil
}

// Stats returns store-wide figures.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Tags: map[string]int{}, Stored: s.stored.Load(), Deleted: s.deleted.Load(), Commits: s.commits.Load(), Writes: s.committed.Load()}
	if err := s.readDB.QueryRowContext(ctx, "SELECT total, unread, size FROM counters").Scan(&st.Total, &st.Unread, &st.Size); err != nil {
		return st, fmt.Errorf("store: stats: %w", err)
	}
	rows, err := s.readDB.QueryContext(ctx, "SELECT tag, COUNT(*) FROM tags GROUP BY tag ORDER BY tag")
	if err != nil {
		return st, fmt.Errorf("store: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tag string
		var n int
		if err := rows.Scan(&tag, &n); err != nil {
			return st, fmt.Errorf("store: stats: %w", err)
		}
		st.Tags[tag] = n
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("store: stats: %w", err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(s.opts.Path + suffix); err == nil {
			st.DatabaseSize += fi.Size()
		}
	}
	return st, nil
}

// Tags returns every tag in use, sorted.
func (s *Store) Tags(ctx context.Context) ([]string, error) {
	rows, err := s.readDB.QueryContext(ctx, "SELECT DISTINCT tag FROM tags ORDER BY tag")
	if err != nil {
		return nil, fmt.Errorf("store: tags: %w", err)
	}
	defer rows.Close()
	tags := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("store: tags: %w", err)
		}
		tags = append(tags, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tags: %w", err)
	}
	return tags, nil
}

// NextUID returns the UID the next stored message will get (IMAP UIDNEXT): above every UID ever
// given, deleted ones included.
func (s *Store) NextUID(ctx context.Context) (int64, error) {
	var seq int64
	err := s.readDB.QueryRowContext(ctx, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)").Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("store: next uid: %w", err)
	}
	return seq + 1, nil
}
