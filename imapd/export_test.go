package imapd

// SetEventBuffer makes the server's store subscription hold n events (before its first SELECT),
// so that tests can make it lag.
func SetEventBuffer(s *Server, n int) { s.eventBuffer = n }

// Reloads returns how many times a mailbox was reloaded after the subscription lagged.
func Reloads(s *Server) int64 { return s.reloads.Load() }

// HoldEvents stops the server from handing store events to mailboxes until release is called
// (the dispatcher waits for the server's lock), so that tests can make its subscription lag.
func HoldEvents(s *Server) (release func()) {
	s.mu.Lock()
	return s.mu.Unlock
}

// Sessions returns the number of sessions open.
func Sessions(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
