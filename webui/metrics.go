package webui

import "net/http"

// metrics serves Options.Metrics (Prometheus text format), or 404 when metrics are off.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		http.Error(w, "webui: metrics are off (letterbox --metrics=false)", http.StatusNotFound)
		return
	}
	s.opts.Metrics.ServeHTTP(w, r)
}
