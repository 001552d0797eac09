package catcher

import (
	"errors"
	"fmt"

	"github.com/letterbox-mail/letterbox/policy"
	"github.com/letterbox-mail/letterbox/smtpd"
)

// Faults configures the SMTP policy engine (package policy): letterbox's rules, Mailpit's chaos,
// MailHog's Jim and recipient verification; and how many session transcripts are kept. The zero
// value injects nothing and accepts every recipient; the APIs can still turn rules and Jim on
// (chaos needs EnableChaos, as in Mailpit).
type Faults struct {
	RulesFile        string        // a YAML or JSON rules file, read at start and by ReloadRules (SIGHUP)
	Rules            []policy.Rule // rules given directly (letterboxtest.WithSMTPRules), after the file's
	ChaosSeed        *uint64       // seeds the random draws, so that a run repeats; nil draws one
	EnableChaos      bool          // Mailpit's chaos API (/api/v1/chaos)
	ChaosTriggers    string        // Mailpit's --chaos-triggers ("Sender:451:10,..."); enables chaos
	InviteJim        bool          // start with MailHog's Jim on, with MailHog's defaults
	AcceptRecipients string        // recipients accepted: comma-separated addresses and globs, or @FILE
	MaxSessions      int           // SMTP session transcripts kept; 0 means store.DefaultMaxSessions, negative all
}

// buildPolicy makes the policy engine from the configuration.
func buildPolicy(f Faults, cfg Config) (*policy.Engine, error) {
	opts := policy.Options{Seed: f.ChaosSeed, ChaosEnabled: f.EnableChaos, Logger: cfg.Logger}
	if f.ChaosTriggers != "" {
		t, err := policy.ParseChaosTriggers(f.ChaosTriggers)
		if err != nil {
			return nil, fmt.Errorf("chaos triggers: %w", err)
		}
		opts.Chaos = &t
	}
	if f.InviteJim {
		j := policy.DefaultJim()
		opts.Jim = &j
	}
	if f.AcceptRecipients != "" {
		r, err := policy.ParseRecipients(f.AcceptRecipients)
		if err != nil {
			return nil, err
		}
		opts.Recipients = r
	}
	if f.RulesFile != "" {
		rules, err := policy.LoadRulesFile(f.RulesFile)
		if err != nil {
			return nil, fmt.Errorf("SMTP rules: %w", err)
		}
		opts.Rules = rules
	}
	opts.Rules = append(opts.Rules, f.Rules...)
	return policy.New(opts)
}

// smtpPolicy is what the SMTP server asks: the caller's own policy first (letterboxtest), then
// the engine.
func (c *Catcher) smtpPolicy() smtpd.Policy {
	if c.cfg.SMTPPolicy == nil {
		return c.Policy
	}
	return smtpd.Chain(c.cfg.SMTPPolicy, c.Policy)
}

// ReloadRules reads the rules file again (letterbox does on SIGHUP). When the file cannot be
// read or a rule does not hold, the rules in force stay and the error says why.
func (c *Catcher) ReloadRules() error {
	if c.cfg.Faults.RulesFile == "" {
		return errors.New("no SMTP rules file (--smtp-rules) to reload")
	}
	return c.Policy.ReloadFile(c.cfg.Faults.RulesFile)
}
