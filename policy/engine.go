// Package policy is letterbox's SMTP policy engine, the smtpd.Policy the server asks at every
// stage of a session. It holds, in the order they are asked:
//
//  1. letterbox's rules (a rules file, --smtp-rules, and /api/v1/chaos/rules): matchers, a
//     probability, a count, and a reply, delay, throttle or disconnect; the first rule that
//     applies decides;
//  2. Mailpit's chaos triggers (/api/v1/chaos, --enable-chaos);
//  3. MailHog's chaos monkey Jim (/api/v2/jim, --invite-jim);
//  4. recipient verification (--smtp-accept-recipients): unknown recipients get 550 at RCPT TO,
//     and VRFY answers 250 or 550 from the list.
//
// Every random draw comes from one source, seeded with --chaos-seed when given: the source
// starts again from the seed whenever the configuration changes, so a run repeats exactly.
package policy

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/letterbox-mail/letterbox/smtpd"
)

// Options configure an Engine. The zero value accepts everything.
type Options struct {
	// Seed, when set, seeds the random draws (--chaos-seed); nil draws a seed at random.
	Seed *uint64
	// ChaosEnabled makes Mailpit's chaos API usable (--enable-chaos), as in Mailpit.
	ChaosEnabled bool
	// Chaos are the chaos triggers to start with (Mailpit's --chaos-triggers; they enable chaos).
	Chaos *ChaosTriggers
	// Jim, when set, starts with MailHog's Jim on (--invite-jim).
	Jim *Jim
	// Rules are the rules to start with (from --smtp-rules).
	Rules []Rule
	// Recipients, when set, is the list of recipients accepted (--smtp-accept-recipients).
	Recipients *Recipients
	// Logger receives configuration changes. nil discards.
	Logger *slog.Logger
}

// Engine is the policy engine. Its methods are safe for concurrent use.
type Engine struct {
	log          *slog.Logger
	seed         uint64
	chaosEnabled atomic.Bool

	mu      sync.RWMutex
	cfg     config
	rules   []Rule // as given, for Rules
	lastJim Jim    // Jim as last set (or as --invite-jim or MailHog's defaults have him)

	wants atomic.Uint32 // bit s set: Wants(s)
}

// config is what Check reads: replaced whole on every change.
type config struct {
	rules      []*compiled
	chaos      ChaosTriggers
	jim        *Jim
	recipients *Recipients
	rng        *lockedRand
}

// Status says what is in force, for the web inbox's banner.
type Status struct {
	Rules        int  // letterbox rules in force
	Chaos        bool // a Mailpit chaos trigger has a probability above 0
	ChaosEnabled bool // the chaos API is on (--enable-chaos)
	Jim          bool // MailHog's Jim is on
	Recipients   int  // entries of the accepted-recipients list; 0 when every recipient is accepted
}

// Active reports whether anything may refuse, delay or drop mail.
func (s Status) Active() bool { return s.Rules > 0 || s.Chaos || s.Jim || s.Recipients > 0 }

// New returns an engine with the configuration opts gives; it fails when a rule does not hold.
func New(opts Options) (*Engine, error) {
	e := &Engine{log: opts.Logger, lastJim: DefaultJim()}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("component", "policy")
	if opts.Seed != nil {
		e.seed = *opts.Seed
	} else {
		var b [8]byte
		rand.Read(b[:])
		e.seed = binary.LittleEndian.Uint64(b[:])
	}
	e.chaosEnabled.Store(opts.ChaosEnabled || opts.Chaos != nil)
	cfg := config{chaos: DefaultChaos(), jim: opts.Jim, recipients: opts.Recipients}
	if opts.Chaos != nil {
		t, err := opts.Chaos.normalized()
		if err != nil {
			return nil, err
		}
		cfg.chaos = t
	}
	if opts.Jim != nil {
		if err := opts.Jim.Validate(); err != nil {
			return nil, err
		}
		j := *opts.Jim
		cfg.jim, e.lastJim = &j, j
	}
	rules, err := compileRules(opts.Rules)
	if err != nil {
		return nil, err
	}
	cfg.rules = rules
	e.rules = append([]Rule(nil), opts.Rules...)
	e.install(cfg)
	return e, nil
}

// install puts cfg in force with a fresh random source; e.mu must be held (or e unshared).
func (e *Engine) install(cfg config) {
	cfg.rng = newRand(e.seed)
	e.cfg = cfg
	var w uint32
	set := func(stages ...smtpd.Stage) {
		for _, s := range stages {
			w |= 1 << s
		}
	}
	for _, r := range cfg.rules {
		set(r.stage)
	}
	if cfg.chaos.active() {
		set(smtpd.StageMail, smtpd.StageRcpt, smtpd.StageAuth)
	}
	if cfg.jim != nil {
		set(smtpd.StageConnect, smtpd.StageHelo, smtpd.StageAuth, smtpd.StageMail, smtpd.StageRcpt, smtpd.StageData)
	}
	if cfg.recipients != nil {
		set(smtpd.StageRcpt, smtpd.StageVrfy)
	}
	e.wants.Store(w)
}

// Wants implements smtpd.Policy: only stages something in force looks at are asked.
func (e *Engine) Wants(s smtpd.Stage) bool { return e.wants.Load()&(1<<s) != 0 }

// Check implements smtpd.Policy.
func (e *Engine) Check(_ context.Context, c *smtpd.Check) smtpd.Action {
	e.mu.RLock()
	cfg := e.cfg
	e.mu.RUnlock()
	for _, r := range cfg.rules {
		if r.matches(c) && r.take(cfg.rng) {
			return r.action(c, cfg.rng)
		}
	}
	if e.chaosEnabled.Load() {
		if a := chaosAction(cfg.chaos, c, cfg.rng); a.Code != 0 {
			return a
		}
	}
	if cfg.jim != nil {
		if a := jimAction(cfg.jim, c, cfg.rng); a != (smtpd.Action{}) {
			return a
		}
	}
	if cfg.recipients != nil {
		return recipientsAction(cfg.recipients, c)
	}
	return smtpd.Action{}
}

// change applies fn to a copy of the configuration and installs it.
func (e *Engine) change(fn func(*config)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.cfg
	fn(&cfg)
	e.install(cfg)
}

// Rules returns the rules in force, as given.
func (e *Engine) Rules() []Rule {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return append([]Rule{}, e.rules...)
}

// SetRules replaces the rules in force. A rule that does not hold is reported as a *FieldError
// and changes nothing.
func (e *Engine) SetRules(rules []Rule) error {
	compiled, err := compileRules(rules)
	if err != nil {
		return err
	}
	e.change(func(c *config) {
		c.rules = compiled
		e.rules = append([]Rule(nil), rules...) // under e.mu, with the compiled ones
	})
	e.log.Info("SMTP rules replaced", "rules", len(rules))
	return nil
}

// ChaosEnabled reports whether Mailpit's chaos API is on.
func (e *Engine) ChaosEnabled() bool { return e.chaosEnabled.Load() }

// Chaos returns Mailpit's chaos triggers.
func (e *Engine) Chaos() ChaosTriggers {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.cfg.chaos
}

// SetChaos replaces the chaos triggers as Mailpit's PUT does: a trigger without a code gets its
// default, and nothing changes when a value is out of range.
func (e *Engine) SetChaos(t ChaosTriggers) (ChaosTriggers, error) {
	t, err := t.normalized()
	if err != nil {
		return e.Chaos(), err
	}
	e.change(func(c *config) { c.chaos = t })
	e.log.Info("chaos triggers set", "sender", t.Sender.Probability, "recipient", t.Recipient.Probability,
		"authentication", t.Authentication.Probability)
	return t, nil
}

// Jim returns Jim's settings, and whether he is on.
func (e *Engine) Jim() (Jim, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.cfg.jim == nil {
		return Jim{}, false
	}
	return *e.cfg.jim, true
}

// SetJim turns Jim on with j, or off when j is nil. Settings out of range are a *FieldError.
func (e *Engine) SetJim(j *Jim) error {
	if j != nil {
		if err := j.Validate(); err != nil {
			return err
		}
		cp := *j
		j = &cp
	}
	e.change(func(c *config) {
		c.jim = j
		if j != nil {
			e.lastJim = *j
		}
	})
	e.log.Info("MailHog's Jim", "on", j != nil)
	return nil
}

// LastJim returns Jim's settings as last set, or as he starts: what MailHog's POST /api/v2/jim
// turns on when its body says nothing.
func (e *Engine) LastJim() Jim {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.lastJim
}

// Status says what is in force.
func (e *Engine) Status() Status {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := Status{Rules: len(e.cfg.rules), ChaosEnabled: e.chaosEnabled.Load(), Jim: e.cfg.jim != nil}
	st.Chaos = st.ChaosEnabled && e.cfg.chaos.active()
	if e.cfg.recipients != nil {
		st.Recipients = e.cfg.recipients.n
	}
	return st
}

var _ smtpd.Policy = (*Engine)(nil)
