// Package mcpserver is letterbox's Model Context Protocol server: it lets a coding agent (Claude
// Code, Cursor, Copilot, any MCP client) read the mail its application sent, to test a sign-up
// or password-reset flow end to end. Its tools search the mail with the inbox's search language,
// read a message (headers, text, the HTML as text, attachments, links), wait for a message to
// arrive, pull out the links and one-time codes of a message, and, only when the operator
// allows it, delete messages.
//
// The tools work through a Mailbox, which *client.Client satisfies: the same server runs over
// stdio against a letterbox somewhere else (letterbox mcp --url), and inside letterbox itself at
// /mcp (Streamable HTTP), where the client calls the API in-process.
//
// Adding a tool is one file: a function that calls addTool with the tool's name, its
// description, typed input and output, and its handler, and a line in registerTools.
package mcpserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/letterbox-mail/letterbox/client"
)

// Mailbox is what the tools read and change; *client.Client satisfies it.
type Mailbox interface {
	Search(ctx context.Context, query string, start, limit int) (*client.List, error)
	Get(ctx context.Context, id string) (*client.Message, error)
	WaitFor(ctx context.Context, query string, opts client.WaitOptions) (*client.List, error)
	Delete(ctx context.Context, ids ...string) error
	DeleteSearch(ctx context.Context, query string) error
	DeleteAll(ctx context.Context) error
}

var _ Mailbox = (*client.Client)(nil)

// Options configure a Server. The zero value is read-only.
type Options struct {
	// AllowDelete offers the delete_messages tool (letterbox --mcp-allow-delete). Without it
	// the server only reads (opening a message marks it read, as in the inbox).
	AllowDelete bool
	// Version is announced to clients. Default "dev".
	Version string
	// Logger receives the MCP session's logs. nil discards.
	Logger *slog.Logger
}

// Server is the MCP server. Its methods are safe for concurrent use.
type Server struct {
	mcp  *mcp.Server
	mb   Mailbox
	opts Options
	log  *slog.Logger
}

// instructions tell the agent how the tools fit together.
const instructions = `letterbox is a mail catcher: the application under test sends its mail to letterbox's SMTP port, and these tools read that mail.
To test an email flow: note the time (or call search_messages to see what is there), trigger the email in the application, then call wait_for_message with a query such as 'to:alice@example.com subject:verify' and that time as since; then get_message or extract_links_and_codes on the ID it returns.
Queries use the inbox's search language: words match anywhere; to: from: cc: subject: body: tag: is:unread has:attachment after:2024-05-01 larger:10k; "quoted phrases"; a leading - negates.`

// New returns a server whose tools use mb.
func New(mb Mailbox, opts Options) *Server {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{mb: mb, opts: opts, log: opts.Logger.With("component", "mcp")}
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: "letterbox", Title: "letterbox mail catcher", Version: opts.Version},
		&mcp.ServerOptions{Instructions: instructions, Logger: sdkLogger(s.log)})
	s.registerTools()
	return s
}

// registerTools adds every tool; a new tool adds its line here.
func (s *Server) registerTools() {
	s.addSearchTool()
	s.addGetTool()
	s.addWaitTool()
	s.addExtractTool()
	if s.opts.AllowDelete {
		s.addDeleteTool()
	}
	s.addDeliverabilityTool()
}

// Handler serves the Streamable HTTP transport (for /mcp). It makes no Host, Origin or
// authentication checks of its own: mount it behind the web server's (webui.Options.MCP).
func (s *Server) Handler() http.Handler {
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.mcp }, &mcp.StreamableHTTPOptions{
		Logger: sdkLogger(s.log),
		// webui has checked Host (DNS rebinding, with the operator's --http-allowed-hosts) and
		// Origin already; the SDK's own loopback-only Host check would refuse allowed names.
		DisableLocalhostProtection: true,
	})
}

// Run serves one session over t until the client ends it or ctx is done.
func (s *Server) Run(ctx context.Context, t mcp.Transport) error {
	return s.mcp.Run(ctx, t)
}

// ServeStdio serves one session over in and out (newline-delimited JSON-RPC, MCP's stdio
// transport) until in ends or ctx is done.
func (s *Server) ServeStdio(ctx context.Context, in io.ReadCloser, out io.WriteCloser) error {
	return s.Run(ctx, &mcp.IOTransport{Reader: in, Writer: out})
}

// sdkLogger passes on the SDK's warnings and errors: its info records (a session started,
// connected, ended...) would fill letterbox's log at the default level.
func sdkLogger(l *slog.Logger) *slog.Logger { return slog.New(warnAndAbove{l.Handler()}) }

type warnAndAbove struct{ slog.Handler }

func (h warnAndAbove) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn && h.Handler.Enabled(ctx, level)
}

func (h warnAndAbove) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnAndAbove{h.Handler.WithAttrs(attrs)}
}

func (h warnAndAbove) WithGroup(name string) slog.Handler {
	return warnAndAbove{h.Handler.WithGroup(name)}
}
