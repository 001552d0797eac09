package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// config is everything the binary can be told, from flags or LETTERBOX_* environment variables.
type config struct {
	SMTP, SMTPS, HTTP, POP3, POP3S, IMAP, IMAPS string
	DB                                          string
	Hostname                                    string
	MaxMessageSize                              int64
	SMTPMaxConnections                          int
	TLSCert, TLSKey                             string
	MaxMessages                                 int
	MaxAge                                      time.Duration
	HTTPAllowedHosts, CORS                      string
	HTTPAuthFile, ReadAuthFile                  string
	LogLevel                                    string
	LogFormat                                   string
	MemoryLimit                                 byteSize
	Metrics                                     bool
	MCP, MCPAllowDelete                         bool
	WebhookURLs                                 stringList
	WebhookSecret                               string
	Relay                                       relayFlags
	Checks                                      checkFlags
	Faults                                      faultFlags
}

// errHelp means --help was asked for and shown.
var errHelp = flag.ErrHelp

// off is the address value that disables a listener.
const off = "off"

// envName is the environment variable that sets a flag: --max-age is LETTERBOX_MAX_AGE.
func envName(flagName string) string {
	return "LETTERBOX_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// defaultDBPath is $XDG_DATA_HOME/letterbox/letterbox.db, or the platform's equivalent.
func defaultDBPath() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "letterbox", "letterbox.db")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "letterbox", "letterbox.db")
	}
	return "letterbox.db"
}

// newFlagSet declares every flag on cfg with its default and help text.
func newFlagSet(cfg *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("letterbox", flag.ContinueOnError)
	fs.SetOutput(out)
	str := func(p *string, name, def, help string) { fs.StringVar(p, name, def, help+" ["+envName(name)+"]") }
	str(&cfg.SMTP, "smtp", "127.0.0.1:1025", "SMTP listen address, or off")
	str(&cfg.SMTPS, "smtps", off, "SMTP over implicit TLS listen address, or off")
	str(&cfg.HTTP, "http", "127.0.0.1:8025", "web inbox and API listen address, or off")
	str(&cfg.POP3, "pop3", "127.0.0.1:1110", "POP3 listen address, or off")
	str(&cfg.POP3S, "pop3s", off, "POP3 over implicit TLS listen address, or off")
	str(&cfg.IMAP, "imap", "127.0.0.1:1143", "IMAP listen address, or off")
	str(&cfg.IMAPS, "imaps", off, "IMAP over implicit TLS listen address, or off")
	str(&cfg.DB, "db", defaultDBPath(), "SQLite database file (created on first run), or a postgres://user:pass@host:5432/db URL")
	str(&cfg.Hostname, "hostname", "", "name in the SMTP greeting and Received: headers (default: the machine's host name)")
	fs.Int64Var(&cfg.MaxMessageSize, "max-message-size", 50<<20, "largest message accepted, in bytes ["+envName("max-message-size")+"]")
	fs.IntVar(&cfg.SMTPMaxConnections, "smtp-max-connections", 1000, "most SMTP connections at once ["+envName("smtp-max-connections")+"]")
	str(&cfg.TLSCert, "smtp-tls-cert", "", "PEM certificate for STARTTLS and implicit TLS (default: self-signed, made at start-up)")
	str(&cfg.TLSKey, "smtp-tls-key", "", "PEM private key for --smtp-tls-cert")
	fs.IntVar(&cfg.MaxMessages, "max-messages", 0, "keep at most this many messages, deleting the oldest; 0 keeps all ["+envName("max-messages")+"]")
	fs.DurationVar(&cfg.MaxAge, "max-age", 0, "delete messages older than this, e.g. 72h; 0 keeps all ["+envName("max-age")+"]")
	str(&cfg.HTTPAllowedHosts, "http-allowed-hosts", "", "comma-separated extra host names the web server answers to (DNS-rebinding protection)")
	str(&cfg.CORS, "cors", "", "comma-separated origins allowed to call the API from a browser (default: none)")
	str(&cfg.HTTPAuthFile, "http-auth-file", "", "htpasswd file (bcrypt) protecting the web inbox, API and websocket")
	str(&cfg.ReadAuthFile, "read-auth-file", "", "htpasswd file (bcrypt) for POP3 and IMAP logins (default: any login works)")
	str(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	str(&cfg.LogFormat, "log-format", "text", "text (key=value lines) or json (one object a line, for log collectors)")
	declareWebhookFlags(fs, cfg)
	declareRelayFlags(fs, &cfg.Relay)
	declareMCPFlags(fs, cfg)
	declareCheckFlags(fs, cfg)
	declareFaultFlags(fs, cfg)
	declareMemoryFlags(fs, cfg)
	fs.BoolVar(&cfg.Metrics, "metrics", true, "serve Prometheus metrics at /metrics on the HTTP port, behind --http-auth-file ["+envName("metrics")+"]")
	return fs
}

// parseConfig reads flags from args and, for every flag not given, its environment variable.
// extra declares a subcommand's own flags besides the servers' (letterbox mcp --url).
func parseConfig(args []string, getenv func(string) string, out io.Writer, extra ...func(*flag.FlagSet)) (*config, error) {
	cfg := &config{}
	fs := newFlagSet(cfg, out)
	fs.Usage = func() {
		fmt.Fprintf(out, "letterbox catches mail for developers: SMTP in, web inbox, API, POP3 and IMAP out.\n\n")
		fmt.Fprintf(out, "Usage:\n  letterbox [flags]        run the servers\n  letterbox version        print the version\n  letterbox bench [flags]  measure SMTP ingest throughput\n  letterbox mcp [flags]    an MCP server for coding agents on stdio (see letterbox mcp --help)\n  letterbox sendmail [-t] [-i] [-f FROM] [recipient...]  submit a message from standard input (also as a link named sendmail)\n  letterbox ingest PATH... store .eml files, mbox files and Maildirs\n  letterbox export [--format mbox|maildir|eml] [--query Q] DEST\n\nFlags (each also read from the environment variable in brackets; a flag wins):\n")
		fs.PrintDefaults()
	}
	for _, declare := range extra {
		declare(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			set[f.Name] = true
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.MaxMessageSize <= 0 {
		return nil, fmt.Errorf("--max-message-size must be positive, got %s", strconv.FormatInt(cfg.MaxMessageSize, 10))
	}
	if f := strings.ToLower(cfg.LogFormat); f != "text" && f != "json" {
		return nil, fmt.Errorf("--log-format %q: use text or json", cfg.LogFormat)
	}
	if err := validateChecks(cfg.Checks); err != nil {
		return nil, err
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("--smtp-tls-cert and --smtp-tls-key go together")
	}
	if err := cfg.Relay.resolve(set); err != nil {
		return nil, err
	}
	return cfg, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
