package webui

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/letterbox-mail/letterbox/store"
)

// bufferPool is the websocket write buffer pool shared by every websocket connection, so an idle client holds no write buffer.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() any  { return b.p.Get() }
func (b *bufferPool) Put(v any) { b.p.Put(v) }

// Event is one websocket frame of /api/events, as Mailpit sends them.
type Event struct {
	Type string
	Data any
}

// EventStats is the Data of a "stats" event.
type EventStats struct {
	Total   int
	Unread  int
	Version string
}

// EventError is the Data of an "error" event.
type EventError struct {
	Level   string
	Type    string
	IP      string
	Message string
}

// newUpgrader returns a websocket upgrader with small buffers and the origin check.
func (s *Server) newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   256,
		WriteBufferSize:  4096,
		WriteBufferPool:  &s.wsPool,
		CheckOrigin:      s.originAllowed,
	}
}

// events is the /api/events websocket: stats on connect, then the store's changes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	s.serveWebsocket(w, r, mailpitFrame, true)
}

// serveWebsocket upgrades the request and hands the connection to a goroutine, so that the
// request's own goroutine and net/http's buffers for it are released: an idle client costs
// two small goroutines (writer and reader), its subscription and gorilla's connection state.
func (s *Server) serveWebsocket(w http.ResponseWriter, r *http.Request, frame framer, withStats bool) {
	if !s.originAllowed(r) {
		http.Error(w, "webui: websocket from a foreign origin refused", http.StatusForbidden)
		return
	}
	done, ok := s.longLived(w)
	if !ok {
		return
	}
	// Subscribe before the upgrade so nothing committed after the stats is missed.
	sub := s.st.Subscribe(s.opts.EventBuffer)
	c, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		sub.Close()
		done()
		return // the upgrader answered
	}
	s.websockets.Add(1)
	go func() {
		defer done()
		defer sub.Close()
		defer s.websockets.Add(-1)
		s.serveEvents(context.Background(), c, sub, frame, withStats)
	}()
}

// framer turns a store event into a websocket message; ok=false skips it.
type framer func(ctx context.Context, s *Server, ev store.Event) (msg any, ok bool)

// mailpitFrame is Mailpit's /api/events framing.
func mailpitFrame(_ context.Context, _ *Server, ev store.Event) (any, bool) {
	switch ev.Type {
	case store.EventNew:
		if ev.Summary == nil {
			return nil, false
		}
		return Event{Type: "new", Data: summaryJSON(*ev.Summary)}, true
	case store.EventUpdate:
		if ev.Read != nil {
			return Event{Type: "update", Data: struct {
				ID   string
				Read bool
			}{ev.ID, *ev.Read}}, true
		}
		return Event{Type: "update", Data: struct {
			ID   string
			Tags []string
		}{ev.ID, nonNil(ev.Tags)}}, true
	case store.EventDelete:
		return Event{Type: "delete", Data: struct{ ID string }{ev.ID}}, true
	case store.EventTruncate:
		return Event{Type: "truncate"}, true
	case store.EventPrune:
		return Event{Type: "prune"}, true
	case store.EventSession:
		return sessionFrame(ev)
	case store.EventRelay:
		if ev.Relay == nil {
			return nil, false
		}
		// letterbox's own: a message's relay job changed (queued, sending, sent, failed).
		return Event{Type: "relay", Data: struct {
			ID       string
			State    string
			Attempts int
			Reply    string
		}{ev.ID, string(ev.Relay.State), ev.Relay.Attempts, ev.Relay.Reply}}, true
	}
	return nil, false
}

// serveEvents runs one websocket client: this goroutine writes, another reads (pongs, close).
// Stats are sent on connect and, at most every StatsInterval, after changes. A client that
// falls behind by more than EventBuffer commits is told so and disconnected; one that does not
// read what it is sent within the write deadline is disconnected too.
func (s *Server) serveEvents(ctx context.Context, c *websocket.Conn, sub *store.Subscription, frame framer, withStats bool) {
	defer c.Close()
	pongWait := 2 * s.opts.PingInterval
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		c.SetReadLimit(4096)
		c.SetReadDeadline(time.Now().Add(pongWait))
		c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(pongWait)) })
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}()
	write := func(v any) bool {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return c.WriteJSON(v) == nil
	}
	sendStats := func() bool {
		if !withStats {
			return true
		}
		st, err := s.stats(ctx)
		if err != nil {
			return true
		}
		return write(Event{Type: "stats", Data: EventStats{Total: st.Total, Unread: st.Unread, Version: s.opts.Version}})
	}
	if !sendStats() {
		return
	}
	ping := time.NewTicker(s.opts.PingInterval)
	defer ping.Stop()
	statsTimer := time.NewTimer(time.Hour)
	statsTimer.Stop()
	statsPending := false
	closeWith := func(code int, text string) {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, text))
	}
	for {
		select {
		case evs, ok := <-sub.Events():
			if !ok {
				if sub.Err() == store.ErrLagged {
					s.log.Info("websocket client fell behind; disconnected", "remote", c.RemoteAddr().String())
					write(Event{Type: "error", Data: EventError{Level: "warning", Type: "lagged", IP: c.RemoteAddr().String(),
						Message: "too many events unread; reconnect and reload"}})
					closeWith(websocket.CloseTryAgainLater, "fell behind")
				} else {
					closeWith(websocket.CloseGoingAway, "server closing")
				}
				return
			}
			if s.eventHook != nil {
				s.eventHook()
			}
			for _, ev := range evs {
				s.changes.Add(1)
				if msg, ok := frame(ctx, s, ev); ok && !write(msg) {
					return
				}
			}
			if withStats && !statsPending {
				statsPending = true
				statsTimer.Reset(s.opts.StatsInterval)
			}
		case <-statsTimer.C:
			statsPending = false
			if !sendStats() {
				return
			}
		case <-ping.C:
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case <-readDone:
			return
		case <-s.closing:
			closeWith(websocket.CloseGoingAway, "server closing")
			return
		}
	}
}
