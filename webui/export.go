package webui

import (
	"fmt"
	"net/http"
	"time"

	"github.com/letterbox-mail/letterbox/archive"
	"github.com/letterbox-mail/letterbox/store"
)

// mbox is GET /api/v1/mbox?query=Q: the messages a search selects (all without a query), oldest
// first, as one mboxrd file to download, byte for byte as stored (see package archive).
func (s *Server) mbox(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.Query().Get("query"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/mbox")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="letterbox-%s.mbox"`, time.Now().UTC().Format("20060102-150405")))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if _, err := archive.WriteMbox(r.Context(), w, s.st, store.Filter{Query: q}, archive.ExportOptions{}); err != nil {
		// The status is sent; the client sees a short file. Say so in the log.
		s.log.Warn("mbox download cut short", "err", err)
	}
}
