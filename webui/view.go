package webui

import (
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/letterbox-mail/letterbox/store"
)

// Policies for captured HTML: sandboxed (no scripts, an opaque origin), nothing loaded but
// inline styles, this server's images (cid: parts) and data: URLs. remote=1 also allows remote
// images, styles and fonts. Only the inbox itself may frame it.
const (
	viewCSP       = "sandbox; default-src 'none'; img-src 'self' data: cid:; style-src 'unsafe-inline'; frame-ancestors 'self'"
	viewRemoteCSP = "sandbox; default-src 'none'; img-src * data: cid:; style-src 'unsafe-inline' *; font-src *; frame-ancestors 'self'"
	textCSP       = "sandbox; default-src 'none'; frame-ancestors 'self'"
)

// view is GET /view/{ID}.html and /view/{ID}.txt.
func (s *Server) view(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	var id string
	var html bool
	switch {
	case strings.HasSuffix(file, ".html"):
		id, html = strings.TrimSuffix(file, ".html"), true
	case strings.HasSuffix(file, ".txt"):
		id = strings.TrimSuffix(file, ".txt")
	default:
		http.Error(w, "webui: not found (use /view/{ID}.html or /view/{ID}.txt)", http.StatusNotFound)
		return
	}
	id, err := s.messageID(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.st.Message(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Cache-Control", "no-store")
	if !html {
		h.Set("Content-Security-Policy", textCSP)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(m.Text))
		return
	}
	if r.URL.Query().Get("remote") == "1" {
		h.Set("Content-Security-Policy", viewRemoteCSP)
	} else {
		h.Set("Content-Security-Policy", viewCSP)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(rewriteCID(m)))
}

// cidRef finds cid: references in HTML: in attributes (quoted or not) and CSS url().
var cidRef = regexp.MustCompile(`(?i)\bcid:([^"'\s)>]+)`)

// rewriteCID points cid: references at the parts they name (RFC 2392), relative to /view/.
func rewriteCID(m *store.Message) string {
	if !strings.Contains(strings.ToLower(m.HTML), "cid:") {
		return m.HTML
	}
	byCID := map[string]string{}
	for _, list := range [][]store.Part{m.Inline, m.Attachments} {
		for _, p := range list {
			if p.ContentID != "" {
				byCID[strings.ToLower(p.ContentID)] = p.PartID
			}
		}
	}
	return cidRef.ReplaceAllStringFunc(m.HTML, func(ref string) string {
		cid := ref[len("cid:"):]
		if u, err := url.PathUnescape(cid); err == nil {
			cid = u
		}
		part, ok := byCID[strings.ToLower(strings.Trim(cid, "<>"))]
		if !ok {
			return ref
		}
		return "../api/v1/message/" + url.PathEscape(m.ID) + "/part/" + url.PathEscape(part)
	})
}

// inlineImage lists the image types shown inline; anything else (SVG above all) is downloaded.
var inlineImage = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// getPart is GET /api/v1/message/{ID}/part/{PartID}: the decoded part. Only plain images are
// shown inline; every part is sandboxed and never sniffed.
func (s *Server) getPart(w http.ResponseWriter, r *http.Request) {
	id, err := s.messageID(r, r.PathValue("ID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, content, err := s.st.Part(r.Context(), id, r.PathValue("PartID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	servePart(w, p.ContentType, p.FileName, content)
}

// servePart sends content as a download unless it is a plain image.
func servePart(w http.ResponseWriter, contentType, fileName string, content []byte) {
	h := w.Header()
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt == "" {
		mt, contentType = "application/octet-stream", "application/octet-stream"
	}
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, max-age=3600")
	disp := "attachment"
	if inlineImage[strings.ToLower(mt)] {
		disp = "inline"
	}
	if fileName != "" {
		disp = mime.FormatMediaType(disp, map[string]string{"filename": fileName})
		if disp == "" {
			disp = "attachment"
			if inlineImage[strings.ToLower(mt)] {
				disp = "inline"
			}
		}
	}
	h.Set("Content-Disposition", disp)
	h.Set("Content-Length", strconv.Itoa(len(content)))
	w.Write(content)
}
