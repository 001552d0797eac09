package webui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/letterbox-mail/letterbox/store"
)

const chromiumPath = "/usr/bin/chromium"

// chromium starts a headless Chromium; without it the test is skipped, or fails when CI=true.
func chromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is required: %v", err)
		}
		t.Skipf("skipping browser test: %s not found", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	return ctx
}

// TestBrowserViewSandbox loads hostile captured HTML in a real browser: no script runs (the
// message that would delete every message and call home stays harmless), remote images are not
// fetched unless ?remote=1, and the cid: image is shown from the message's part.
func TestBrowserViewSandbox(t *testing.T) {
	var hits, scriptHits atomic.Int32
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "script") {
			scriptHits.Add(1)
		} else {
			hits.Add(1)
		}
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x00;"))
	}))
	defer tracker.Close()
	e := newEnv(t, Options{})
	const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	html := `<p>Hello</p><img id="logo" src="cid:logo@x"><img id="remote" src="` + tracker.URL + `/pixel.gif">` +
		`<script>fetch("/api/v1/messages",{method:"DELETE"});new Image().src="` + tracker.URL + `/script1";</script>` +
		`<img src="nope" onerror="new Image().src='` + tracker.URL + `/script2'">`
	raw := "From: a@example.com\r\nTo: b@example.org\r\nSubject: Hostile\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/related; boundary=\"r\"\r\n\r\n" +
		"--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n" +
		"--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + png + "\r\n--r--\r\n"
	sum := e.addRaw(store.Envelope{}, raw)
	ctx := chromium(t)

	width := func(url, id string) int {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(document.getElementById("`+id+`") || {naturalWidth: -1}).naturalWidth`))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	view := e.url + "/view/" + sum.ID + ".html"
	logoWidth := width(view, "logo")
	remoteWidth := width(view, "remote")
	if logoWidth != 1 {
		t.Errorf("cid: image not shown (naturalWidth %d)", logoWidth)
	}
	if remoteWidth != 0 || hits.Load() != 0 {
		t.Errorf("remote image fetched without ?remote=1 (width %d, %d hits)", remoteWidth, hits.Load())
	}
	if scriptHits.Load() != 0 {
		t.Errorf("script in captured mail ran (%d calls home)", scriptHits.Load())
	}
	if total := num(field(e.getJSON("/api/v1/messages"), "total")); total != 1 {
		t.Errorf("script in captured mail deleted messages (total %d)", total)
	}
	// With remote=1 remote images load; scripts still do not run.
	remoteWidth = width(view+"?remote=1", "remote")
	if remoteWidth != 1 || hits.Load() == 0 {
		t.Errorf("remote image not loaded with ?remote=1 (width %d, %d hits)", remoteWidth, hits.Load())
	}
	if scriptHits.Load() != 0 {
		t.Errorf("script ran with ?remote=1")
	}
}
