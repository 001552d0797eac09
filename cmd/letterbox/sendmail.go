package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/textproto"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/letterbox-mail/letterbox/archive"
	"github.com/letterbox-mail/letterbox/compose"
	"github.com/letterbox-mail/letterbox/mbox"
)

// The exit statuses of sendmail (sysexits.h) that callers such as PHP and cron look at.
const (
	exUsage       = 64 // the command was used wrongly
	exDataErr     = 65 // the message is unusable (no recipients, a header that does not parse)
	exUnavailable = 69 // the server refused it for good (5xx)
	exTempFail    = 75 // try again later: no server, a 4xx, a dropped connection
)

// sendmailError is a failure with its exit status.
type sendmailError struct {
	code int
	msg  string
}

func (e *sendmailError) Error() string { return e.msg }

func sendmailErr(code int, format string, args ...any) error {
	return &sendmailError{code, fmt.Sprintf(format, args...)}
}

// sendmailOptions is what a sendmail command line says.
type sendmailOptions struct {
	fromHeaders bool     // -t: recipients from To, Cc and Bcc
	ignoreDots  bool     // -i, -oi: a line "." does not end the message
	from        string   // -f: the envelope sender, without angle brackets
	nullSender  bool     // -f '<>' (or -f ''): the null sender, as bounces and auto-replies use
	fullName    string   // -F: the sender's name, for a From field the message lacks
	addr        string   // -S, --smtp-addr
	recipients  []string // the arguments
}

// parseSendmailArgs reads sendmail's options the way sendmail and Postfix do: single letters,
// values attached (-fme@x, -FCron) or next (-f me@x), -o options and the like accepted and
// ignored; the rest are recipients.
func parseSendmailArgs(args []string, getenv func(string) string) (*sendmailOptions, error) {
	o := &sendmailOptions{addr: getenv("LETTERBOX_SENDMAIL_SMTP_ADDR")}
	if o.addr == "" {
		o.addr = getenv("LETTERBOX_SMTP")
	}
	if o.addr == "" || o.addr == off {
		o.addr = "localhost:1025"
	}
	value := func(i *int, attached, flag string) (string, error) {
		if attached != "" {
			return attached, nil
		}
		if *i+1 >= len(args) {
			return "", sendmailErr(exUsage, "option %s needs a value", flag)
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.recipients = append(o.recipients, args[i+1:]...)
			break
		}
		if v, ok := strings.CutPrefix(a, "--smtp-addr"); ok {
			v = strings.TrimPrefix(v, "=")
			var err error
			if o.addr, err = value(&i, v, "--smtp-addr"); err != nil {
				return nil, err
			}
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			o.recipients = append(o.recipients, a)
			continue
		}
		if len(a) > 2 && strings.Trim(a[1:], "tiUvmnG") == "" {
			// Flags without values run together: -ti, -it, -tiU.
			o.fromHeaders = o.fromHeaders || strings.Contains(a, "t")
			o.ignoreDots = o.ignoreDots || strings.Contains(a, "i")
			continue
		}
		flag, rest := a[1:2], a[2:]
		var err error
		switch flag {
		case "t":
			o.fromHeaders = true
		case "i":
			o.ignoreDots = true
		case "o":
			// -oi is -i; -oem, -odb, -oQ... are sendmail options that mean nothing here.
			if rest == "i" {
				o.ignoreDots = true
			}
		case "f", "r":
			var v string
			if v, err = value(&i, rest, "-"+flag); err == nil {
				o.from = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "<"), ">")
				o.nullSender = o.from == ""
			}
		case "F":
			o.fullName, err = value(&i, rest, "-F")
		case "S":
			o.addr, err = value(&i, rest, "-S")
		case "B", "N", "R", "V", "X", "L", "h", "C":
			_, err = value(&i, rest, "-"+flag) // options with a value, ignored
		case "U", "v", "m", "e", "n", "G":
			// accepted, nothing to do
		case "b":
			switch rest {
			case "m", "":
			default:
				return nil, sendmailErr(exUsage, "-b%s is not supported: letterbox sendmail only submits a message (-bm)", rest)
			}
		default:
			return nil, sendmailErr(exUsage, "unknown option %s (usage: letterbox sendmail [-t] [-i] [-f FROM] [-F NAME] [-S ADDR] [recipient...])", a)
		}
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

// runSendmail is "letterbox sendmail": it reads a message on stdin and submits it over SMTP.
// It returns the exit status; failures print one line on stderr.
func runSendmail(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer, getenv func(string) string) int {
	err := sendmail(ctx, args, stdin, getenv)
	if err == nil {
		return 0
	}
	code := exTempFail
	var se *sendmailError
	if errors.As(err, &se) {
		code = se.code
	}
	fmt.Fprintf(stderr, "letterbox sendmail: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	return code
}

func sendmail(ctx context.Context, args []string, stdin io.Reader, getenv func(string) string) error {
	o, err := parseSendmailArgs(args, getenv)
	if err != nil {
		return err
	}
	raw, err := readMessage(stdin, o.ignoreDots)
	if err != nil {
		return sendmailErr(exDataErr, "reading the message: %v", err)
	}
	if mbox.IsSeparator(raw) {
		// A Unix "From sender date" line first (mail(1), procmail, an mbox cut): no part of the
		// message, as sendmail and Postfix drop it.
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			raw = nil
		}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return sendmailErr(exDataErr, "no message on standard input")
	}
	msg, err := newOutgoing(raw, o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return submit(ctx, o.addr, msg)
}

// readMessage reads stdin to its end, or (without ignoreDots) to a line holding only a dot.
func readMessage(r io.Reader, ignoreDots bool) ([]byte, error) {
	if ignoreDots {
		return io.ReadAll(r)
	}
	var out bytes.Buffer
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte(".")) {
			return out.Bytes(), nil
		}
		out.Write(line)
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// outgoing is a message ready to submit.
type outgoing struct {
	from string
	to   []string
	raw  []byte
}

// newOutgoing works out the envelope and completes the header as a submission agent does: the
// recipients (arguments, and with -t the To, Cc and Bcc fields, Bcc then removed), the sender
// (-f, '<>' for none; else the From address, else user@host), and From, Date and Message-ID
// when missing.
func newOutgoing(raw []byte, o *sendmailOptions) (*outgoing, error) {
	header, body, eol := splitMessage(raw)
	tp := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(header), strings.NewReader("\r\n"))))
	h, err := tp.ReadMIMEHeader()
	if err != nil && len(header) > 0 {
		return nil, sendmailErr(exDataErr, "the message header does not parse: %v", err)
	}
	m := &outgoing{from: o.from}
	seen := map[string]bool{}
	addRcpt := func(a string) {
		if k := strings.ToLower(a); a != "" && !seen[k] {
			seen[k] = true
			m.to = append(m.to, a)
		}
	}
	for _, r := range o.recipients {
		list, err := mail.ParseAddressList(r)
		if err != nil {
			return nil, sendmailErr(exDataErr, "recipient %q is not an email address", r)
		}
		for _, a := range list {
			addRcpt(a.Address)
		}
	}
	if o.fromHeaders {
		for _, field := range []string{"To", "Cc", "Bcc"} {
			for _, v := range h.Values(field) {
				list, err := mail.ParseAddressList(v)
				if err != nil {
					return nil, sendmailErr(exDataErr, "the %s field does not parse: %v", field, strings.TrimPrefix(err.Error(), "mail: "))
				}
				for _, a := range list {
					addRcpt(a.Address)
				}
			}
		}
		header = removeField(header, "Bcc")
	}
	if len(m.to) == 0 {
		return nil, sendmailErr(exDataErr, "no recipients: give them as arguments, or use -t to take them from To, Cc and Bcc")
	}
	var add []string
	if h.Get("From") == "" {
		sender := m.from
		if sender == "" {
			sender = defaultSender()
		}
		add = append(add, "From: "+(&mail.Address{Name: o.fullName, Address: sender}).String())
	}
	if m.from == "" && !o.nullSender {
		if list, err := mail.ParseAddressList(h.Get("From")); err == nil && len(list) > 0 {
			m.from = list[0].Address
		} else {
			m.from = defaultSender()
		}
	}
	if h.Get("Date") == "" {
		add = append(add, "Date: "+time.Now().Format(time.RFC1123Z))
	}
	if h.Get("Message-Id") == "" {
		add = append(add, "Message-ID: "+compose.NewMessageID(domainOf(m.from)))
	}
	var out bytes.Buffer
	out.Write(header)
	for _, f := range add {
		out.WriteString(f + eol)
	}
	out.Write(body)
	m.raw = out.Bytes()
	return m, nil
}

// splitMessage cuts raw into its header (each field with its line ending), the rest (from the
// blank line on), and the line ending it uses.
func splitMessage(raw []byte) (header, body []byte, eol string) {
	eol = "\n"
	if i := bytes.IndexByte(raw, '\n'); i > 0 && raw[i-1] == '\r' {
		eol = "\r\n"
	}
	rest := raw
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		rest = rest[len(line):]
	}
	header = raw[:len(raw)-len(rest)]
	if len(header) > 0 && header[len(header)-1] != '\n' {
		header = append(append([]byte(nil), header...), eol...)
	}
	body = rest
	if len(body) == 0 {
		body = []byte(eol)
	}
	return header, body, eol
}

// removeField drops every field of that name (with its folded lines) from a header.
func removeField(header []byte, name string) []byte {
	var out []byte
	skipping := false
	for len(header) > 0 {
		i := bytes.IndexByte(header, '\n')
		line := header
		if i >= 0 {
			line = header[:i+1]
		}
		header = header[len(line):]
		if line[0] == ' ' || line[0] == '\t' {
			if !skipping {
				out = append(out, line...)
			}
			continue
		}
		n, _, _ := bytes.Cut(line, []byte(":"))
		skipping = strings.EqualFold(strings.TrimSpace(string(n)), name)
		if !skipping {
			out = append(out, line...)
		}
	}
	return out
}

// defaultSender is user@host, as sendmail uses without -f.
func defaultSender() string {
	name := "nobody"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	return name + "@" + host
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "localhost"
}

// submit sends the message over SMTP (archive.Submit), mapping each failure to sendmail's exit
// status: a 5xx is EX_UNAVAILABLE, anything else (no server, a 4xx, a dropped connection)
// EX_TEMPFAIL.
func submit(ctx context.Context, addr string, m *outgoing) error {
	host, _ := os.Hostname()
	err := archive.Submit(ctx, addr, host, m.from, m.to, m.raw)
	if err == nil {
		return nil
	}
	var se *archive.SubmitError
	if !errors.As(err, &se) {
		return sendmailErr(exTempFail, "%v", err)
	}
	what := map[string]string{archive.StageHello: "EHLO", archive.StageMail: "sender <" + m.from + ">",
		archive.StageRcpt: "recipient <" + se.Recipient + ">", archive.StageData: "message"}[se.Stage]
	var re *smtp.SMTPError
	switch {
	case se.Stage == archive.StageConnect:
		return sendmailErr(exTempFail, "cannot reach the SMTP server at %s: %v (is letterbox running? set -S or LETTERBOX_SENDMAIL_SMTP_ADDR)", addr, se.Err)
	case errors.As(se.Err, &re) && re.Code >= 500:
		return sendmailErr(exUnavailable, "%s refused by %s: %d %s", what, addr, re.Code, re.Message)
	case errors.As(se.Err, &re):
		return sendmailErr(exTempFail, "%s refused by %s: %d %s", what, addr, re.Code, re.Message)
	}
	return sendmailErr(exTempFail, "%s: %v", what, se.Err)
}
