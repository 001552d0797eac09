package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/store"
)

// TestBenchInProcess: letterbox bench with its own catcher sends every message and reports
// throughput, latency, CPU and the group commits that stored them.
func TestBenchInProcess(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"bench", "--messages", "40", "--clients", "4", "--size", "1024"}, &out, &errs, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errs.String())
	}
	text := out.String()
	for _, want := range []string{"catcher: letterbox in this process", "sending 40 messages", "sent 40 in ", "latency per message", "process CPU"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	m := regexp.MustCompile(`group commit: (\d+) transactions, ([\d.]+) messages each`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no group commit line:\n%s", text)
	}
	commits, _ := strconv.Atoi(m[1])
	each, _ := strconv.ParseFloat(m[2], 64)
	// each is rounded to a tenth: commits*each is 40 within commits*0.05.
	if commits < 1 || commits > 40 || math.Abs(float64(commits)*each-40) > float64(commits)*0.05+1e-9 {
		t.Errorf("%d transactions of %.1f messages do not store 40", commits, each)
	}
}

// TestBenchTarget: with --target, letterbox bench measures a catcher that is already running.
func TestBenchTarget(t *testing.T) {
	db := filepath.Join(t.TempDir(), "letterbox.db")
	addrs, cancel, done := startBinary(t, "--db", db, "--smtp", "127.0.0.1:0", "--http", "off", "--pop3", "off", "--imap", "off")
	defer cancel()
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"bench", "--target", addrs["smtp"], "--messages", "30", "--clients", "3"}, &out, &errs, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errs.String())
	}
	if text := out.String(); !strings.Contains(text, "catcher: "+addrs["smtp"]) || !strings.Contains(text, "sent 30 in ") {
		t.Errorf("output:\n%s", text)
	}
	cancel()
	<-done
	st, err := store.Open(context.Background(), store.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if stats, err := st.Stats(context.Background()); err != nil || stats.Total != 30 {
		t.Errorf("the catcher stored %d messages (%v), want 30", stats.Total, err)
	}
}

func TestBenchBadFlags(t *testing.T) {
	var errs bytes.Buffer
	if code := run(context.Background(), []string{"bench", "--clients", "0"}, io.Discard, &errs, func(string) string { return "" }); code == 0 || !strings.Contains(errs.String(), "--clients") {
		t.Errorf("exit %d, stderr %q", code, errs.String())
	}
}
