package static_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/static"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/webui"
)

// chromiumPath is Debian's Chromium, installed by .ci/run.
const chromiumPath = "/usr/bin/chromium"

// stack is a whole letterbox: a store in a temporary directory, SMTP on a
// loopback port and the HTTP server with the web inbox.
type stack struct {
	store *store.Store
	smtp  string // host:port
	url   string // base URL of the web inbox, ending in "/"
}

// logger sends log records to t.Log until the test ends.
func logger(t testing.TB) *slog.Logger {
	w := &tlogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tlogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func newStack(t testing.TB) *stack {
	t.Helper()
	return newStackAt(t, filepath.Join(t.TempDir(), "letterbox.db"))
}

func newStackAt(t testing.TB, path string) *stack {
	t.Helper()
	return newStackWith(t, path, nil)
}

// newStackWith is newStackAt with a hook that may change the web server's options.
func newStackWith(t testing.TB, path string, configure func(*webui.Options)) *stack {
	t.Helper()
	return newStackSMTP(t, path, configure, nil)
}

// newStackSMTP is newStackWith with a hook for the SMTP server's options too.
func newStackSMTP(t testing.TB, path string, configure func(*webui.Options), configureSMTP func(*smtpd.Options)) *stack {
	t.Helper()
	ctx := context.Background()
	log := logger(t)
	st, err := store.Open(ctx, store.Options{Path: path, Hostname: "letterbox.test", Logger: log})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })

	sopts := smtpd.Options{Hostname: "letterbox.test", Logger: log}
	if configureSMTP != nil {
		configureSMTP(&sopts)
	}
	srv, err := smtpd.New(st, sopts)
	if err != nil {
		t.Fatalf("smtpd.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	opts := webui.Options{Store: st, Sessions: st, Static: static.Files, Logger: log, SMTPAddr: l.Addr().String(), Version: "test"}
	if configure != nil {
		configure(&opts)
	}
	web, err := webui.New(opts)
	if err != nil {
		t.Fatalf("webui.New: %v", err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go web.Serve(hl)
	t.Cleanup(func() { web.Close() })
	return &stack{store: st, smtp: l.Addr().String(), url: "http://" + hl.Addr().String() + "/"}
}

// send delivers raw over SMTP, without STARTTLS, like a typical app in development.
func (s *stack) send(t testing.TB, from string, to []string, raw []byte) {
	t.Helper()
	c, err := smtp.Dial(s.smtp)
	if err != nil {
		t.Fatalf("smtp dial: %v", err)
	}
	defer c.Close()
	if err := c.Hello("app.test"); err != nil {
		t.Fatalf("HELO: %v", err)
	}
	if err := c.Mail(from); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			t.Fatalf("RCPT: %v", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatalf("DATA write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
}

// add stores a message directly, for setup that is not under test.
func (s *stack) add(t testing.TB, from string, to []string, raw []byte) store.Summary {
	t.Helper()
	sum, err := s.store.Add(context.Background(), store.Envelope{MailFrom: from, Recipients: to, Helo: "app.test", RemoteAddr: "127.0.0.1:40000"}, bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("store.Add: %v", err)
	}
	return sum
}

// mail builds a simple message.
type mail struct {
	From, To, Subject, Text, HTML string
	Headers                       []string
	Attach                        []attachment
	Date                          time.Time // zero: now
}

type attachment struct {
	Name, Type string
	Data       []byte
}

func (m mail) bytes() []byte {
	var b strings.Builder
	if m.From == "" {
		m.From = "App <app@example.com>"
	}
	if m.To == "" {
		m.To = "Dev <dev@example.com>"
	}
	if m.Date.IsZero() {
		m.Date = time.Now()
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.%d@example.com>\r\nMIME-Version: 1.0\r\n",
		m.From, m.To, m.Subject, m.Date.Format(time.RFC1123Z), time.Now().UnixNano(), len(m.Subject))
	for _, h := range m.Headers {
		b.WriteString(h + "\r\n")
	}
	text := m.Text
	if text == "" && m.HTML == "" {
		text = "Hello."
	}
	body := func() {
		switch {
		case m.HTML != "" && text != "":
			b.WriteString("Content-Type: multipart/alternative; boundary=alt\r\n\r\n")
			fmt.Fprintf(&b, "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", text)
			fmt.Fprintf(&b, "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s\r\n--alt--\r\n", m.HTML)
		case m.HTML != "":
			fmt.Fprintf(&b, "Content-Type: text/html; charset=utf-8\r\n\r\n%s\r\n", m.HTML)
		default:
			fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", text)
		}
	}
	if len(m.Attach) == 0 {
		body()
		return []byte(b.String())
	}
	b.WriteString("Content-Type: multipart/mixed; boundary=mix\r\n\r\n--mix\r\n")
	body()
	for _, a := range m.Attach {
		fmt.Fprintf(&b, "--mix\r\nContent-Type: %s; name=%q\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			a.Type, a.Name, a.Name, b64(a.Data))
	}
	b.WriteString("--mix--\r\n")
	return []byte(b.String())
}

func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	out.WriteString(s)
	return out.String()
}

// browser starts a headless Chromium with a fresh profile and returns a tab.
// Without Chromium the test is skipped, or fails when CI=true.
func browser(t testing.TB, width, height int) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is required for the browser tests: %v", err)
		}
		t.Skipf("skipping browser test: %s not found (apt-get install chromium)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-popup-blocking", false),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Every test also checks that the inbox itself threw no exception and broke
	// no rule of its Content-Security-Policy.
	var mu sync.Mutex
	var problems []string
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			mu.Lock()
			problems = append(problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
			mu.Unlock()
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
		return err
	})); err != nil {
		t.Fatalf("install CSP recorder: %v", err)
	}
	t.Cleanup(func() {
		if ctx.Err() != nil {
			return
		}
		csp, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.top === window && window.__cspViolations ? window.__cspViolations : []`))
		if err == nil && len(csp) > 0 {
			t.Errorf("the inbox broke its Content-Security-Policy: %q", csp)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(problems) > 0 {
			t.Errorf("the inbox threw: %q", problems)
		}
	})
	return ctx
}

// cspRecorder runs in the inbox before its own scripts and records CSP
// violations (only in the top document: message frames block things by design).
const cspRecorder = `if (window.top === window && !window.__cspViolations) {
	window.__cspViolations = [];
	document.addEventListener('securitypolicyviolation', e =>
		window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));
}`

// dialogs records JavaScript dialogs (alert, confirm, prompt, beforeunload)
// that open in the tab, dismissing each one.
type dialogs struct {
	mu     sync.Mutex
	msgs   []string
	opened chan struct{} // closed when the first dialog opens
	once   sync.Once
}

func watchDialogs(ctx context.Context) *dialogs {
	d := &dialogs{opened: make(chan struct{})}
	evs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range evs {
			if err != nil {
				return
			}
			d.mu.Lock()
			d.msgs = append(d.msgs, string(ev.Type)+": "+ev.Message)
			d.mu.Unlock()
			d.once.Do(func() { close(d.opened) })
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return d
}

func (d *dialogs) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.msgs...)
}

// open loads the inbox and waits until its first list page is shown.
func open(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	waitJS(t, ctx, `window.letterbox && window.letterbox.list.loaded && document.getElementById('conn').dataset.state === 'open'`, 10*time.Second)
}

// waitJS polls a JavaScript predicate until it is true, failing after timeout.
func waitJS(t testing.TB, ctx context.Context, expr string, timeout time.Duration) {
	t.Helper()
	// An element the expression reads may not exist yet: that is "not yet", not a failure.
	poll := "(() => { try { return (" + expr + "); } catch (e) { return false; } })()"
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](poll, chromedp.WithPollingTimeout(timeout))); err != nil {
		if dir := os.Getenv("LETTERBOX_FAIL_DIR"); dir != "" {
			if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
				os.WriteFile(filepath.Join(dir, "fail.png"), png, 0o644)
			}
		}
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({title: document.title, hash: location.hash,
			count: document.getElementById('count')?.textContent, conn: document.getElementById('conn')?.textContent,
			rows: [...document.querySelectorAll('#list-rows .row-subject')].map(e => e.textContent).slice(0, 10),
			subject: document.getElementById('msg-subject')?.textContent, toast: document.getElementById('toast')?.textContent,
			frame: document.getElementById('html-frame')?.getAttribute('src'), tab: window.letterbox?.viewer.tab,
			list: window.letterbox && (({total, unread, storeTotal, storeUnread, gen, epoch, loaded, error}) => ({total, unread, storeTotal, storeUnread, gen, epoch, loaded, error}))(window.letterbox.list),
			cache: window.letterbox?.list.cache.size, inflight: window.letterbox && [...window.letterbox.list.inflight],
			scroll: document.getElementById('list').scrollTop, range: window.letterbox?.list.visibleRange()})`))
		t.Fatalf("waiting for %s: %v\npage state: %s", expr, err, state)
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

func do(t testing.TB, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// corpusDir is the shared corpus of hostile and odd messages.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus", "generated")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus missing: %v", err)
		}
		t.Skipf("skipping: corpus not found at %s", dir)
	}
	return dir
}

func storeFilterAll() store.Filter { return store.Filter{} }

func storePage(offset, limit int) store.Page { return store.Page{Offset: offset, Limit: limit} }

// frameText returns the text and origin of the first frame whose URL
// contains urlPart. The frame is sandboxed, so the page itself cannot reach
// into it, but the browser's debugger can: through an isolated world when the
// frame lives in the page's process, or by attaching to it when Chromium put
// it in a process of its own.
func frameText(t testing.TB, ctx context.Context, urlPart string) (text, origin, images string) {
	t.Helper()
	const expr = `JSON.stringify([document.body ? document.body.innerText : '', self.origin,
		[...document.images].map(i => i.naturalWidth > 0 ? 'loaded' : 'blocked').join(',')])`
	decode := func(v []byte) {
		var s string
		var pair [3]string
		if err := json.Unmarshal(v, &s); err != nil {
			t.Fatalf("frame text: %v", err)
		}
		if err := json.Unmarshal([]byte(s), &pair); err != nil {
			t.Fatalf("frame text: %v", err)
		}
		text, origin, images = pair[0], pair[1], pair[2]
	}
	tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		t.Fatalf("frame tree: %v", err)
	}
	var find func(ft *page.FrameTree) *cdp.Frame
	find = func(ft *page.FrameTree) *cdp.Frame {
		for _, c := range ft.ChildFrames {
			if strings.Contains(c.Frame.URL, urlPart) {
				return c.Frame
			}
			if f := find(c); f != nil {
				return f
			}
		}
		return nil
	}
	if f := find(tree.FrameTree); f != nil {
		world, err := chromedp.Call(ctx, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{FrameID: f.ID, WorldName: "letterbox-test"})
		if err != nil {
			t.Fatalf("isolated world: %v", err)
		}
		yes := true
		res, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: expr, ContextID: world.ExecutionContextID, ReturnByValue: &yes})
		if err != nil || res.Result == nil {
			t.Fatalf("evaluate in frame: %v", err)
		}
		decode([]byte(res.Result.Value))
		return text, origin, images
	}
	targets, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatalf("targets: %v", err)
	}
	for _, ti := range targets {
		if ti.Type == "iframe" && strings.Contains(ti.URL, urlPart) {
			fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID), chromedp.WithDetachOnCancel())
			defer cancel()
			v, err := chromedp.Run(fctx, chromedp.Evaluate[string](expr))
			if err != nil {
				t.Fatalf("evaluate in frame target: %v", err)
			}
			b, _ := json.Marshal(v)
			decode(b)
			return text, origin, images
		}
	}
	var urls []string
	for _, ti := range targets {
		urls = append(urls, ti.Type+" "+ti.URL)
	}
	t.Fatalf("no frame with %q in its URL; targets: %q", urlPart, urls)
	return "", "", ""
}

// press sends one key as a key-down and key-up, without a character event,
// the way a shortcut reaches the page.
func press(key string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		code := map[string]string{"Enter": "Enter", "Delete": "Delete", "Escape": "Escape", "/": "Slash", "?": "Slash",
			"ArrowRight": "ArrowRight", "ArrowLeft": "ArrowLeft", "ArrowDown": "ArrowDown", "ArrowUp": "ArrowUp"}[key]
		vk := map[string]int64{"Enter": 13, "Delete": 46, "Escape": 27, "/": 191, "?": 191,
			"ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40}[key]
		if code == "" && len(key) == 1 {
			code = "Key" + strings.ToUpper(key)
			vk = int64(strings.ToUpper(key)[0])
		}
		var mods int64
		if key == "?" {
			mods = 8 // Shift
		}
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: key, Code: code, WindowsVirtualKeyCode: vk, Modifiers: mods,
			}); err != nil {
				return chromedp.Void{}, err
			}
		}
		return chromedp.Void{}, nil
	}
}

// tcpProxy forwards loopback connections to a server and can cut them all,
// to test how the page lives through a lost connection.
type tcpProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	down   bool
}

func newProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { l.Close(); p.cut(true) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			if !down {
				p.conns[c] = struct{}{}
			}
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *tcpProxy) serve(c net.Conn) {
	b, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[b] = struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(b, c); b.Close() }()
	io.Copy(c, b)
	c.Close()
}

// url is the proxied address of the inbox.
func (p *tcpProxy) url() string { return "http://" + p.l.Addr().String() + "/" }

// cut closes every open connection; with stayDown, new ones are refused until up.
func (p *tcpProxy) cut(stayDown bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = stayDown
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
