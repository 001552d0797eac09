package store

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
)

// A database written by an older schema version opens, upgrades and keeps its messages.
func TestMigrationFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := openDB(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	// As the writer of version 1 stores a message: the row, and the counters.
	for _, q := range []string{
		`INSERT INTO messages (id, created, size, subject) VALUES ('old1', 1, 10, 'from v1')`,
		`INSERT INTO fts (rowid, subject, sender, recipients, message_id, headers, body, attachments)
			VALUES (1, 'from v1', '', '', '', '', 'springtime offers', '')`,
		`UPDATE counters SET total = total + 1, unread = unread + 1, size = size + 10`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version int
	migrations, _ := fs.Glob(migrationFiles, "migrations/*.sql")
	if err := s.readDB.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) || version < 4 {
		t.Fatalf("schema version %d, %v", version, err)
	}
	if s.UIDValidity() == 0 {
		t.Fatal("no UIDVALIDITY after upgrade")
	}
	sum, err := s.Summary(ctx, "old1")
	if err != nil || sum.Subject != "from v1" {
		t.Fatalf("old message after upgrade: %+v %v", sum, err)
	}
	st, _ := s.Stats(ctx)
	if st.Total != 1 {
		t.Fatalf("counters after upgrade: %+v", st)
	}
	// The vocabulary (version 4) holds the words indexed before it.
	q, _ := ParseQuery("ringtime")
	res, err := s.Search(ctx, Filter{Query: q}, Page{})
	if err != nil || res.Total != 1 {
		t.Fatalf("a word inside a word indexed before the upgrade: %+v %v", res, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := openDB(path, false)
	if err != nil {
		t.Fatal(err)
	}
	db.Exec("PRAGMA user_version = 99")
	db.Close()
	if _, err := Open(context.Background(), Options{Path: path}); err == nil {
		t.Fatal("a database from a newer letterbox must not be opened")
	}
}

// Transcripts written before migration 12 (chunks clustered by session) read back whole and in
// order after it, and deleting a session still deletes its chunks.
func TestSessionLinesKeptByMigration12(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := openDB(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, 11); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO sessions (id, started, ended, remote_addr, remote_ip) VALUES ('s1', 1, 2, '127.0.0.1:1', '127.0.0.1'), ('s2', 1, 2, '127.0.0.1:2', '127.0.0.1')`,
		// Written out of order, as interleaved connections do.
		"INSERT INTO session_lines (session, first, chunk) VALUES (1, 2, '3\tS\t250 two\n'), (2, 0, '1\tC\tEHLO other\n'), (1, 0, '1\tC\tEHLO one\n2\tS\t250 one\n')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM sessions WHERE id = 's2'`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM session_lines`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d chunks left after deleting the session that had one of the three (%v), want 2", n, err)
	}
	db.Close()

	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ss, err := s.Session(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ss.Transcript {
		got = append(got, l.Dir+" "+l.Text)
	}
	if want := "[C EHLO one S 250 one S 250 two]"; fmt.Sprint(got) != want {
		t.Fatalf("transcript after the upgrade: %v, want %v", got, want)
	}
}
