package netguard_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/netguard"
)

func TestBlocked(t *testing.T) {
	blocked := []string{
		"127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "0.0.0.0", "0.1.2.3", "224.0.0.1", "255.255.255.255",
		"192.0.2.1", "198.18.0.1", "240.0.0.1",
		"::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a00:1",
		"2002:7f00:1::1", "2001:db8::1",
	}
	for _, s := range blocked {
		if !netguard.Blocked(netip.MustParseAddr(s)) {
			t.Errorf("Blocked(%s) = false, want true", s)
		}
	}
	public := []string{"8.8.8.8", "1.1.1.1", "93.184.215.14", "172.32.0.1", "100.128.0.1",
		"2606:4700:4700::1111", "2a00:1450:4001:82a::200e", "64:ff9b::808:808", "::ffff:8.8.8.8"}
	for _, s := range public {
		if netguard.Blocked(netip.MustParseAddr(s)) {
			t.Errorf("Blocked(%s) = true, want false", s)
		}
	}
	if !netguard.Blocked(netip.Addr{}) {
		t.Error("the zero Addr must be blocked")
	}
}

func TestCheckAllow(t *testing.T) {
	g := netguard.New(netguard.Options{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	if err := g.Check(netip.MustParseAddr("10.1.2.3")); err != nil {
		t.Errorf("allowed network refused: %v", err)
	}
	if err := g.Check(netip.MustParseAddr("::ffff:10.1.2.3")); err != nil {
		t.Errorf("allowed network, IPv4-mapped, refused: %v", err)
	}
	err := g.Check(netip.MustParseAddr("10.2.0.1"))
	var be *netguard.BlockedError
	if !errors.As(err, &be) || !errors.Is(err, netguard.ErrBlocked) || be.Addr.String() != "10.2.0.1" {
		t.Errorf("Check(10.2.0.1) = %v, want a BlockedError for it", err)
	}
}

func TestNamesLocal(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "[::1]": true, "10.0.0.5": true, "localhost": true, "LOCALHOST.": true,
		"app.localhost": true, "example.com": false, "localhost.example.com": false, "intranet": false,
	} {
		if got := netguard.NamesLocal(host); got != want {
			t.Errorf("NamesLocal(%q) = %v, want %v", host, got, want)
		}
	}
}

// listen returns a loopback listener that accepts and closes connections until the test ends.
func listen(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

func TestDialRefusesLoopback(t *testing.T) {
	addr := listen(t)
	_, port, _ := net.SplitHostPort(addr)
	g := netguard.New(netguard.Options{})
	ctx := context.Background()

	for _, target := range []string{addr, net.JoinHostPort("localhost", port), net.JoinHostPort("::ffff:127.0.0.1", port)} {
		c, err := g.DialContext(ctx, "tcp", target)
		if err == nil {
			c.Close()
			t.Errorf("dial %s: connected, want refused", target)
			continue
		}
		var be *netguard.BlockedError
		if !errors.As(err, &be) || !errors.Is(err, netguard.ErrBlocked) {
			t.Errorf("dial %s: %v, want a BlockedError", target, err)
		}
	}
	// "localhost" resolves to loopback: the error names both.
	_, err := g.DialContext(ctx, "tcp4", net.JoinHostPort("localhost", port))
	if err == nil || !strings.Contains(err.Error(), "localhost resolves to 127.0.0.1") {
		t.Errorf("dial localhost: %v, want it to say what localhost resolved to", err)
	}
}

func TestDialAllowed(t *testing.T) {
	addr := listen(t)
	_, port, _ := net.SplitHostPort(addr)

	// Allowed for this context's host only.
	g := netguard.New(netguard.Options{})
	ctx := netguard.AllowHost(context.Background(), "127.0.0.1")
	c, err := g.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial an allowed host: %v", err)
	}
	c.Close()
	if _, err := g.DialContext(ctx, "tcp", net.JoinHostPort("localhost", port)); !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("dial localhost with only 127.0.0.1 allowed: %v, want blocked", err)
	}
	ctx2 := netguard.AllowHost(ctx, "LocalHost")
	c, err = g.DialContext(ctx2, "tcp4", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("dial localhost once allowed: %v", err)
	}
	c.Close()

	// Allowed network.
	g = netguard.New(netguard.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	c, err = g.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial an allowed network: %v", err)
	}
	c.Close()

	if _, err := g.DialContext(context.Background(), "udp", addr); err == nil {
		t.Error("udp dialled, want an error")
	}
}

// TestHTTPRedirectIntoLoopback: a link to an allowed host that redirects to another local name is
// refused at the redirect, as an SSRF through a redirect must be.
func TestHTTPRedirectIntoLoopback(t *testing.T) {
	var target string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/start":
			http.Redirect(w, r, target, http.StatusFound)
		case "/same":
			io.WriteString(w, "same host")
		default:
			io.WriteString(w, "secret")
		}
	}))
	defer srv.Close()
	u := srv.Listener.Addr().(*net.TCPAddr)
	g := netguard.New(netguard.Options{})
	client := g.HTTPClient(0)
	ctx := netguard.AllowHost(context.Background(), "127.0.0.1")

	get := func(url string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		res, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return string(b), err
	}

	target = srv.URL + "/same"
	if body, err := get(srv.URL + "/start"); err != nil || body != "same host" {
		t.Fatalf("redirect to the same allowed host: %q, %v", body, err)
	}
	target = "http://localhost:" + strconv.Itoa(u.Port) + "/secret"
	if body, err := get(srv.URL + "/start"); !errors.Is(err, netguard.ErrBlocked) {
		t.Fatalf("redirect into another loopback name: %q, %v; want blocked", body, err)
	}
	// Without permission, a request is refused, even right after allowed ones to the same address
	// (a pooled connection must not carry their permission over).
	req, _ := http.NewRequest("GET", srv.URL+"/secret", nil)
	if res, err := client.Do(req); !errors.Is(err, netguard.ErrBlocked) {
		if res != nil {
			res.Body.Close()
		}
		t.Fatalf("unallowed loopback request: %v, want blocked", err)
	}
}
