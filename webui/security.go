package webui

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/letterbox-mail/letterbox/htpasswd"
)

// healthCheck reports whether r asks /livez or /readyz, which answer without authentication (as
// Mailpit's do) so that container probes need no credentials; they tell nothing about the mail.
func healthCheck(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.URL.Path == "/livez" || r.URL.Path == "/readyz")
}

// secure wraps h with the checks every request passes: Host (DNS rebinding), basic
// authentication, CORS and cross-site request refusal.
func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r) {
			s.log.Warn("refused request with a foreign Host header (DNS rebinding?)", "host", r.Host, "remote", r.RemoteAddr)
			http.Error(w, fmt.Sprintf("webui: host %q is not allowed; start letterbox with --http-allowed-hosts %s to accept it", r.Host, hostOnly(r.Host)), http.StatusForbidden)
			return
		}
		if s.auth != nil && !healthCheck(r) && !s.auth.check(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="letterbox", charset="UTF-8"`)
			http.Error(w, "webui: authentication required", http.StatusUnauthorized)
			return
		}
		origin := r.Header.Get("Origin")
		corsOK := origin != "" && s.corsAllowed(origin)
		if corsOK {
			hdr := w.Header()
			hdr.Add("Vary", "Origin")
			if s.corsAny() && s.auth == nil {
				hdr.Set("Access-Control-Allow-Origin", "*")
			} else {
				hdr.Set("Access-Control-Allow-Origin", origin)
				hdr.Set("Access-Control-Allow-Credentials", "true")
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				hdr.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
				if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
					hdr.Set("Access-Control-Allow-Headers", req)
				}
				hdr.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if changesState(r.Method) && !corsOK {
			if origin != "" && !sameOrigin(origin, r.Host) {
				http.Error(w, "webui: cross-origin request refused (origin "+origin+"); allow it with --cors", http.StatusForbidden)
				return
			}
			if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
				http.Error(w, "webui: cross-site request refused", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// changesState reports whether a request with this method may change data.
func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// hostAllowed implements the DNS rebinding check: the Host header must name this server.
func (s *Server) hostAllowed(r *http.Request) bool {
	host := strings.ToLower(hostOnly(r.Host))
	switch {
	case host == "", host == "localhost", strings.HasSuffix(host, ".localhost"):
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsLoopback() {
			return true
		}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if tcp, ok := la.(*net.TCPAddr); ok && tcp.IP.Equal(ip) {
				return true
			}
		}
	}
	for _, a := range s.opts.AllowedHosts {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "*" || hostOnly(a) == host {
			return true
		}
	}
	return false
}

// hostOnly strips the port and IPv6 brackets from a Host header value.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// sameOrigin reports whether the Origin header names the host the request was sent to.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

// corsAllowed reports whether origin is configured with --cors.
func (s *Server) corsAllowed(origin string) bool {
	for _, o := range s.opts.CORSOrigins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func (s *Server) corsAny() bool {
	for _, o := range s.opts.CORSOrigins {
		if strings.TrimSpace(o) == "*" {
			return true
		}
	}
	return false
}

// originAllowed is the websocket origin check: no Origin (not a browser), our own, or configured.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || sameOrigin(origin, r.Host) || s.corsAllowed(origin)
}

// authenticator checks HTTP basic credentials against an htpasswd file of bcrypt hashes.
// bcrypt is slow on purpose, so credentials that passed are remembered (as a SHA-256 digest).
type authenticator struct {
	passwords *htpasswd.Passwords

	mu   sync.Mutex
	good map[[32]byte]bool
}

// loadAuth reads an htpasswd file (see package htpasswd); it must name at least one user.
func loadAuth(path string) (*authenticator, error) {
	p, err := htpasswd.Read(path)
	if err != nil {
		return nil, fmt.Errorf("webui: auth file: %w", err)
	}
	if p.Len() == 0 {
		return nil, fmt.Errorf("webui: auth file %s has no users", path)
	}
	return &authenticator{passwords: p, good: map[[32]byte]bool{}}, nil
}

func (a *authenticator) check(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	a.mu.Lock()
	good := a.good[key]
	a.mu.Unlock()
	if good {
		return true
	}
	if !a.passwords.Check(user, pass) {
		return false
	}
	a.mu.Lock()
	if len(a.good) > 1000 {
		clear(a.good)
	}
	a.good[key] = true
	a.mu.Unlock()
	return true
}
