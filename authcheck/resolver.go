package authcheck

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"
)

// NewResolver returns a resolver that sends every query to the DNS server at addr (host or
// host:port, port 53 by default), for --dns. An empty addr returns net.DefaultResolver (the
// system's configuration).
func NewResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), "53")
	}
	d := net.Dialer{Timeout: 3 * time.Second}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
}

// ErrDNSUnreachable names a lookup that got no answer: the resolver could not be reached, timed
// out or failed (SERVFAIL). Verdicts that depend on it are temperror.
var ErrDNSUnreachable = errors.New("DNS unreachable")

// lookups wraps a resolver for one check: every name is asked as a fully qualified name (no
// search domains), answers are recorded (the SPF chain and DKIM keys are shown from them), and
// errors are normalised to *net.DNSError with IsNotFound for "no such record" and IsTemporary
// for everything else, which is how go-msgauth and go/spf tell temperror from permerror.
type lookups struct {
	ctx context.Context
	r   *net.Resolver

	mu  sync.Mutex
	txt map[string][]string // name (lower case, no trailing dot) to its TXT records
	bad error               // the first unreachable-DNS error
}

func newLookups(ctx context.Context, r *net.Resolver) *lookups {
	return &lookups{ctx: ctx, r: r, txt: map[string][]string{}}
}

func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

func canonical(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// classify turns a resolver error into a not-found or a temporary *net.DNSError.
func (l *lookups) classify(name string, err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return &net.DNSError{Err: "no such record", Name: canonical(name), IsNotFound: true}
	}
	if errors.As(err, &de) {
		// Without the server the system's configuration names: NewResolver may dial another.
		err = errors.New("lookup " + canonical(name) + ": " + de.Err)
	}
	l.mu.Lock()
	if l.bad == nil {
		l.bad = err
	}
	l.mu.Unlock()
	// go/spf asserts *net.DNSError itself, so no wrapper type.
	return &net.DNSError{Err: ErrDNSUnreachable.Error() + " (" + err.Error() + ")", Name: canonical(name), IsTemporary: true}
}

// unreachable returns the first unreachable-DNS error seen, or nil.
func (l *lookups) unreachable() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bad
}

// lookupTXTNoCtx has the signature go-msgauth takes.
func (l *lookups) lookupTXTNoCtx(name string) ([]string, error) { return l.LookupTXT(l.ctx, name) }

// LookupTXT implements spf.DNSResolver.
func (l *lookups) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := l.r.LookupTXT(ctx, fqdn(name))
	if err = l.classify(name, err); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.txt[canonical(name)] = txts
	l.mu.Unlock()
	return txts, nil
}

// recorded returns the TXT records a lookup of name returned, if it was looked up.
func (l *lookups) recorded(name string) ([]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.txt[canonical(name)]
	return t, ok
}

// LookupMX implements spf.DNSResolver.
func (l *lookups) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mx, err := l.r.LookupMX(ctx, fqdn(name))
	return mx, l.classify(name, err)
}

// LookupIPAddr implements spf.DNSResolver.
func (l *lookups) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := l.r.LookupIPAddr(ctx, fqdn(host))
	return ips, l.classify(host, err)
}

// LookupAddr implements spf.DNSResolver.
func (l *lookups) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	names, err := l.r.LookupAddr(ctx, addr)
	return names, l.classify(addr, err)
}
