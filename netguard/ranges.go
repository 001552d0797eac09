package netguard

import "net/netip"

// special lists the IPv4 and IPv6 special-purpose ranges (IANA's registries, RFC 6890 and its
// updates) that are not covered by netip.Addr's predicates: no outgoing request of letterbox's
// has a reason to reach them.
var special = mustPrefixes(
	"0.0.0.0/8",          // "this network" (RFC 791)
	"100.64.0.0/10",      // shared address space, carrier-grade NAT (RFC 6598)
	"192.0.0.0/24",       // IETF protocol assignments (RFC 6890)
	"192.0.2.0/24",       // TEST-NET-1 (RFC 5737)
	"198.18.0.0/15",      // benchmarking (RFC 2544)
	"198.51.100.0/24",    // TEST-NET-2
	"203.0.113.0/24",     // TEST-NET-3
	"240.0.0.0/4",        // reserved, and the limited broadcast address
	"100::/64",           // discard-only (RFC 6666)
	"2001:db8::/32",      // documentation (RFC 3849)
	"fec0::/10",          // site-local, deprecated (RFC 3879)
	"2001::/32",          // Teredo (RFC 4380): tunnels to arbitrary IPv4 hosts
	"2002::/16",          // 6to4 (RFC 3056): likewise
	"64:ff9b:1::/48",     // local-use NAT64 (RFC 8215)
	"::ffff:0:0:0/96",    // IPv4-translated (RFC 2765)
	"5f00::/16",          // segment routing SIDs (RFC 9602)
	"3fff::/20",          // documentation (RFC 9637)
	"2001:2::/48",        // benchmarking (RFC 5180)
	"2001:10::/28",       // ORCHID (deprecated)
	"2001:20::/28",       // ORCHIDv2 (RFC 7343)
	"ff00::/8",           // multicast (also IsMulticast; kept for clarity)
	"fc00::/7",           // unique local (also IsPrivate)
	"fe80::/10",          // link-local (also IsLinkLocalUnicast)
	"169.254.0.0/16",     // link-local, cloud metadata services (also IsLinkLocalUnicast)
	"255.255.255.255/32", // broadcast
)

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses stand for the IPv4 address in
// their last 32 bits, which is judged instead.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Blocked reports whether addr is a loopback, private, link-local, unspecified, multicast or
// other special-purpose address that outgoing requests must not reach by default.
func Blocked(addr netip.Addr) bool {
	if !addr.IsValid() {
		return true
	}
	addr = addr.Unmap()
	if nat64.Contains(addr) {
		b := addr.As16()
		return Blocked(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	if addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() || addr.IsMulticast() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range special {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
