package webui

import (
	_ "embed"
	"io"
	"net/http"
)

// openAPIDoc is the OpenAPI 3 description of the API, written by hand; a test checks it
// against the routing table.
//
//go:embed openapi.json
var openAPIDoc string

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	io.WriteString(w, openAPIDoc)
}
