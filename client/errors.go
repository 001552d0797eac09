package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors that the errors returned by Client's methods match with errors.Is, so that a test can
// tell the cases apart without looking at status codes.
var (
	// ErrNotFound: the message (or part, or endpoint) does not exist (HTTP 404).
	ErrNotFound = errors.New("client: not found")
	// ErrTimeout: WaitFor gave up before enough messages matched, because the server's timeout
	// passed (HTTP 408) or ctx's deadline did.
	ErrTimeout = errors.New("client: timed out waiting for messages")
	// ErrBadRequest: the server refused the request's input (HTTP 400).
	ErrBadRequest = errors.New("client: bad request")
	// ErrBadQuery: the search query does not parse (HTTP 400 naming the search). Such errors
	// also match ErrBadRequest.
	ErrBadQuery = errors.New("client: bad search query")
	// ErrUnauthorized: the server wants (other) basic-auth credentials (HTTP 401); see WithBasicAuth.
	ErrUnauthorized = errors.New("client: authentication required")
)

// Error is an answer with an unexpected HTTP status. Use errors.As to read it, or errors.Is with
// ErrNotFound, ErrTimeout, ErrBadRequest, ErrBadQuery or ErrUnauthorized.
type Error struct {
	Method string // the request's method
	Path   string // the request's path, such as /api/v1/search
	Status int    // HTTP status code
	Body   string // the server's explanation
}

// Error says what was asked, the status and the server's explanation.
func (e *Error) Error() string {
	return fmt.Sprintf("client: %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// Is matches the error values above by status: 404 ErrNotFound, 408 ErrTimeout, 401
// ErrUnauthorized, 400 ErrBadRequest, and ErrBadQuery when the server's explanation is about
// the search (letterbox says "search: ...").
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrTimeout:
		return e.Status == http.StatusRequestTimeout
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrBadQuery:
		return e.Status == http.StatusBadRequest && strings.Contains(e.Body, "search: ")
	}
	return false
}

// waitTimeout is WaitFor's error when ctx's deadline passed: it matches ErrTimeout and the
// context's error.
type waitTimeout struct{ err error }

func (e waitTimeout) Error() string {
	return "client: timed out waiting for messages: " + e.err.Error()
}

func (e waitTimeout) Is(target error) bool { return target == ErrTimeout }

func (e waitTimeout) Unwrap() error { return e.err }
