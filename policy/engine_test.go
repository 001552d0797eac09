package policy

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/smtpd"
)

func engine(t *testing.T, opts Options) *Engine {
	t.Helper()
	if opts.Seed == nil {
		seed := uint64(1)
		opts.Seed = &seed
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func prob(p float64) *float64 { return &p }

func rcpt(addr string) *smtpd.Check {
	return &smtpd.Check{Stage: smtpd.StageRcpt, RemoteAddr: netip.MustParseAddr("127.0.0.1"), Helo: "client.test",
		MailFrom: "app@example.com", Recipient: addr}
}

// TestRuleMatchers: each matcher, alone, selects what it names; the first rule that applies decides.
func TestRuleMatchers(t *testing.T) {
	reply := &Reply{Code: 550, Enhanced: "5.1.1", Text: "<{address}>: user unknown"}
	for _, tc := range []struct {
		name      string
		rule      Rule
		hit, miss *smtpd.Check
	}{
		{"to glob", Rule{Stage: "rcpt", To: "bounce-*@*", Reply: reply}, rcpt("bounce-1@x.test"), rcpt("ok@x.test")},
		{"to regexp", Rule{Stage: "rcpt", To: "/^bounce-[0-9]+@/", Reply: reply}, rcpt("Bounce-12@x.test"), rcpt("bounce-x@x.test")},
		{"from", Rule{Stage: "rcpt", From: "*@example.com", Reply: reply}, rcpt("a@b"),
			&smtpd.Check{Stage: smtpd.StageRcpt, MailFrom: "a@other.test"}},
		{"helo", Rule{Stage: "rcpt", Helo: "client.*", Reply: reply}, rcpt("a@b"), &smtpd.Check{Stage: smtpd.StageRcpt, Helo: "mx.test"}},
		{"client ip", Rule{Stage: "rcpt", ClientIP: "127.0.0.0/8", Reply: reply}, rcpt("a@b"),
			&smtpd.Check{Stage: smtpd.StageRcpt, RemoteAddr: netip.MustParseAddr("192.0.2.1")}},
		{"client ipv6", Rule{Stage: "rcpt", ClientIP: "::1", Reply: reply},
			&smtpd.Check{Stage: smtpd.StageRcpt, RemoteAddr: netip.MustParseAddr("::1")}, rcpt("a@b")},
		{"username", Rule{Stage: "rcpt", Username: "qa-*", Reply: reply},
			&smtpd.Check{Stage: smtpd.StageRcpt, Username: "qa-bot"}, &smtpd.Check{Stage: smtpd.StageRcpt, Username: "dev"}},
		{"header", Rule{Stage: "data-end", Header: &Header{Name: "x-fail", Value: "y*"}, Reply: reply},
			&smtpd.Check{Stage: smtpd.StageDataEnd, Data: []byte("X-Fail: yes\r\n\r\nbody")},
			&smtpd.Check{Stage: smtpd.StageDataEnd, Data: []byte("X-Fail: no\r\n\r\nbody")}},
		{"size", Rule{Stage: "data-end", SizeAbove: 10, Reply: reply},
			&smtpd.Check{Stage: smtpd.StageDataEnd, Size: 11}, &smtpd.Check{Stage: smtpd.StageDataEnd, Size: 10}},
		{"data: any recipient", Rule{Stage: "data", To: "*@blocked.test", Reply: reply},
			&smtpd.Check{Stage: smtpd.StageData, Recipients: []string{"a@ok.test", "b@blocked.test"}},
			&smtpd.Check{Stage: smtpd.StageData, Recipients: []string{"a@ok.test"}}},
		{"stage", Rule{Stage: "mail", Reply: reply}, &smtpd.Check{Stage: smtpd.StageMail}, rcpt("a@b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := engine(t, Options{Rules: []Rule{tc.rule}})
			if a := e.Check(context.Background(), tc.hit); a.Code != 550 {
				t.Errorf("did not apply to %+v", tc.hit)
			}
			if a := e.Check(context.Background(), tc.miss); a.Code != 0 {
				t.Errorf("applied to %+v: %+v", tc.miss, a)
			}
		})
	}

	e := engine(t, Options{Rules: []Rule{
		{Name: "first", Stage: "rcpt", To: "a@*", Reply: &Reply{Code: 550, Enhanced: "5.1.1", Text: "<{address}>: user unknown"}},
		{Name: "second", Stage: "rcpt", Reply: &Reply{Code: 451}},
	}})
	a := e.Check(context.Background(), rcpt("a@x.test"))
	if a.Code != 550 || a.Enhanced != [3]int{5, 1, 1} || a.Text != "<a@x.test>: user unknown" || a.Fault != "first" {
		t.Errorf("first rule: %+v", a)
	}
	if a := e.Check(context.Background(), rcpt("b@x.test")); a.Code != 451 || a.Fault != "second" {
		t.Errorf("second rule: %+v", a)
	}
}

// TestRuleCount: "the next 3, then accept".
func TestRuleCount(t *testing.T) {
	e := engine(t, Options{Rules: []Rule{{Stage: "mail", Count: 3, Reply: &Reply{Code: 451, Enhanced: "4.3.0", Text: "try again later"}}}})
	var got []int
	for range 5 {
		got = append(got, e.Check(context.Background(), &smtpd.Check{Stage: smtpd.StageMail}).Code)
	}
	if want := []int{451, 451, 451, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("codes %v, want %v", got, want)
	}
	// Replacing the rules counts again.
	e.SetRules(e.Rules())
	if a := e.Check(context.Background(), &smtpd.Check{Stage: smtpd.StageMail}); a.Code != 451 {
		t.Errorf("after SetRules: %+v", a)
	}
}

// TestSeedRepeats: the same seed gives the same sequence of draws, in another engine and after
// the configuration is set again; another seed gives another.
func TestSeedRepeats(t *testing.T) {
	rules := []Rule{{Stage: "rcpt", Probability: prob(50), Reply: &Reply{Code: 451}}}
	run := func(e *Engine) string {
		var b strings.Builder
		for range 64 {
			if e.Check(context.Background(), rcpt("a@b")).Code != 0 {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	seed, other := uint64(42), uint64(43)
	a := engine(t, Options{Seed: &seed, Rules: rules})
	first := run(a)
	if !strings.Contains(first, "x") || !strings.Contains(first, ".") {
		t.Fatalf("50%% gave %s", first)
	}
	if again := run(engine(t, Options{Seed: &seed, Rules: rules})); again != first {
		t.Errorf("same seed, new engine:\n%s\n%s", first, again)
	}
	a.SetRules(rules)
	if again := run(a); again != first {
		t.Errorf("same seed after SetRules:\n%s\n%s", first, again)
	}
	if diff := run(engine(t, Options{Seed: &other, Rules: rules})); diff == first {
		t.Errorf("another seed gave the same sequence %s", diff)
	}
}

// TestBadRules: each mistake is named by its field, and the rules in force stay.
func TestBadRules(t *testing.T) {
	good := []Rule{{Stage: "mail", Reply: &Reply{Code: 451}}}
	e := engine(t, Options{Rules: good})
	for _, tc := range []struct {
		rule  Rule
		field string
	}{
		{Rule{Stage: "sometime", Reply: &Reply{Code: 451}}, "rules[1].stage"},
		{Rule{Stage: "rcpt", Reply: &Reply{Code: 250}}, "rules[1].reply.code"},
		{Rule{Stage: "rcpt", Reply: &Reply{Code: 550, Enhanced: "4.1.1"}}, "rules[1].reply.enhanced"},
		{Rule{Stage: "rcpt", Reply: &Reply{Code: 550, Text: "two\r\nlines"}}, "rules[1].reply.text"},
		{Rule{Stage: "rcpt", To: "/(/", Reply: &Reply{Code: 550}}, "rules[1].to"},
		{Rule{Stage: "rcpt", To: "[", Reply: &Reply{Code: 550}}, "rules[1].to"},
		{Rule{Stage: "connect", To: "a@b", Reply: &Reply{Code: 550}}, "rules[1].to"},
		{Rule{Stage: "rcpt", ClientIP: "300.1.1.1", Reply: &Reply{Code: 550}}, "rules[1].client_ip"},
		{Rule{Stage: "rcpt", Probability: prob(101), Reply: &Reply{Code: 550}}, "rules[1].probability"},
		{Rule{Stage: "rcpt", Count: -1, Reply: &Reply{Code: 550}}, "rules[1].count"},
		{Rule{Stage: "rcpt", Delay: "soon"}, "rules[1].delay"},
		{Rule{Stage: "rcpt", Delay: "3s-1s"}, "rules[1].delay"},
		{Rule{Stage: "rcpt"}, "rules[1].reply"},
		{Rule{Stage: "mail", Header: &Header{Name: "X"}, Reply: &Reply{Code: 550}}, "rules[1].header"},
		{Rule{Stage: "data-end", Header: &Header{}, Reply: &Reply{Code: 550}}, "rules[1].header.name"},
		{Rule{Stage: "mail", Disconnect: true, DisconnectAfter: 10}, "rules[1].disconnect_after"},
		{Rule{Stage: "mail", Disconnect: true, Reply: &Reply{Code: 550}}, "rules[1].disconnect"},
	} {
		err := e.SetRules(append(append([]Rule{}, good...), tc.rule))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || fe.Why == "" {
			t.Errorf("%+v: error %v, want one naming %s", tc.rule, err, tc.field)
		}
	}
	if got := e.Rules(); len(got) != 1 || e.Check(context.Background(), &smtpd.Check{Stage: smtpd.StageMail}).Code != 451 {
		t.Errorf("rules in force changed: %+v", got)
	}
}

// TestRulesFile: YAML and JSON files; an unknown key or a bad rule is an error naming it.
func TestRulesFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	yml := write("rules.yaml", `rules:
  - name: bounce
    stage: rcpt
    to: "bounce-*@*"
    reply: {code: 550, enhanced: "5.1.1", text: "<{address}>: user unknown"}
  - stage: mail
    count: 3
    delay: 10ms-20ms
    reply: {code: 451, enhanced: "4.3.0", text: try again later}
`)
	rules, err := LoadRulesFile(yml)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].Name != "bounce" || rules[1].Count != 3 || rules[1].Reply.Code != 451 {
		t.Errorf("YAML rules %+v", rules)
	}
	js := write("rules.json", `{"rules":[{"stage":"rcpt","to":"x@y","reply":{"code":550}}]}`)
	if rules, err := LoadRulesFile(js); err != nil || len(rules) != 1 || rules[0].To != "x@y" {
		t.Errorf("JSON rules %+v, %v", rules, err)
	}
	for name, body := range map[string]string{
		"unknown.yaml": "rules:\n  - stage: rcpt\n    recipient: x@y\n    reply: {code: 550}\n",
		"bad.yaml":     "rules:\n  - stage: rcpt\n    reply: {code: 200}\n",
		"unknown.json": `{"rules":[{"stage":"rcpt","Code":550}]}`,
	} {
		if _, err := LoadRulesFile(write(name, body)); err == nil {
			t.Errorf("%s loaded", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	e := engine(t, Options{})
	if err := e.ReloadFile(yml); err != nil || len(e.Rules()) != 2 {
		t.Fatalf("ReloadFile: %v, %d rules", err, len(e.Rules()))
	}
	if err := e.ReloadFile(filepath.Join(dir, "bad.yaml")); err == nil || len(e.Rules()) != 2 {
		t.Errorf("bad file: %v, %d rules in force", err, len(e.Rules()))
	}
}

// TestChaos: Mailpit's triggers, their defaults and checks.
func TestChaos(t *testing.T) {
	e := engine(t, Options{ChaosEnabled: true})
	if e.Wants(smtpd.StageMail) {
		t.Error("wants mail with every trigger off")
	}
	got, err := e.SetChaos(ChaosTriggers{Sender: ChaosTrigger{Probability: 100}})
	if err != nil || got.Sender.ErrorCode != 451 || got.Authentication.ErrorCode != 535 {
		t.Fatalf("SetChaos: %+v, %v", got, err)
	}
	if a := e.Check(context.Background(), &smtpd.Check{Stage: smtpd.StageMail}); a.Code != 451 || a.Text != "Chaos sender error" {
		t.Errorf("sender: %+v", a)
	}
	if a := e.Check(context.Background(), rcpt("a@b")); a.Code != 0 {
		t.Errorf("recipient at 0%%: %+v", a)
	}
	if _, err := e.SetChaos(ChaosTriggers{Recipient: ChaosTrigger{ErrorCode: 200, Probability: 5}}); err == nil || err.Error() != "error code must be between 400 and 599" {
		t.Errorf("code 200: %v", err)
	}
	if _, err := e.SetChaos(ChaosTriggers{Recipient: ChaosTrigger{Probability: 101}}); err == nil || err.Error() != "probability must be between 0 and 100" {
		t.Errorf("probability 101: %v", err)
	}
	if e.Chaos().Sender.Probability != 100 {
		t.Error("a refused PUT changed the triggers")
	}
	tr, err := ParseChaosTriggers("Sender:550:10, Recipients:451:20,Auth:535:30")
	if err != nil || tr.Sender != (ChaosTrigger{550, 10}) || tr.Recipient != (ChaosTrigger{451, 20}) || tr.Authentication != (ChaosTrigger{535, 30}) {
		t.Errorf("ParseChaosTriggers: %+v, %v", tr, err)
	}
	if _, err := ParseChaosTriggers("Sender:45:10"); err == nil {
		t.Error("bad trigger parsed")
	}
}

// TestJimAndRecipients: Jim's refusals, and the recipient list at RCPT and VRFY.
func TestJimAndRecipients(t *testing.T) {
	e := engine(t, Options{Jim: &Jim{AcceptChance: 1, RejectSenderChance: 1}})
	if a := e.Check(context.Background(), &smtpd.Check{Stage: smtpd.StageMail, MailFrom: "a@b"}); a.Code != 550 || a.Text != "Invalid sender <a@b>" {
		t.Errorf("jim sender: %+v", a)
	}
	if a := e.Check(context.Background(), &smtpd.Check{Stage: smtpd.StageConnect}); a.Disconnect || a.Throttle != 0 {
		t.Errorf("jim connect: %+v", a)
	}
	if err := e.SetJim(&Jim{AcceptChance: 2}); err == nil || !strings.Contains(err.Error(), "AcceptChance") {
		t.Errorf("bad Jim: %v", err)
	}
	e.SetJim(&Jim{AcceptChance: 1, LinkSpeedAffect: 1, LinkSpeedMin: 100, LinkSpeedMax: 200})
	if a := e.Check(context.Background(), &smtpd.Check{Stage: smtpd.StageConnect}); a.Throttle < 100 || a.Throttle > 200 {
		t.Errorf("jim link speed: %+v", a)
	}
	e.SetJim(nil)
	if e.Wants(smtpd.StageConnect) {
		t.Error("wants connect with Jim off")
	}

	list, err := ParseRecipients("known@example.com, *@team.test")
	if err != nil {
		t.Fatal(err)
	}
	e = engine(t, Options{Recipients: list})
	if a := e.Check(context.Background(), rcpt("someone@else.test")); a.Code != 550 || a.Text != "<someone@else.test>: Recipient address rejected: User unknown" {
		t.Errorf("unknown: %+v", a)
	}
	if a := e.Check(context.Background(), rcpt("Known@Example.com")); a.Code != 0 {
		t.Errorf("known: %+v", a)
	}
	vrfy := &smtpd.Check{Stage: smtpd.StageVrfy, Recipient: "x@team.test"}
	if a := e.Check(context.Background(), vrfy); a.Code != 250 {
		t.Errorf("vrfy known: %+v", a)
	}
	file := filepath.Join(t.TempDir(), "list")
	os.WriteFile(file, []byte("# the team\nalice@example.com\n\nbob@example.com\n"), 0o600)
	if l, err := ParseRecipients("@" + file); err != nil || !l.Accepts("bob@example.com") || l.Accepts("eve@example.com") || l.n != 2 {
		t.Errorf("@file: %v", err)
	}
}

// TestDelayRange: a delay range draws each delay within it, not always the same one; a fixed
// delay is always itself.
func TestDelayRange(t *testing.T) {
	e := engine(t, Options{Rules: []Rule{{Stage: "rcpt", To: "slow@*", Delay: "100ms-200ms"}, {Stage: "rcpt", Delay: "2s"}}})
	seen := map[time.Duration]bool{}
	for range 100 {
		a := e.Check(context.Background(), rcpt("slow@x.test"))
		if a.Delay < 100*time.Millisecond || a.Delay > 200*time.Millisecond {
			t.Fatalf("delay %v outside 100ms-200ms", a.Delay)
		}
		seen[a.Delay] = true
	}
	if len(seen) < 10 {
		t.Errorf("100 draws gave %d delays", len(seen))
	}
	if a := e.Check(context.Background(), rcpt("other@x.test")); a.Delay != 2*time.Second {
		t.Errorf("fixed delay %v", a.Delay)
	}
}
