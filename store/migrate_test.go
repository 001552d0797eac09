package store

import (
	"context"
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
