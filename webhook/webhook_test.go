package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/webhook"
)

// Receivers import this package: it must stay on the standard library, or importing it for
// Verify would build letterbox's store and servers into the receiving application.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s, which is not in the standard library", f, path)
			}
		}
	}
}

func TestSignAndVerify(t *testing.T) {
	const secret = "whsec-0123"
	body := []byte(`{"ID":"abc","Subject":"Hello"}`)
	now := time.Now().Unix()
	// The README's formula: HMAC(secret, "<timestamp>." + body), lower-case hex after "sha256=".
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(now, 10) + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := webhook.Sign(secret, now, body); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	signed := func(ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(webhook.HeaderSignature, sig)
		return h
	}
	changed := []byte(`{"ID":"abd","Subject":"Hello"}`)
	old := now - 3600
	notANumber := signed(now, want)
	notANumber.Set(webhook.HeaderTimestamp, "yesterday")
	cases := []struct {
		name   string
		secret string
		header http.Header
		body   []byte
		want   error
	}{
		{"good", secret, signed(now, want), body, nil},
		{"another secret", "other", signed(now, want), body, webhook.ErrBadSignature},
		{"a changed body", secret, signed(now, want), changed, webhook.ErrBadSignature},
		{"another timestamp", secret, signed(now+1, want), body, webhook.ErrBadSignature},
		{"a replay", secret, signed(old, webhook.Sign(secret, old, body)), body, webhook.ErrStale},
		{"from the future", secret, signed(now+3600, webhook.Sign(secret, now+3600, body)), body, webhook.ErrStale},
		{"unsigned", secret, http.Header{}, body, webhook.ErrNoSignature},
		{"a timestamp that is no number", secret, notANumber, body, webhook.ErrBadSignature},
	}
	for _, tc := range cases {
		if err := webhook.Verify(tc.secret, tc.header, tc.body, 5*time.Minute); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
}
