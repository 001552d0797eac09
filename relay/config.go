package relay

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is the relay's configuration. Its YAML keys are Mailpit's (--smtp-relay-config), so a
// Mailpit relay file works unchanged.
type Config struct {
	Host               string `yaml:"host"`                 // SMTP server; "" means no relay
	Port               int    `yaml:"port"`                 // default 25
	STARTTLS           bool   `yaml:"starttls"`             // require STARTTLS
	TLS                bool   `yaml:"tls"`                  // implicit TLS
	AllowInsecure      bool   `yaml:"allow-insecure"`       // skip certificate checks; allow passwords without TLS
	Auth               string `yaml:"auth"`                 // none, plain, login, cram-md5
	Username           string `yaml:"username"`             // plain, login, cram-md5
	Password           string `yaml:"password"`             // plain, login
	Secret             string `yaml:"secret"`               // cram-md5
	ReturnPath         string `yaml:"return-path"`          // envelope sender (bounce address) of everything relayed
	OverrideFrom       string `yaml:"override-from"`        // replaces the From address of everything relayed
	AllowedRecipients  string `yaml:"allowed-recipients"`   // regular expression a recipient must match
	BlockedRecipients  string `yaml:"blocked-recipients"`   // regular expression a recipient must not match
	PreserveMessageIDs bool   `yaml:"preserve-message-ids"` // keep Message-ID on release (default: a new one)
	// ForwardSMTPErrors is Mailpit's; accepted and not needed: letterbox always reports the
	// relay's refusals (in the release's answer and the message's relay status).
	ForwardSMTPErrors bool `yaml:"forward-smtp-errors"`
	// RecipientAllowlist is Mailpit's old name for allowed-recipients.
	RecipientAllowlist string `yaml:"recipient-allowlist"`

	allowed, blocked *regexp.Regexp
}

// Keys lists the YAML keys Config knows, for messages about unknown ones.
var Keys = []string{"host", "port", "starttls", "tls", "allow-insecure", "auth", "username", "password",
	"secret", "return-path", "override-from", "allowed-recipients", "blocked-recipients",
	"preserve-message-ids", "forward-smtp-errors", "recipient-allowlist"}

// LoadConfig reads a YAML relay configuration. Keys it does not know are returned (Mailpit
// ignores them too; the caller may warn), not treated as errors. The result is not yet validated.
func LoadConfig(path string) (Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("relay config: %w", err)
	}
	var c Config
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil, fmt.Errorf("relay config %s: empty", path)
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return Config{}, nil, fmt.Errorf("relay config %s: %w", path, err)
	}
	var all map[string]any
	yaml.Unmarshal(data, &all)
	var unknown []string
	for k := range all {
		known := false
		for _, key := range Keys {
			known = known || k == key
		}
		if !known {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return c, unknown, nil
}

// Enabled reports whether a relay is configured (Host set).
func (c *Config) Enabled() bool { return c.Host != "" }

// Validate checks c and fills in defaults, as Mailpit does: port 25; auth "" or "false" is none;
// "cram" and "cram-md5" are cram-md5; plain and login need username and password, cram-md5
// username and secret; the recipient patterns must compile; override-from must be an address.
// Errors name the YAML key.
func (c *Config) Validate() error {
	if c.Host == "" {
		return errors.New("relay: host: not set")
	}
	if strings.ContainsAny(c.Host, " /\r\n") {
		return fmt.Errorf("relay: host: %q is not a host name or address", c.Host)
	}
	if c.Port == 0 {
		c.Port = 25
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("relay: port: %d is not a TCP port", c.Port)
	}
	if c.STARTTLS && c.TLS {
		return errors.New("relay: starttls and tls: choose one (tls is implicit TLS, usually port 465)")
	}
	switch a := strings.ToLower(strings.TrimSpace(c.Auth)); {
	case a == "" || a == "none" || a == "false":
		c.Auth = "none"
	case a == "plain" || a == "login":
		c.Auth = a
		if c.Username == "" || c.Password == "" {
			return fmt.Errorf("relay: auth %s: needs username and password", a)
		}
	case strings.HasPrefix(a, "cram"):
		c.Auth = "cram-md5"
		if c.Username == "" || c.Secret == "" {
			return errors.New("relay: auth cram-md5: needs username and secret")
		}
	default:
		return fmt.Errorf("relay: auth: %q is not none, plain, login or cram-md5", c.Auth)
	}
	if c.AllowedRecipients == "" {
		c.AllowedRecipients = c.RecipientAllowlist
	}
	var err error
	if c.AllowedRecipients != "" {
		if c.allowed, err = regexp.Compile(c.AllowedRecipients); err != nil {
			return fmt.Errorf("relay: allowed-recipients: %w", err)
		}
	}
	if c.BlockedRecipients != "" {
		if c.blocked, err = regexp.Compile(c.BlockedRecipients); err != nil {
			return fmt.Errorf("relay: blocked-recipients: %w", err)
		}
	}
	for _, f := range []struct {
		key string
		v   *string
	}{{"override-from", &c.OverrideFrom}, {"return-path", &c.ReturnPath}} {
		if *f.v == "" {
			continue
		}
		a, err := mail.ParseAddress(*f.v)
		if err != nil {
			return fmt.Errorf("relay: %s: %q is not an email address", f.key, *f.v)
		}
		*f.v = a.Address
	}
	return nil
}

// Dest is where the configured relay delivers: the operator's own server, trusted.
func (c *Config) Dest() Dest {
	return Dest{Host: c.Host, Port: c.Port, TLS: c.TLS, STARTTLS: c.STARTTLS, AllowInsecure: c.AllowInsecure,
		Auth: c.Auth, Username: c.Username, Password: c.Password, Secret: c.Secret, Trusted: true}
}

// LogValue shows the configuration in logs without its password and secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("server", Dest{Host: c.Host, Port: c.Port}.Addr()),
		slog.Bool("starttls", c.STARTTLS), slog.Bool("tls", c.TLS), slog.String("auth", c.Auth),
		slog.String("username", c.Username))
}

// RecipientError is a release to recipients the configuration does not allow.
type RecipientError struct {
	NotAllowed []string // not matching allowed-recipients
	Blocked    []string // matching blocked-recipients
	Invalid    []string // not email addresses
}

// Error lists the refused recipients by reason.
func (e *RecipientError) Error() string {
	var parts []string
	if len(e.Invalid) > 0 {
		parts = append(parts, "not email addresses: "+strings.Join(e.Invalid, ", "))
	}
	if len(e.NotAllowed) > 0 {
		parts = append(parts, "not matching allowed-recipients: "+strings.Join(e.NotAllowed, ", "))
	}
	if len(e.Blocked) > 0 {
		parts = append(parts, "matching blocked-recipients: "+strings.Join(e.Blocked, ", "))
	}
	return "relay: recipients refused: " + strings.Join(parts, "; ")
}

// ErrNoRecipients is a release without recipients.
var ErrNoRecipients = errors.New("relay: no recipients")

// CheckRecipients parses each recipient ("Name <addr>" or a bare address) and returns their
// addresses, or a *RecipientError listing every one that is not an address, does not match
// allowed-recipients, or matches blocked-recipients. An empty list is ErrNoRecipients.
func (c *Config) CheckRecipients(to []string) ([]string, error) {
	if len(to) == 0 {
		return nil, ErrNoRecipients
	}
	var out []string
	re := &RecipientError{}
	for _, t := range to {
		a, err := mail.ParseAddress(t)
		if err != nil {
			re.Invalid = append(re.Invalid, t)
			continue
		}
		switch {
		case c.allowed != nil && !c.allowed.MatchString(a.Address):
			re.NotAllowed = append(re.NotAllowed, a.Address)
		case c.blocked != nil && c.blocked.MatchString(a.Address):
			re.Blocked = append(re.Blocked, a.Address)
		default:
			out = append(out, a.Address)
		}
	}
	if len(re.Invalid)+len(re.NotAllowed)+len(re.Blocked) > 0 {
		return nil, re
	}
	return out, nil
}

// FilterRecipients returns the recipients auto-relay may send to (allowed and not blocked), and
// those it drops.
func (c *Config) FilterRecipients(to []string) (keep, drop []string) {
	for _, t := range to {
		if (c.allowed != nil && !c.allowed.MatchString(t)) || (c.blocked != nil && c.blocked.MatchString(t)) {
			drop = append(drop, t)
		} else {
			keep = append(keep, t)
		}
	}
	return keep, drop
}
