package authcheck

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMResult is the verdict on one DKIM-Signature.
type DKIMResult struct {
	Domain     string   // d=, the signing domain (SDID)
	Selector   string   // s=
	Algorithm  string   // a=, such as rsa-sha256 or ed25519-sha256
	KeyType    string   // rsa or ed25519, from the key record; "" when no key was found
	KeyBits    int      // size of the public key; 0 when no key was found
	Headers    []string // h=, the signed header fields
	Identifier string   // i=, the agent or user identifier
	BodyHash   string   // pass, fail, or "" when the body hash was not reached
	Result     string   // pass, fail, temperror or permerror
	Reason     string   // why, in words
}

// Covers reports whether the signature covers the header field name.
func (d *DKIMResult) Covers(name string) bool {
	for _, h := range d.Headers {
		if strings.EqualFold(strings.TrimSpace(h), name) {
			return true
		}
	}
	return false
}

// maxSignatures bounds the signatures verified in one message.
const maxSignatures = 16

func (c *Checker) checkDKIM(l *lookups, raw []byte) []DKIMResult {
	sigs := signatureTags(raw)
	if len(sigs) == 0 {
		return []DKIMResult{}
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: l.lookupTXTNoCtx, MaxVerifications: maxSignatures,
	})
	out := make([]DKIMResult, 0, len(sigs))
	for i, tags := range sigs {
		r := DKIMResult{
			Domain: tags["d"], Selector: tags["s"], Algorithm: tags["a"], Identifier: tags["i"],
			Headers: splitList(tags["h"]),
		}
		switch {
		case i >= len(verifs):
			r.Result, r.Reason = PermError, "not verified"
			if err != nil {
				r.Reason += ": " + err.Error()
			}
		default:
			judge(&r, verifs[i].Err, l)
		}
		keyInfo(&r, l)
		out = append(out, r)
	}
	return out
}

// judge sets the result, reason and body-hash verdict from go-msgauth's error.
func judge(r *DKIMResult, err error, l *lookups) {
	switch {
	case err == nil:
		r.Result, r.BodyHash = Pass, Pass
		r.Reason = fmt.Sprintf("signature by %s verified", r.Domain)
		return
	case dkim.IsTempFail(err):
		r.Result = TempError
	case dkim.IsPermFail(err):
		r.Result = PermError
	default:
		r.Result = Fail
	}
	msg := strings.TrimPrefix(err.Error(), "dkim: ")
	switch {
	case strings.Contains(msg, "body hash did not verify"):
		r.BodyHash = Fail
		r.Reason = "the body was changed after signing (body hash did not verify)"
	case strings.HasPrefix(msg, "signature did not verify"):
		r.BodyHash = Pass
		r.Reason = "the signature does not match the signed headers and the public key (wrong key, or a signed header changed): " + msg
	case strings.HasPrefix(msg, "no key for signature"):
		r.Reason = fmt.Sprintf("no public key at %s._domainkey.%s", r.Selector, r.Domain)
	case r.Result == TempError:
		r.Reason = "key unavailable: " + ErrDNSUnreachable.Error()
		if bad := l.unreachable(); bad != nil {
			r.Reason += " (" + bad.Error() + ")"
		}
	default:
		r.Reason = msg
	}
}

// keyInfo fills the key type and size from the key record the verification looked up.
func keyInfo(r *DKIMResult, l *lookups) {
	if r.Selector == "" || r.Domain == "" {
		return
	}
	txts, ok := l.recorded(r.Selector + "._domainkey." + r.Domain)
	if !ok || len(txts) != 1 {
		return
	}
	tags := parseTags(txts[0])
	b, err := base64.StdEncoding.DecodeString(stripSpace(tags["p"]))
	if err != nil || len(b) == 0 {
		return
	}
	switch strings.ToLower(tags["k"]) {
	case "ed25519":
		if len(b) == ed25519.PublicKeySize {
			r.KeyType, r.KeyBits = "ed25519", 256
		}
	case "", "rsa":
		pub, err := x509.ParsePKIXPublicKey(b)
		if err != nil {
			pub, err = x509.ParsePKCS1PublicKey(b)
		}
		if k, ok := pub.(*rsa.PublicKey); ok && err == nil {
			r.KeyType, r.KeyBits = "rsa", k.N.BitLen()
		}
	}
}

// signatureTags returns the tags of every DKIM-Signature field, in header order.
func signatureTags(raw []byte) []map[string]string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	var out []map[string]string
	for _, v := range m.Header["Dkim-Signature"] {
		out = append(out, parseTags(v))
	}
	return out
}

// parseTags parses a DKIM tag-list (RFC 6376 §3.2): tag=value pairs separated by semicolons.
func parseTags(s string) map[string]string {
	tags := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		tags[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return tags
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	parts := strings.Split(stripSpace(s), ":")
	return parts
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}
