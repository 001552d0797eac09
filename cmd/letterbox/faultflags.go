package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/letterbox-mail/letterbox/internal/catcher"
)

// faultFlags are the SMTP fault injection and recipient verification flags.
type faultFlags struct {
	Rules            string
	Seed             seedFlag
	EnableChaos      bool
	ChaosTriggers    string
	InviteJim        bool
	AcceptRecipients string
	MaxSessions      int
}

// seedFlag is an optional unsigned number (--chaos-seed): unset draws a seed at random.
type seedFlag struct{ v *uint64 }

func (s *seedFlag) String() string {
	if s == nil || s.v == nil {
		return ""
	}
	return strconv.FormatUint(*s.v, 10)
}

func (s *seedFlag) Set(v string) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	s.v = &n
	return nil
}

func declareFaultFlags(fs *flag.FlagSet, cfg *config) {
	f := &cfg.Faults
	fs.StringVar(&f.Rules, "smtp-rules", "", "YAML or JSON file of SMTP rules (refusals, delays, throttles, disconnects), read at start and on SIGHUP ["+envName("smtp-rules")+"]")
	fs.Var(&f.Seed, "chaos-seed", "seed for the random draws of rules, chaos and Jim, so that a run repeats (default: random) ["+envName("chaos-seed")+"]")
	fs.BoolVar(&f.EnableChaos, "enable-chaos", false, "enable Mailpit's chaos API, /api/v1/chaos ["+envName("enable-chaos")+"]")
	fs.StringVar(&f.ChaosTriggers, "chaos-triggers", "", "Mailpit's chaos triggers to start with, e.g. Sender:451:10,Recipient:550:5 (enables chaos) ["+envName("chaos-triggers")+"]")
	fs.BoolVar(&f.InviteJim, "invite-jim", false, "start with MailHog's chaos monkey Jim on (/api/v2/jim) ["+envName("invite-jim")+"]")
	fs.IntVar(&f.MaxSessions, "max-sessions", 10000, "SMTP session transcripts kept, the oldest deleted first; -1 keeps all ["+envName("max-sessions")+"]")
	fs.StringVar(&f.AcceptRecipients, "smtp-accept-recipients", "", "accept only these recipients, comma-separated addresses and globs or @FILE; others get 550 5.1.1 (default: all) ["+envName("smtp-accept-recipients")+"]")
}

// faultConfig maps the flags onto the catcher's configuration.
func faultConfig(f faultFlags) catcher.Faults {
	return catcher.Faults{
		RulesFile:        f.Rules,
		ChaosSeed:        f.Seed.v,
		EnableChaos:      f.EnableChaos,
		ChaosTriggers:    f.ChaosTriggers,
		InviteJim:        f.InviteJim,
		AcceptRecipients: f.AcceptRecipients,
		MaxSessions:      f.MaxSessions,
	}
}

// reloadOnHangup reloads the SMTP rules file whenever the process gets SIGHUP, until ctx ends;
// without --smtp-rules SIGHUP keeps its default meaning.
func reloadOnHangup(ctx context.Context, c *catcher.Catcher, rulesFile string, log *slog.Logger) {
	if rulesFile == "" {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := c.ReloadRules(); err != nil {
					log.Error("SIGHUP: SMTP rules not reloaded; the rules in force stay", "err", err)
				}
			}
		}
	}()
}
