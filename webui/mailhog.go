package webui

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/textproto"
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

// headerEnd returns where the body of raw begins: after the first empty line (CRLF or LF), or
// len(raw) when there is none.
func headerEnd(raw []byte) int {
	crlf, lf := bytes.Index(raw, []byte("\r\n\r\n")), bytes.Index(raw, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return crlf + 4
	case lf >= 0:
		return lf + 2
	}
	return len(raw)
}

// mhHeaders is MailHog's header map of a message, from the fields the store parsed (names as
// the sender wrote them, values unfolded).
func mhHeaders(fields []store.Header) map[string][]string {
	h := make(map[string][]string, len(fields))
	for _, f := range fields {
		h[f.Name] = append(h[f.Name], strings.TrimSpace(f.Value))
	}
	return h
}

// mhTop is a message's MailHog content: the store's header fields, the raw body after them,
// Size the length of the whole message (as MailHog counts its DATA), and the top-level parts
// when it is multipart.
func mhTop(m *store.Message, raw []byte) (MHContent, *MHMIME) {
	headers := mhHeaders(m.Headers)
	body := raw[headerEnd(raw):]
	c := MHContent{Headers: headers, Body: string(body), Size: len(raw)}
	return c, mhParts(headerValue(headers, "Content-Type"), body, 0)
}

// mhParts splits a multipart body into MailHog's parts (with mime/multipart, each part's body
// raw, still transfer-encoded), nested parts as their MIME, depth levels down at most; nil when
// the body is not multipart. A part's Size is the length of its body.
func mhParts(contentType string, body []byte, depth int) *MHMIME {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" || depth > 5 {
		return nil
	}
	m := &MHMIME{Parts: []MHContent{}}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := r.NextRawPart()
		if err != nil {
			break // io.EOF, or a malformed rest: the parts read so far
		}
		data, err := io.ReadAll(p)
		if err != nil && len(data) == 0 {
			break
		}
		pc := MHContent{Headers: map[string][]string(p.Header), Body: string(data), Size: len(data)}
		pc.MIME = mhParts(p.Header.Get("Content-Type"), data, depth+1)
		m.Parts = append(m.Parts, pc)
	}
	return m
}

// messageRaw is a store that reads a message and its raw bytes at once (*store.Store).
type messageRaw interface {
	MessageRaw(ctx context.Context, id string) (*store.Message, []byte, error)
}

// mhMessage loads one message in MailHog's shape.
func (s *Server) mhMessageByID(ctx context.Context, id string) (MHMessage, error) {
	var m *store.Message
	var raw []byte
	var err error
	if mr, ok := s.st.(messageRaw); ok {
		m, raw, err = mr.MessageRaw(ctx, id)
	} else if m, err = s.st.Message(ctx, id); err == nil {
		raw, err = s.st.Raw(ctx, id)
	}
	if err != nil {
		return MHMessage{}, err
	}
	content, parts := mhTop(m, raw)
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

// mhList answers a page of MailHog messages matching f ({"total","count","start","items"}). Each
// item is encoded as soon as it is built: a page of 250 messages is several megabytes of JSON,
// which one encoding buffer would grow to by doubling and copying.
func (s *Server) mhList(w http.ResponseWriter, r *http.Request, f store.Filter) {
	pg, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg.Limit = min(pg.Limit, 250) // MailHog's largest page
	start := pg.Offset
	ctx := r.Context()
	res, err := s.st.Search(ctx, f, pg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([][]byte, 0, len(res.Messages))
	for _, sum := range res.Messages {
		m, err := s.mhMessageByID(ctx, sum.ID)
		if err != nil {
			continue // deleted meanwhile
		}
		js, err := jsonNoEscape(m)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		items = append(items, js)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `{"total":%d,"count":%d,"start":%d,"items":[`, res.Total, len(items), start)
	for i, js := range items {
		if i > 0 {
			io.WriteString(w, ",")
		}
		w.Write(js)
	}
	io.WriteString(w, "]}\n")
}

// jsonNoEscape encodes v as writeJSON does (no HTML escaping), without the newline.
func jsonNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// mhMessages is GET /api/v2/messages.
func (s *Server) mhMessages(w http.ResponseWriter, r *http.Request) {
	s.mhList(w, r, emptyFilter)
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
	s.mhList(w, r, store.Filter{Query: store.Query{Terms: []store.Term{{Field: field, Value: q}}}})
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
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	parts := mhParts(hdr.Get("Content-Type"), raw[headerEnd(raw):], 0)
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
	done, ok := s.longLived(w)
	if !ok {
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
