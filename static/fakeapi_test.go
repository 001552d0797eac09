package static_test

// THROWAWAY: a minimal stand-in for webui, used only until the real package exists.

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/letterbox-mail/letterbox/static"
	"github.com/letterbox-mail/letterbox/store"
)

func fakeAPI(st *store.Store, smtpAddr string) http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(static.Files, ".")
	files := http.FileServerFS(sub)
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", static.CSP)
		files.ServeHTTP(w, r)
	}))
	envelope := func(w http.ResponseWriter, r *http.Request, q string) {
		ctx := r.Context()
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 {
			limit = 50
		}
		query, err := store.ParseQuery(q)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		res, err := st.Search(ctx, store.Filter{Query: query}, store.Page{Offset: start, Limit: limit})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		stats, _ := st.Stats(ctx)
		tags, _ := st.Tags(ctx)
		if tags == nil {
			tags = []string{}
		}
		writeJSON(w, map[string]any{"total": stats.Total, "unread": stats.Unread, "count": len(res.Messages),
			"messages_count": res.Total, "messages_unread": res.Unread, "start": start, "tags": tags, "messages": res.Messages})
	}
	mux.HandleFunc("GET /api/v1/messages", func(w http.ResponseWriter, r *http.Request) { envelope(w, r, "") })
	mux.HandleFunc("GET /api/v1/search", func(w http.ResponseWriter, r *http.Request) { envelope(w, r, r.URL.Query().Get("query")) })
	mux.HandleFunc("PUT /api/v1/messages", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			IDs  []string
			Read bool
		}
		json.NewDecoder(r.Body).Decode(&b)
		var err error
		if len(b.IDs) > 0 {
			err = st.SetRead(r.Context(), b.IDs, b.Read)
		} else {
			err = st.SetReadMatching(r.Context(), store.Filter{}, b.Read)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("DELETE /api/v1/messages", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ IDs []string }
		json.NewDecoder(r.Body).Decode(&b)
		var err error
		if len(b.IDs) > 0 {
			err = st.Delete(r.Context(), b.IDs)
		} else {
			err = st.DeleteAll(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("DELETE /api/v1/search", func(w http.ResponseWriter, r *http.Request) {
		query, err := store.ParseQuery(r.URL.Query().Get("query"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		st.DeleteMatching(r.Context(), store.Filter{Query: query})
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /api/v1/message/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, err := st.Message(r.Context(), r.PathValue("id"))
		if err != nil {
			notFound(w, err)
			return
		}
		st.SetRead(r.Context(), []string{m.ID}, true)
		m.Read = true
		b, _ := json.Marshal(m.Summary)
		var out map[string]any
		json.Unmarshal(b, &out)
		out["Text"], out["HTML"], out["Attachments"], out["Inline"] = m.Text, m.HTML, m.Attachments, m.Inline
		out["Envelope"], out["Structure"], out["ParseErrors"], out["HeadersList"] = m.Envelope, m.Structure, m.ParseErrors, m.Headers
		out["ReturnPath"] = m.ReturnPath
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /api/v1/message/{id}/headers", func(w http.ResponseWriter, r *http.Request) {
		m, err := st.Message(r.Context(), r.PathValue("id"))
		if err != nil {
			notFound(w, err)
			return
		}
		out := map[string][]string{}
		for _, h := range m.Headers {
			out[h.Name] = append(out[h.Name], h.Value)
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /api/v1/message/{id}/raw", func(w http.ResponseWriter, r *http.Request) {
		b, err := st.Raw(r.Context(), r.PathValue("id"))
		if err != nil {
			notFound(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.URL.Query().Get("dl") == "1" {
			w.Header().Set("Content-Disposition", `attachment; filename="message.eml"`)
		}
		w.Write(b)
	})
	mux.HandleFunc("GET /api/v1/message/{id}/part/{part}", func(w http.ResponseWriter, r *http.Request) {
		p, b, err := st.Part(r.Context(), r.PathValue("id"), r.PathValue("part"))
		if err != nil {
			notFound(w, err)
			return
		}
		w.Header().Set("Content-Security-Policy", "sandbox")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Type", p.ContentType)
		if !strings.HasPrefix(p.ContentType, "image/") || strings.Contains(p.ContentType, "svg") {
			w.Header().Set("Content-Disposition", "attachment")
		}
		w.Write(b)
	})
	mux.HandleFunc("GET /view/{file}", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(r.PathValue("file"), ".html")
		m, err := st.Message(r.Context(), id)
		if err != nil {
			notFound(w, err)
			return
		}
		csp := "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
		if r.URL.Query().Get("remote") == "1" {
			csp = "sandbox; default-src 'none'; img-src data: http: https:; style-src 'unsafe-inline' http: https:; font-src http: https:"
		}
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(m.HTML))
	})
	mux.HandleFunc("GET /api/v1/webui", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"Label": "", "SMTPAddr": smtpAddr})
	})
	up := websocket.Upgrader{}
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		sub := st.Subscribe(0)
		defer sub.Close()
		stats, _ := st.Stats(r.Context())
		c.WriteJSON(map[string]any{"Type": "stats", "Data": map[string]any{"Total": stats.Total, "Unread": stats.Unread, "Version": "dev"}})
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					sub.Close()
					return
				}
			}
		}()
		for ev := range sub.Events() {
			var d any
			switch ev.Type {
			case store.EventNew:
				d = ev.Summary
			case store.EventUpdate:
				d = map[string]any{"ID": ev.ID, "Read": ev.Read}
			case store.EventDelete:
				d = map[string]any{"ID": ev.ID}
			}
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.WriteJSON(map[string]any{"Type": string(ev.Type), "Data": d}); err != nil {
				return
			}
		}
	})
	return mux
}

func notFound(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "not found", 404)
		return
	}
	http.Error(w, err.Error(), 500)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

var _ = context.Background
