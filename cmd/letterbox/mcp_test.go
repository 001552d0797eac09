package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/letterbox-mail/letterbox/letterboxtest"
	"github.com/letterbox-mail/letterbox/mcpserver"
)

// startMCP runs "letterbox mcp args..." on a pair of pipes and connects the SDK's client to
// it, as an agent that started the binary does. stderr collects the logs and the banner.
func startMCP(t *testing.T, args ...string) (*mcp.ClientSession, *syncBuffer, <-chan int) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	stderr := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code := runMCP(ctx, args, inR, outW, stderr, func(string) string { return "" })
		outW.Close()
		done <- code
	}()
	cl := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	s, err := cl.Connect(t.Context(), &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		cancel()
		t.Fatalf("connect: %v; stderr:\n%s", err, string(stderr.Bytes()))
	}
	t.Cleanup(func() {
		s.Close()
		cancel()
	})
	return s, stderr, done
}

func callTool(t *testing.T, s *mcp.ClientSession, name string, args map[string]any, out any) {
	t.Helper()
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil || res.IsError {
		t.Fatalf("%s: %v %+v", name, err, res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

// letterbox mcp without --url runs letterbox itself: mail sent to its SMTP port reaches the tools.
func TestMCPSubcommandRunsItsOwnCatcher(t *testing.T) {
	s, stderr, done := startMCP(t, "--db", filepath.Join(t.TempDir(), "m.db"), "--smtp", "127.0.0.1:0",
		"--http", "off", "--pop3", "off", "--imap", "off")
	smtpAddr := ""
	deadline := time.Now().Add(10 * time.Second)
	for smtpAddr == "" && time.Now().Before(deadline) {
		for _, line := range strings.Split(string(stderr.Bytes()), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "smtp" {
				smtpAddr = f[1]
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if smtpAddr == "" {
		t.Fatalf("no SMTP address on stderr:\n%s", string(stderr.Bytes()))
	}
	sendPlain(t, smtpAddr, "a@example.com", "dev@app.test", "To: dev@app.test\r\nSubject: Your code\r\n\r\nYour verification code is 271828.\r\n")
	var w mcpserver.WaitOutput
	callTool(t, s, "wait_for_message", map[string]any{"query": "to:dev@app.test", "timeout_seconds": 10}, &w)
	if len(w.Messages) != 1 {
		t.Fatalf("wait: %+v", w)
	}
	var ex mcpserver.ExtractOutput
	callTool(t, s, "extract_links_and_codes", map[string]any{"id": w.Messages[0].ID}, &ex)
	if len(ex.Codes) != 1 || ex.Codes[0].Code != "271828" {
		t.Errorf("codes: %+v", ex.Codes)
	}
	// The agent ends the session (closes stdin): letterbox shuts down and exits 0.
	s.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d; stderr:\n%s", code, string(stderr.Bytes()))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("letterbox mcp did not exit when its session ended")
	}
}

// letterbox mcp --url serves the mail of a letterbox running elsewhere, with its credentials,
// and deletes only with --mcp-allow-delete.
func TestMCPSubcommandAgainstURL(t *testing.T) {
	mail := letterboxtest.Start(t, letterboxtest.WithAuth("me", "pw"))
	url := strings.Replace(mail.URL(), "http://", "http://me:pw@", 1)
	sendPlain(t, mail.SMTPAddr(), "a@example.com", "ann@app.test", "To: ann@app.test\r\nSubject: hi Ann\r\n\r\nhello\r\n")
	for _, allow := range []bool{false, true} {
		args := []string{"--url", url}
		if allow {
			args = append(args, "--mcp-allow-delete")
		}
		s, _, _ := startMCP(t, args...)
		var out mcpserver.SearchOutput
		callTool(t, s, "search_messages", map[string]any{"query": "to:ann@app.test"}, &out)
		if out.Matched != 1 || out.Messages[0].Subject != "hi Ann" {
			t.Errorf("search: %+v", out)
		}
		hasDelete := false
		for tool, err := range s.Tools(t.Context(), nil) {
			if err != nil {
				t.Fatal(err)
			}
			hasDelete = hasDelete || tool.Name == "delete_messages"
		}
		if hasDelete != allow {
			t.Errorf("--mcp-allow-delete=%v: delete_messages offered: %v", allow, hasDelete)
		}
	}
}

func TestMCPSubcommandHelpAndErrors(t *testing.T) {
	var errOut bytes.Buffer
	if code := runMCP(t.Context(), []string{"--help"}, strings.NewReader(""), io.Discard, &errOut, func(string) string { return "" }); code != 0 || !strings.Contains(errOut.String(), "--url") || !strings.Contains(errOut.String(), "letterbox mcp") {
		t.Errorf("help: %d %s", code, errOut.String())
	}
	errOut.Reset()
	if code := runMCP(t.Context(), []string{"--url", "ftp://x"}, strings.NewReader(""), io.Discard, &errOut, func(string) string { return "" }); code == 0 {
		t.Errorf("ftp URL: %d %s", code, errOut.String())
	}
}
