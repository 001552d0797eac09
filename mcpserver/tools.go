package mcpserver

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// toolKind says what a tool does to the mail, for the clients' annotations.
type toolKind int

const (
	reads   toolKind = iota // only reads (opening a message marks it read, as the inbox does)
	deletes                 // deletes messages
)

// addTool registers a tool with typed input and output: the SDK derives both JSON schemas from
// In and Out (field descriptions come from `jsonschema:"..."` tags), validates the input, and
// returns the output as structured content and as JSON text. An error from handle is the
// tool's error result, which the agent reads.
func addTool[In, Out any](s *Server, name, title, description string, kind toolKind, handle func(context.Context, In) (Out, error)) {
	closedWorld := false
	ann := &mcp.ToolAnnotations{Title: title, ReadOnlyHint: kind == reads, OpenWorldHint: &closedWorld}
	if kind == deletes {
		destructive := true
		ann.DestructiveHint = &destructive
		ann.IdempotentHint = true
	}
	mcp.AddTool(s.mcp, &mcp.Tool{Name: name, Title: title, Description: description, Annotations: ann},
		func(ctx context.Context, _ *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
			out, err := handle(ctx, in)
			if err != nil {
				s.log.Debug("tool failed", "tool", name, "err", err)
			}
			return nil, out, err
		})
}
