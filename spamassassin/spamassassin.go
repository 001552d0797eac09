// Package spamassassin asks a SpamAssassin daemon (spamd) for a message's spam score over the
// spamc protocol (SPAMC/1.5, as spamc speaks it): PING to see that it answers, REPORT for the
// score, the threshold and every rule that hit with its points and description. Results have
// Mailpit's /sa-check shape.
package spamassassin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one request when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// MaxSize is the largest message sent to spamd; larger ones are not checked (spamc's own limit
// is 500 KB; spamd scores mostly on headers and the first part of the body).
const MaxSize = 2 << 20

// ErrTooLarge is returned for messages over MaxSize.
var ErrTooLarge = errors.New("spamassassin: message too large to check")

// Result is a spam verdict, in Mailpit's SpamAssassinResponse shape.
type Result struct {
	IsSpam bool    // the score reached spamd's threshold
	Error  string  // why there is no score, when spamd could not be asked
	Score  float64 // the message's score, to one decimal
	Rules  []Rule  // the rules that hit; nil when Error is set
}

// Rule is one SpamAssassin rule that hit.
type Rule struct {
	Score       float64 // points, to one decimal (negative rules lower the score)
	Name        string  // the rule's name, such as MISSING_DATE
	Description string
}

// Options configure a Client.
type Options struct {
	// Addr is spamd's address: host:port, or unix:/path/to/socket.
	Addr string
	// Timeout bounds each request, connection included. 0 means DefaultTimeout.
	Timeout time.Duration
}

// Client talks to one spamd. It is safe for concurrent use: each request has its own connection.
type Client struct {
	network, addr string
	timeout       time.Duration
}

// New returns a client for opts.Addr.
func New(opts Options) (*Client, error) {
	c := &Client{network: "tcp", addr: opts.Addr, timeout: opts.Timeout}
	if p, ok := strings.CutPrefix(opts.Addr, "unix:"); ok {
		c.network, c.addr = "unix", p
	} else if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		return nil, fmt.Errorf("spamassassin: address %q: want host:port or unix:/path", opts.Addr)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// Addr is the address the client was made for.
func (c *Client) Addr() string {
	if c.network == "unix" {
		return "unix:" + c.addr
	}
	return c.addr
}

// ProtocolError is an answer from spamd that is not a success.
type ProtocolError struct {
	Code    int    // spamd's EX_* code (sysexits.h), such as 76 for EX_PROTOCOL
	Message string // the rest of its status line
}

// Error names spamd's code and message.
func (e *ProtocolError) Error() string {
	return fmt.Sprintf("spamassassin: spamd answered %d %s", e.Code, e.Message)
}

// Ping checks that spamd answers.
func (c *Client) Ping(ctx context.Context) error {
	status, _, _, err := c.do(ctx, "PING", nil)
	if err != nil {
		return err
	}
	if !strings.Contains(status, "PONG") {
		return fmt.Errorf("spamassassin: unexpected answer to PING: %q", status)
	}
	return nil
}

// Check asks spamd to score raw. It fails when spamd cannot be reached or answers an error;
// callers showing Mailpit's shape put that error in Result.Error.
func (c *Client) Check(ctx context.Context, raw []byte) (Result, error) {
	if len(raw) > MaxSize {
		return Result{}, fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLarge, len(raw), MaxSize)
	}
	_, headers, body, err := c.do(ctx, "REPORT", raw)
	if err != nil {
		return Result{}, err
	}
	res := Result{Rules: parseReport(body)}
	spam := headers["spam"] // "True ; 15.2 / 5.0"
	verdict, scores, ok := strings.Cut(spam, ";")
	if !ok {
		return Result{}, fmt.Errorf("spamassassin: no Spam header in spamd's answer")
	}
	res.IsSpam = strings.EqualFold(strings.TrimSpace(verdict), "true") || strings.EqualFold(strings.TrimSpace(verdict), "yes")
	score, _, _ := strings.Cut(scores, "/")
	if res.Score, err = strconv.ParseFloat(strings.TrimSpace(score), 64); err != nil {
		return Result{}, fmt.Errorf("spamassassin: score %q: %w", score, err)
	}
	res.Score = round1(res.Score)
	return res, nil
}

// do sends one request and reads the answer: the status line, header fields (lower-case names)
// and the body.
func (c *Client) do(ctx context.Context, method string, msg []byte) (string, map[string]string, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return "", nil, nil, fmt.Errorf("spamassassin: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	var req bytes.Buffer
	fmt.Fprintf(&req, "%s SPAMC/1.5\r\n", method)
	if msg != nil {
		fmt.Fprintf(&req, "Content-length: %d\r\n", len(msg))
	}
	req.WriteString("\r\n")
	req.Write(msg)
	if _, err := conn.Write(req.Bytes()); err != nil {
		return "", nil, nil, fmt.Errorf("spamassassin: send: %w", err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	br := bufio.NewReader(io.LimitReader(conn, 4<<20))
	status, err := br.ReadString('\n')
	if err != nil {
		return "", nil, nil, fmt.Errorf("spamassassin: read answer: %w", err)
	}
	status = strings.TrimSpace(status)
	// SPAMD/1.1 0 EX_OK
	fields := strings.SplitN(status, " ", 3)
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "SPAMD/") {
		return "", nil, nil, fmt.Errorf("spamassassin: not a spamd answer: %q", status)
	}
	code, err := strconv.Atoi(fields[1])
	if err != nil {
		return "", nil, nil, fmt.Errorf("spamassassin: not a spamd answer: %q", status)
	}
	if code != 0 {
		rest := ""
		if len(fields) == 3 {
			rest = fields[2]
		}
		return "", nil, nil, &ProtocolError{Code: code, Message: rest}
	}
	headers := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil && line == "" {
			if method == "PING" {
				break
			}
			return "", nil, nil, fmt.Errorf("spamassassin: read answer: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return "", nil, nil, fmt.Errorf("spamassassin: read answer: %w", err)
	}
	return status, headers, body, nil
}

// ruleLine is one row of the report's table: " 1.2 RULE_NAME  Description".
var ruleLine = regexp.MustCompile(`^\s*(-?\d+(?:\.\d+)?)\s+([A-Za-z0-9_.]+)\s+(.*)$`)

// parseReport reads the rules from the table at the end of spamd's report: the rows after
// the "---- ----" line; a row's description may continue on indented lines that follow it.
func parseReport(body []byte) []Rule {
	rules := []Rule{}
	inTable := false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r")
		if !inTable {
			inTable = strings.HasPrefix(strings.TrimSpace(line), "----")
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if m := ruleLine.FindStringSubmatch(line); m != nil {
			pts, _ := strconv.ParseFloat(m[1], 64)
			rules = append(rules, Rule{Score: round1(pts), Name: m[2], Description: strings.TrimSpace(m[3])})
			continue
		}
		if n := len(rules); n > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			rules[n-1].Description = strings.TrimSpace(rules[n-1].Description + " " + strings.TrimSpace(line))
		}
	}
	return rules
}

// round1 rounds to one decimal, with no negative zero (spamd prints "-0.0" for informational rules).
func round1(f float64) float64 {
	r := math.Round(f*10) / 10
	if r == 0 {
		return 0
	}
	return r
}
