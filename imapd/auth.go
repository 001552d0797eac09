package imapd

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// htpasswd holds the users of an Apache htpasswd file. Only bcrypt entries ($2y$, $2a$, $2b$,
// written by htpasswd -B) are accepted: the other formats of htpasswd (MD5-crypt, SHA-1, crypt)
// are weak, and refusing them when the file is read is clearer than failing every login.
type htpasswd struct {
	users map[string][]byte // username to bcrypt hash
	dummy []byte            // compared against for unknown users, so that they take as long
}

// loadHtpasswd reads an htpasswd file: one "user:hash" per line; blank lines and lines starting
// with # are skipped.
func loadHtpasswd(path string) (*htpasswd, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("imapd: auth file: %w", err)
	}
	h := &htpasswd{users: map[string][]byte{}}
	if h.dummy, err = bcrypt.GenerateFromPassword([]byte("letterbox"), bcrypt.DefaultCost); err != nil {
		return nil, fmt.Errorf("imapd: auth file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("imapd: auth file %s line %d: want user:hash", path, n)
		}
		if !strings.HasPrefix(hash, "$2y$") && !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") {
			return nil, fmt.Errorf("imapd: auth file %s line %d: user %q: only bcrypt hashes are supported (htpasswd -B)", path, n, user)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("imapd: auth file %s line %d: user %q: %w", path, n, user, err)
		}
		h.users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("imapd: auth file: %w", err)
	}
	return h, nil
}

// check reports whether password is user's.
func (h *htpasswd) check(user, password string) bool {
	hash, ok := h.users[user]
	if !ok {
		bcrypt.CompareHashAndPassword(h.dummy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}
