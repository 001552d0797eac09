package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MessageRaw returns a message as Message does, and its raw bytes as Raw does, from one read of
// the stored content (for MailHog's API, which shows both). The checksums of parts stored
// without them (all but those earlier versions stored) are left empty: MailHog shows none, and
// working them out means parsing the message again.
func (s *Store) MessageRaw(ctx context.Context, id string) (*Message, []byte, error) {
	tx, err := s.readDB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("store: message %s: %w", id, err)
	}
	defer tx.Rollback()
	sum, err := scanSummary(tx.QueryRowContext(ctx, "SELECT "+summaryColumns+" FROM messages m WHERE m.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: message %s: %w", id, err)
	}
	var z []byte
	var bodySize int64
	err = tx.QueryRowContext(ctx, `SELECT content, body_size FROM contents WHERE uid = ?`, sum.UID).Scan(&z, &bodySize)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: message %s: %w", id, err)
	}
	m, raw, err := s.messageRaw(sum, z, bodySize)
	if err != nil {
		return nil, nil, fmt.Errorf("store: message %s: %w", id, err)
	}
	return m, raw, nil
}

// messageRaw decodes a message and its raw bytes from its stored content, without the checksums
// its parts were stored without.
func (s *Store) messageRaw(sum Summary, z []byte, bodySize int64) (*Message, []byte, error) {
	content, err := s.dec.DecodeAll(z, nil)
	if err == nil && (bodySize < 0 || bodySize > int64(len(content))) {
		err = fmt.Errorf("body size %d beyond the %d bytes stored", bodySize, len(content))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("decompress: %w", err)
	}
	raw := content[bodySize:]
	b, err := decodeBody(content[:bodySize], func() ([]byte, error) { return raw, nil })
	if err != nil {
		return nil, nil, err
	}
	return messageOf(sum, b), raw, nil
}
