package webui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// Limits of /api/v1/wait.
const (
	defaultWait = 30 * time.Second
	maxWait     = 10 * time.Minute
)

// WaitError is the JSON body of a 408 from /api/v1/wait.
type WaitError struct {
	Error   string
	Query   string
	Count   int
	Matched int
	Timeout string
}

// wait is GET /api/v1/wait?query=&count=1&since=&timeout=30s: the list envelope of the matches as
// soon as at least count messages received after since match query, or 408 after timeout.
// It subscribes to the store's events before it searches, so a message committed at any moment
// of the request is seen; it searches again only when a new message arrives.
func (s *Server) wait(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	qv := r.URL.Query()
	query, err := parseQuery(qv.Get("query"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	count, err := intParam(r, "count", 1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	count = max(count, 1)
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	timeout, err := waitTimeout(qv.Get("timeout"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := store.Filter{Query: query}
	if since := strings.TrimSpace(qv.Get("since")); since != "" {
		if t, err := time.Parse(time.RFC3339Nano, since); err == nil {
			f.Since = t
		} else if sum, err := s.st.Summary(ctx, since); err == nil {
			f.SinceUID = sum.UID
		} else if errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, badf("since=%q is neither an RFC 3339 time nor the ID of a stored message", since))
			return
		} else {
			s.fail(w, r, err)
			return
		}
	}
	done, ok := s.longLived(w)
	if !ok {
		return
	}
	defer done()
	s.waits.Add(1)
	defer s.waits.Add(-1)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	p := store.Page{Limit: max(limit, count)}
	for {
		sub := s.st.Subscribe(64)
		l, err := s.list(ctx, f, p)
		if err != nil {
			sub.Close()
			s.fail(w, r, err)
			return
		}
		if l.MessagesCount >= count {
			sub.Close()
			writeJSON(w, http.StatusOK, l)
			return
		}
		matched := l.MessagesCount
		resubscribe := false
		for !resubscribe {
			select {
			case evs, ok := <-sub.Events():
				if !ok {
					resubscribe = true // lagged or closed: search again with a fresh subscription
					if errors.Is(sub.Err(), store.ErrClosed) {
						s.fail(w, r, sub.Err())
						return
					}
				}
				for _, ev := range evs {
					resubscribe = resubscribe || ev.Type == store.EventNew
				}
			case <-timer.C:
				sub.Close()
				writeJSON(w, http.StatusRequestTimeout, WaitError{
					Error: "webui: timed out: " + strconv.Itoa(matched) + " of " + strconv.Itoa(count) +
						" messages matched within " + timeout.String(),
					Query: qv.Get("query"), Count: count, Matched: matched, Timeout: timeout.String(),
				})
				return
			case <-ctx.Done():
				sub.Close()
				return
			case <-s.closing:
				sub.Close()
				http.Error(w, "webui: shutting down", http.StatusServiceUnavailable)
				return
			}
		}
		sub.Close()
	}
}

// waitTimeout reads timeout= as a Go duration ("30s", "2m") or whole seconds ("30").
func waitTimeout(v string) (time.Duration, error) {
	if v == "" {
		return defaultWait, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, err2 := strconv.Atoi(v)
		if err2 != nil {
			return 0, badf("timeout=%q is not a duration (use 30s, 2m or a number of seconds)", v)
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 || d > maxWait {
		return 0, badf("timeout=%q must be above 0 and at most %s", v, maxWait)
	}
	return d, nil
}
