// Package netguard keeps letterbox's outgoing connections (link checks, webhooks, releases to a
// host named in a request) away from the machine itself and from private networks, so that
// captured mail or an API caller cannot turn them into a server-side request forgery.
//
// A Guard resolves the host itself, refuses every address in a special-purpose range (loopback,
// RFC 1918 and RFC 4193 private networks, link-local, shared address space, unspecified,
// multicast, reserved; IPv4-mapped and NAT64 addresses are judged by the IPv4 address inside)
// unless that range or that host was explicitly allowed, and connects to the very address it
// checked: an answer that changes between the check and the connection (DNS rebinding) cannot
// slip through, and neither can a redirect, since every connection is checked.
//
// Two kinds of permission exist. Options.Allow names networks that are always reachable (an
// operator's internal relay, say). AllowHost permits, within one context, the private addresses
// of host names the caller trusts: the host an operator configured, or the host a link names
// literally (a link to http://127.0.0.1:8080/ may be checked; a link to a public name that
// resolves to 127.0.0.1, or a redirect to another host, may not).
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// ErrBlocked is what every refusal matches with errors.Is.
var ErrBlocked = errors.New("netguard: destination not allowed")

// BlockedError reports a connection refused because every address of Host is in a blocked range.
type BlockedError struct {
	Host string     // the host name or address that was asked for
	Addr netip.Addr // the (first) address refused
}

// Error names the host, and the address it resolved to when that differs.
func (e *BlockedError) Error() string {
	if e.Host == e.Addr.String() {
		return fmt.Sprintf("netguard: %s is a private, loopback or special-purpose address: not allowed", e.Addr)
	}
	return fmt.Sprintf("netguard: %s resolves to %s, a private, loopback or special-purpose address: not allowed", e.Host, e.Addr)
}

// Is makes errors.Is(err, ErrBlocked) true.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// DefaultTimeout bounds one connection attempt when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a Guard. The zero value blocks every special-purpose address.
type Options struct {
	// Allow lists networks that may always be reached, such as 10.1.2.0/24 for an internal server.
	Allow []netip.Prefix
	// Resolver looks host names up. nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Timeout bounds each connection attempt. 0 means DefaultTimeout.
	Timeout time.Duration
}

// Guard dials outgoing TCP connections, refusing blocked addresses. It is safe for concurrent use.
type Guard struct {
	allow    []netip.Prefix
	resolver *net.Resolver
	dialer   net.Dialer
}

// New returns a Guard configured by opts.
func New(opts Options) *Guard {
	g := &Guard{allow: opts.Allow, resolver: opts.Resolver}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	g.dialer.Timeout = opts.Timeout
	if g.dialer.Timeout == 0 {
		g.dialer.Timeout = DefaultTimeout
	}
	return g
}

type allowedHostsKey struct{}

// AllowHost returns a context in which connections to the given hosts (names, compared without
// regard to case, or address literals) may reach any address those hosts resolve to, private ones
// included. Hosts allowed by a parent context stay allowed.
func AllowHost(ctx context.Context, hosts ...string) context.Context {
	prev, _ := ctx.Value(allowedHostsKey{}).([]string)
	all := make([]string, 0, len(prev)+len(hosts))
	all = append(all, prev...)
	for _, h := range hosts {
		all = append(all, normalizeHost(h))
	}
	return context.WithValue(ctx, allowedHostsKey{}, all)
}

// hostAllowed reports whether ctx allows host's private addresses.
func hostAllowed(ctx context.Context, host string) bool {
	hosts, _ := ctx.Value(allowedHostsKey{}).([]string)
	host = normalizeHost(host)
	for _, h := range hosts {
		if h == host {
			return true
		}
	}
	return false
}

// normalizeHost lower-cases a host and strips the brackets and trailing dot it may carry.
func normalizeHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(h, "]"), "["), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return strings.ToLower(h)
}

// NamesLocal reports whether host is itself an address literal or a localhost name (localhost,
// *.localhost): a link that names such a host says where it goes, unlike a name that merely
// resolves there. Link checkers use it to decide whether to AllowHost a link's host.
func NamesLocal(host string) bool {
	h := normalizeHost(host)
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// Check returns a *BlockedError when addr may not be reached: it is in a special-purpose range
// not listed in Options.Allow.
func (g *Guard) Check(addr netip.Addr) error {
	if !Blocked(addr) {
		return nil
	}
	a := addr.Unmap()
	for _, p := range g.allow {
		if p.Contains(a) || p.Contains(addr) {
			return nil
		}
	}
	return &BlockedError{Host: a.String(), Addr: a}
}

// DialContext connects to addr ("host:port") over network ("tcp", "tcp4" or "tcp6"), trying each
// allowed address of host in the resolver's order. It has net.Dialer.DialContext's signature, for
// http.Transport and SMTP clients.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netguard: %w", err)
	}
	family := "ip"
	switch network {
	case "tcp":
	case "tcp4":
		family = "ip4"
	case "tcp6":
		family = "ip6"
	default:
		return nil, fmt.Errorf("netguard: network %q not supported", network)
	}
	ips, err := g.lookup(ctx, family, host)
	if err != nil {
		return nil, err
	}
	trusted := hostAllowed(ctx, host)
	var blocked, lastErr error
	for _, ip := range ips {
		if !trusted {
			if err := g.Check(ip); err != nil {
				if blocked == nil {
					blocked = &BlockedError{Host: normalizeHost(host), Addr: ip.Unmap()}
				}
				continue
			}
		}
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	if blocked != nil {
		return nil, blocked
	}
	return nil, fmt.Errorf("netguard: %s: no address", host)
}

// lookup returns host's addresses of the family: the address itself for a literal.
func (g *Guard) lookup(ctx context.Context, family, host string) ([]netip.Addr, error) {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil {
		return []netip.Addr{ip}, nil
	}
	ips, err := g.resolver.LookupNetIP(ctx, family, h)
	if err != nil {
		return nil, fmt.Errorf("netguard: look up %s: %w", h, err)
	}
	return ips, nil
}

// MaxRedirects is how many redirects HTTPClient follows.
const MaxRedirects = 10

// HTTPClient returns a client whose every connection, redirects included, goes through the
// Guard. It uses no proxy (a proxy would make the connection on the client's behalf, unchecked),
// and keeps no idle connections: permission given by AllowHost belongs to a request's context,
// and a pooled connection would carry it over to a request that has none. timeout bounds each request as http.Client.Timeout does; 0 means none.
func (g *Guard) HTTPClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		DisableKeepAlives:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("netguard: stopped after %d redirects", MaxRedirects)
			}
			return nil
		},
	}
}
