package catcher

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An agent's open MCP session (its event stream is a long-lived GET) does not hold up shutdown.
func TestShutdownEndsMCPSessions(t *testing.T) {
	c, err := New(context.Background(), Config{HTTP: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "c.db"), MCP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	cl := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	s, err := cl.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: "http://" + c.Addr("http") + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ListTools(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	start := time.Now()
	if err := c.HTTP.Shutdown(ctx); err != nil {
		t.Errorf("HTTP shutdown with a session open: %v after %s", err, time.Since(start))
	}
	c.Close()
}

// Built for stdio only (no HTTP listener), the MCP server still reaches the API.
func TestMCPWithoutHTTPListener(t *testing.T) {
	c, err := New(context.Background(), Config{DB: filepath.Join(t.TempDir(), "c.db"), MCP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.MCP == nil || c.Addr("http") != "" {
		t.Fatalf("MCP %v, http %q", c.MCP, c.Addr("http"))
	}
	ct, st := mcp.NewInMemoryTransports()
	go c.MCP.Run(t.Context(), st)
	s, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "search_messages", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("search_messages: %v %+v", err, res)
	}
}
