package relay

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
)

// loginClient is the client side of the LOGIN mechanism (draft-murchison-sasl-login), which
// go-sasl has but sends the username as an initial response that some servers refuse: this one
// waits for the server's "Username:" and "Password:" challenges, as Outlook and Thunderbird do.
type loginClient struct {
	username, password string
	step               int
}

func (c *loginClient) Start() (string, []byte, error) { return "LOGIN", nil, nil }

func (c *loginClient) Next(challenge []byte) ([]byte, error) {
	ch := strings.ToLower(strings.TrimSpace(string(challenge)))
	switch {
	case strings.HasPrefix(ch, "user"):
		return []byte(c.username), nil
	case strings.HasPrefix(ch, "pass"):
		return []byte(c.password), nil
	}
	// A server whose challenges say something else: username, then password, by order.
	c.step++
	switch c.step {
	case 1:
		return []byte(c.username), nil
	case 2:
		return []byte(c.password), nil
	}
	return nil, errors.New("relay: LOGIN: unexpected challenge")
}

// cramMD5Client is the client side of CRAM-MD5 (RFC 2195): it answers the server's challenge
// with the username and the HMAC-MD5 of the challenge keyed with the shared secret, so the
// secret itself never crosses the wire.
type cramMD5Client struct {
	username, secret string
}

func (c *cramMD5Client) Start() (string, []byte, error) { return "CRAM-MD5", nil, nil }

func (c *cramMD5Client) Next(challenge []byte) ([]byte, error) {
	mac := hmac.New(md5.New, []byte(c.secret))
	mac.Write(challenge)
	return []byte(c.username + " " + hex.EncodeToString(mac.Sum(nil))), nil
}
