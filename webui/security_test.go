package webui

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"
)

func TestHostCheck(t *testing.T) {
	e := newEnv(t, Options{AllowedHosts: []string{"mail.test"}})
	port := e.url[strings.LastIndexByte(e.url, ':'):]
	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1" + port, 200},
		{"localhost" + port, 200},
		{"localhost", 200},
		{"app.localhost:8025", 200},
		{"[::1]" + port, 200},
		{"mail.test:9999", 200}, // allowed name, any port
		{"MAIL.TEST", 200},
		{"evil.example" + port, 403}, // DNS rebinding
		{"10.1.2.3" + port, 403},
		{"mail.test.evil.example", 403},
	} {
		res, body := e.do("GET", "/api/v1/messages", "", "Host", tc.host)
		if res.StatusCode != tc.want {
			t.Errorf("Host %s: %d %s, want %d", tc.host, res.StatusCode, body, tc.want)
		}
	}
	// The websocket and the inbox are guarded too.
	if res, _ := e.do("GET", "/", "", "Host", "evil.example"); res.StatusCode != 403 {
		t.Errorf("inbox with foreign Host: %d", res.StatusCode)
	}
}

func TestNoCORSByDefault(t *testing.T) {
	e := newEnv(t, Options{})
	res, _ := e.do("GET", "/api/v1/messages", "", "Origin", "https://evil.example")
	if res.StatusCode != 200 {
		t.Errorf("simple GET with Origin: %d", res.StatusCode)
	}
	if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("ACAO %q without --cors", v)
	}
	res, _ = e.do("OPTIONS", "/api/v1/messages", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "DELETE")
	if res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("preflight answered without --cors: %v", res.Header)
	}
}

func TestCORSConfigured(t *testing.T) {
	e := newEnv(t, Options{CORSOrigins: []string{"http://localhost:3000"}})
	res, _ := e.do("OPTIONS", "/api/v1/messages", "", "Origin", "http://localhost:3000", "Access-Control-Request-Method", "DELETE",
		"Access-Control-Request-Headers", "content-type")
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "DELETE") || res.Header.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}
	// The configured origin may change state; another may not.
	e.expectOK("DELETE", "/api/v1/messages", `{}`, "Origin", "http://localhost:3000")
	if res, _ := e.do("DELETE", "/api/v1/messages", "", "Origin", "http://localhost:4000"); res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: %d %v", res.StatusCode, res.Header)
	}
}

func TestCrossSiteStateChangeRefused(t *testing.T) {
	e := newEnv(t, Options{})
	sum := e.add(msg{subject: "Keep me", text: "x"})
	host := strings.TrimPrefix(e.url, "http://")
	for _, tc := range []struct {
		method string
		path   string
		body   string
		hdr    []string
	}{
		{"DELETE", "/api/v1/messages", "", []string{"Origin", "https://evil.example"}},
		{"POST", "/api/v1/messages", "", []string{"Origin", "https://evil.example"}},
		{"PUT", "/api/v1/messages", `{"Read":true}`, []string{"Origin", "null"}},
		{"DELETE", "/api/v1/search?query=keep", "", []string{"Sec-Fetch-Site", "cross-site"}},
		{"PUT", "/api/v1/tags", `{"IDs":["` + sum.ID + `"],"Tags":["x"]}`, []string{"Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain"}},
		{"DELETE", "/api/v1/messages/" + sum.ID, "", []string{"Origin", "http://localhost:1234"}},
	} {
		res, body := e.do(tc.method, tc.path, tc.body, tc.hdr...)
		if res.StatusCode != 403 {
			t.Errorf("%s %s %v: %d %s, want 403", tc.method, tc.path, tc.hdr, res.StatusCode, body)
		}
	}
	if l := e.getJSON("/api/v1/messages"); num(field(l, "total")) != 1 || num(field(l, "unread")) != 1 {
		t.Fatalf("a refused request changed something: %v", l)
	}
	// Same origin (the inbox) and requests without browser headers (curl, test clients) work,
	// whatever their content type.
	e.expectOK("PUT", "/api/v1/messages", `{"Read":true}`, "Origin", "http://"+host, "Sec-Fetch-Site", "same-origin", "Content-Type", "application/json")
	e.expectOK("PUT", "/api/v1/messages", `{"IDs":["`+sum.ID+`"],"Read":false}`, "Content-Type", "text/plain")
	if l := e.getJSON("/api/v1/messages"); num(field(l, "unread")) != 1 {
		t.Errorf("text/plain PUT had no effect: %v", l)
	}
	e.expectOK("DELETE", "/api/v1/messages", `{}`, "User-Agent", "curl/8.0")
}

func TestWebsocketForeignOriginRefused(t *testing.T) {
	e := newEnv(t, Options{})
	ws := "ws" + strings.TrimPrefix(e.url, "http") + "/api/events"
	_, res, err := websocket.DefaultDialer.Dial(ws, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || res == nil || res.StatusCode != 403 {
		t.Errorf("foreign origin websocket: err=%v res=%v", err, res)
	}
	c, _, err := websocket.DefaultDialer.Dial(ws, http.Header{"Origin": {e.url}})
	if err != nil {
		t.Fatalf("same origin websocket: %v", err)
	}
	c.Close()
	c, _, err = websocket.DefaultDialer.Dial(ws, nil) // not a browser
	if err != nil {
		t.Fatalf("websocket without Origin: %v", err)
	}
	c.Close()
	_, res, err = websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/api/v2/websocket", http.Header{"Origin": {"https://evil.example"}})
	if err == nil || res.StatusCode != 403 {
		t.Errorf("foreign origin MailHog websocket: err=%v", err)
	}
}

func TestBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	// htpasswd -B writes $2y$.
	if err := os.WriteFile(path, []byte("# users\nalice:$2y$"+string(hash[4:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Options{AuthFile: path})
	for _, p := range []string{"/", "/api/v1/messages", "/api/events", "/view/x.html", "/livez/x", "/api/v1/info"} {
		res, _ := e.do("GET", p, "")
		if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s without credentials: %d", p, res.StatusCode)
		}
	}
	// Health probes answer without credentials, as Mailpit's do.
	for _, p := range []string{"/livez", "/readyz"} {
		if res, _ := e.do("GET", p, ""); res.StatusCode != 200 {
			t.Errorf("%s without credentials: %d, want 200", p, res.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", e.url+"/api/v1/messages", nil)
	req.SetBasicAuth("alice", "wrong")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Errorf("wrong password: %v %v", err, res.StatusCode)
	}
	for range 2 { // the second time from the cache
		req.SetBasicAuth("alice", "s3cret")
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
			t.Errorf("right password: %v %v", err, res.StatusCode)
		}
	}
	ws := "ws" + strings.TrimPrefix(e.url, "http") + "/api/events"
	if _, res, err := websocket.DefaultDialer.Dial(ws, nil); err == nil || res.StatusCode != 401 {
		t.Errorf("websocket without credentials: %v", err)
	}
	hdr := http.Header{}
	hdr.Set("Authorization", req.Header.Get("Authorization"))
	c, _, err := websocket.DefaultDialer.Dial(ws, hdr)
	if err != nil {
		t.Fatalf("websocket with credentials: %v", err)
	}
	c.Close()
}

func TestAuthFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"md5":   "bob:$apr1$abc$def\n",
		"plain": "bob:password\n",
		"empty": "# nobody\n",
		"nouse": "nocolon\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := New(Options{Store: nopStore{}, AuthFile: p}); err == nil || !strings.HasPrefix(err.Error(), "webui: auth file") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := New(Options{Store: nopStore{}, AuthFile: filepath.Join(dir, "missing")}); err == nil {
		t.Errorf("missing file accepted")
	}
	if _, err := New(Options{}); err == nil {
		t.Errorf("no store accepted")
	}
}

// nopStore satisfies Store for tests of New.
type nopStore struct{ Store }
