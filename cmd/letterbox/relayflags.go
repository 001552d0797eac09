package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/letterbox-mail/letterbox/relay"
)

// relayFlags are the relay's flags: --relay-config FILE (Mailpit's YAML keys) and one flag per
// key, which wins over the file when given (on the command line or in the environment).
type relayFlags struct {
	ConfigFile                           string
	Host                                 string
	Port                                 int
	STARTTLS, TLS, AllowInsecure         bool
	Auth, Username, Password, Secret     string
	ReturnPath, OverrideFrom             string
	AllowedRecipients, BlockedRecipients string
	PreserveMessageIDs                   bool
	Matching                             string
	All                                  bool
	ReleaseHosts                         string
	RetryDelay                           time.Duration
	Retries                              int

	config  *relay.Config // resolved by parseConfig; nil: no relay
	unknown []string      // keys of the file relay does not know (warned about at start)
}

// declareRelayFlags declares the relay flags on fs.
func declareRelayFlags(fs *flag.FlagSet, r *relayFlags) {
	help := func(name, text string) string { return text + " [" + envName(name) + "]" }
	fs.StringVar(&r.ConfigFile, "relay-config", "", help("relay-config", "YAML file configuring the SMTP relay releases go through (Mailpit's --smtp-relay-config keys); nothing is relayed without one or --relay-host"))
	fs.StringVar(&r.Host, "relay-host", "", help("relay-host", "SMTP relay host (the config file's host)"))
	fs.IntVar(&r.Port, "relay-port", 0, help("relay-port", "SMTP relay port (default 25)"))
	fs.BoolVar(&r.STARTTLS, "relay-starttls", false, help("relay-starttls", "require STARTTLS to the relay"))
	fs.BoolVar(&r.TLS, "relay-tls", false, help("relay-tls", "implicit TLS to the relay (usually port 465)"))
	fs.BoolVar(&r.AllowInsecure, "relay-allow-insecure", false, help("relay-allow-insecure", "skip the relay's certificate check, and allow passwords without TLS"))
	fs.StringVar(&r.Auth, "relay-auth", "", help("relay-auth", "none, plain, login or cram-md5"))
	fs.StringVar(&r.Username, "relay-username", "", help("relay-username", "relay AUTH username"))
	fs.StringVar(&r.Password, "relay-password", "", help("relay-password", "relay AUTH password for plain and login (prefer the environment or the file: flags show in ps)"))
	fs.StringVar(&r.Secret, "relay-secret", "", help("relay-secret", "relay CRAM-MD5 secret"))
	fs.StringVar(&r.ReturnPath, "relay-return-path", "", help("relay-return-path", "envelope sender (bounce address) of everything relayed"))
	fs.StringVar(&r.OverrideFrom, "relay-override-from", "", help("relay-override-from", "replace the From address of everything relayed"))
	fs.StringVar(&r.AllowedRecipients, "relay-allowed-recipients", "", help("relay-allowed-recipients", "regular expression every relayed recipient must match"))
	fs.StringVar(&r.BlockedRecipients, "relay-blocked-recipients", "", help("relay-blocked-recipients", "regular expression no relayed recipient may match"))
	fs.BoolVar(&r.PreserveMessageIDs, "relay-preserve-message-ids", false, help("relay-preserve-message-ids", "keep the Message-ID on release (default: a new one, as Mailpit does)"))
	fs.StringVar(&r.Matching, "relay-matching", "", help("relay-matching", "auto-relay every new message this search matches (inbox search syntax), from a durable queue"))
	fs.BoolVar(&r.All, "relay-all", false, help("relay-all", "auto-relay every new message (caution)"))
	fs.StringVar(&r.ReleaseHosts, "release-hosts", "", help("release-hosts", "comma-separated hosts (host or host:port) a MailHog release may name besides the relay; * allows any host with public addresses"))
	fs.DurationVar(&r.RetryDelay, "relay-retry-delay", relay.DefaultRetryDelay, help("relay-retry-delay", "auto-relay: wait before the first retry, doubled each time up to an hour"))
	fs.IntVar(&r.Retries, "relay-retries", relay.DefaultMaxAttempts, help("relay-retries", "auto-relay: tries before a message's relay fails for good"))
}

// resolve loads the config file, lays the given flags over it and validates the result.
func (r *relayFlags) resolve(given map[string]bool) error {
	var c relay.Config
	if r.ConfigFile != "" {
		var err error
		if c, r.unknown, err = relay.LoadConfig(r.ConfigFile); err != nil {
			return err
		}
		if c.Host == "" {
			return fmt.Errorf("relay config %s: host: not set", r.ConfigFile)
		}
	}
	for name, set := range map[string]func(){
		"relay-host": func() { c.Host = r.Host }, "relay-port": func() { c.Port = r.Port },
		"relay-starttls": func() { c.STARTTLS = r.STARTTLS }, "relay-tls": func() { c.TLS = r.TLS },
		"relay-allow-insecure": func() { c.AllowInsecure = r.AllowInsecure }, "relay-auth": func() { c.Auth = r.Auth },
		"relay-username": func() { c.Username = r.Username }, "relay-password": func() { c.Password = r.Password },
		"relay-secret": func() { c.Secret = r.Secret }, "relay-return-path": func() { c.ReturnPath = r.ReturnPath },
		"relay-override-from":        func() { c.OverrideFrom = r.OverrideFrom },
		"relay-allowed-recipients":   func() { c.AllowedRecipients = r.AllowedRecipients },
		"relay-blocked-recipients":   func() { c.BlockedRecipients = r.BlockedRecipients },
		"relay-preserve-message-ids": func() { c.PreserveMessageIDs = r.PreserveMessageIDs },
	} {
		if given[name] {
			set()
		}
	}
	if !c.Enabled() {
		for name := range given {
			if len(name) > 6 && name[:6] == "relay-" && name != "relay-retry-delay" && name != "relay-retries" && name != "relay-matching" && name != "relay-all" {
				return fmt.Errorf("--%s: no relay host (--relay-host or --relay-config)", name)
			}
		}
		if r.Matching != "" || r.All {
			return errors.New("--relay-matching and --relay-all need a relay (--relay-config FILE or --relay-host)")
		}
		return nil
	}
	if err := c.Validate(); err != nil {
		if r.ConfigFile != "" {
			return fmt.Errorf("%w (in %s or the --relay-* flags)", err, r.ConfigFile)
		}
		return err
	}
	if r.Retries <= 0 {
		return errors.New("--relay-retries must be at least 1")
	}
	if r.RetryDelay <= 0 {
		return errors.New("--relay-retry-delay must be positive")
	}
	r.config = &c
	return nil
}
