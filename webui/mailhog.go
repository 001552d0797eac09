package webui

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// MailHog's API (v1 and v2) for suites written against MailHog. Its Message carries the raw
// content split into headers and body, undecoded, as MailHog did.

// mhHost is the domain of MailHog-style message IDs ("<id>@letterbox").
const mhHost = "letterbox"

// MHPath is MailHog's SMTP path (an envelope address split at the last @).
type MHPath struct {
	Relays  []string
	Mailbox string
	Domain  string
	Params  string
}

// MHContent is a header block and the body after it.
type MHContent struct {
	Headers map[string][]string
	Body    string
	Size    int
	MIME    *MHMIME
}

// MHMIME lists the top-level parts of a multipart body.
type MHMIME struct {
	Parts []MHContent
}

// MHRaw is the SMTP transaction.
type MHRaw struct {
	From string
	To   []string
	Data string
	Helo string
}

// MHMessage is MailHog's message.
type MHMessage struct {
	ID      string
	From    *MHPath
	To      []*MHPath
	Content MHContent
	Created time.Time
	MIME    *MHMIME
	Raw     *MHRaw
}

// MHList is the envelope of /api/v2/messages and /api/v2/search.
type MHList struct {
	Total int         `json:"total"`
	Count int         `json:"count"`
	Start int         `json:"start"`
	Items []MHMessage `json:"items"`
}

func mhPath(addr string) *MHPath {
	p := &MHPath{}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		p.Mailbox, p.Domain = addr[:i], addr[i+1:]
	} else {
		p.Mailbox = addr
	}
	return p
}

// mhID turns MailHog's "<id>@host" back into a store ID.
func mhID(id string) string {
	if i := strings.IndexByte(id, '@'); i >= 0 {
		return id[:i]
	}
	return id
}

// splitMessage splits raw at the first empty line into parsed (unfolded) headers and the body.
func splitMessage(raw []byte) (map[string][]string, []byte) {
	headers := map[string][]string{}
	var head, body []byte
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 && (bytes.Index(raw, []byte("\n\n")) < 0 || bytes.Index(raw, []byte("\n\n")) > i) {
		head, body = raw[:i], raw[i+4:]
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		head, body = raw[:i], raw[i+2:]
	} else {
		head = raw
	}
	var name string
	var value strings.Builder
	flush := func() {
		if name != "" {
			headers[name] = append(headers[name], strings.TrimSpace(value.String()))
		}
		name = ""
		value.Reset()
	}
	for _, line := range strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" {
				value.WriteString(" ")
				value.WriteString(strings.TrimSpace(line))
			}
			continue
		}
		flush()
		n, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(n)
		value.WriteString(strings.TrimSpace(v))
	}
	flush()
	return headers, body
}

// mhContent builds the content of raw, with its parts when it is multipart (depth levels deep).
func mhContent(raw []byte, depth int) (MHContent, *MHMIME) {
	headers, body := splitMessage(raw)
	c := MHContent{Headers: headers, Body: string(body), Size: len(body)}
	var ct string
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Type") && len(v) > 0 {
			ct = v[0]
		}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" || depth > 5 {
		return c, nil
	}
	m := &MHMIME{Parts: []MHContent{}}
	for _, part := range splitParts(body, params["boundary"]) {
		pc, sub := mhContent(part, depth+1)
		pc.MIME = sub
		m.Parts = append(m.Parts, pc)
	}
	return c, m
}

// splitParts returns the raw parts (headers and body) between boundary lines (RFC 2046 5.1.1).
func splitParts(body []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	var cur []byte
	in := false
	for len(body) > 0 {
		line := body
		next := []byte(nil)
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, next = body[:i+1], body[i+1:]
		}
		body = next
		trimmed := bytes.TrimRight(line, " \t\r\n")
		if bytes.HasPrefix(trimmed, delim) {
			rest := trimmed[len(delim):]
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				if in {
					parts = append(parts, trimEOL(cur))
				}
				cur, in = nil, len(rest) == 0
				if !in {
					break
				}
				continue
			}
		}
		if in {
			cur = append(cur, line...)
		}
	}
	if in && cur != nil {
		parts = append(parts, trimEOL(cur))
	}
	return parts
}

// trimEOL removes the line break that belongs to the next boundary.
func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// mhMessage loads one message in MailHog's shape.
func (s *Server) mhMessageByID(ctx context.Context, id string) (MHMessage, error) {
	m, err := s.st.Message(ctx, id)
	if err != nil {
		return MHMessage{}, err
	}
	raw, err := s.st.Raw(ctx, id)
	if err != nil {
		return MHMessage{}, err
	}
	content, parts := mhContent(raw, 0)
	out := MHMessage{
		ID:      m.ID + "@" + mhHost,
		From:    mhPath(m.Envelope.MailFrom),
		To:      []*MHPath{},
		Content: content,
		Created: m.Created,
		MIME:    parts,
		Raw:     &MHRaw{From: m.Envelope.MailFrom, To: nonNil(m.Envelope.Recipients), Data: string(raw), Helo: m.Envelope.Helo},
	}
	for _, rcpt := range m.Envelope.Recipients {
		out.To = append(out.To, mhPath(rcpt))
	}
	return out, nil
}

func (s *Server) mhList(ctx context.Context, f store.Filter, r *http.Request) (MHList, error) {
	start, err := intParam(r, "start", 0)
	if err != nil {
		return MHList{}, err
	}
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		return MHList{}, err
	}
	if limit == 0 || limit > 250 {
		limit = min(max(limit, 50), 250)
	}
	res, err := s.st.Search(ctx, f, store.Page{Offset: start, Limit: limit})
	if err != nil {
		return MHList{}, err
	}
	l := MHList{Total: res.Total, Start: start, Items: make([]MHMessage, 0, len(res.Messages))}
	for _, sum := range res.Messages {
		m, err := s.mhMessageByID(ctx, sum.ID)
		if err != nil {
			continue // deleted meanwhile
		}
		l.Items = append(l.Items, m)
	}
	l.Count = len(l.Items)
	return l, nil
}

// mhMessages is GET /api/v2/messages.
func (s *Server) mhMessages(w http.ResponseWriter, r *http.Request) {
	l, err := s.mhList(r.Context(), emptyFilter, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// mhSearch is GET /api/v2/search?kind=from|to|containing&query=.
func (s *Server) mhSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("query"))
	if q == "" {
		s.fail(w, r, badf("query is empty"))
		return
	}
	var field string
	switch kind := r.URL.Query().Get("kind"); kind {
	case "from": // the envelope sender or the From header, as MailHog does
		field = store.EnvelopeFrom
	case "to": // the envelope recipients or the To header
		field = store.EnvelopeTo
	case "containing":
		field = ""
	default:
		s.fail(w, r, badf("kind=%q: use from, to or containing", kind))
		return
	}
	f := store.Filter{Query: store.Query{Terms: []store.Term{{Field: field, Value: q}}}}
	l, err := s.mhList(r.Context(), f, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// mhMessage is GET /api/v1/messages/{id}.
func (s *Server) mhMessage(w http.ResponseWriter, r *http.Request) {
	m, err := s.mhMessageByID(r.Context(), mhID(r.PathValue("id")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// mhDelete is DELETE /api/v1/messages/{id}: 200 with an empty body.
func (s *Server) mhDelete(w http.ResponseWriter, r *http.Request) {
	id := mhID(r.PathValue("id"))
	if _, err := s.st.Summary(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Delete(r.Context(), []string{id}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// mhDownload is GET /api/v1/messages/{id}/download: the message as an .eml attachment.
func (s *Server) mhDownload(w http.ResponseWriter, r *http.Request) {
	id := mhID(r.PathValue("id"))
	raw, err := s.st.Raw(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Disposition", `attachment; filename="`+id+`.eml"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(raw)))
	w.Write(raw)
}

// mhPartDownload is GET /api/v1/messages/{id}/mime/part/{index}/download: one top-level part,
// transfer-decoded, always as an attachment.
func (s *Server) mhPartDownload(w http.ResponseWriter, r *http.Request) {
	id := mhID(r.PathValue("id"))
	idx, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || idx < 0 {
		s.fail(w, r, badf("part index %q is not a number", r.PathValue("index")))
		return
	}
	raw, err := s.st.Raw(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, parts := mhContent(raw, 0)
	if parts == nil || idx >= len(parts.Parts) {
		http.Error(w, "webui: no such part", http.StatusNotFound)
		return
	}
	p := parts.Parts[idx]
	ct := headerValue(p.Headers, "Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	content := decodeTransfer(headerValue(p.Headers, "Content-Transfer-Encoding"), []byte(p.Body))
	name := ""
	if _, params, err := mime.ParseMediaType(headerValue(p.Headers, "Content-Disposition")); err == nil {
		name = params["filename"]
	}
	if name == "" {
		if _, params, err := mime.ParseMediaType(ct); err == nil {
			name = params["name"]
		}
	}
	if name == "" {
		name = fmt.Sprintf("part-%d", idx)
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Write(content)
}

func headerValue(h map[string][]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// mhEvents is GET /api/v1/events: server-sent events, each new message as MailHog JSON.
func (s *Server) mhEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "webui: streaming unsupported", http.StatusInternalServerError)
		return
	}
	done, ok := s.longLived()
	if !ok {
		http.Error(w, "webui: shutting down", http.StatusServiceUnavailable)
		return
	}
	defer done()
	sub := s.st.Subscribe(s.opts.EventBuffer)
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	ping := time.NewTicker(s.opts.PingInterval)
	defer ping.Stop()
	ctx := r.Context()
	for {
		select {
		case evs, ok := <-sub.Events():
			if !ok {
				return
			}
			for _, ev := range evs {
				msg, ok := mhFrame(ctx, s, ev)
				if !ok {
					continue
				}
				data, err := jsonLine(msg)
				if err != nil {
					continue
				}
				if _, err := fmt.Fprintf(w, "event: message\ndata: %s\n\n", data); err != nil {
					return
				}
			}
			fl.Flush()
		case <-ping.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil {
				return
			}
			fl.Flush()
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
}

// mhFrame turns a new-message event into MailHog's message.
func mhFrame(ctx context.Context, s *Server, ev store.Event) (any, bool) {
	if ev.Type != store.EventNew || ev.Summary == nil {
		return nil, false
	}
	m, err := s.mhMessageByID(ctx, ev.Summary.ID)
	if err != nil {
		return nil, false
	}
	return m, true
}

// mhWebsocket is GET /api/v2/websocket: each new message as MailHog JSON.
func (s *Server) mhWebsocket(w http.ResponseWriter, r *http.Request) {
	s.serveWebsocket(w, r, mhFrame, false)
}

// decodeTransfer undoes a Content-Transfer-Encoding; content it cannot decode is returned as is.
func decodeTransfer(encoding string, body []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			return body
		}
		return out[:n]
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return body
		}
		return out
	}
	return body
}

func jsonLine(v any) ([]byte, error) { return json.Marshal(v) }
