// Package pgtest gives a test a PostgreSQL database of its own, on the server named by
// LETTERBOX_TEST_POSTGRES (a postgres:// URL of a role that may create databases; .ci/postgres
// starts a throwaway server and prints one). Without it the test is skipped with one line saying
// how to run it, except under CI=true, where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the environment variable holding the server's URL.
const EnvVar = "LETTERBOX_TEST_POSTGRES"

// how is what a skipped test says.
const how = "PostgreSQL tests skipped: run them with " + EnvVar + "=$(.ci/postgres start /tmp/letterbox-pg) go test ./..."

// Server returns the URL in LETTERBOX_TEST_POSTGRES, skipping (or under CI=true failing) t without it.
func Server(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvVar)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set, and CI=true needs the PostgreSQL tests (.ci/run starts a server)", EnvVar)
		}
		t.Skip(how)
	}
	return u
}

// connect connects to the test server (skipping or failing t without one) for 30 s at most.
func connect(t testing.TB) (server string, admin *pgx.Conn, ctx context.Context, done func()) {
	t.Helper()
	server = Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		cancel()
		t.Fatalf("pgtest: connect to %s: %v", EnvVar, err)
	}
	return server, admin, ctx, func() { admin.Close(context.Background()); cancel() }
}

// Database creates an empty database for t, dropped when t ends, and returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	server, admin, ctx, done := connect(t)
	defer done()
	var b [6]byte
	rand.Read(b[:])
	name := "letterbox_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	pu, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvVar, err)
	}
	pu.Path = "/" + name
	return pu.String()
}

// Proxy forwards TCP connections to the PostgreSQL server of a URL, so that a test can cut the
// database off (Cut: every connection is closed and new ones are refused) and bring it back
// (Restore), as a network failure or a server restart would.
type Proxy struct {
	t      testing.TB
	target string
	addr   string
	mu     sync.Mutex
	l      net.Listener
	conns  map[net.Conn]struct{}
}

// NewProxy starts a proxy to the server of dbURL and returns it and the URL to connect through it.
func NewProxy(t testing.TB, dbURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, target: u.Host, conns: map[net.Conn]struct{}{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.Cut)
	u.Host = p.addr
	return p, u.String()
}

func (p *Proxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.l != l {
				p.mu.Unlock()
				c.Close()
				up.Close()
				return
			}
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// Cut closes every connection through the proxy and stops accepting new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again, on the same address.
func (p *Proxy) Restore() {
	p.t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port was just closed; another listener may hold it for a moment
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("pgtest: restore the proxy on %s: %v", p.addr, err)
	}
	p.serve(l)
}

// Kept returns the URL of the database name on the test server, creating it when missing, and
// whether it existed: benchmarks seed one once and keep it between runs (DROP DATABASE to reseed).
func Kept(t testing.TB, name string) (string, bool) {
	t.Helper()
	server, admin, ctx, done := connect(t)
	defer done()
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Fatalf("pgtest: create database: %v", err)
		}
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String(), exists
}
