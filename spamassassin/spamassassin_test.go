package spamassassin

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/spamdtest"
)

const ham = "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: Lunch on Friday\r\n" +
	"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <lunch-1@example.com>\r\n\r\n" +
	"Hi Bob,\r\n\r\nare we still on for lunch on Friday at noon? The usual place.\r\n\r\nAlice\r\n"

// spam has no Date or Message-ID and shouts the classic spam phrases.
const spam = "From: WINNER <winner@lottery.example>\r\nTo: you@example.net\r\n" +
	"Subject: =?utf-8?B?RlJFRSBNT05FWSEhISBDTEFJTSBOT1chISE=?=\r\n" +
	"Content-Type: text/html\r\n\r\n" +
	"<html><body><p><b>CONGRATULATIONS!!!</b> You have WON $1,000,000 US DOLLARS in our international lottery!!! " +
	"100% FREE, no cost, risk free. Click here to claim your prize now: <a href=\"http://192.0.2.7/claim\">CLAIM NOW</a>. " +
	"Send your bank account details and a processing fee via western union. Act now, limited time offer!!! " +
	"Viagra cialis cheap meds online, lose weight fast, make money fast from home.</p></body></html>\r\n"

func TestCheckRealSpamd(t *testing.T) {
	addr := spamdtest.Start(t)
	c, err := New(Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	good, err := c.Check(ctx, []byte(ham))
	if err != nil {
		t.Fatalf("Check ham: %v", err)
	}
	bad, err := c.Check(ctx, []byte(spam))
	if err != nil {
		t.Fatalf("Check spam: %v", err)
	}
	t.Logf("ham %.1f %v, spam %.1f %v", good.Score, good.Rules, bad.Score, bad.Rules)
	if good.IsSpam || !bad.IsSpam || bad.Score <= good.Score+3 {
		t.Errorf("ham %.1f (spam %v), spam %.1f (spam %v)", good.Score, good.IsSpam, bad.Score, bad.IsSpam)
	}
	var sum float64
	names := map[string]Rule{}
	for _, r := range bad.Rules {
		sum += r.Score
		names[r.Name] = r
		if r.Name == "" || r.Description == "" {
			t.Errorf("rule without name or description: %+v", r)
		}
	}
	if r, ok := names["MISSING_DATE"]; !ok || !strings.Contains(strings.ToLower(r.Description), "date") {
		t.Errorf("MISSING_DATE not among the rules: %+v", bad.Rules)
	}
	if d := sum - bad.Score; d > 0.1*float64(len(bad.Rules))+0.1 || d < -0.1*float64(len(bad.Rules))-0.1 {
		t.Errorf("rules add up to %.1f, score %.1f", sum, bad.Score)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, _ := New(Options{Addr: addr})
	if _, err := c.Check(context.Background(), []byte(ham)); err == nil {
		t.Fatal("no error from a closed port")
	}
	if _, err := New(Options{Addr: "no-port"}); err == nil {
		t.Error("address without port accepted")
	}
	if _, err := c.Check(context.Background(), make([]byte, MaxSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func TestParseReport(t *testing.T) {
	body := "Spam detection software has identified this incoming email as possible spam.\n\n" +
		"Content analysis details:   (6.1 points, 5.0 required)\n\n" +
		" pts rule name              description\n" +
		"---- ---------------------- --------------------------------------------------\n" +
		" 1.4 MISSING_DATE           Missing Date: header\n" +
		"-0.0 NO_RELAYS              Informational: message was not relayed via\n" +
		"                            SMTP\n" +
		" 2.5 HTML_IMAGE_ONLY_04     HTML: images with 0-400 bytes of words\n"
	rules := parseReport([]byte(body))
	want := []Rule{{1.4, "MISSING_DATE", "Missing Date: header"}, {0, "NO_RELAYS", "Informational: message was not relayed via SMTP"}, {2.5, "HTML_IMAGE_ONLY_04", "HTML: images with 0-400 bytes of words"}}
	if len(rules) != len(want) {
		t.Fatalf("rules %+v", rules)
	}
	for i := range want {
		if rules[i] != want[i] {
			t.Errorf("rule %d: %+v, want %+v", i, rules[i], want[i])
		}
	}
}
