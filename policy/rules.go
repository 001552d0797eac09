package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/textproto"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/letterbox-mail/letterbox/smtpd"
)

// Rule is one letterbox SMTP rule, as the rules file and /api/v1/chaos/rules spell it. A rule
// applies at one stage of a session when every matcher it sets matches; the first rule that
// applies decides (later rules, Mailpit's chaos, Jim and the recipient list are not asked).
//
// Patterns (From, To, Helo, Username, Header.Value) are case-insensitive globs (* any run of
// characters, ? one character, [...] a class), or regular expressions when written between
// slashes: "/^bounce-[0-9]+@/".
type Rule struct {
	Name  string `json:"name,omitempty" yaml:"name,omitempty"`
	Stage string `json:"stage" yaml:"stage"` // connect, helo, auth, mail, rcpt, data, data-end, vrfy

	// Matchers: all that are set must match.
	From      string  `json:"from,omitempty" yaml:"from,omitempty"`             // the MAIL FROM address ("" for <>)
	To        string  `json:"to,omitempty" yaml:"to,omitempty"`                 // rcpt, vrfy: the address; data, data-end: any recipient
	Helo      string  `json:"helo,omitempty" yaml:"helo,omitempty"`             // the HELO/EHLO name
	ClientIP  string  `json:"client_ip,omitempty" yaml:"client_ip,omitempty"`   // an IP address or a CIDR prefix
	Username  string  `json:"username,omitempty" yaml:"username,omitempty"`     // the AUTH username
	Header    *Header `json:"header,omitempty" yaml:"header,omitempty"`         // data-end: a header field
	SizeAbove int64   `json:"size_above,omitempty" yaml:"size_above,omitempty"` // data-end: messages larger than this many bytes

	// Probability is the chance, 0 to 100, that a matching rule applies (default 100). With
	// --chaos-seed the draws repeat from run to run.
	Probability *float64 `json:"probability,omitempty" yaml:"probability,omitempty"`
	// Count, when above 0, makes the rule apply only to its next Count matches ("fail the next
	// 3, then accept"); it counts again from the start whenever the rules are replaced.
	Count int `json:"count,omitempty" yaml:"count,omitempty"`

	// What it does: a reply, a delay, a throttle, a disconnect, or several.
	Reply           *Reply `json:"reply,omitempty" yaml:"reply,omitempty"`
	Delay           string `json:"delay,omitempty" yaml:"delay,omitempty"`                       // "2s", or a range "500ms-3s"
	Throttle        int    `json:"throttle,omitempty" yaml:"throttle,omitempty"`                 // bytes per second from now on
	Disconnect      bool   `json:"disconnect,omitempty" yaml:"disconnect,omitempty"`             // drop the connection without a reply
	DisconnectAfter int64  `json:"disconnect_after,omitempty" yaml:"disconnect_after,omitempty"` // data: bytes of the message read first
}

// Header matches a header field at the data-end stage.
type Header struct {
	Name  string `json:"name" yaml:"name"`
	Value string `json:"value,omitempty" yaml:"value,omitempty"` // a pattern; "" matches any value (the field is present)
}

// Reply is an SMTP reply: "550 5.1.1 <x@y>: user unknown" is {550, "5.1.1", "<x@y>: user unknown"}.
// In Text, {address} stands for the stage's address (the recipient at rcpt and vrfy, else the sender).
type Reply struct {
	Code     int    `json:"code" yaml:"code"`
	Enhanced string `json:"enhanced,omitempty" yaml:"enhanced,omitempty"` // RFC 3463; "" means x.0.0
	Text     string `json:"text,omitempty" yaml:"text,omitempty"`
}

// FieldError is a rule that does not hold: Field names it as in the JSON ("rules[2].reply.code").
type FieldError struct {
	Field string
	Why   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Why }

// compiled is a Rule ready to be matched.
type compiled struct {
	Rule
	index                      int
	stage                      smtpd.Stage
	from, to, helo, user, hval matcher
	prefix                     netip.Prefix
	hasIP                      bool
	prob                       float64 // 0..100
	enhanced                   [3]int
	delayMin, delayMax         time.Duration
	left                       atomic.Int64 // Count: applications left
}

// matcher is a compiled pattern; nil matches anything.
type matcher func(s string) bool

// compilePattern compiles a glob or /regexp/.
func compilePattern(field, p string) (matcher, error) {
	if p == "" {
		return nil, nil
	}
	if len(p) >= 2 && p[0] == '/' && p[len(p)-1] == '/' {
		re, err := regexp.Compile("(?i)" + p[1:len(p)-1])
		if err != nil {
			return nil, &FieldError{field, "bad regular expression: " + err.Error()}
		}
		return re.MatchString, nil
	}
	glob := strings.ToLower(p)
	if _, err := path.Match(glob, ""); err != nil {
		return nil, &FieldError{field, "bad glob pattern: " + err.Error()}
	}
	return func(s string) bool {
		ok, _ := path.Match(glob, strings.ToLower(s))
		return ok
	}, nil
}

// compileRules checks and compiles rules; the error names the first field that does not hold.
func compileRules(rules []Rule) ([]*compiled, error) {
	out := make([]*compiled, 0, len(rules))
	for i, r := range rules {
		c, err := compileRule(i, r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func compileRule(i int, r Rule) (*compiled, error) {
	f := func(name string) string { return fmt.Sprintf("rules[%d].%s", i, name) }
	c := &compiled{Rule: r, index: i, prob: 100}
	var ok bool
	if c.stage, ok = smtpd.ParseStage(r.Stage); !ok {
		return nil, &FieldError{f("stage"), fmt.Sprintf("%q is not one of connect, helo, auth, mail, rcpt, data, data-end, vrfy", r.Stage)}
	}
	var err error
	for _, p := range []struct {
		name, pattern string
		m             *matcher
	}{{"from", r.From, &c.from}, {"to", r.To, &c.to}, {"helo", r.Helo, &c.helo}, {"username", r.Username, &c.user}} {
		if *p.m, err = compilePattern(f(p.name), p.pattern); err != nil {
			return nil, err
		}
	}
	if err := c.checkStages(f); err != nil {
		return nil, err
	}
	if r.ClientIP != "" {
		if c.prefix, err = parsePrefix(r.ClientIP); err != nil {
			return nil, &FieldError{f("client_ip"), err.Error()}
		}
		c.hasIP = true
	}
	if r.Header != nil {
		if r.Header.Name == "" {
			return nil, &FieldError{f("header.name"), "required"}
		}
		if c.hval, err = compilePattern(f("header.value"), r.Header.Value); err != nil {
			return nil, err
		}
	}
	if r.SizeAbove < 0 {
		return nil, &FieldError{f("size_above"), "must not be negative"}
	}
	if r.Probability != nil {
		if p := *r.Probability; p < 0 || p > 100 {
			return nil, &FieldError{f("probability"), "must be between 0 and 100"}
		}
		c.prob = *r.Probability
	}
	if r.Count < 0 {
		return nil, &FieldError{f("count"), "must not be negative"}
	}
	c.left.Store(int64(r.Count))
	if err := c.compileAction(f); err != nil {
		return nil, err
	}
	return c, nil
}

// checkStages refuses matchers the rule's stage cannot know.
func (c *compiled) checkStages(f func(string) string) error {
	s := c.stage
	switch {
	case c.From != "" && s < smtpd.StageMail && s != smtpd.StageVrfy:
		return &FieldError{f("from"), "the sender is not known before the mail stage"}
	case c.To != "" && s < smtpd.StageRcpt:
		return &FieldError{f("to"), "the recipient is not known before the rcpt stage"}
	case c.Helo != "" && s == smtpd.StageConnect:
		return &FieldError{f("helo"), "the HELO name is not known at connect"}
	case c.Username != "" && s < smtpd.StageAuth:
		return &FieldError{f("username"), "the AUTH username is not known before the auth stage"}
	case (c.Header != nil || c.SizeAbove > 0) && s != smtpd.StageDataEnd:
		field := "header"
		if c.Header == nil {
			field = "size_above"
		}
		return &FieldError{f(field), "only known at the data-end stage"}
	}
	return nil
}

// compileAction checks what the rule does.
func (c *compiled) compileAction(f func(string) string) error {
	r := c.Rule
	if r.Reply == nil && r.Delay == "" && r.Throttle == 0 && !r.Disconnect {
		return &FieldError{f("reply"), "a rule needs a reply, delay, throttle or disconnect"}
	}
	if r.Reply != nil {
		code := r.Reply.Code
		switch {
		case c.stage == smtpd.StageVrfy && code != 250 && code != 252 && (code < 400 || code > 599):
			return &FieldError{f("reply.code"), "must be 250, 252 or 400 to 599 at the vrfy stage"}
		case c.stage != smtpd.StageVrfy && (code < 400 || code > 599):
			return &FieldError{f("reply.code"), "must be between 400 and 599"}
		}
		if r.Reply.Enhanced != "" {
			e, err := parseEnhanced(r.Reply.Enhanced)
			if err != nil || e[0] != code/100 {
				return &FieldError{f("reply.enhanced"), fmt.Sprintf("%q is not an enhanced status code (RFC 3463) of class %d, such as %d.1.1", r.Reply.Enhanced, code/100, code/100)}
			}
			c.enhanced = e
		}
		if strings.ContainsAny(r.Reply.Text, "\r\n") {
			return &FieldError{f("reply.text"), "must be one line"}
		}
	}
	if r.Delay != "" {
		var err error
		if c.delayMin, c.delayMax, err = parseDelay(r.Delay); err != nil {
			return &FieldError{f("delay"), err.Error()}
		}
	}
	if r.Throttle < 0 {
		return &FieldError{f("throttle"), "must not be negative"}
	}
	if r.DisconnectAfter != 0 && (!r.Disconnect || c.stage != smtpd.StageData) {
		return &FieldError{f("disconnect_after"), "needs disconnect: true at the data stage"}
	}
	if r.DisconnectAfter < 0 {
		return &FieldError{f("disconnect_after"), "must not be negative"}
	}
	if r.Disconnect && r.Reply != nil {
		return &FieldError{f("disconnect"), "a dropped connection sends no reply: remove one of disconnect and reply"}
	}
	return nil
}

// parseEnhanced reads "5.1.1".
func parseEnhanced(s string) ([3]int, error) {
	var e [3]int
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return e, fmt.Errorf("not three numbers")
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 || i == 0 && (n < 2 || n > 5) {
			return e, fmt.Errorf("bad number %q", p)
		}
		e[i] = n
	}
	return e, nil
}

// parseDelay reads "2s" or "500ms-3s".
func parseDelay(s string) (lo, hi time.Duration, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = time.ParseDuration(strings.TrimSpace(a)); err != nil {
		return 0, 0, fmt.Errorf("%q is not a duration such as 2s or a range such as 500ms-3s", s)
	}
	hi = lo
	if isRange {
		if hi, err = time.ParseDuration(strings.TrimSpace(b)); err != nil || hi < lo {
			return 0, 0, fmt.Errorf("%q is not a range such as 500ms-3s", s)
		}
	}
	if lo < 0 || hi > 10*time.Minute {
		return 0, 0, fmt.Errorf("%q must be between 0 and 10m", s)
	}
	return lo, hi, nil
}

// parsePrefix reads an address or a CIDR prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an IP address or CIDR prefix", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// matches reports whether the rule's matchers all match c.
func (r *compiled) matches(c *smtpd.Check) bool {
	if r.stage != c.Stage {
		return false
	}
	if r.hasIP && !r.prefix.Contains(c.RemoteAddr.Unmap()) {
		return false
	}
	if r.helo != nil && !r.helo(c.Helo) || r.user != nil && !r.user(c.Username) || r.from != nil && !r.from(c.MailFrom) {
		return false
	}
	if r.to != nil && !r.matchesTo(c) {
		return false
	}
	if c.Stage == smtpd.StageDataEnd {
		if r.SizeAbove > 0 && c.Size <= r.SizeAbove {
			return false
		}
		if r.Header != nil {
			vals, ok := c.Header()[textproto.CanonicalMIMEHeaderKey(r.Header.Name)]
			if !ok {
				return false
			}
			if r.hval != nil && !anyMatch(r.hval, vals) {
				return false
			}
		}
	}
	return true
}

func (r *compiled) matchesTo(c *smtpd.Check) bool {
	switch c.Stage {
	case smtpd.StageRcpt, smtpd.StageVrfy:
		return r.to(c.Recipient)
	}
	return anyMatch(r.to, c.Recipients)
}

func anyMatch(m matcher, vals []string) bool {
	for _, v := range vals {
		if m(v) {
			return true
		}
	}
	return false
}

// take decides, after a match, whether the rule applies: its probability, then its count.
func (r *compiled) take(rng *lockedRand) bool {
	if r.prob < 100 && rng.float()*100 >= r.prob {
		return false
	}
	if r.Count > 0 {
		for {
			left := r.left.Load()
			if left <= 0 {
				return false
			}
			if r.left.CompareAndSwap(left, left-1) {
				break
			}
		}
	}
	return true
}

// action is what the rule does at c.
func (r *compiled) action(c *smtpd.Check, rng *lockedRand) smtpd.Action {
	name := r.Name
	if name == "" {
		name = fmt.Sprintf("rule %d", r.index+1)
	}
	a := smtpd.Action{Throttle: r.Throttle, Disconnect: r.Disconnect, DisconnectAfter: r.DisconnectAfter, Fault: name}
	if r.delayMax > 0 {
		a.Delay = r.delayMin
		if r.delayMax > r.delayMin {
			a.Delay += time.Duration(rng.float() * float64(r.delayMax-r.delayMin))
		}
	}
	if r.Reply != nil {
		addr := c.MailFrom
		if c.Stage == smtpd.StageRcpt || c.Stage == smtpd.StageVrfy {
			addr = c.Recipient
		}
		a.Code, a.Enhanced = r.Reply.Code, r.enhanced
		a.Text = strings.ReplaceAll(r.Reply.Text, "{address}", addr)
	}
	return a
}

// lockedRand is the engine's random source: seeded, shared by every session.
type lockedRand struct {
	mu  sync.Mutex
	rnd *rand.Rand
}

func newRand(seed uint64) *lockedRand {
	return &lockedRand{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// float returns a number in [0, 1).
func (r *lockedRand) float() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rnd.Float64()
}
