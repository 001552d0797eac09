package webui

import (
	"io/fs"
	"net/http"
)

// route is one entry of the routing table. The OpenAPI test enumerates the table.
type route struct {
	method  string
	pattern string   // net/http ServeMux pattern, without the method
	docs    []string // OpenAPI paths this route serves; nil means pattern; empty means undocumented
	handler http.Handler
}

// routeTable lists every route the server has.
func (s *Server) routeTable() []route {
	hf := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	r := []route{
		// Mailpit API v1.
		{"GET", "/api/v1/messages", nil, hf(s.listMessages)},
		{"PUT", "/api/v1/messages", nil, hf(s.setReadHandler)},
		{"DELETE", "/api/v1/messages", nil, hf(s.deleteMessages)},
		{"GET", "/api/v1/search", nil, hf(s.search)},
		{"DELETE", "/api/v1/search", nil, hf(s.deleteSearch)},
		{"GET", "/api/v1/tags", nil, hf(s.getTags)},
		{"PUT", "/api/v1/tags", nil, hf(s.putTags)},
		{"PUT", "/api/v1/tags/{Tag}", nil, hf(s.renameTag)},
		{"DELETE", "/api/v1/tags/{Tag}", nil, hf(s.deleteTag)},
		{"GET", "/api/v1/message/{ID}", nil, hf(s.getMessage)},
		{"GET", "/api/v1/message/{ID}/headers", nil, hf(s.getHeaders)},
		{"GET", "/api/v1/message/{ID}/raw", nil, hf(s.getRaw)},
		{"GET", "/api/v1/message/{ID}/part/{PartID}", nil, hf(s.getPart)},
		{"POST", "/api/v1/message/{ID}/release", nil, hf(s.release)},
		{"GET", "/api/v1/message/{ID}/relay", nil, hf(s.relayStatus)},
		{"POST", "/api/v1/send", nil, hf(s.send)},
		{"GET", "/api/v1/mbox", nil, hf(s.mbox)},
		{"GET", "/api/v1/message/{ID}/html-check", nil, hf(s.htmlCheck)},
		{"GET", "/api/v1/message/{ID}/link-check", nil, hf(s.linkCheck)},
		{"GET", "/api/v1/message/{ID}/sa-check", nil, hf(s.saCheck)},
		{"GET", "/api/v1/message/{ID}/deliverability", nil, hf(s.deliverabilityReport)},
		{"GET", "/api/v1/info", nil, hf(s.info)},
		{"GET", "/api/v1/webui", nil, hf(s.webuiConfig)},
		{"GET", "/api/v1/wait", nil, hf(s.wait)},
		{"GET", "/api/v1/openapi.json", nil, hf(s.openAPI)},
		{"GET", "/view/{file}", []string{"/view/{ID}.html", "/view/{ID}.txt"}, hf(s.view)},
		{"GET", "/api/events", nil, hf(s.events)},
		{"GET", "/livez", nil, hf(s.livez)},
		{"GET", "/readyz", nil, hf(s.readyz)},
		{"GET", "/metrics", nil, hf(s.metrics)},
		{"GET", "/mcp", nil, hf(s.mcp)},
		{"POST", "/mcp", nil, hf(s.mcp)},
		{"DELETE", "/mcp", nil, hf(s.mcp)},

		// MailHog API v1/v2. GET and DELETE /api/v1/messages are Mailpit's (above).
		{"GET", "/api/v2/messages", nil, hf(s.mhMessages)},
		{"GET", "/api/v2/search", nil, hf(s.mhSearch)},
		{"GET", "/api/v2/websocket", nil, hf(s.mhWebsocket)},
		{"GET", "/api/v1/messages/{id}", nil, hf(s.mhMessage)},
		{"DELETE", "/api/v1/messages/{id}", nil, hf(s.mhDelete)},
		{"GET", "/api/v1/messages/{id}/download", nil, hf(s.mhDownload)},
		{"GET", "/api/v1/messages/{id}/mime/part/{index}/download", nil, hf(s.mhPartDownload)},
		{"GET", "/api/v1/events", nil, hf(s.mhEvents)},
		{"POST", "/api/v1/messages/{id}/release", nil, hf(s.mhRelease)},
	}
	r = append(r, s.faultRoutes()...)
	r = append(r, s.sessionRoutes()...)
	if s.opts.Static != nil {
		r = append(r, route{"GET", "/", []string{}, s.inbox(s.opts.Static)})
	}
	return r
}

// inboxCSP is the policy the web inbox page works under (static.CSP).
const inboxCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// inbox serves the web inbox files with a strict policy; index.html at "/".
func (s *Server) inbox(files fs.FS) http.Handler {
	fsrv := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", inboxCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == "/" || r.URL.Path == "/index.html" {
			h.Set("Cache-Control", "no-cache")
		}
		fsrv.ServeHTTP(w, r)
	})
}

func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}

// readyz answers 200 when the store answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if _, err := s.st.Search(r.Context(), emptyFilter, onePage); err != nil {
		http.Error(w, "webui: store not ready", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}
