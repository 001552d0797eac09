package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/store"
)

const partsMessage = "From: a@example.com\r\nTo: b@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
	"--b\r\nContent-Type: text/csv; name=menu.csv\r\nContent-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=menu.csv\r\n\r\nc291cCwz\r\n--b--\r\n"

// TestPartsDerivedAndStored: a new message writes no parts rows and its part reads back from the
// raw message with its checksums; one rewritten as earlier versions stored it (checksums in the
// body, a parts row) is served from that row with its stored checksums.
func TestPartsDerivedAndStored(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	s := open(t, url, store.Options{})
	sum, err := s.Add(ctx, store.Envelope{}, strings.NewReader(partsMessage))
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM parts").Scan(&rows); err != nil || rows != 0 {
		t.Errorf("parts rows after ingest: %d, %v; want none", rows, err)
	}
	m, err := s.Message(ctx, sum.ID)
	if err != nil || len(m.Attachments) != 1 {
		t.Fatalf("message: %+v, %v", m, err)
	}
	p := m.Attachments[0]
	if sha := sha256.Sum256([]byte("soup,3")); p.Checksums.SHA256 != hex.EncodeToString(sha[:]) || p.Checksums.MD5 == "" || p.Checksums.SHA1 == "" {
		t.Errorf("checksums %+v", p.Checksums)
	}
	got, content, err := s.Part(ctx, sum.ID, p.PartID)
	if err != nil || string(content) != "soup,3" || got != p {
		t.Fatalf("part: %+v, %q, %v; Message lists %+v", got, content, err, p)
	}

	old := store.Checksums{MD5: "stored-md5", SHA1: "stored-sha1", SHA256: "stored-sha256"}
	writeOldFormat(t, s, sum.UID, p.PartID, old, []byte("content of the parts row"))
	other := open(t, url, store.Options{}) // nothing cached
	m, err = other.Message(ctx, sum.ID)
	if err != nil || m.Attachments[0].Checksums != old {
		t.Fatalf("old format: Message gives %+v, %v; want the stored checksums", m, err)
	}
	got, content, err = other.Part(ctx, sum.ID, p.PartID)
	if err != nil || string(content) != "content of the parts row" || got.Checksums != old {
		t.Errorf("old format: Part gives %+v, %q, %v; want the stored row", got, content, err)
	}
}

// writeOldFormat rewrites message uid as earlier versions stored it: sums as the checksums of
// its parts in its body, and a parts row of content for part partID.
func writeOldFormat(t *testing.T, s *Store, uid int64, partID string, sums store.Checksums, content []byte) {
	t.Helper()
	ctx := context.Background()
	var z []byte
	var bodySize int
	if err := s.pool.QueryRow(ctx, "SELECT content, body_size FROM contents WHERE uid = $1", uid).Scan(&z, &bodySize); err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	all, err := dec.DecodeAll(z, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(all[:bodySize], &b); err != nil {
		t.Fatal(err)
	}
	for _, p := range b["Parts"].([]any) {
		p.(map[string]any)["Checksums"] = sums
	}
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	newContent := enc.EncodeAll(append(js, all[bodySize:]...), nil)
	if _, err := s.pool.Exec(ctx, "UPDATE contents SET content = $1, body_size = $2 WHERE uid = $3", newContent, len(js), uid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "INSERT INTO parts (uid, part_id, content) VALUES ($1, $2, $3)", uid, partID, enc.EncodeAll(content, nil)); err != nil {
		t.Fatal(err)
	}
}
