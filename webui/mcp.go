package webui

import (
	"context"
	"net/http"
)

// mcp serves Options.MCP (the MCP server's Streamable HTTP transport), or 404 without one. A
// session's event stream (GET) is long-lived: it ends when the server shuts down.
func (s *Server) mcp(w http.ResponseWriter, r *http.Request) {
	if s.opts.MCP == nil {
		http.Error(w, "webui: MCP is off (letterbox --mcp=false)", http.StatusNotFound)
		return
	}
	done, ok := s.longLived(w)
	if !ok {
		return
	}
	defer done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.opts.MCP.ServeHTTP(w, r.WithContext(ctx))
}
