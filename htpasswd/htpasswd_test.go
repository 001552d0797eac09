package htpasswd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/htpasswd"
	"golang.org/x/crypto/bcrypt"
)

func TestParse(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, tc := range []struct {
		in      string
		wantErr string
		users   int
	}{
		{"", "", 0},
		{"# comment\n\n u:" + string(hash) + " \n", "", 1},
		{"u:" + string(hash) + "\nv:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "line 2 (user \"v\"): not a bcrypt hash", 0},
		{"u:$apr1$abc$def\n", "line 1", 0},
		{"justaname\n", "line 1: want user:bcrypt-hash", 0},
		{":" + string(hash), "line 1", 0},
	} {
		p, err := htpasswd.Parse(strings.NewReader(tc.in))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.wantErr)
		case err == nil && p.Len() != tc.users:
			t.Errorf("%q: %d users, want %d", tc.in, p.Len(), tc.users)
		}
	}
}

func TestReadAndCheck(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	// htpasswd -B writes $2y$ hashes.
	y := "$2y$" + string(hash)[4:]
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte("alice:"+y+"\nbob:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := htpasswd.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, pw string
		want     bool
	}{{"alice", "s3cret", true}, {"bob", "s3cret", true}, {"alice", "wrong", false}, {"carol", "s3cret", false}, {"", "", false}} {
		if got := p.Check(c.user, c.pw); got != c.want {
			t.Errorf("Check(%q, %q) = %v", c.user, c.pw, got)
		}
	}
	if _, err := htpasswd.Read(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file must be an error")
	}
}
