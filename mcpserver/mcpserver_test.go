package mcpserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/internal/smtptest"
	"github.com/letterbox-mail/letterbox/letterboxtest"
	"github.com/letterbox-mail/letterbox/mcpserver"
)

// app is the application under test: sign-up mails a confirmation link to its own /confirm.
type app struct {
	srv       *httptest.Server
	smtpAddr  string
	mu        sync.Mutex
	confirmed map[string]bool // tokens confirmed
}

func newApp(t *testing.T, smtpAddr string) *app {
	a := &app{smtpAddr: smtpAddr, confirmed: map[string]bool{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/confirm" {
			http.NotFound(w, r)
			return
		}
		a.mu.Lock()
		a.confirmed[r.URL.Query().Get("token")] = true
		a.mu.Unlock()
		io.WriteString(w, "Your account is confirmed.")
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// signUp mails the confirmation (HTML and text) with a fresh token.
func (a *app) signUp(email, token string) error {
	link := a.srv.URL + "/confirm?token=" + token
	msg := "From: Acme <no-reply@acme.test>\r\nTo: " + email + "\r\nSubject: Confirm your Acme account\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWelcome! Confirm your account: " + link + "\r\nYour code: 640912\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Welcome!</p><p><a href=\"" + link + "\">Confirm your account</a></p>" +
		"<p>Or enter the code <b>640912</b>.</p><p><a href=\"https://acme.test/privacy\">Privacy</a></p>\r\n--b--\r\n"
	return smtptest.Send(a.smtpAddr, "no-reply@acme.test", []string{email}, msg)
}

// call calls a tool and decodes its structured output into out; it fails the test on a tool error.
func call(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any, out any) {
	t.Helper()
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	if res.IsError {
		t.Fatalf("%s: tool error %s", tool, text(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %s: %v", tool, b, err)
	}
}

// callError calls a tool that must fail and returns its error text.
func callError(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) string {
	t.Helper()
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return err.Error()
	}
	if !res.IsError {
		t.Fatalf("%s %v succeeded: %s", tool, args, text(res))
	}
	return text(res)
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, " ")
}

// connectHTTP opens an MCP session with letterbox's /mcp, as an agent configured with its URL does.
func connectHTTP(t *testing.T, url string, hc *http.Client) (*mcp.ClientSession, error) {
	t.Helper()
	cl := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	s, err := cl.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: url + "/mcp", HTTPClient: hc}, nil)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// agentSignUp is what a coding agent does to test a sign-up flow: look, trigger it, wait for
// the mail, take its confirmation link and code, and follow the link.
func agentSignUp(t *testing.T, s *mcp.ClientSession, a *app) {
	t.Helper()
	var before mcpserver.SearchOutput
	call(t, s, "search_messages", map[string]any{"query": "to:dev@app.test"}, &before)
	since := time.Now().UTC().Format(time.RFC3339Nano)

	if err := a.signUp("dev@app.test", "T0K3N-42"); err != nil {
		t.Fatal(err)
	}
	var waited mcpserver.WaitOutput
	call(t, s, "wait_for_message", map[string]any{"query": "to:dev@app.test subject:confirm", "since": since, "timeout_seconds": 10}, &waited)
	if waited.TimedOut || len(waited.Messages) != 1 || waited.Messages[0].Subject != "Confirm your Acme account" {
		t.Fatalf("wait_for_message: %+v", waited)
	}
	id := waited.Messages[0].ID

	var ex mcpserver.ExtractOutput
	call(t, s, "extract_links_and_codes", map[string]any{"id": id}, &ex)
	var confirm string
	for _, l := range ex.Links {
		if strings.Contains(strings.ToLower(l.Text), "confirm") {
			confirm = l.URL
		}
	}
	if confirm == "" || len(ex.Codes) != 1 || ex.Codes[0].Code != "640912" {
		t.Fatalf("extract_links_and_codes: %+v", ex)
	}
	res, err := http.Get(confirm)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	a.mu.Lock()
	ok := a.confirmed["T0K3N-42"]
	a.mu.Unlock()
	if res.StatusCode != 200 || !ok || !strings.Contains(string(body), "confirmed") {
		t.Fatalf("following %s: %d %q", confirm, res.StatusCode, body)
	}

	var m mcpserver.GetOutput
	call(t, s, "get_message", map[string]any{"id": id}, &m)
	if m.From != "Acme <no-reply@acme.test>" || !slices.Equal(m.To, []string{"dev@app.test"}) || !strings.Contains(m.HTMLText, "Confirm your account") ||
		!strings.Contains(m.Text, "T0K3N-42") || m.HTML != "" || len(m.Links) != 2 || m.MailFrom != "no-reply@acme.test" || len(m.Headers) < 5 {
		t.Errorf("get_message: %+v", m)
	}
}

func TestAgentSignUpOverStreamableHTTP(t *testing.T) {
	mail := letterboxtest.Start(t)
	s, err := connectHTTP(t, mail.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.InitializeResult().Instructions == "" || s.InitializeResult().ServerInfo.Name != "letterbox" {
		t.Errorf("initialize: %+v", s.InitializeResult())
	}
	var names []string
	for tool, err := range s.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
		if tool.Description == "" || tool.Annotations == nil || !tool.Annotations.ReadOnlyHint || tool.OutputSchema == nil {
			t.Errorf("tool %s: %+v", tool.Name, tool)
		}
	}
	slices.Sort(names)
	if want := []string{"deliverability_report", "extract_links_and_codes", "get_message", "search_messages", "wait_for_message"}; !slices.Equal(names, want) {
		t.Errorf("tools %v, want %v (no delete without --mcp-allow-delete)", names, want)
	}
	agentSignUp(t, s, newApp(t, mail.SMTPAddr()))
}

// Over stdio, as "letterbox mcp --url" serves it (the same server, the SDK's IO transport).
func TestAgentSignUpOverStdio(t *testing.T) {
	mail := letterboxtest.Start(t)
	srv := mcpserver.New(mail.Client(), mcpserver.Options{})
	s := connectStdio(t, srv)
	agentSignUp(t, s, newApp(t, mail.SMTPAddr()))
}

// connectStdio runs srv over a pair of pipes and connects the SDK's client to them.
func connectStdio(t *testing.T, srv *mcpserver.Server) *mcp.ClientSession {
	t.Helper()
	inR, inW := io.Pipe()   // client -> server
	outR, outW := io.Pipe() // server -> client
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeStdio(ctx, inR, outW) }()
	cl := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	s, err := cl.Connect(t.Context(), &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		cancel()
		<-done
	})
	return s
}

func TestToolErrorsAndTimeouts(t *testing.T) {
	mail := letterboxtest.Start(t)
	s := connectStdio(t, mcpserver.New(mail.Client(), mcpserver.Options{}))
	if msg := callError(t, s, "search_messages", map[string]any{"query": "is:bogus"}); !strings.Contains(msg, "does not parse") || !strings.Contains(msg, "is:bogus") {
		t.Errorf("bad query: %s", msg)
	}
	if msg := callError(t, s, "get_message", map[string]any{"id": "nope"}); !strings.Contains(msg, "no such message") {
		t.Errorf("missing message: %s", msg)
	}
	if msg := callError(t, s, "get_message", map[string]any{}); msg == "" {
		t.Error("no id: no error")
	}
	if msg := callError(t, s, "search_messages", map[string]any{"limit": 5000}); !strings.Contains(msg, "200") {
		t.Errorf("limit: %s", msg)
	}
	if msg := callError(t, s, "wait_for_message", map[string]any{"since": "not-an-id", "timeout_seconds": 1}); !strings.Contains(msg, "neither an RFC 3339 time") {
		t.Errorf("bad since: %s", msg)
	}
	if msg := callError(t, s, "delete_messages", map[string]any{"all": true}); !strings.Contains(msg, "delete_messages") {
		t.Errorf("delete without permission: %s", msg)
	}
	var w mcpserver.WaitOutput
	call(t, s, "wait_for_message", map[string]any{"query": "subject:never", "timeout_seconds": 0.3}, &w)
	if !w.TimedOut || w.Matched != 0 || w.Messages == nil {
		t.Errorf("timeout: %+v", w)
	}
	// Matches before since are not counted, and are not reported after a timeout either.
	a := newApp(t, mail.SMTPAddr())
	if err := a.signUp("old@app.test", "x"); err != nil {
		t.Fatal(err)
	}
	var first mcpserver.WaitOutput
	call(t, s, "wait_for_message", map[string]any{"query": "to:old@app.test", "timeout_seconds": 5}, &first)
	call(t, s, "wait_for_message", map[string]any{"query": "to:old@app.test", "since": first.Messages[0].ID, "timeout_seconds": 0.3}, &w)
	if !w.TimedOut || w.Matched != 0 {
		t.Errorf("since an ID: %+v", w)
	}
	var none mcpserver.ExtractOutput
	if err := sendPlain(mail.SMTPAddr(), "Subject: hello\r\n\r\nNo links, no codes: 2024 was a good year.\r\n"); err != nil {
		t.Fatal(err)
	}
	call(t, s, "extract_links_and_codes", map[string]any{"id": "latest"}, &none)
	if none.Links == nil || none.Codes == nil || len(none.Links)+len(none.Codes) != 0 {
		t.Errorf("a message with neither: %+v", none)
	}
}

func sendPlain(addr, msg string) error {
	return smtptest.Send(addr, "a@example.com", []string{"b@example.com"}, msg)
}

func TestDeleteWhenAllowed(t *testing.T) {
	mail := letterboxtest.Start(t, letterboxtest.WithMCPAllowDelete())
	s, err := connectHTTP(t, mail.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"Subject: one\r\n\r\n1\r\n", "Subject: two\r\n\r\n2\r\n", "Subject: three\r\n\r\n3\r\n"} {
		if err := sendPlain(mail.SMTPAddr(), body); err != nil {
			t.Fatal(err)
		}
	}
	var tool *mcp.Tool
	for tl, err := range s.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if tl.Name == "delete_messages" {
			tool = tl
		}
	}
	if tool == nil || tool.Annotations.ReadOnlyHint || tool.Annotations.DestructiveHint == nil || !*tool.Annotations.DestructiveHint {
		t.Fatalf("delete_messages: %+v", tool)
	}
	if msg := callError(t, s, "delete_messages", map[string]any{"query": "one", "all": true}); !strings.Contains(msg, "exactly one") {
		t.Errorf("two selectors: %s", msg)
	}
	var d mcpserver.DeleteOutput
	call(t, s, "delete_messages", map[string]any{"query": "subject:one"}, &d)
	if d.Deleted != 1 {
		t.Errorf("by query: %+v", d)
	}
	l, _ := mail.Client().Search(t.Context(), "subject:two", 0, 1)
	call(t, s, "delete_messages", map[string]any{"ids": []string{l.Messages[0].ID, "no-such-id"}}, &d)
	if d.Deleted != 1 {
		t.Errorf("by IDs, one of them unknown: %+v", d)
	}
	call(t, s, "delete_messages", map[string]any{"all": true}, &d)
	if d.Deleted != 1 {
		t.Errorf("all: %+v", d)
	}
	if l, _ := mail.Client().List(t.Context(), 0, 0); l.Total != 0 {
		t.Errorf("%d messages left", l.Total)
	}
}

// /mcp has the API's protections: authentication, the Host check, cross-origin refusal.
func TestMCPOverHTTPIsProtected(t *testing.T) {
	mail := letterboxtest.Start(t, letterboxtest.WithAuth("agent", "pw"))
	if _, err := connectHTTP(t, mail.URL(), nil); err == nil {
		t.Error("connected without credentials")
	}
	s, err := connectHTTP(t, mail.URL(), &http.Client{Transport: basicAuth{"agent", "pw"}})
	if err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	var out mcpserver.SearchOutput
	call(t, s, "search_messages", nil, &out)

	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	for _, c := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"rebinding", map[string]string{"Host": "evil.example"}, 403},
		{"cross-origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"allowed", nil, 200},
	} {
		req, _ := http.NewRequest("POST", mail.URL()+"/mcp", strings.NewReader(initialize))
		req.SetBasicAuth("agent", "pw")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range c.header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, c.want)
		}
	}
}

type basicAuth struct{ user, pass string }

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return http.DefaultTransport.RoundTrip(r)
}

var _ mcpserver.Mailbox = (*client.Client)(nil)
