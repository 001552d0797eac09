// Package pgtest gives a test a PostgreSQL database of its own, on the server named by
// LETTERBOX_TEST_POSTGRES (a postgres:// URL of a role that may create databases; .ci/postgres
// starts a throwaway server and prints one). Without it the test is skipped with one line saying
// how to run it, except under CI=true, where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
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

// Database creates an empty database for t, dropped when t ends, and returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	server := Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvVar, err)
	}
	defer admin.Close(context.Background())
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
