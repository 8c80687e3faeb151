package fetch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is returned (wrapped) when a connection would reach an address
// that plans may not reach: anything outside the public internet.
var ErrForbiddenAddress = errors.New("address not allowed")

// special is a range a plan may not reach, named as its registry names it,
// with the document that defines it.
type special struct {
	prefix    netip.Prefix
	name, ref string
}

// ranges makes a table of prefix, name, reference triples.
func ranges(v ...string) []special {
	s := make([]special, 0, len(v)/3)
	for i := 0; i+2 < len(v); i += 3 {
		s = append(s, special{netip.MustParsePrefix(v[i]), v[i+1], v[i+2]})
	}
	return s
}

// ipv4Special is every entry of IANA's IPv4 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv4-special-registry/, RFC 6890 and
// the RFCs it lists, as of 2025), with the multicast space of the IPv4
// Multicast Address Space Registry. Entries the registry marks globally
// reachable (the PCP and TURN anycasts in 192.0.0.0/24, AS112 and AMT) are
// refused too: they are DNS sinks and relays, never a page a plan needs.
var ipv4Special = ranges(
	"0.0.0.0/8", `a "this network"`, "RFC 791",
	"10.0.0.0/8", "a private-use", "RFC 1918",
	"100.64.0.0/10", "a shared", "carrier-grade NAT, RFC 6598",
	"127.0.0.0/8", "a loopback", "RFC 1122",
	"169.254.0.0/16", "a link-local", "cloud metadata, RFC 3927",
	"172.16.0.0/12", "a private-use", "RFC 1918",
	"192.0.0.0/24", "an IETF protocol assignment", "RFC 6890",
	"192.0.2.0/24", "a documentation", "TEST-NET-1, RFC 5737",
	"192.31.196.0/24", "an AS112", "RFC 7535",
	"192.52.193.0/24", "an AMT", "RFC 7450",
	"192.88.99.0/24", "a deprecated 6to4 relay anycast", "RFC 7526",
	"192.168.0.0/16", "a private-use", "RFC 1918",
	"192.175.48.0/24", "an AS112 direct delegation", "RFC 7534",
	"198.18.0.0/15", "a benchmarking", "RFC 2544",
	"198.51.100.0/24", "a documentation", "TEST-NET-2, RFC 5737",
	"203.0.113.0/24", "a documentation", "TEST-NET-3, RFC 5737",
	"224.0.0.0/4", "a multicast", "RFC 5771",
	"240.0.0.0/4", "a reserved or limited broadcast", "RFC 1112, RFC 919",
)

// ipv6Special is every entry of IANA's IPv6 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv6-special-registry/, RFC 6890 and
// the RFCs it lists, as of 2025), and the non-global parts of the IPv6 Address
// Space registry (https://www.iana.org/assignments/ipv6-address-space/) whose
// names help an error message: the IPv4-compatible and SIIT forms, site-local,
// multicast. Whatever else lies outside 2000::/3, the global unicast space, is
// refused as well (see CheckAddr). The well-known NAT64 prefix 64:ff9b::/96 is
// not here: it is checked by the IPv4 address it carries. 6to4 (2002::/16) and
// Teredo (2001::/32) carry IPv4 addresses too, but relays to them are anyone's,
// so they are refused whole. ORCHIDv2 and DETs (RFC 7343, RFC 9374) are
// identifiers, not locators, though the registry marks them global.
var ipv6Special = ranges(
	"::/128", "an unspecified", "RFC 4291",
	"::1/128", "a loopback", "RFC 4291",
	"::ffff:0:0:0/96", "an IPv4-translated", "SIIT, RFC 2765",
	"::/96", "an IPv4-compatible", "deprecated, RFC 4291",
	"64:ff9b:1::/48", "a local-use IPv4/IPv6 translation", "RFC 8215",
	"100::/64", "a discard-only", "RFC 6666",
	"100:0:0:1::/64", "a dummy", "RFC 9780",
	"2001::/32", "a Teredo", "RFC 4380",
	"2001:1::/48", "an anycast service", "PCP, TURN, DNS-SD SRP: RFC 7723, RFC 8155, RFC 9665",
	"2001:2::/48", "a benchmarking", "RFC 5180",
	"2001:3::/32", "an AMT", "RFC 7450",
	"2001:4:112::/48", "an AS112-v6", "RFC 7535",
	"2001:10::/28", "a deprecated ORCHID", "RFC 4843",
	"2001:20::/28", "an ORCHIDv2", "RFC 7343",
	"2001:30::/28", "a drone remote ID entity tag", "RFC 9374",
	"2001::/23", "an IETF protocol assignment", "RFC 2928",
	"2001:db8::/32", "a documentation", "RFC 3849",
	"2002::/16", "a 6to4", "RFC 3056",
	"2620:4f:8000::/48", "an AS112 direct delegation", "RFC 7534",
	"3fff::/20", "a documentation", "RFC 9637",
	"5f00::/16", "a segment routing SID", "RFC 9602",
	"fc00::/7", "a unique-local", "private, RFC 4193",
	"fe80::/10", "a link-local", "RFC 4291",
	"fec0::/10", "a site-local", "deprecated, RFC 3879",
	"ff00::/8", "a multicast", "RFC 4291",
)

var (
	// nat64 is the well-known NAT64 prefix (RFC 6052), IPv4 in the last 4 bytes:
	// on an IPv6-only network with DNS64 public sites have such addresses.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// globalUnicast is the IPv6 space IANA allocates for global unicast.
	globalUnicast = netip.MustParsePrefix("2000::/3")
)

// CheckAddr returns an error wrapping ErrForbiddenAddress when ip is not a public
// unicast address: any address of IANA's special-purpose registries, multicast,
// IPv6 outside 2000::/3, or IPv4 reached through IPv6 (mapped, compatible,
// translated, NAT64, 6to4, Teredo) that is any of those.
func CheckAddr(ip netip.Addr) error {
	why := reason(ip)
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w: %s is %s (set fetch.allow_private_networks or AGENT_ALLOW_PRIVATE_NETWORKS=1 to allow)", ErrForbiddenAddress, ip, why)
}

// reason says what makes ip forbidden, "" when nothing does.
func reason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "an invalid address"
	}
	ip = ip.WithZone("").Unmap() // a zone never matches a prefix; ::ffff:a.b.c.d is a.b.c.d
	if ip.Is4() {
		return lookup(ipv4Special, ip)
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:16]))
		if why := lookup(ipv4Special, v4); why != "" {
			return fmt.Sprintf("a NAT64 address (RFC 6052) of %s, %s", v4, why)
		}
		return ""
	}
	if why := lookup(ipv6Special, ip); why != "" {
		return why
	}
	if !globalUnicast.Contains(ip) {
		return "a non-global-unicast address (outside 2000::/3)"
	}
	return ""
}

// lookup describes the first range of table that holds ip: "a loopback
// address (RFC 1122)".
func lookup(table []special, ip netip.Addr) string {
	for _, s := range table {
		if s.prefix.Contains(ip) {
			return s.name + " address (" + s.ref + ")"
		}
	}
	return ""
}

// control is a net.Dialer Control hook refusing forbidden addresses. It runs after
// DNS resolution, on the address actually dialled, so neither DNS rebinding nor a
// redirect to a private host gets past it.
func control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s is not an IP address", ErrForbiddenAddress, host)
	}
	return CheckAddr(ip)
}
