package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/letterbox-mail/letterbox/relay"
	"github.com/letterbox-mail/letterbox/store"
)

var (
	emptyFilter = store.Filter{}
	onePage     = store.Page{Limit: 1}
)

// maxBody caps request bodies (lists of IDs, tags).
const maxBody = 8 << 20

// badRequest is an error the client caused; it is answered with 400 and its text.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error {
	return badRequest{fmt.Sprintf("webui: "+format, args...)}
}

// fail answers with the status err calls for: 400 for bad input, 404 for missing messages, 503
// while the database cannot be reached, 500 (details logged, not shown) otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var bad badRequest
	switch {
	case errors.As(err, &bad):
		http.Error(w, bad.msg, http.StatusBadRequest)
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "webui: message not found", http.StatusNotFound)
	case errors.Is(err, context.Canceled):
		// The client went away.
	case errors.Is(err, store.ErrUnavailable):
		s.log.Warn("database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "webui: the database is unavailable, try again shortly", http.StatusServiceUnavailable)
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		http.Error(w, "webui: internal error (see the server log)", http.StatusInternalServerError)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}

// readJSON decodes an optional JSON body into v, whatever the Content-Type (some Mailpit clients
// send text/plain). An empty body leaves v alone.
func readJSON(r *http.Request, v any) error {
	_, err := readJSONBody(r, v)
	return err
}

// readJSONBody is readJSON that also reports whether there was a body at all.
func readJSONBody(r *http.Request, v any) (bool, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return false, fmt.Errorf("webui: read body: %w", err)
	}
	if len(data) > maxBody {
		return true, badf("request body larger than %d bytes", maxBody)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, badf("request body is not valid JSON: %v", err)
	}
	return true, nil
}

// intParam reads a non-negative integer query parameter.
func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badf("%s=%q is not a non-negative integer", name, v)
	}
	return n, nil
}

// page reads start and limit (default 50).
func page(r *http.Request) (store.Page, error) {
	start, err := intParam(r, "start", 0)
	if err != nil {
		return store.Page{}, err
	}
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		return store.Page{}, err
	}
	if limit == 0 {
		limit = 50
	}
	return store.Page{Offset: start, Limit: limit}, nil
}

// parseQuery parses a search, turning a syntax error into a 400.
func parseQuery(q string) (store.Query, error) {
	query, err := store.ParseQuery(q)
	if err != nil {
		return store.Query{}, badRequest{strings.Replace(err.Error(), "store: ", "webui: ", 1)}
	}
	return query, nil
}

// list answers with the list envelope of one page of f.
func (s *Server) list(ctx context.Context, f store.Filter, p store.Page) (List, error) {
	res, err := s.st.Search(ctx, f, p)
	if err != nil {
		return List{}, err
	}
	st, err := s.st.Stats(ctx)
	if err != nil {
		return List{}, err
	}
	tags := make([]string, 0, len(st.Tags))
	for t := range st.Tags {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return List{Total: st.Total, Unread: st.Unread, Count: len(res.Messages), MessagesCount: res.Total,
		MessagesUnread: res.Unread, Start: p.Offset, Tags: tags, Messages: summariesJSON(res.Messages)}, nil
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	p, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	l, err := s.list(r.Context(), emptyFilter, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.Query().Get("query"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	l, err := s.list(r.Context(), store.Filter{Query: q}, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) deleteSearch(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimSpace(r.URL.Query().Get("query"))
	if raw == "" {
		s.fail(w, r, badf("no search query (to delete everything use DELETE /api/v1/messages)"))
		return
	}
	q, err := parseQuery(raw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.st.DeleteMatching(r.Context(), store.Filter{Query: q}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeOK(w)
}

// setReadHandler is PUT /api/v1/messages: {"IDs":[...],"Read":bool,"Search":""}.
func (s *Server) setReadHandler(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IDs    []string
		Read   bool
		Search string
	}
	if err := readJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	var err error
	switch {
	case len(body.IDs) > 0 && strings.TrimSpace(body.Search) != "":
		err = badf("give IDs or Search, not both")
	case len(body.IDs) > 0:
		err = s.st.SetRead(r.Context(), body.IDs, body.Read)
	default:
		var q store.Query
		if q, err = parseQuery(body.Search); err == nil {
			err = s.st.SetReadMatching(r.Context(), store.Filter{Query: q}, body.Read)
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeOK(w)
}

// deleteMessages is DELETE /api/v1/messages: {"IDs":[...]}, or everything without IDs.
//
// Without a body it deletes every message and answers 200 with an empty body, as MailHog does for
// the same path (its npm client parses a non-empty answer as JSON); Mailpit's clients send none
// or {"IDs": [...]} and read the text, which they do not check.
func (s *Server) deleteMessages(w http.ResponseWriter, r *http.Request) {
	var body struct{ IDs []string }
	present, err := readJSONBody(r, &body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(body.IDs) > 0 {
		err = s.st.Delete(r.Context(), body.IDs)
	} else {
		err = s.st.DeleteAll(r.Context())
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !present {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeOK(w)
}

func (s *Server) getTags(w http.ResponseWriter, r *http.Request) {
	tags, err := s.st.Tags(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(tags))
}

// putTags is PUT /api/v1/tags: {"IDs":[...],"Tags":[...]} replaces those messages' tags.
func (s *Server) putTags(w http.ResponseWriter, r *http.Request) {
	var body struct{ IDs, Tags []string }
	if err := readJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(body.IDs) == 0 {
		s.fail(w, r, badf("no IDs given"))
		return
	}
	if err := s.st.SetTags(r.Context(), body.IDs, body.Tags); err != nil {
		s.fail(w, r, err)
		return
	}
	writeOK(w)
}

// renameTag is PUT /api/v1/tags/{Tag}: {"Name":"new"}.
func (s *Server) renameTag(w http.ResponseWriter, r *http.Request) {
	var body struct{ Name string }
	if err := readJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if strings.TrimSpace(body.Name) == "" {
		s.fail(w, r, badf("no new Name given"))
		return
	}
	if err := s.st.RenameTag(r.Context(), r.PathValue("Tag"), body.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	writeOK(w)
}

func (s *Server) deleteTag(w http.ResponseWriter, r *http.Request) {
	if err := s.st.DeleteTag(r.Context(), r.PathValue("Tag")); err != nil {
		s.fail(w, r, err)
		return
	}
	writeOK(w)
}

// messageID resolves the {ID} of a path: "latest" is the newest message (matching ?query= if given).
func (s *Server) messageID(r *http.Request, id string) (string, error) {
	if id != "latest" {
		return id, nil
	}
	q, err := parseQuery(r.URL.Query().Get("query"))
	if err != nil {
		return "", err
	}
	res, err := s.st.Search(r.Context(), store.Filter{Query: q}, onePage)
	if err != nil {
		return "", err
	}
	if len(res.Messages) == 0 {
		return "", store.ErrNotFound
	}
	return res.Messages[0].ID, nil
}

// getMessage is GET /api/v1/message/{ID}; it marks the message read, as Mailpit does.
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	id, err := s.messageID(r, r.PathValue("ID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.st.Message(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !m.Read {
		if err := s.st.SetRead(r.Context(), []string{m.ID}, true); err != nil {
			s.fail(w, r, err)
			return
		}
		m.Read = true
	}
	writeJSON(w, http.StatusOK, messageJSON(m))
}

// getHeaders is GET /api/v1/message/{ID}/headers: {"Name":["value",...]}.
func (s *Server) getHeaders(w http.ResponseWriter, r *http.Request) {
	id, err := s.messageID(r, r.PathValue("ID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.st.Message(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string][]string{}
	for _, h := range m.Headers {
		out[h.Name] = append(out[h.Name], h.Value)
	}
	writeJSON(w, http.StatusOK, out)
}

// getRaw is GET /api/v1/message/{ID}/raw: the source as text; ?dl=1 downloads it.
func (s *Server) getRaw(w http.ResponseWriter, r *http.Request) {
	id, err := s.messageID(r, r.PathValue("ID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw, err := s.st.Raw(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	if dl := r.URL.Query().Get("dl"); dl != "" && dl != "0" {
		h.Set("Content-Disposition", `attachment; filename="`+id+`.eml"`)
	}
	h.Set("Content-Length", strconv.Itoa(len(raw)))
	w.Write(raw)
}

// Info is the body of /api/v1/info.
type Info struct {
	Version       string
	LatestVersion string
	Database      string
	DatabaseSize  int64
	Messages      int
	Unread        int
	Tags          map[string]int
	RuntimeStats  RuntimeStats
}

// RuntimeStats are process figures in /api/v1/info.
type RuntimeStats struct {
	Uptime           int    // seconds since the server started
	Memory           uint64 // bytes of memory obtained from the OS by the Go runtime
	MessagesDeleted  int64  // messages deleted since the store was opened
	SMTPAccepted     int64
	SMTPAcceptedSize int64
	SMTPRejected     int64
	SMTPIgnored      int64
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	st, err := s.st.Stats(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var smtp SMTPStats
	if s.opts.SMTPStats != nil {
		smtp = s.opts.SMTPStats()
	}
	tags := st.Tags
	if tags == nil {
		tags = map[string]int{}
	}
	writeJSON(w, http.StatusOK, Info{
		Version: s.opts.Version, Database: s.opts.Database, DatabaseSize: st.DatabaseSize,
		Messages: st.Total, Unread: st.Unread, Tags: tags,
		RuntimeStats: RuntimeStats{
			Uptime: int(time.Since(s.started).Seconds()), Memory: ms.Sys, MessagesDeleted: st.Deleted,
			SMTPAccepted: smtp.Accepted, SMTPAcceptedSize: smtp.AcceptedSize, SMTPRejected: smtp.Rejected,
			SMTPIgnored: smtp.Ignored,
		},
	})
}

// WebUIConfig is the body of /api/v1/webui (Mailpit's fields, plus Version and SMTPAddr).
type WebUIConfig struct {
	Label               string
	MessageRelay        relay.Info // the zero Info while no relay is configured
	SpamAssassin        bool
	ChaosEnabled        bool
	DuplicatesIgnored   bool
	HideDeleteAllButton bool
	Version             string
	SMTPAddr            string
	// SMTPFaults says what may refuse, delay or drop SMTP mail (letterbox's rules, Mailpit's
	// chaos, MailHog's Jim, the accepted-recipients list): the inbox shows a banner while Active.
	SMTPFaults FaultStatus
}

// FaultStatus is policy.Status with Active spelled out for the inbox.
type FaultStatus struct {
	Active       bool
	Rules        int
	Chaos        bool
	ChaosEnabled bool
	Jim          bool
	Recipients   int
}

func (s *Server) webuiConfig(w http.ResponseWriter, r *http.Request) {
	c := WebUIConfig{Label: s.opts.Label, Version: s.opts.Version, SMTPAddr: s.opts.SMTPAddr, SpamAssassin: s.opts.SpamAssassin != nil}
	st := s.faultStatus()
	c.ChaosEnabled = st.ChaosEnabled
	c.SMTPFaults = FaultStatus{Active: st.Active(), Rules: st.Rules, Chaos: st.Chaos, ChaosEnabled: st.ChaosEnabled, Jim: st.Jim, Recipients: st.Recipients}
	c.MessageRelay = s.relayInfo()
	writeJSON(w, http.StatusOK, c)
}
