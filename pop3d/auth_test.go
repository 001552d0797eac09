package pop3d_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/pop3d"
	"golang.org/x/crypto/bcrypt"
)

func TestAPOP(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	c := dial(t, srv.addr)
	run(t, c, []step{
		{"APOP bob@example.com", "-ERR usage"},
		{"APOP bob@example.com short", "-ERR usage"},
		{"APOP bob@example.com c4c9334bac560ecc979e58001b3e22fb", "+OK bob@example.com has 1 messages"},
	})
}

func TestAuthPlain(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.st, pop3d.Options{})
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	t.Run("initial response", func(t *testing.T) {
		c := dial(t, srv.addr)
		c.ok("AUTH")
		if got := c.lines(); !slices.Equal(got, []string{"PLAIN"}) {
			t.Errorf("AUTH lists %q", got)
		}
		run(t, c, []step{
			{"AUTH CRAM-MD5", "-ERR unsupported authentication mechanism"},
			{"AUTH PLAIN !!!", "-ERR invalid base64"},
			{"AUTH PLAIN " + b64("other\x00bob@example.com\x00pw"), "-ERR authentication failed"},
			{"AUTH PLAIN " + b64("\x00bob@example.com\x00pw"), "+OK bob@example.com has 1 messages"},
		})
	})
	t.Run("continuation", func(t *testing.T) {
		c := dial(t, srv.addr)
		run(t, c, []step{
			{"AUTH PLAIN", "+ "},
			{"*", "-ERR authentication cancelled"},
			{"AUTH PLAIN", "+ "},
			{"not base64!", "-ERR invalid base64"},
			{"auth plain", "+ "},
			{b64("alice@example.com\x00alice@example.com\x00pw"), "+OK alice@example.com has 2 messages"},
		})
	})
}

func TestAuthFile(t *testing.T) {
	f := newFixture(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("right pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	content := "# readers\n\nbob@example.com:" + string(hash) + "\nadmin:" + strings.Replace(string(hash), "$2a$", "$2y$", 1) + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := start(t, f.st, pop3d.Options{AuthFile: path})
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	c := dial(t, srv.addr)
	if strings.Contains(c.greeting, "<") {
		t.Errorf("greeting %q offers APOP though an auth file is set", c.greeting)
	}
	run(t, c, []step{
		{"APOP bob@example.com c4c9334bac560ecc979e58001b3e22fb", "-ERR [AUTH] APOP is not available"},
		{"USER bob@example.com", "+OK"},
		{"PASS wrong", "-ERR [AUTH] invalid username or password"},
		{"USER nobody", "+OK"},
		{"PASS right pass", "-ERR [AUTH] invalid username or password"},
		{"AUTH PLAIN " + b64("\x00bob@example.com\x00wrong"), "-ERR [AUTH] invalid username or password"},
		{"AUTH PLAIN " + b64("\x00admin\x00right pass"), "+OK admin has 3 messages"},
	})
	c = dial(t, srv.addr)
	run(t, c, []step{
		{"USER bob@example.com", "+OK"},
		{"PASS right pass", "+OK bob@example.com has 1 messages"},
	})
}

func TestMissingAuthFile(t *testing.T) {
	if _, err := pop3d.New(newStore(t), pop3d.Options{AuthFile: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("New with a missing auth file did not fail")
	}
}
