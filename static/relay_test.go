package static_test

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/letterbox-mail/letterbox/relay"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/webui"
)

// TestReleaseButtonAndRelayStatus releases a message from the inbox to a second catcher: the
// recipients are prefilled from the message and edited, the relay's reply is shown, the
// message's relay status appears (live, from the websocket), a recipient the relay does not
// allow is refused in the dialog, and "Download mbox" follows the search.
func TestReleaseButtonAndRelayStatus(t *testing.T) {
	up := newStack(t)
	_, port, _ := net.SplitHostPort(up.smtp)
	p, _ := strconv.Atoi(port)
	var a *stack
	a = newStackWith(t, filepath.Join(t.TempDir(), "letterbox.db"), func(o *webui.Options) {
		r, err := relay.New(relay.Config{Host: "127.0.0.1", Port: p, AllowedRecipients: `@example\.com$`}, relay.Options{ClientOptions: relay.ClientOptions{Hostname: "inbox.test"}})
		if err != nil {
			t.Fatal(err)
		}
		o.Relay = r
		o.RelayLog = o.Store.(*store.Store)
	})
	a.send(t, "app@example.com", []string{"bob@example.com", "carol@example.com"}, mail{
		From: "App <app@example.com>", To: "Bob <bob@example.com>, carol@example.com", Subject: "Release me", Text: "hello",
	}.bytes())
	a.send(t, "app@example.com", []string{"bob@example.com"}, mail{Subject: "Other", Text: "x"}.bytes())

	ctx := browser(t, 1280, 900)
	open(t, ctx, a.url+"#q="+"subject:release")
	waitJS(t, ctx, `document.querySelectorAll('#list-rows a').length === 1`, 5*time.Second)
	if href := eval[string](t, ctx, `document.getElementById('mbox-link').getAttribute('href')`); href != "api/v1/mbox?query=subject%3Arelease" {
		t.Errorf("mbox link %q", href)
	}
	mbox := eval[string](t, ctx, `fetch(document.getElementById('mbox-link').href).then((r) => r.text())`)
	if !strings.HasPrefix(mbox, "From app@example.com ") || !strings.Contains(mbox, "Subject: Release me") || strings.Contains(mbox, "Subject: Other") {
		t.Errorf("mbox download:\n%s", mbox)
	}

	do(t, ctx, chromedp.Click(chromedp.CSS(`#list-rows a`)))
	waitJS(t, ctx, `!document.getElementById('release-btn').hidden`, 5*time.Second)
	do(t, ctx, chromedp.Click(chromedp.ID("release-btn")))
	waitJS(t, ctx, `document.getElementById('release-dialog').open`, 5*time.Second)
	if to := eval[string](t, ctx, `document.getElementById('release-to').value`); to != "bob@example.com, carol@example.com" {
		t.Errorf("prefilled recipients %q", to)
	}
	if note := eval[string](t, ctx, `document.getElementById('release-note').textContent`); !strings.Contains(note, up.smtp) || !strings.Contains(note, `@example\.com$`) {
		t.Errorf("dialog note %q", note)
	}

	// Not allowed by the relay: refused in the dialog, nothing sent.
	do(t, ctx, chromedp.SetValue(chromedp.ID("release-to"), "x@other.net"), chromedp.Click(chromedp.ID("release-send")))
	waitJS(t, ctx, `!document.getElementById('release-result').hidden`, 5*time.Second)
	if msg := eval[string](t, ctx, `document.getElementById('release-result').textContent`); !strings.Contains(msg, "allowed-recipients") {
		t.Errorf("refusal shown as %q", msg)
	}
	if res, _ := up.store.Search(context.Background(), store.Filter{}, store.Page{}); res.Total != 0 {
		t.Fatalf("%d messages went out", res.Total)
	}

	do(t, ctx, chromedp.SetValue(chromedp.ID("release-to"), "Dave <dave@example.com>; erin@example.com"), chromedp.Click(chromedp.ID("release-send")))
	waitJS(t, ctx, `!document.getElementById('release-dialog').open`, 10*time.Second)
	if msg := eval[string](t, ctx, `document.getElementById('toast').textContent`); !strings.Contains(msg, "250") {
		t.Errorf("toast %q", msg)
	}
	waitJS(t, ctx, `document.querySelector('#relay-status .relay-sent') !== null`, 5*time.Second)
	if st := eval[string](t, ctx, `document.getElementById('relay-status').textContent`); !strings.Contains(st, "Relayed to dave@example.com, erin@example.com") || !strings.Contains(st, "250") ||
		strings.Count(st, "Relayed") != 1 {
		t.Errorf("relay status %q", st)
	}
	res, _ := up.store.Search(context.Background(), store.Filter{}, store.Page{})
	if res.Total != 1 || res.Messages[0].Subject != "Release me" {
		t.Fatalf("the second catcher has %+v", res.Messages)
	}
	m, _ := up.store.Message(context.Background(), res.Messages[0].ID)
	if strings.Join(m.Envelope.Recipients, ",") != "dave@example.com,erin@example.com" {
		t.Errorf("released to %q", m.Envelope.Recipients)
	}

	// A relay job that changes elsewhere (auto-relay's worker) updates the open message live.
	id := eval[string](t, ctx, `window.letterbox.viewer.id`)
	if _, err := a.store.AddRelay(context.Background(), id, store.RelayJob{Kind: store.RelayAuto, Recipients: []string{"frank@example.com"}, State: store.RelayFailed, Reply: "550 5.1.1 no such user"}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `(document.getElementById('relay-status').textContent || '').includes('550 5.1.1 no such user')`, 5*time.Second)
	if !eval[bool](t, ctx, `document.querySelector('#relay-status .relay-failed') !== null && document.querySelectorAll('#relay-status .relay-state').length === 1`) {
		t.Errorf("the failed job is not shown as failed, once: %q", eval[string](t, ctx, `document.getElementById('relay-status').textContent`))
	}
}

// TestNoReleaseButtonWithoutARelay: with no relay configured the button stays hidden.
func TestNoReleaseButtonWithoutARelay(t *testing.T) {
	s := newStack(t)
	s.send(t, "app@example.com", []string{"bob@example.com"}, mail{Subject: "Stays here", Text: "x"}.bytes())
	ctx := browser(t, 1280, 900)
	open(t, ctx, s.url)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#list-rows a`)))
	waitJS(t, ctx, `document.getElementById('msg-subject').textContent === 'Stays here'`, 5*time.Second)
	if !eval[bool](t, ctx, `document.getElementById('release-btn').hidden && document.getElementById('relay-status').hidden`) {
		t.Error("a Release button or relay status without a relay")
	}
	if href := eval[string](t, ctx, `document.getElementById('mbox-link').getAttribute('href')`); href != "api/v1/mbox" {
		t.Errorf("mbox link %q", href)
	}
}
