package linkcheck

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/internal/dnstest"
	"github.com/letterbox-mail/letterbox/netguard"
)

// site is a local HTTP server that counts its requests.
type site struct {
	*httptest.Server
	hits atomic.Int64
	port string
}

func newSite(t *testing.T, h http.HandlerFunc) *site {
	s := &site{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

func routes(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ok":
	case "/missing":
		http.NotFound(w, r)
	case "/get-only":
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	case "/moved":
		http.Redirect(w, r, "/ok", http.StatusFound)
	case "/to-loopback":
		http.Redirect(w, r, "http://127.0.0.2:"+r.URL.Query().Get("port")+"/secret", http.StatusFound)
	case "/to-inside":
		http.Redirect(w, r, "http://inside.example.com:"+r.URL.Query().Get("port")+"/secret", http.StatusFound)
	case "/hang":
		<-r.Context().Done()
	}
}

func newChecker(t *testing.T, dns *dnstest.Server, opts Options) *Checker {
	opts.Guard = netguard.New(netguard.Options{Resolver: dns.Resolver()})
	return New(opts)
}

func TestCheck(t *testing.T) {
	dns := dnstest.Start(t)
	srv := newSite(t, routes)
	dns.Host("shop.example.com", "127.0.0.1")
	dns.Host("inside.example.com", "127.0.0.1")
	c := newChecker(t, dns, Options{Timeout: 2 * time.Second})
	base := "http://127.0.0.1:" + srv.port
	cases := []struct {
		url    string
		follow bool
		code   int
		status string
	}{
		{base + "/ok", false, 200, "OK"},
		{base + "/missing", false, 404, "Not Found"},
		{base + "/get-only", false, 200, "OK"},
		{base + "/moved", false, 302, "Found"},
		{base + "/moved", true, 200, "OK"},
		{"http://localhost:" + srv.port + "/ok", false, 200, "OK"},
		// A public-looking name that resolves into loopback is refused before any request.
		{"http://shop.example.com:" + srv.port + "/ok", false, 0, "blocked: shop.example.com resolves to 127.0.0.1"},
		// Redirects into loopback are refused: to another loopback address, or to a name resolving there.
		{base + "/to-loopback?port=" + srv.port, true, 0, "blocked: 127.0.0.2"},
		{base + "/to-inside?port=" + srv.port, true, 0, "blocked: inside.example.com resolves to 127.0.0.1"},
		{base + "/to-inside?port=" + srv.port, false, 302, "Found"},
		{"http://nowhere.example.com/", false, 0, "no such host"},
		{"ftp://files.example.com/a", false, 0, "not an http or https URL"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			before := srv.hits.Load()
			res := c.Check(context.Background(), []string{tc.url}, tc.follow)
			l := res.Links[0]
			if l.URL != tc.url || l.StatusCode != tc.code || !strings.Contains(l.Status, tc.status) {
				t.Errorf("got %+v, want %d %q", l, tc.code, tc.status)
			}
			if wantErr := tc.code == 0 || tc.code >= 400; wantErr != (res.Errors == 1) {
				t.Errorf("Errors %d for %+v", res.Errors, l)
			}
			if strings.HasPrefix(tc.url, "http://shop.example.com") && srv.hits.Load() != before {
				t.Error("the server was reached through a name resolving to loopback")
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	dns := dnstest.Start(t)
	srv := newSite(t, routes)
	c := newChecker(t, dns, Options{Timeout: 200 * time.Millisecond})
	start := time.Now()
	res := c.Check(context.Background(), []string{"http://127.0.0.1:" + srv.port + "/hang"}, false)
	if l := res.Links[0]; l.StatusCode != 0 || !strings.Contains(l.Status, "no answer within 200ms") || res.Errors != 1 {
		t.Errorf("hanging link: %+v", l)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestConcurrencyAndCache(t *testing.T) {
	dns := dnstest.Start(t)
	var mu sync.Mutex
	inFlight, peak := 0, 0
	gate := make(chan struct{})
	srv := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		<-gate
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	c := newChecker(t, dns, Options{Concurrency: 3, PerHost: 10})
	var links []string
	for i := range 12 {
		links = append(links, "http://127.0.0.1:"+srv.port+"/page/"+string(rune('a'+i)))
	}
	done := make(chan Response)
	go func() { done <- c.Check(context.Background(), links, false) }()
	// Wait until the limit is reached, then let the requests go.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := inFlight
		mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(gate)
	res := <-done
	if peak != 3 {
		t.Errorf("peak concurrency %d, want 3", peak)
	}
	if res.Errors != 0 || len(res.Links) != 12 {
		t.Fatalf("result %+v", res)
	}
	hits := srv.hits.Load()
	again := c.Check(context.Background(), links, false)
	if srv.hits.Load() != hits || !slices.Equal(again.Links, res.Links) {
		t.Errorf("second check: %d more requests, links %v", srv.hits.Load()-hits, again.Links)
	}
	// Per host: two at a time.
	peak = 0
	gate2 := make(chan struct{})
	srv2 := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		<-gate2
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	c2 := newChecker(t, dns, Options{Concurrency: 10})
	links = links[:0]
	for i := range 6 {
		links = append(links, "http://127.0.0.1:"+srv2.port+"/p/"+string(rune('a'+i)))
	}
	go func() { done <- c2.Check(context.Background(), links, false) }()
	deadline = time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := inFlight
		mu.Unlock()
		if n == DefaultPerHost || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(gate2)
	<-done
	if peak != DefaultPerHost {
		t.Errorf("peak per host %d, want %d", peak, DefaultPerHost)
	}
}

func TestExtract(t *testing.T) {
	h := `<a href="https://shop.example.com/a">a</a><a href="#top">top</a><a href="mailto:x@y">m</a>
<img src="http://cdn.example.com/i.png"><link rel="stylesheet" href="https://cdn.example.com/s.css">
<a href="https://shop.example.com/a">again</a>`
	text := "Visit https://shop.example.com/b. Or <https://shop.example.com/c>, (http://x.example.com/d)\n" +
		"See https://en.wikipedia.org/wiki/Mail_(protocol) and [https://shop.example.com/e]."
	got := Extract(h, text)
	want := []string{"https://shop.example.com/a", "http://cdn.example.com/i.png", "https://cdn.example.com/s.css",
		"https://shop.example.com/b", "https://shop.example.com/c", "http://x.example.com/d",
		"https://en.wikipedia.org/wiki/Mail_(protocol)", "https://shop.example.com/e"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
