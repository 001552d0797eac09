// Package htpasswd reads Apache htpasswd files of bcrypt hashes (as `htpasswd -B` writes them)
// and checks passwords against them. The web inbox, POP3 and IMAP logins use it.
package htpasswd

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Passwords are users and their bcrypt password hashes, as an htpasswd file holds them.
// Its methods are safe for concurrent use.
type Passwords struct {
	hashes map[string][]byte

	dummyOnce sync.Once
	dummy     []byte // hash checked for unknown users, so that they take as long as known ones
	cost      int
}

// Read reads an htpasswd file; see Parse.
func Read(path string) (*Passwords, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return p, nil
}

// Parse reads htpasswd lines "user:hash" (as `htpasswd -B` writes them). Only bcrypt
// hashes ($2a$, $2b$, $2y$) are accepted; a line with any other hash, or without a colon, is an
// error that names the line. Blank lines and lines starting with "#" are ignored. When a user
// appears twice the last line wins.
func Parse(r io.Reader) (*Passwords, error) {
	p := &Passwords{hashes: map[string][]byte{}, cost: bcrypt.DefaultCost}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("htpasswd line %d: want user:bcrypt-hash", n)
		}
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil || !strings.HasPrefix(hash, "$2") {
			return nil, fmt.Errorf("htpasswd line %d (user %q): not a bcrypt hash; create it with htpasswd -B", n, user)
		}
		p.hashes[user] = []byte(hash)
		p.cost = cost
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	return p, nil
}

// Check reports whether password is the password of user. An unknown user costs as much time
// as a known one, so that timing does not reveal which users exist.
func (p *Passwords) Check(user, password string) bool {
	hash, ok := p.hashes[user]
	if !ok {
		p.dummyOnce.Do(func() {
			p.dummy, _ = bcrypt.GenerateFromPassword([]byte(rand.Text()), p.cost)
		})
		bcrypt.CompareHashAndPassword(p.dummy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// Len returns the number of users.
func (p *Passwords) Len() int { return len(p.hashes) }
