package fetch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is returned (wrapped) when a connection would reach an address
// that plans may not reach: loopback, private, link-local (cloud metadata), multicast,
// unspecified or otherwise reserved.
var ErrForbiddenAddress = errors.New("address not allowed")

// reserved are ranges that are not the public internet beyond what netip's
// predicates cover.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

// IPv6 prefixes that carry an IPv4 address a gateway may forward to.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // the well-known NAT64 prefix, IPv4 in the last 4 bytes
	sixToFour = netip.MustParsePrefix("2002::/16")    // 6to4, IPv4 in bytes 2 to 5
)

// CheckAddr returns an error wrapping ErrForbiddenAddress when ip is not a public
// unicast address.
func CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	why := ""
	switch {
	case !ip.IsValid():
		why = "an invalid"
	case ip.IsLoopback():
		why = "a loopback"
	case ip.IsPrivate():
		why = "a private"
	case ip.IsLinkLocalUnicast():
		why = "a link-local (cloud metadata)"
	case ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast():
		why = "a multicast"
	case ip.IsUnspecified():
		why = "an unspecified"
	default:
		for _, p := range reserved {
			if p.Contains(ip) {
				why = "a reserved"
				break
			}
		}
		if v4, ok := embeddedIPv4(ip); why == "" && ok && CheckAddr(v4) != nil {
			why = fmt.Sprintf("a translated (it reaches %s)", v4)
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w: %s is %s address (set fetch.allow_private_networks or AGENT_ALLOW_PRIVATE_NETWORKS=1 to allow)", ErrForbiddenAddress, ip, why)
}

// embeddedIPv4 returns the IPv4 address inside a NAT64 or 6to4 address.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
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
