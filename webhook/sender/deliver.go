package sender

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/letterbox-mail/letterbox/netguard"
	"github.com/letterbox-mail/letterbox/webhook"
)

// deliver sends ev to t, retrying as the package documentation says, and counts the outcome.
func (s *Sender) deliver(t *target, ev *event) {
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			t.retries.Add(1)
		}
		wait, retry, err := s.attempt(t, ev, attempt)
		if err == nil {
			t.delivered.Add(1)
			s.log.Debug("webhook delivered", "url", t.shown, "message", ev.msg, "attempt", attempt)
			return
		}
		if s.ctx.Err() != nil {
			t.dropped.Add(1)
			return
		}
		if !retry || attempt >= s.opts.MaxAttempts {
			t.failed.Add(1)
			s.log.Warn("webhook failed", "url", t.shown, "message", ev.msg, "attempts", attempt, "err", err)
			return
		}
		if wait <= 0 {
			wait = s.backoff(attempt)
		}
		s.log.Debug("webhook attempt failed; retrying", "url", t.shown, "message", ev.msg, "attempt", attempt, "in", wait, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-s.ctx.Done():
			timer.Stop()
			t.dropped.Add(1)
			return
		}
	}
}

// backoff is the wait after the given failed attempt: Backoff doubled at each retry, at most
// MaxBackoff, less up to a fifth at random so that retries of many events spread out.
func (s *Sender) backoff(attempt int) time.Duration {
	d := s.opts.Backoff
	for i := 1; i < attempt && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	var b [1]byte
	rand.Read(b[:])
	return d - d*time.Duration(b[0])/(255*5)
}

// attempt POSTs ev once. It returns whether to try again and, when the server said, after how long.
func (s *Sender) attempt(t *target, ev *event, n int) (wait time.Duration, retry bool, err error) {
	// The operator named this host: it may be private. Nothing else may be (redirects included).
	ctx := netguard.AllowHost(s.ctx, t.host)
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(ev.body))
	if err != nil {
		return 0, false, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "letterbox/"+s.opts.Version)
	h.Set(webhook.HeaderEvent, "new")
	h.Set(webhook.HeaderDelivery, ev.id)
	h.Set(webhook.HeaderAttempt, strconv.Itoa(n))
	if s.opts.Secret != "" {
		ts := time.Now().Unix()
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(webhook.HeaderSignature, webhook.Sign(s.opts.Secret, ts, ev.body))
	}
	res, err := s.client.Do(req)
	if err != nil {
		// *url.Error names the URL, query (often a token) and user name included: the logs name
		// the URL as t.shown already, so keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// A refused destination (a redirect to a private address) stays refused.
		return 0, !errors.Is(err, netguard.ErrBlocked), err
	}
	defer res.Body.Close()
	drain(res.Body)
	switch c := res.StatusCode; {
	case c >= 200 && c < 300:
		return 0, false, nil
	case c == http.StatusRequestTimeout, c == http.StatusTooEarly, c == http.StatusTooManyRequests, c >= 500:
		return retryAfter(res.Header.Get("Retry-After"), s.opts.MaxBackoff), true, fmt.Errorf("HTTP %d", c)
	default:
		return 0, false, fmt.Errorf("HTTP %d (not retried)", c)
	}
}

// retryAfter reads a Retry-After header in seconds or as a date; 0 when absent or unusable.
// It is capped at limit.
func retryAfter(v string, limit time.Duration) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return max(0, min(d, limit))
}
