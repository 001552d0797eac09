package main

import (
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestCheckFlags(t *testing.T) {
	env := map[string]string{"LETTERBOX_SENDING_IP": "203.0.113.5, 2001:db8::25", "LETTERBOX_BULK": "true"}
	cfg, err := parseConfig([]string{"--dns", "127.0.0.1:5353", "--spamassassin", "127.0.0.1:783"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Checks
	want := []netip.Addr{netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("2001:db8::25")}
	if c.DNS != "127.0.0.1:5353" || c.SpamAssassin != "127.0.0.1:783" || !c.Bulk || !slices.Equal([]netip.Addr(c.SendingIPs), want) {
		t.Errorf("checks %+v", c)
	}
	sc := catcherConfig(cfg, nil)
	if sc.DNS != c.DNS || sc.SpamAssassin != c.SpamAssassin || !sc.Bulk || len(sc.SendingIPs) != 2 {
		t.Errorf("catcher config %+v", sc)
	}
	for _, bad := range [][]string{{"--sending-ip", "mail.example.com"}, {"--spamassassin", "localhost"}} {
		if _, err := parseConfig(bad, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(bad[0], "--")) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
