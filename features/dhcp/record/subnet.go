// Package record holds the DHCP data the REST API and the providers share: subnets,
// reservations and leases, and how Foreman expects them encoded.
package record

import (
	"fmt"
	"net/netip"
	"time"
)

// Subnet is one IPv4 subnet a provider serves, with the options GET /dhcp reports.
type Subnet struct {
	Prefix     netip.Prefix // masked: the network address and its length
	Routers    []netip.Addr
	DomainName string
	DNSServers []netip.Addr
	NTPServers []netip.Addr
	MTU        int
	// Range is the dynamic pool; a subnet without one serves reservations only.
	Range      *Range
	LeaseTime  time.Duration
	NextServer string
	Filename   string
}

// Range is an inclusive address range.
type Range struct {
	First, Last netip.Addr
}

// Contains reports whether ip lies in the range.
func (r Range) Contains(ip netip.Addr) bool {
	return r.First.Compare(ip) <= 0 && ip.Compare(r.Last) <= 0
}

// Network is the subnet's network address.
func (s Subnet) Network() netip.Addr { return s.Prefix.Addr() }

// Netmask is the subnet mask in dotted form.
func (s Subnet) Netmask() netip.Addr { return Netmask(s.Prefix.Bits()) }

// Broadcast is the last address of the subnet.
func (s Subnet) Broadcast() netip.Addr {
	return FromUint32(ToUint32(s.Network()) | ^ToUint32(s.Netmask()))
}

// String is "network/netmask", the form records carry in their "subnet" field.
func (s Subnet) String() string { return s.Network().String() + "/" + s.Netmask().String() }

// Options is the "options" object of GET /dhcp: only keys that are set.
func (s Subnet) Options() map[string]any {
	out := map[string]any{}
	if len(s.Routers) > 0 {
		out["routers"] = addrStrings(s.Routers)
	}
	if s.DomainName != "" {
		out["domain_name"] = s.DomainName
	}
	if len(s.DNSServers) > 0 {
		out["domain_name_servers"] = addrStrings(s.DNSServers)
	}
	if len(s.NTPServers) > 0 {
		out["ntp_servers"] = addrStrings(s.NTPServers)
	}
	if s.MTU > 0 {
		out["interface_mtu"] = s.MTU
	}
	if s.Range != nil {
		out["range"] = []string{s.Range.First.String(), s.Range.Last.String()}
	}
	if s.LeaseTime > 0 {
		out["lease_time"] = int(s.LeaseTime / time.Second)
	}
	if s.NextServer != "" {
		out["next_server"] = s.NextServer
	}
	if s.Filename != "" {
		out["filename"] = s.Filename
	}
	return out
}

func addrStrings(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// Netmask returns the dotted IPv4 mask of a prefix length.
func Netmask(bits int) netip.Addr {
	if bits <= 0 {
		return netip.AddrFrom4([4]byte{})
	}
	return FromUint32(^uint32(0) << (32 - bits))
}

// MaskBits converts a dotted IPv4 netmask to a prefix length; it fails on a mask
// whose one bits are not contiguous.
func MaskBits(mask netip.Addr) (int, error) {
	if !mask.Is4() {
		return 0, fmt.Errorf("netmask %s is not an IPv4 address", mask)
	}
	m := ToUint32(mask)
	bits := 0
	for m&0x80000000 != 0 {
		bits++
		m <<= 1
	}
	if m != 0 {
		return 0, fmt.Errorf("netmask %s has non-contiguous bits", mask)
	}
	return bits, nil
}

// ToUint32 turns an IPv4 address into its big-endian number.
func ToUint32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// FromUint32 is the inverse of ToUint32.
func FromUint32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
