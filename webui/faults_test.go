package webui

import (
	"encoding/json"
	"errors"
	"net/textproto"
	"strings"
	"testing"

	gosmtp "net/smtp"

	"github.com/letterbox-mail/letterbox/policy"
	"github.com/letterbox-mail/letterbox/smtpd"
)

// call sends a request with an optional body and Content-Type; it returns status and body.
func (e *testEnv) call(method, path, contentType, body string) (int, string) {
	e.t.Helper()
	var hdr []string
	if contentType != "" {
		hdr = []string{"Content-Type", contentType}
	}
	res, data := e.do(method, path, body, hdr...)
	return res.StatusCode, string(data)
}

// webuiConfig reads /api/v1/webui.
func (e *testEnv) webuiConfig() WebUIConfig {
	e.t.Helper()
	var c WebUIConfig
	_, data := e.do("GET", "/api/v1/webui", "")
	if err := json.Unmarshal(data, &c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// faultEnv is a server with a policy engine and real SMTP over it.
func faultEnv(t *testing.T, opts policy.Options) (*testEnv, *policy.Engine, string) {
	t.Helper()
	seed := uint64(1)
	opts.Seed = &seed
	eng, err := policy.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Options{Faults: eng})
	srv, err := smtpd.New(e.st, smtpd.Options{Hostname: "mx.test", Policy: eng})
	if err != nil {
		t.Fatal(err)
	}
	addr := e.serveSMTP(srv)
	return e, eng, addr
}

// mailFrom opens an SMTP session and returns the reply to MAIL FROM (nil when accepted).
func mailFrom(t *testing.T, addr, from string) error {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Mail(from)
}

func wantSMTP(t *testing.T, err error, code int, msg string) {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != code || te.Msg != msg {
		t.Fatalf("SMTP reply %v, want %d %s", err, code, msg)
	}
}

// TestChaosAPIOff: without --enable-chaos, Mailpit answers 400 "Chaos is not enabled".
func TestChaosAPIOff(t *testing.T) {
	e, _, _ := faultEnv(t, policy.Options{})
	for _, m := range []string{"GET", "PUT"} {
		code, body := e.call(m, "/api/v1/chaos", "application/json", `{}`)
		if code != 400 || body != "Chaos is not enabled" {
			t.Errorf("%s: %d %q", m, code, body)
		}
	}
	e2 := newEnv(t, Options{})
	if code, body := e2.call("GET", "/api/v1/chaos", "", ""); code != 400 || body != "Chaos is not enabled" {
		t.Errorf("no engine: %d %q", code, body)
	}
}

// TestChaosAPI: the bodies mailpit-api's getChaosTriggers and setChaosTriggers send and read.
func TestChaosAPI(t *testing.T) {
	e, _, addr := faultEnv(t, policy.Options{ChaosEnabled: true})
	code, body := e.call("GET", "/api/v1/chaos", "", "")
	if want := `{"Sender":{"ErrorCode":451,"Probability":0},"Recipient":{"ErrorCode":451,"Probability":0},"Authentication":{"ErrorCode":535,"Probability":0}}` + "\n"; code != 200 || body != want {
		t.Errorf("GET: %d %s", code, body)
	}
	// setChaosTriggers({ Sender: { ErrorCode: 451, Probability: 5 } }): JSON.stringify of it.
	code, body = e.call("PUT", "/api/v1/chaos", "application/json", `{"Sender":{"ErrorCode":550,"Probability":100}}`)
	if want := `{"Sender":{"ErrorCode":550,"Probability":100},"Recipient":{"ErrorCode":451,"Probability":0},"Authentication":{"ErrorCode":535,"Probability":0}}` + "\n"; code != 200 || body != want {
		t.Errorf("PUT: %d %s", code, body)
	}
	wantSMTP(t, mailFrom(t, addr, "a@example.com"), 550, "5.0.0 Chaos sender error")
	if code, body := e.call("PUT", "/api/v1/chaos", "application/json", `{"Recipient":{"ErrorCode":200,"Probability":5}}`); code != 400 || body != "error code must be between 400 and 599" {
		t.Errorf("bad code: %d %q", code, body)
	}
	if code, body := e.call("PUT", "/api/v1/chaos", "application/json", `{"Sender":{"Probability":"x"}}`); code != 400 || body == "" {
		t.Errorf("bad JSON: %d %q", code, body)
	}
	cfg := e.webuiConfig()
	if !cfg.ChaosEnabled || !cfg.SMTPFaults.Active || !cfg.SMTPFaults.Chaos {
		t.Errorf("webui config %+v", cfg)
	}
	// setChaosTriggers() with no argument sends {}: everything off.
	if code, _ := e.call("PUT", "/api/v1/chaos", "application/json", `{}`); code != 200 {
		t.Errorf("reset: %d", code)
	}
	if err := mailFrom(t, addr, "a@example.com"); err != nil {
		t.Errorf("after reset: %v", err)
	}
	cfg = e.webuiConfig()
	if cfg.SMTPFaults.Active {
		t.Errorf("active after reset: %+v", cfg.SMTPFaults)
	}
}

// TestJimAPI: MailHog's Jim as MailHog answers and as cypress-mailhog's mhGetJimMode (GET, 200
// means on) and mhSetJimMode (POST or DELETE without a body) use him.
func TestJimAPI(t *testing.T) {
	e, _, addr := faultEnv(t, policy.Options{})
	mhGetJimMode := func() bool { code, _ := e.call("GET", "/api/v2/jim", "", ""); return code == 200 }
	if mhGetJimMode() {
		t.Fatal("Jim on at start")
	}
	for _, m := range []string{"PUT", "DELETE"} {
		if code, body := e.call(m, "/api/v2/jim", "", ""); code != 404 || body != "" {
			t.Errorf("%s while off: %d %q", m, code, body)
		}
	}
	if code, body := e.call("POST", "/api/v2/jim", "", ""); code != 201 || body != "" {
		t.Fatalf("mhSetJimMode(true): %d %q", code, body)
	}
	if !mhGetJimMode() {
		t.Fatal("Jim off after POST")
	}
	code, body := e.call("GET", "/api/v2/jim", "", "")
	var j policy.Jim
	if err := json.Unmarshal([]byte(body), &j); err != nil || code != 200 || j != policy.DefaultJim() {
		t.Errorf("GET: %d %s (%v)", code, body, err)
	}
	for _, key := range []string{"DisconnectChance", "AcceptChance", "LinkSpeedAffect", "LinkSpeedMin", "LinkSpeedMax", "RejectSenderChance", "RejectRecipientChance", "RejectAuthChance"} {
		if !strings.Contains(body, `"`+key+`":`) {
			t.Errorf("GET lacks %s: %s", key, body)
		}
	}
	if code, _ := e.call("POST", "/api/v2/jim", "", ""); code != 400 {
		t.Errorf("POST while on: %d", code)
	}
	// MailHog's own UI PUTs the whole object.
	put := `{"DisconnectChance":0,"AcceptChance":1,"LinkSpeedAffect":0,"LinkSpeedMin":1024,"LinkSpeedMax":10240,"RejectSenderChance":1,"RejectRecipientChance":0,"RejectAuthChance":0}`
	if code, body := e.call("PUT", "/api/v2/jim", "application/json", put); code != 200 || body != "" {
		t.Fatalf("PUT: %d %q", code, body)
	}
	wantSMTP(t, mailFrom(t, addr, "a@example.com"), 550, "5.1.0 Invalid sender <a@example.com>")
	if code, _ := e.call("PUT", "/api/v2/jim", "application/json", `not json`); code != 400 {
		t.Errorf("PUT not JSON: %d", code)
	}
	if code, body := e.call("PUT", "/api/v2/jim", "application/json", `{"AcceptChance":7}`); code != 400 || !strings.Contains(body, "AcceptChance") {
		t.Errorf("PUT out of range: %d %q", code, body)
	}
	if code, body := e.call("DELETE", "/api/v2/jim", "", ""); code != 200 || body != "" {
		t.Errorf("mhSetJimMode(false): %d %q", code, body)
	}
	if mhGetJimMode() {
		t.Error("Jim on after DELETE")
	}
	if err := mailFrom(t, addr, "a@example.com"); err != nil {
		t.Errorf("Jim off: %v", err)
	}
	// A POST with a body takes the body's settings (fields left out are 0, as in MailHog).
	if code, _ := e.call("POST", "/api/v2/jim", "application/json", `{"AcceptChance":1,"RejectRecipientChance":1}`); code != 201 {
		t.Errorf("POST with body: %d", code)
	}
	if _, body := e.call("GET", "/api/v2/jim", "", ""); !strings.Contains(body, `"RejectRecipientChance":1`) || !strings.Contains(body, `"RejectSenderChance":0`) {
		t.Errorf("after POST with body: %s", body)
	}
}

// TestRulesAPI: GET/PUT/DELETE /api/v1/chaos/rules; a bad rule gets 400 naming the field and
// the rules in force stay.
func TestRulesAPI(t *testing.T) {
	e, _, addr := faultEnv(t, policy.Options{})
	if code, body := e.call("GET", "/api/v1/chaos/rules", "", ""); code != 200 || body != `{"rules":[]}`+"\n" {
		t.Errorf("GET: %d %s", code, body)
	}
	good := `{"rules":[{"name":"sender","stage":"mail","from":"blocked@*","reply":{"code":550,"enhanced":"5.7.1","text":"<{address}> not welcome"}}]}`
	code, body := e.call("PUT", "/api/v1/chaos/rules", "application/json", good)
	if code != 200 || !strings.Contains(body, `"name":"sender"`) {
		t.Fatalf("PUT: %d %s", code, body)
	}
	ws := e.wsDial("/api/events")
	wantSMTP(t, mailFrom(t, addr, "blocked@example.com"), 550, "5.7.1 <blocked@example.com> not welcome")
	// The refusal is published: the session's websocket event carries the fault.
	ev := waitSessionEvent(t, func() map[string]any { return next(t, ws) })
	if faults, _ := ev["Faults"].([]any); len(faults) != 1 || faults[0] != "sender at mail: reply 550" {
		t.Errorf("session event %v", ev)
	}
	if err := mailFrom(t, addr, "fine@example.com"); err != nil {
		t.Errorf("other sender: %v", err)
	}
	for bad, field := range map[string]string{
		`{"rules":[{"stage":"rcpt","reply":{"code":250}}]}`:                   "rules[0].reply.code",
		`{"rules":[{"stage":"mail","reply":{"code":451}},{"stage":"later"}]}`: "rules[1].stage",
		`{"rules":[{"stage":"rcpt","recipient":"x"}]}`:                        `unknown field "recipient"`,
	} {
		code, body := e.call("PUT", "/api/v1/chaos/rules", "application/json", bad)
		if code != 400 || !strings.Contains(body, field) {
			t.Errorf("PUT %s: %d %q, want 400 naming %s", bad, code, body, field)
		}
	}
	if _, body := e.call("GET", "/api/v1/chaos/rules", "", ""); !strings.Contains(body, `"name":"sender"`) {
		t.Errorf("rules in force changed: %s", body)
	}
	cfg := e.webuiConfig()
	if !cfg.SMTPFaults.Active || cfg.SMTPFaults.Rules != 1 {
		t.Errorf("webui config %+v", cfg.SMTPFaults)
	}
	if code, body := e.call("DELETE", "/api/v1/chaos/rules", "", ""); code != 200 || body != `{"rules":[]}`+"\n" {
		t.Errorf("DELETE: %d %s", code, body)
	}
	if err := mailFrom(t, addr, "blocked@example.com"); err != nil {
		t.Errorf("after DELETE: %v", err)
	}
}
