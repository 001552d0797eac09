package static_test

import (
	"context"
	"errors"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/letterbox-mail/letterbox/policy"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/webui"
)

// TestSessionTabAndFaultBanner: the banner appears while SMTP rules are in force and goes when
// they are removed, names Jim and Mailpit's chaos while they are on; a message's Session tab shows the conversation that delivered it; the
// Sessions view lists the refused probe that stored nothing, with its fault.
func TestSessionTabAndFaultBanner(t *testing.T) {
	eng, err := policy.New(policy.Options{ChaosEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	s := newStackSMTP(t, filepath.Join(t.TempDir(), "letterbox.db"),
		func(o *webui.Options) { o.Faults = eng },
		func(o *smtpd.Options) { o.Policy = eng })
	ctx := browser(t, 1280, 800)
	open(t, ctx, s.url)
	waitJS(t, ctx, `document.getElementById('conn').dataset.state === 'open'`, 5*time.Second)
	if !eval[bool](t, ctx, `document.getElementById('faults-banner').hidden`) {
		t.Fatal("banner shown with nothing in force")
	}

	if err := eng.SetRules([]policy.Rule{{Name: "bounce", Stage: "rcpt", To: "bounce@*",
		Reply: &policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "<{address}>: user unknown"}}}); err != nil {
		t.Fatal(err)
	}
	// A probe the rule refuses: its session event brings the banner up.
	c, err := smtp.Dial(s.smtp)
	if err != nil {
		t.Fatal(err)
	}
	c.Hello("probe.test")
	c.Mail("probe@verifier.test")
	var te *textproto.Error
	if err := c.Rcpt("bounce@example.com"); !errors.As(err, &te) || te.Code != 550 || te.Msg != "5.1.1 <bounce@example.com>: user unknown" {
		t.Fatalf("RCPT: %v", err)
	}
	c.Quit()
	waitJS(t, ctx, `!document.getElementById('faults-banner').hidden`, 8*time.Second)
	if got := eval[string](t, ctx, `document.getElementById('faults-banner').textContent`); !strings.Contains(got, "1 SMTP rule") {
		t.Errorf("banner %q", got)
	}

	s.send(t, "app@example.com", []string{"dev@example.com"}, mail{Subject: "Welcome", Text: "hello"}.bytes())
	waitJS(t, ctx, `document.querySelectorAll('#list-rows a').length === 1`, 5*time.Second)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#list-rows a`)))
	waitJS(t, ctx, `!!document.getElementById('tab-session')`, 5*time.Second)
	do(t, ctx, chromedp.Click(chromedp.ID("tab-session")))
	waitJS(t, ctx, `!!document.querySelector('#panel-session .transcript')`, 5*time.Second)
	got := eval[string](t, ctx, `document.querySelector('#panel-session .transcript').textContent`)
	for _, want := range []string{"C: EHLO app.test", "S: 250-Hello app.test", "C: MAIL FROM:<app@example.com>", "S: 354 ", "** message of ", "C: QUIT"} {
		if !strings.Contains(got, want) {
			t.Errorf("Session tab lacks %q:\n%s", want, got)
		}
	}
	reviewShot(t, ctx, "session-tab.png")
	if head := eval[string](t, ctx, `document.querySelector('#panel-session .session-head').textContent`); !strings.Contains(head, "HELO app.test") || !strings.Contains(head, "1 message") {
		t.Errorf("Session tab head %q", head)
	}

	// The Sessions view: both sessions; without mail, only the refused probe, with its fault.
	do(t, ctx, chromedp.Click(chromedp.ID("sessions-btn")))
	waitJS(t, ctx, `document.querySelectorAll('#sessions-rows .session-row').length === 2`, 5*time.Second)
	eval[bool](t, ctx, `(() => { const f = document.getElementById('sessions-filter'); f.value = 'nomail';
		f.dispatchEvent(new Event('change')); return true; })()`)
	waitJS(t, ctx, `document.querySelectorAll('#sessions-rows .session-row').length === 1`, 5*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('#sessions-rows .session-row').textContent`); !strings.Contains(got, "probe.test") || !strings.Contains(got, "1 fault") {
		t.Errorf("probe row %q", got)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#sessions-rows .session-row`)))
	waitJS(t, ctx, `!!document.querySelector('#sessions-detail .transcript')`, 5*time.Second)
	detail := eval[string](t, ctx, `document.getElementById('sessions-detail').textContent`)
	for _, want := range []string{"bounce at rcpt: reply 550", "C: RCPT TO:<bounce@example.com>", "S: 550 5.1.1 <bounce@example.com>: user unknown"} {
		if !strings.Contains(detail, want) {
			t.Errorf("session detail lacks %q:\n%s", want, detail)
		}
	}
	reviewShot(t, ctx, "sessions-view.png")
	do(t, ctx, chromedp.Click(chromedp.ID("sessions-close")))

	// Rules off, Jim and Mailpit's chaos on: the banner names them (the inbox checks every few
	// seconds); all off: it goes.
	eng.SetRules(nil)
	jim := policy.DefaultJim()
	if err := eng.SetJim(&jim); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.SetChaos(policy.ChaosTriggers{Sender: policy.ChaosTrigger{ErrorCode: 451, Probability: 10}}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `(t => t.includes("MailHog's Jim") && t.includes("Mailpit's chaos") && !t.includes("SMTP rule"))(document.getElementById('faults-banner').textContent)`, 10*time.Second)
	eng.SetJim(nil)
	eng.SetChaos(policy.ChaosTriggers{})
	waitJS(t, ctx, `document.getElementById('faults-banner').hidden`, 10*time.Second)
}

// reviewShot saves a screenshot into LETTERBOX_SCREENSHOT_DIR, when set, for reviewing the design.
func reviewShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("LETTERBOX_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
