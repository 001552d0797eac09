// Package linkcheck checks that the links in a message answer: it sends each a HEAD request
// (GET when HEAD is refused), optionally following redirects, and reports the HTTP status in
// Mailpit's /link-check shape.
//
// Requests go through a netguard.Guard: never to loopback, private or link-local addresses,
// whether a name resolves there or a redirect points there, unless the link itself names such
// an address (http://127.0.0.1:3000/, http://app.localhost/), which is then allowed for that
// link's host only. Each request has a timeout, the checks run with a concurrency limit overall
// and per host, and results are cached for a while.
package linkcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/letterbox-mail/letterbox/netguard"
)

// Defaults for the zero Options.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 8
	DefaultPerHost     = 2
	DefaultCacheTTL    = 5 * time.Minute
	MaxLinks           = 100 // links checked per message, as Mailpit
	maxRedirects       = 5
	cacheSize          = 10000
)

// Response is a message's link check, in Mailpit's LinkCheckResponse shape.
type Response struct {
	Errors int    // links that failed: no answer, or a status of 400 or more
	Links  []Link // in the order they appear
}

// Link is one link's result.
type Link struct {
	URL        string
	StatusCode int    // the HTTP status; 0 when there was no answer
	Status     string // the status text, or why there was no answer
}

// Failed reports whether the link counts as an error.
func (l Link) Failed() bool { return l.StatusCode == 0 || l.StatusCode >= 400 }

// Options configure a Checker. The zero value is valid.
type Options struct {
	// Guard makes every connection; nil means netguard.New with no networks allowed.
	Guard *netguard.Guard
	// Timeout bounds one link's check, redirects included. 0 means DefaultTimeout.
	Timeout time.Duration
	// Concurrency bounds the links checked at once, over all messages. 0 means DefaultConcurrency.
	Concurrency int
	// PerHost bounds the links checked at once on one host. 0 means DefaultPerHost.
	PerHost int
	// CacheTTL is how long a result is reused. 0 means DefaultCacheTTL; negative disables the cache.
	CacheTTL time.Duration
	// UserAgent is sent with every request. "" means "letterbox-linkcheck".
	UserAgent string
}

// Checker checks links. It is safe for concurrent use.
type Checker struct {
	opts   Options
	client *http.Client
	slots  chan struct{}

	mu    sync.Mutex
	hosts map[string]chan struct{}
	cache map[cacheKey]cached
}

type cacheKey struct {
	url    string
	follow bool
}

type cached struct {
	link    Link
	expires time.Time
}

// New returns a Checker.
func New(opts Options) *Checker {
	if opts.Guard == nil {
		opts.Guard = netguard.New(netguard.Options{})
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.PerHost <= 0 {
		opts.PerHost = DefaultPerHost
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "letterbox-linkcheck"
	}
	client := *opts.Guard.HTTPClient(0)
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if follow, _ := req.Context().Value(followKey{}).(bool); !follow {
			return http.ErrUseLastResponse
		}
		if len(via) > maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to a %s: URL", req.URL.Scheme)
		}
		return nil
	}
	return &Checker{opts: opts, client: &client, slots: make(chan struct{}, opts.Concurrency),
		hosts: map[string]chan struct{}{}, cache: map[cacheKey]cached{}}
}

type followKey struct{}

// Check checks links (at most MaxLinks) and returns their results in order. follow makes
// redirects followed to the final status; otherwise a redirect's own status is reported.
func (c *Checker) Check(ctx context.Context, links []string, follow bool) Response {
	if len(links) > MaxLinks {
		links = links[:MaxLinks]
	}
	res := Response{Links: make([]Link, len(links))}
	var wg sync.WaitGroup
	for i, link := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Links[i] = c.checkOne(ctx, link, follow)
		}()
	}
	wg.Wait()
	for _, l := range res.Links {
		if l.Failed() {
			res.Errors++
		}
	}
	return res
}

func (c *Checker) checkOne(ctx context.Context, link string, follow bool) Link {
	key := cacheKey{link, follow}
	if l, ok := c.cached(key); ok {
		return l
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return Link{URL: link, Status: "not an http or https URL"}
	}
	release, err := c.acquire(ctx, strings.ToLower(u.Hostname()))
	if err != nil {
		return Link{URL: link, Status: "not checked: " + err.Error()}
	}
	defer release()
	l := c.request(ctx, u, follow)
	l.URL = link
	if ctx.Err() == nil {
		c.store(key, l)
	}
	return l
}

// acquire waits for a slot overall and for the host.
func (c *Checker) acquire(ctx context.Context, host string) (func(), error) {
	c.mu.Lock()
	hs := c.hosts[host]
	if hs == nil {
		hs = make(chan struct{}, c.opts.PerHost)
		c.hosts[host] = hs
	}
	c.mu.Unlock()
	select {
	case hs <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		<-hs
		return nil, ctx.Err()
	}
	return func() { <-c.slots; <-hs }, nil
}

// request sends HEAD, then GET when the server refuses HEAD.
func (c *Checker) request(ctx context.Context, u *url.URL, follow bool) Link {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	ctx = context.WithValue(ctx, followKey{}, follow)
	if netguard.NamesLocal(u.Hostname()) {
		ctx = netguard.AllowHost(ctx, u.Hostname())
	}
	code, err := c.do(ctx, http.MethodHead, u)
	if err == nil && (code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented) {
		code, err = c.do(ctx, http.MethodGet, u)
	}
	if err != nil {
		return Link{Status: describe(err, c.opts.Timeout)}
	}
	return Link{StatusCode: code, Status: http.StatusText(code)}
}

func (c *Checker) do(ctx context.Context, method string, u *url.URL) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close() // the status is all we need; a GET's body is not read
	return resp.StatusCode, nil
}

// describe says in a few words why a link gave no answer.
func describe(err error, timeout time.Duration) string {
	var blocked *netguard.BlockedError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &blocked):
		return "blocked: " + strings.TrimPrefix(blocked.Error(), "netguard: ")
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "no such host"
		}
		return "DNS lookup failed: " + dnsErr.Err
	case errors.Is(err, context.Canceled):
		return "not checked: canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && !strings.HasPrefix(msg, "stopped") && !strings.HasPrefix(msg, "redirect") {
		msg = msg[i+2:]
	}
	return msg
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Checker) cached(k cacheKey) (Link, bool) {
	if c.opts.CacheTTL < 0 {
		return Link{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[k]
	if !ok || time.Now().After(e.expires) {
		return Link{}, false
	}
	return e.link, true
}

func (c *Checker) store(k cacheKey, l Link) {
	if c.opts.CacheTTL < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.cache) >= cacheSize {
		for key, e := range c.cache {
			if now.After(e.expires) || len(c.cache) >= cacheSize {
				delete(c.cache, key)
			}
		}
	}
	c.cache[k] = cached{link: l, expires: now.Add(c.opts.CacheTTL)}
}
