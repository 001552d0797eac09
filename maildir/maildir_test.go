package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDeliverAndList(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Mail")
	if err := Create(dir); err != nil {
		t.Fatal(err)
	}
	if !Is(dir) {
		t.Fatal("Is false after Create")
	}
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	seen, err := Deliver(dir, []byte("Subject: seen\r\n\r\nx\r\n"), "SR", t0)
	if err != nil {
		t.Fatal(err)
	}
	unseen, err := Deliver(dir, []byte("Subject: new\n\ny"), "", t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(seen) != filepath.Join(dir, Cur) || !strings.HasSuffix(seen, ":2,RS") {
		t.Errorf("flagged message delivered to %s", seen)
	}
	if filepath.Dir(unseen) != filepath.Join(dir, New) || strings.Contains(filepath.Base(unseen), ":") {
		t.Errorf("unflagged message delivered to %s", unseen)
	}
	name := regexp.MustCompile(`^1714979289\.M123456P\d+Q\d+R[0-9a-f]{8}\.[^/:]+:2,RS$`)
	if !name.MatchString(filepath.Base(seen)) {
		t.Errorf("name %q does not follow <secs>.M<usec>P<pid>Q<n>R<rand>.<host>:2,FLAGS", filepath.Base(seen))
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, Tmp)); len(tmp) != 0 {
		t.Errorf("tmp/ not empty: %v", tmp)
	}
	if fi, _ := os.Stat(seen); !fi.ModTime().Equal(t0) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), t0)
	}
	// Hidden files and tmp/ are not messages.
	os.WriteFile(filepath.Join(dir, Cur, ".hidden"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, Tmp, "123.in-progress"), []byte("x"), 0o600)

	list, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("List: %d messages: %+v", len(list), list)
	}
	if list[0].Path != unseen || !list[0].New || list[0].Flags != "" || list[0].Seen() {
		t.Errorf("first (oldest) = %+v", list[0])
	}
	if list[1].Path != seen || list[1].New || list[1].Flags != "RS" || !list[1].Seen() || !list[1].Received.Equal(t0) {
		t.Errorf("second = %+v", list[1])
	}
	raw, _ := os.ReadFile(list[1].Path)
	if string(raw) != "Subject: seen\r\n\r\nx\r\n" {
		t.Errorf("content %q", raw)
	}
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct{ name, key, flags string }{
		{"1714979289.M1P2Q3.host", "1714979289.M1P2Q3.host", ""},
		{"1714979289.M1P2Q3.host:2,", "1714979289.M1P2Q3.host", ""},
		{"1714979289.M1P2Q3.host:2,SRF", "1714979289.M1P2Q3.host", "FRS"},
		{"1714979289.M1P2Q3.host:2,Sa", "1714979289.M1P2Q3.host", "S"}, // lower-case: keywords, not flags
		{"1714979289.M1P2Q3.host:1,experimental", "1714979289.M1P2Q3.host", ""},
		{"1714979289.M1P2Q3.host!2,S", "1714979289.M1P2Q3.host", "S"},
		{"1714979289.M1P2Q3.ho!st", "1714979289.M1P2Q3.ho!st", ""},
	} {
		key, flags := ParseName(tc.name)
		if key != tc.key || flags != tc.flags {
			t.Errorf("ParseName(%q) = %q, %q; want %q, %q", tc.name, key, flags, tc.key, tc.flags)
		}
	}
}

func TestNameTime(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want time.Time
	}{
		{"1714979289.M123456P1.h", time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)},
		{"1714979289.12345_1.h", time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)},
		{"msg-1.eml", time.Time{}},
		{"-5.x", time.Time{}},
	} {
		if got := nameTime(tc.key); !got.Equal(tc.want) {
			t.Errorf("nameTime(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestListWithoutNameTimeUsesModTime(t *testing.T) {
	dir := t.TempDir()
	Create(dir)
	p := filepath.Join(dir, Cur, "hand-made:2,S")
	os.WriteFile(p, []byte("x"), 0o600)
	when := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(p, when, when)
	list, err := List(dir)
	if err != nil || len(list) != 1 || !list[0].Received.Equal(when) || !list[0].Seen() {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

func TestListNotMaildir(t *testing.T) {
	if _, err := List(t.TempDir()); !errors.Is(err, ErrNotMaildir) {
		t.Fatalf("got %v, want ErrNotMaildir", err)
	}
}

func TestUniqueNamesDiffer(t *testing.T) {
	now := time.Now()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		n := UniqueName(now)
		if seen[n] || strings.ContainsAny(n, "/:") {
			t.Fatalf("name %q repeated or holds / or :", n)
		}
		seen[n] = true
	}
}

func TestCleanFlags(t *testing.T) {
	if got := CleanFlags("TSxSRa"); got != "RST" {
		t.Errorf("CleanFlags = %q, want RST", got)
	}
}
