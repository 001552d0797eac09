// Package dnstest runs a real DNS server on loopback for tests: it answers TXT, A, AAAA, MX and
// PTR queries from records a test sets, over UDP and TCP on one port, so that code under test
// resolves names through the same network path it uses in production (a *net.Resolver whose
// Dial points at the server). Names not set answer NXDOMAIN; names with other record types set
// answer NOERROR with no records (RFC 2308 NODATA).
package dnstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a running test DNS server. Its methods are safe for concurrent use.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server

	mu      sync.Mutex
	txt     map[string][]string
	addrs   map[string][]netip.Addr
	mx      map[string][]string
	ptr     map[string][]string
	queries int
}

// Start runs a server on 127.0.0.1 (UDP and TCP on one free port) until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		txt: map[string][]string{}, addrs: map[string][]netip.Addr{},
		mx: map[string][]string{}, ptr: map[string][]string{},
	}
	var pc net.PacketConn
	var l net.Listener
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: %v", err)
		}
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("dnstest: no port free for both UDP and TCP")
	}
	s.addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: l, Handler: s, NotifyStartedFunc: notify}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		go srv.ActivateAndServe()
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("dnstest: server did not start")
		}
	}
	t.Cleanup(func() {
		s.udp.Shutdown()
		s.tcp.Shutdown()
	})
	return s
}

// Addr is the server's host:port, for a --dns flag.
func (s *Server) Addr() string { return s.addr }

// Resolver returns a resolver that sends every query to this server.
func (s *Server) Resolver() *net.Resolver {
	var d net.Dialer
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, s.addr)
	}}
}

// Queries is how many questions the server has answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func key(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// TXT adds one TXT record per value to name (values longer than 255 bytes are split into
// character-strings, as DKIM keys are).
func (s *Server) TXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[key(name)] = append(s.txt[key(name)], values...)
}

// Host adds A or AAAA records (by the address's family) to name.
func (s *Server) Host(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range addrs {
		s.addrs[key(name)] = append(s.addrs[key(name)], netip.MustParseAddr(a))
	}
}

// MX adds MX records (preference 10) pointing at hosts to name.
func (s *Server) MX(name string, hosts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mx[key(name)] = append(s.mx[key(name)], hosts...)
}

// PTR adds reverse records for the address ip.
func (s *Server) PTR(ip string, names ...string) {
	rev, err := dns.ReverseAddr(ip)
	if err != nil {
		panic("dnstest: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ptr[rev] = append(s.ptr[rev], names...)
}

// ServeDNS answers one query from the records set.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	s.queries++
	known := false
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		hdr := func(t uint16) dns.RR_Header {
			return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 60}
		}
		_, k1 := s.txt[name]
		_, k2 := s.addrs[name]
		_, k3 := s.mx[name]
		_, k4 := s.ptr[name]
		known = known || k1 || k2 || k3 || k4
		switch q.Qtype {
		case dns.TypeTXT:
			for _, v := range s.txt[name] {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: chunks(v)})
			}
		case dns.TypeA, dns.TypeAAAA:
			for _, a := range s.addrs[name] {
				if a.Is4() && q.Qtype == dns.TypeA {
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: a.AsSlice()})
				} else if a.Is6() && q.Qtype == dns.TypeAAAA {
					m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: a.AsSlice()})
				}
			}
		case dns.TypeMX:
			for _, h := range s.mx[name] {
				m.Answer = append(m.Answer, &dns.MX{Hdr: hdr(dns.TypeMX), Preference: 10, Mx: dns.Fqdn(h)})
			}
		case dns.TypePTR:
			for _, n := range s.ptr[name] {
				m.Answer = append(m.Answer, &dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(n)})
			}
		}
	}
	s.mu.Unlock()
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// chunks splits a TXT value into character-strings of at most 255 bytes.
func chunks(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}
