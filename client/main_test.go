package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/catcher"
	"github.com/letterbox-mail/letterbox/internal/smtptest"
)

// exampleURL and exampleSMTP are the addresses of the letterbox the examples use.
var exampleURL, exampleSMTP string

// TestMain runs a letterbox (SMTP and HTTP on loopback ports, a temporary database) for the
// examples, which have no *testing.T to start one with.
func TestMain(m *testing.M) {
	os.Exit(runWithCatcher(m))
}

func runWithCatcher(m *testing.M) int {
	dir, err := os.MkdirTemp("", "letterbox-client-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	c, err := catcher.New(context.Background(), catcher.Config{SMTP: "127.0.0.1:0", HTTP: "127.0.0.1:0", DB: filepath.Join(dir, "examples.db")})
	if err == nil {
		err = c.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	exampleURL, exampleSMTP = "http://"+c.Addr("http"), c.Addr("smtp")
	return m.Run()
}

// sendMail sends one message to the examples' letterbox, as an application would.
func sendMail(to, subject, body string) {
	msg := "From: app@app.test\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n\r\n" + body + "\r\n"
	if err := smtptest.Send(exampleSMTP, "app@app.test", []string{to}, msg); err != nil {
		panic(err)
	}
}
