package policy

import (
	"fmt"

	"github.com/letterbox-mail/letterbox/smtpd"
)

// Jim is MailHog's chaos monkey, GET/POST/PUT /api/v2/jim, with MailHog's field names. Chances
// are between 0 and 1; link speeds are in bytes per second.
type Jim struct {
	DisconnectChance      float64 // of dropping the connection at each command
	AcceptChance          float64 // of accepting a connection at all
	LinkSpeedAffect       float64 // of throttling a connection
	LinkSpeedMin          float64 // the slowest throttle
	LinkSpeedMax          float64 // the fastest throttle
	RejectSenderChance    float64 // of refusing MAIL FROM
	RejectRecipientChance float64 // of refusing each RCPT TO
	RejectAuthChance      float64 // of refusing AUTH
}

// DefaultJim is Jim as MailHog's -invite-jim starts him (MailHog's flag defaults).
func DefaultJim() Jim {
	return Jim{
		DisconnectChance:      0.005,
		AcceptChance:          0.99,
		LinkSpeedAffect:       0.1,
		LinkSpeedMin:          1024,
		LinkSpeedMax:          10240,
		RejectSenderChance:    0.05,
		RejectRecipientChance: 0.05,
		RejectAuthChance:      0.05,
	}
}

// Validate reports the first field out of range: a *FieldError naming it.
func (j Jim) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"DisconnectChance", j.DisconnectChance}, {"AcceptChance", j.AcceptChance}, {"LinkSpeedAffect", j.LinkSpeedAffect},
		{"RejectSenderChance", j.RejectSenderChance}, {"RejectRecipientChance", j.RejectRecipientChance}, {"RejectAuthChance", j.RejectAuthChance}} {
		if f.v < 0 || f.v > 1 {
			return &FieldError{f.name, "must be between 0 and 1"}
		}
	}
	switch {
	case j.LinkSpeedMin < 0:
		return &FieldError{"LinkSpeedMin", "must not be negative"}
	case j.LinkSpeedMax < j.LinkSpeedMin:
		return &FieldError{"LinkSpeedMax", "must not be below LinkSpeedMin"}
	case j.LinkSpeedAffect > 0 && j.LinkSpeedMax < 1:
		return &FieldError{"LinkSpeedMax", "must be at least 1 byte per second when LinkSpeedAffect is set"}
	}
	return nil
}

// jimAction is what Jim does at a stage, as MailHog's does: at connect he may refuse the
// connection or slow it down; at each command he may drop it; he may refuse the sender, each
// recipient and authentication.
func jimAction(j *Jim, c *smtpd.Check, rng *lockedRand) smtpd.Action {
	if c.Stage == smtpd.StageConnect {
		if rng.float() > j.AcceptChance {
			return smtpd.Action{Disconnect: true, Fault: "jim: connection refused"}
		}
		if j.LinkSpeedAffect > 0 && rng.float() < j.LinkSpeedAffect {
			bps := j.LinkSpeedMin + (j.LinkSpeedMax-j.LinkSpeedMin)*rng.float()
			return smtpd.Action{Throttle: max(int(bps), 1), Fault: "jim: link speed"}
		}
		return smtpd.Action{}
	}
	if rng.float() < j.DisconnectChance {
		return smtpd.Action{Disconnect: true, Fault: "jim: disconnect"}
	}
	switch c.Stage {
	case smtpd.StageMail:
		if rng.float() < j.RejectSenderChance {
			return smtpd.Action{Code: 550, Enhanced: [3]int{5, 1, 0}, Text: fmt.Sprintf("Invalid sender <%s>", c.MailFrom), Fault: "jim: reject sender"}
		}
	case smtpd.StageRcpt:
		if rng.float() < j.RejectRecipientChance {
			return smtpd.Action{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: fmt.Sprintf("Invalid recipient <%s>", c.Recipient), Fault: "jim: reject recipient"}
		}
	case smtpd.StageAuth:
		if rng.float() < j.RejectAuthChance {
			return smtpd.Action{Code: 535, Enhanced: [3]int{5, 7, 8}, Text: "Authentication credentials invalid", Fault: "jim: reject auth"}
		}
	}
	return smtpd.Action{}
}
