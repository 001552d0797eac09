package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// partsMessage is a message with each kind of part Part reads: a base64 attachment, an inline
// cid image, an attached message/rfc822 and an attachment whose base64 does not decode.
func partsMessage(pdf, png []byte) string {
	b64 := func(b []byte) string {
		s := base64.StdEncoding.EncodeToString(b)
		var out strings.Builder
		for len(s) > 76 {
			out.WriteString(s[:76] + "\r\n")
			s = s[76:]
		}
		return out.String() + s + "\r\n"
	}
	return "From: a@example.com\r\nTo: b@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n" +
		"--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Logo: <img src=\"cid:logo@example.com\"></p>\r\n" +
		"--rel\r\nContent-Type: image/png; name=logo.png\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-ID: <logo@example.com>\r\nContent-Disposition: inline; filename=logo.png\r\n\r\n" + b64(png) +
		"--rel--\r\n" +
		"--outer\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=report.pdf\r\n\r\n" + b64(pdf) +
		"--outer\r\nContent-Type: message/rfc822; name=fwd.eml\r\nContent-Disposition: attachment; filename=fwd.eml\r\n\r\n" +
		nestedMessage +
		"--outer\r\nContent-Type: application/octet-stream; name=broken.bin\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=broken.bin\r\n\r\nSGVsbG8g***V29ybGQ=!!\r\n" +
		"--outer--\r\n"
}

const nestedMessage = "From: c@example.com\r\nSubject: forwarded\r\n\r\nThe forwarded text.\r\n"

// testBytes returns n bytes that do not compress.
func testBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// TestPartsDecodedOnRead: each kind of part reads back with its content and checksums, in
// Message and in Part, and a new message writes no parts rows.
func TestPartsDecodedOnRead(t *testing.T) {
	ctx := context.Background()
	s := tempStore(t)
	pdf, png := testBytes(70_000, 1), testBytes(3_000, 2)
	sum, err := s.Add(ctx, Envelope{MailFrom: "a@example.com"}, strings.NewReader(partsMessage(pdf, png)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Message(ctx, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 3 || len(m.Inline) != 1 || len(m.ParseErrors) == 0 {
		t.Fatalf("attachments %+v, inline %+v, parse errors %q", m.Attachments, m.Inline, m.ParseErrors)
	}
	byName := map[string]Part{}
	for _, p := range append(append([]Part{}, m.Attachments...), m.Inline...) {
		byName[p.FileName] = p
	}
	// The attached message is the bytes up to the line break before the delimiter (RFC 2046 §5.1.1).
	for name, want := range map[string][]byte{"report.pdf": pdf, "logo.png": png, "fwd.eml": []byte(strings.TrimSuffix(nestedMessage, "\r\n"))} {
		p, ok := byName[name]
		if !ok {
			t.Fatalf("no part %s in %+v", name, byName)
		}
		if p.Size != int64(len(want)) || p.Checksums != checksums(want) {
			t.Errorf("%s: Message lists %d bytes, %+v; want %d, %+v", name, p.Size, p.Checksums, len(want), checksums(want))
		}
		got, content, err := s.Part(ctx, sum.ID, p.PartID)
		if err != nil || !bytes.Equal(content, want) || got != p {
			t.Errorf("%s: Part gives %+v, %d bytes, %v; want %+v, %d bytes", name, got, len(content), err, p, len(want))
		}
	}
	// Whatever enmime makes of the broken base64, it is what Message describes.
	broken := byName["broken.bin"]
	got, content, err := s.Part(ctx, sum.ID, broken.PartID)
	if err != nil || int64(len(content)) != broken.Size || got.Checksums != checksums(content) || got != broken {
		t.Errorf("broken.bin: Part gives %+v, %d bytes, %v; Message lists %+v", got, len(content), err, broken)
	}
	if logo := byName["logo.png"]; logo.ContentID != "logo@example.com" {
		t.Errorf("inline image: content ID %q", logo.ContentID)
	}

	var rows int
	if err := s.readDB.QueryRowContext(ctx, "SELECT COUNT(*) FROM parts").Scan(&rows); err != nil || rows != 0 {
		t.Errorf("parts rows after ingest: %d, %v; want none", rows, err)
	}
	for _, c := range []struct{ id, part string }{{sum.ID, "9.9"}, {sum.ID, ""}, {"nosuchid", broken.PartID}} {
		if _, _, err := s.Part(ctx, c.id, c.part); !errors.Is(err, ErrNotFound) {
			t.Errorf("Part(%q, %q): %v, want ErrNotFound", c.id, c.part, err)
		}
	}
	// The parts are cached now; a deleted message's are not served from there.
	if err := s.Delete(ctx, []string{sum.ID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Part(ctx, sum.ID, broken.PartID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Part of a deleted message: %v, want ErrNotFound", err)
	}
}

// TestPartsReadWithoutCache: with nothing cached, Message and Part each parse the message and
// give the same parts; MessageRaw leaves the checksums empty.
func TestPartsReadWithoutCache(t *testing.T) {
	ctx := context.Background()
	s := tempStore(t)
	s.partCache.maxBytes = -1
	pdf, png := testBytes(5_000, 3), testBytes(1_000, 4)
	sum, err := s.Add(ctx, Envelope{}, strings.NewReader(partsMessage(pdf, png)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Message(ctx, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(append([]Part{}, m.Attachments...), m.Inline...) {
		got, content, err := s.Part(ctx, sum.ID, p.PartID)
		if err != nil || got != p || got.Checksums != checksums(content) || p.Checksums == (Checksums{}) {
			t.Errorf("part %s: %+v, %v; Message lists %+v", p.PartID, got, err, p)
		}
	}
	if n := len(s.partCache.sets); n != 0 {
		t.Errorf("%d messages cached with the cache off", n)
	}
	mr, _, err := s.MessageRaw(ctx, sum.ID)
	if err != nil || len(mr.Attachments) != 3 || mr.Attachments[0].Checksums != (Checksums{}) {
		t.Errorf("MessageRaw: %+v, %v", mr, err)
	}
}

// TestPartsStoredByEarlierVersions: a message whose body carries its parts' checksums and
// whose parts have rows in the parts table, as versions that decoded parts at ingest wrote
// them, is served from those rows, with its stored checksums.
func TestPartsStoredByEarlierVersions(t *testing.T) {
	ctx := context.Background()
	s := tempStore(t)
	pdf, png := testBytes(2_000, 5), testBytes(500, 6)
	sum, err := s.Add(ctx, Envelope{}, strings.NewReader(partsMessage(pdf, png)))
	if err != nil {
		t.Fatal(err)
	}
	// What an earlier version stored: content other than the raw message's, to tell which is served.
	stored := []byte("content of the parts row")
	old := Checksums{MD5: "stored-md5", SHA1: "stored-sha1", SHA256: "stored-sha256"}
	writeOldFormat(t, s, sum.UID, old, stored)

	m, err := s.Message(ctx, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(append([]Part{}, m.Attachments...), m.Inline...) {
		if p.Checksums != old {
			t.Errorf("part %s: Message gives checksums %+v, want those stored", p.PartID, p.Checksums)
		}
		got, content, err := s.Part(ctx, sum.ID, p.PartID)
		if err != nil || !bytes.Equal(content, stored) || got != p {
			t.Errorf("part %s: Part gives %+v, %q, %v; want %+v and the stored row", p.PartID, got, content, err, p)
		}
	}
}

// writeOldFormat rewrites message uid as earlier versions stored it: checksums in its body's
// parts, and a parts row of content for each part.
func writeOldFormat(t *testing.T, s *Store, uid int64, sums Checksums, content []byte) {
	t.Helper()
	ctx := context.Background()
	err := s.change(ctx, func(ctx context.Context, tx dbtx) ([]Event, error) {
		var z []byte
		var bodySize int64
		if err := tx.QueryRowContext(ctx, "SELECT content, body_size FROM contents WHERE uid = ?", uid).Scan(&z, &bodySize); err != nil {
			return nil, err
		}
		all, err := s.dec.DecodeAll(z, nil)
		if err != nil {
			return nil, err
		}
		var b body
		if err := json.Unmarshal(all[:bodySize], &b); err != nil {
			return nil, err
		}
		for i := range b.Parts {
			b.Parts[i].Checksums = sums
			if _, err := tx.ExecContext(ctx, "INSERT INTO parts (uid, part_id, content) VALUES (?, ?, ?)",
				uid, b.Parts[i].PartID, s.enc.EncodeAll(content, nil)); err != nil {
				return nil, err
			}
		}
		var buf bytes.Buffer
		writeJSON(&buf, b)
		js := buf.Len()
		buf.Write(all[bodySize:])
		_, err = tx.ExecContext(ctx, "UPDATE contents SET content = ?, body_size = ? WHERE uid = ?", s.enc.EncodeAll(buf.Bytes(), nil), js, uid)
		return nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPartsReadConcurrently: Part and Message from several goroutines at once, on messages
// that come and go from the cache, give each part's own content (run with -race).
func TestPartsReadConcurrently(t *testing.T) {
	ctx := context.Background()
	s := tempStore(t)
	s.partCache.maxBytes = 200_000 // two or three messages
	type msg struct {
		id  string
		pdf []byte
	}
	var msgs []msg
	for i := range 6 {
		pdf := testBytes(40_000, byte(10+i))
		sum, err := s.Add(ctx, Envelope{}, strings.NewReader(partsMessage(pdf, testBytes(100, 0))))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg{sum.ID, pdf})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 24 {
				mg := msgs[(g+i)%len(msgs)]
				m, err := s.Message(ctx, mg.id)
				if err != nil {
					errs <- err
					return
				}
				p := m.Attachments[0]
				got, content, err := s.Part(ctx, mg.id, p.PartID)
				if err != nil || !bytes.Equal(content, mg.pdf) || got != p || p.Checksums != checksums(mg.pdf) {
					errs <- fmt.Errorf("message %s part %s: %+v, %d bytes, %v", mg.id, p.PartID, got, len(content), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPartCacheBounds: the cache keeps at most partCacheEntries messages and maxBytes of
// content, drops the least recently used first, and keeps no message over half its size.
func TestPartCacheBounds(t *testing.T) {
	c := &partCache{maxBytes: 1000}
	set := func(id string, size int) *partSet { return &partSet{id: id, size: size} }
	c.put(set("a", 300))
	c.put(set("b", 300))
	c.get("a") // b is now the least recently used
	c.put(set("c", 300))
	c.put(set("d", 300))
	if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil || c.get("d") == nil || c.size != 900 {
		t.Errorf("after four of 300 bytes in 1000: %d bytes, sets %v", c.size, cachedIDs(c))
	}
	c.put(set("d", 100)) // again: replaces it
	if c.size != 700 || len(c.sets) != 3 {
		t.Errorf("after putting d again: %d bytes, sets %v", c.size, cachedIDs(c))
	}
	c.put(set("big", 501))
	if c.get("big") != nil {
		t.Error("kept a message over half the cache")
	}
	c = &partCache{}
	for i := range partCacheEntries + 5 {
		c.put(set(fmt.Sprint(i), 1))
	}
	if len(c.sets) != partCacheEntries || c.get("0") != nil || c.get(fmt.Sprint(partCacheEntries+4)) == nil {
		t.Errorf("after %d small messages: sets %v", partCacheEntries+5, cachedIDs(c))
	}
}

func cachedIDs(c *partCache) []string {
	var out []string
	for _, ps := range c.sets {
		out = append(out, ps.id)
	}
	return out
}

// TestLegacyCharsetAttachmentReadsAsIngested: a text attachment that is not UTF-8, in a message
// whose text is not either, is decoded at ingest (fixCharsets); read back, it is the same.
func TestLegacyCharsetAttachmentReadsAsIngested(t *testing.T) {
	ctx := context.Background()
	s := tempStore(t)
	raw := "From: a@example.com\r\nSubject: latin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nCaf\xe9 cr\xe8me\r\n" +
		"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=menu.txt\r\n\r\nTh\xe9 glac\xe9\r\n--b--\r\n"
	sum, err := s.Add(ctx, Envelope{}, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Message(ctx, sum.ID)
	if err != nil || len(m.Attachments) != 1 {
		t.Fatalf("message: %+v, %v", m, err)
	}
	want := "Thé glacé"
	p := m.Attachments[0]
	got, content, err := s.Part(ctx, sum.ID, p.PartID)
	if err != nil || string(content) != want || p.Size != int64(len(want)) || got.Checksums != checksums([]byte(want)) {
		t.Errorf("menu.txt: %+v, %q, %v; Message lists %+v; want %q", got, content, err, p, want)
	}
}
