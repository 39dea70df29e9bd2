package dhcp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// parseIPv4 accepts a dotted IPv4 address. The message is the Ruby proxy's: providers
// here are IPv4 only, so an IPv6 address is invalid too.
func parseIPv4(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("Invalid IP Address %s", s)
	}
	return ip, nil
}

// normaliseMAC checks a MAC of 6 octets (Ethernet) or 20 octets (InfiniBand), hex
// pairs of one or two digits separated by ':', and returns it lower-case with every
// octet written as two digits.
func normaliseMAC(s string) (string, error) {
	bad := fmt.Errorf("Invalid MAC %s", s)
	parts := strings.Split(s, ":")
	if len(parts) != 6 && len(parts) != 20 {
		return "", bad
	}
	var b strings.Builder
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return "", bad
		}
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil || strings.ContainsAny(p, "+-_") {
			return "", bad
		}
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x", v)
	}
	return b.String(), nil
}
