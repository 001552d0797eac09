package catcher

import (
	"net/http"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/internal/inproc"
	"github.com/letterbox-mail/letterbox/mcpserver"
)

// buildMCP makes the MCP server when Config.MCP asks for it and returns its HTTP handler (nil
// otherwise). Its tools use the API through the client package, served in this process by the
// web server's routes (the /mcp request passed the web server's checks already).
func (c *Catcher) buildMCP() http.Handler {
	if !c.cfg.MCP {
		return nil
	}
	api := inproc.Transport(func() http.Handler {
		if c.HTTP == nil {
			return nil
		}
		return c.HTTP.InProcess()
	})
	mb, err := client.New("http://127.0.0.1", client.WithHTTPClient(&http.Client{Transport: api}))
	if err != nil {
		panic(err) // a constant URL
	}
	c.MCP = mcpserver.New(mb, mcpserver.Options{AllowDelete: c.cfg.MCPAllowDelete, Version: c.cfg.Version, Logger: c.log})
	return c.MCP.Handler()
}
