package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/letterbox-mail/letterbox/smtpd"
)

// ChaosTrigger is one of Mailpit's chaos triggers: the reply code a stage fails with, and the
// percentage of the time it does.
type ChaosTrigger struct {
	ErrorCode   int // 400 to 599
	Probability int // 0 to 100
}

// ChaosTriggers is Mailpit's chaos configuration, GET and PUT /api/v1/chaos: the sender (MAIL
// FROM), each recipient (RCPT TO) and authentication (AUTH) fail with their trigger's code.
type ChaosTriggers struct {
	Sender         ChaosTrigger
	Recipient      ChaosTrigger
	Authentication ChaosTrigger
}

// DefaultChaos is Mailpit's starting configuration: every trigger off.
func DefaultChaos() ChaosTriggers {
	return ChaosTriggers{
		Sender:         ChaosTrigger{ErrorCode: 451},
		Recipient:      ChaosTrigger{ErrorCode: 451},
		Authentication: ChaosTrigger{ErrorCode: 535},
	}
}

// normalized fills in Mailpit's default codes for the triggers without one (a trigger left out
// of a PUT is reset to its default, off) and checks the values as Mailpit does.
func (t ChaosTriggers) normalized() (ChaosTriggers, error) {
	def := DefaultChaos()
	for _, p := range []struct {
		t   *ChaosTrigger
		def int
	}{{&t.Sender, def.Sender.ErrorCode}, {&t.Recipient, def.Recipient.ErrorCode}, {&t.Authentication, def.Authentication.ErrorCode}} {
		if p.t.ErrorCode == 0 {
			p.t.ErrorCode = p.def
		}
		if p.t.ErrorCode < 400 || p.t.ErrorCode > 599 {
			return t, errors.New("error code must be between 400 and 599")
		}
		if p.t.Probability < 0 || p.t.Probability > 100 {
			return t, errors.New("probability must be between 0 and 100")
		}
	}
	return t, nil
}

func (t ChaosTriggers) active() bool {
	return t.Sender.Probability > 0 || t.Recipient.Probability > 0 || t.Authentication.Probability > 0
}

var chaosArg = regexp.MustCompile(`^([a-zA-Z]+):(\d\d\d):(\d+)$`)

// ParseChaosTriggers reads Mailpit's --chaos-triggers value: comma-separated
// "Sender:451:10,Recipient:550:5,Authentication:535:50" (the trigger, the code, the percentage).
func ParseChaosTriggers(s string) (ChaosTriggers, error) {
	t := DefaultChaos()
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		m := chaosArg.FindStringSubmatch(part)
		if m == nil {
			return t, fmt.Errorf("invalid chaos trigger %q (want Trigger:code:probability, e.g. Sender:451:10)", part)
		}
		code, _ := strconv.Atoi(m[2])
		prob, _ := strconv.Atoi(m[3])
		tr := ChaosTrigger{ErrorCode: code, Probability: prob}
		switch strings.ToLower(m[1]) {
		case "sender":
			t.Sender = tr
		case "recipient", "recipients":
			t.Recipient = tr
		case "auth", "authentication":
			t.Authentication = tr
		default:
			return t, fmt.Errorf("unknown chaos trigger %q (want Sender, Recipient or Authentication)", m[1])
		}
	}
	return t.normalized()
}

// chaosAction is what Mailpit's chaos does at a stage.
func chaosAction(t ChaosTriggers, c *smtpd.Check, rng *lockedRand) smtpd.Action {
	var tr ChaosTrigger
	var what string
	switch c.Stage {
	case smtpd.StageMail:
		tr, what = t.Sender, "Sender"
	case smtpd.StageRcpt:
		tr, what = t.Recipient, "Recipient"
	case smtpd.StageAuth:
		tr, what = t.Authentication, "Authentication"
	default:
		return smtpd.Action{}
	}
	// Mailpit draws 0..99 and fails when the draw is below the probability.
	if tr.Probability == 0 || int(rng.float()*100) >= tr.Probability {
		return smtpd.Action{}
	}
	return smtpd.Action{Code: tr.ErrorCode, Text: "Chaos " + strings.ToLower(what) + " error", Fault: "chaos " + what}
}
