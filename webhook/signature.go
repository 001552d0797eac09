// Package webhook is the wire format of letterbox's webhooks, for the applications that receive
// them: the headers every delivery carries and the signature over its body (HMAC-SHA256 of the
// timestamp, a full stop and the raw body, keyed with --webhook-secret). Verify checks a delivery.
//
// The package needs nothing but the standard library, so that a receiver importing it for Verify
// does not build letterbox's server; letterbox's own sender is package webhook/sender.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of every delivery.
const (
	// HeaderEvent names the event: "new" (a message was stored).
	HeaderEvent = "X-Letterbox-Event"
	// HeaderDelivery identifies the event: the same on every attempt and every URL, so that a
	// receiver can ignore a repeat.
	HeaderDelivery = "X-Letterbox-Delivery"
	// HeaderAttempt counts the attempts at this delivery to this URL: 1, 2, ...
	HeaderAttempt = "X-Letterbox-Attempt"
	// HeaderTimestamp is when this attempt was signed, in Unix seconds (only with a secret).
	HeaderTimestamp = "X-Letterbox-Timestamp"
	// HeaderSignature is "sha256=" and the lower-case hex HMAC-SHA256, keyed with the secret, of
	// the timestamp, a full stop and the body, byte for byte (only with a secret).
	HeaderSignature = "X-Letterbox-Signature"
)

// DefaultTolerance is how old a timestamp Verify accepts when given 0.
const DefaultTolerance = 5 * time.Minute

// Verification errors.
var (
	// ErrNoSignature: the request has no signature or timestamp header.
	ErrNoSignature = errors.New("webhook: no signature")
	// ErrBadSignature: the signature does not match the body, timestamp and secret.
	ErrBadSignature = errors.New("webhook: signature does not match")
	// ErrStale: the timestamp is further from now than the tolerance (a replay, or a clock far off).
	ErrStale = errors.New("webhook: timestamp outside the tolerance")
)

// Sign returns the HeaderSignature value for body signed at timestamp (Unix seconds) with secret.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery as a receiver should: the signature matches body (the raw bytes
// received, before any JSON decoding), the timestamp header and secret, and the timestamp is
// within tolerance of now (0 means DefaultTolerance). It compares in constant time.
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration) error {
	sig, tsText := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sig == "" || tsText == "" {
		return ErrNoSignature
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(tsText), 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(strings.TrimSpace(sig))) {
		return ErrBadSignature
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if age := time.Since(time.Unix(ts, 0)); age > tolerance || age < -tolerance {
		return ErrStale
	}
	return nil
}
