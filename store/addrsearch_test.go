package store

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The recipients bits say which lists an address is in, and only for addresses in ASCII: the
// Kelvin sign's lower case is "k", which SQLite's LIKE does not fold to.
func TestRecipientKinds(t *testing.T) {
	sum := &Summary{
		To:  []Address{{Address: "Ann@Example.com"}, {Address: "\u212Aate@example.com"}},
		Cc:  []Address{{Address: "ann@example.com"}, {Address: "bob@example.com"}},
		Bcc: []Address{{Address: "env@example.com"}},
	}
	recips := []string{"ann@example.com", "bob@example.com", "env@example.com", "kate@example.com"}
	got := recipientKinds(recips, sum)
	if want := []int{kindTo | kindCc, kindCc, kindBcc, 0}; !slices.Equal(got, want) {
		t.Errorf("kinds %v, want %v", got, want)
	}
}

// An address search answers as the general search does (which a Since filter selects), on
// rows with their bits, with some of their bits lost, and on an address in non-ASCII; whether
// the recipients rows are all its matches (to:ann@example.com), or the index finds more (the
// other addresses with kate).
func TestAddressSearchAsGeneral(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Another connection changes the rows (the writer keeps its own).
	db, err := openDB(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, h := range []string{
		"To: kate@example.com", "To: \u212Aate@example.com", "To: KATE@example.com\nCc: kate@example.com",
		"To: ann@example.com, kate@example.com.au", "Cc: kate@example.com", "To: bob.kate@example.com",
		"To: Ann <ann@example.com>", "To: ann@example.com",
	} {
		raw := "From: a@b.example\r\n" + strings.ReplaceAll(h, "\n", "\r\n") + "\r\nSubject: m\r\n\r\nHi.\r\n"
		if _, err := s.Add(ctx, Envelope{MailFrom: "a@b.example", Recipients: []string{"x@y.example"}}, strings.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if _, err := db.Exec(`UPDATE messages SET read = 1`); err != nil {
				t.Fatal(err)
			}
		}
	}
	compare := func(state string) {
		t.Helper()
		for _, qs := range []string{"to:kate@example.com", "to:KATE@EXAMPLE.COM", "cc:kate@example.com", "bcc:x@y.example", "to:ate@example.com", "to:ann@example.com"} {
			q, _ := ParseQuery(qs)
			for _, p := range []Page{{Limit: 50}, {Offset: 1, Limit: 1}} {
				fast, err1 := s.Search(ctx, Filter{Query: q}, p)
				general, err2 := s.Search(ctx, Filter{Query: q, Since: time.Unix(1, 0)}, p)
				if err1 != nil || err2 != nil || fast.Total != general.Total || fast.Unread != general.Unread || !sameIDs(fast.Messages, general.Messages) {
					t.Errorf("%s: %q %+v: %d/%d %v, general %d/%d %v (%v %v)", state, qs, p, fast.Total, fast.Unread, ids(fast.Messages),
						general.Total, general.Unread, ids(general.Messages), err1, err2)
				}
			}
		}
	}
	compare("with bits")
	q, _ := ParseQuery("to:kate@example.com")
	if res, _ := s.Search(ctx, Filter{Query: q}, Page{}); res.Total != 4 {
		t.Errorf("to:kate@example.com found %d, want 4 (all but the Cc and the Kelvin sign, which is not k to LIKE)", res.Total)
	}
	if _, err := db.Exec(`UPDATE recipients SET kinds = 0 WHERE uid = 3`); err != nil {
		t.Fatal(err)
	}
	compare("a row's bits lost")
	if _, err := db.Exec(`UPDATE recipients SET kinds = 0`); err != nil {
		t.Fatal(err)
	}
	compare("every bit lost")
}

func sameIDs(a, b []Summary) bool { return slices.Equal(ids(a), ids(b)) }

func ids(list []Summary) []string {
	var out []string
	for _, m := range list {
		out = append(out, m.ID)
	}
	return out
}

// Migration 0010 sets the bits of the recipients stored before it from the messages' lists.
func TestMigrationRecipientKinds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := openDB(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, 9); err != nil {
		t.Fatal(err)
	}
	// As the writer of version 9 stores a message: its row, its recipients, its index entry.
	for _, q := range []string{
		`INSERT INTO messages (uid, id, created, size, to_json, cc_json, bcc_json) VALUES (1, 'old1', 1, 10,
			'[{"Name":"Ann","Address":"Ann@Example.com"}]', '[{"Name":"","Address":"bob@example.com"},{"Name":"","Address":"ann@example.com"}]',
			'[{"Name":"","Address":"env@example.com"},{"Name":"","Address":"` + "\u212A" + `ate@example.com"}]')`,
		`INSERT INTO recipients (addr, uid) VALUES ('ann@example.com', 1), ('bob@example.com', 1), ('env@example.com', 1), ('kate@example.com', 1)`,
		`INSERT INTO fts (rowid, subject, sender, recipients, message_id, headers, body, attachments)
			VALUES (1, '', '', 'Ann Ann@Example.com  bob@example.com  ann@example.com  env@example.com  ` + "\u212A" + `ate@example.com', '', '', '', '')`,
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
	kinds := map[string]int{}
	rows, err := s.readDB.Query(`SELECT addr, kinds FROM recipients`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		var k int
		rows.Scan(&a, &k)
		kinds[a] = k
	}
	rows.Close()
	want := map[string]int{"ann@example.com": kindTo | kindCc, "bob@example.com": kindCc, "env@example.com": kindBcc, "kate@example.com": 0}
	for a, k := range want {
		if kinds[a] != k {
			t.Errorf("%s: kinds %d, want %d (all: %v)", a, kinds[a], k, kinds)
		}
	}
	for qs, n := range map[string]int{"to:ann@example.com": 1, "cc:ANN@example.com": 1, "bcc:env@example.com": 1, "to:bob@example.com": 0} {
		q, _ := ParseQuery(qs)
		if res, err := s.Search(ctx, Filter{Query: q}, Page{}); err != nil || res.Total != n || len(res.Messages) != n {
			t.Errorf("%q after the upgrade: %+v %v, want %d", qs, res, err, n)
		}
	}
}
