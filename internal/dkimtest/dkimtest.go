// Package dkimtest signs test messages with DKIM (go-msgauth's signer) and makes the key
// records (RFC 6376 §3.6.1) a test DNS server publishes.
package dkimtest

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

var (
	once sync.Once
	keys [2]*rsa.PrivateKey
	err  error
)

// Keys returns two RSA-2048 keys, made once per test binary (making one takes a while).
func Keys(tb testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	tb.Helper()
	once.Do(func() {
		for i := range keys {
			if keys[i], err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				return
			}
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return keys[0], keys[1]
}

// Record is the DKIM key record publishing pub (RSA or Ed25519).
func Record(tb testing.TB, pub crypto.PublicKey) string {
	tb.Helper()
	if ed, ok := pub.(ed25519.PublicKey); ok {
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(ed)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

// Sign returns raw with a DKIM-Signature by domain and selector prepended. headers are the
// fields to sign; none means go-msgauth's default set.
func Sign(tb testing.TB, raw []byte, domain, selector string, key crypto.Signer, headers ...string) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := dkim.Sign(&b, bytes.NewReader(raw), &dkim.SignOptions{Domain: domain, Selector: selector, Signer: key, HeaderKeys: headers}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
