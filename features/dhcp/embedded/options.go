package embedded

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// subnetOptions are a subnet's reply options, encoded once at start: every reply
// shares these byte slices (the packet encoder only reads them).
type subnetOptions struct {
	config map[uint8][]byte // mask, routers, DNS, domain, NTP, MTU, broadcast address
	lease  map[uint8][]byte // lease time, T1 and T2
}

func encodeSubnetOptions(sc *subnetConfig) subnetOptions {
	cfg := map[uint8][]byte{}
	mask := sc.Netmask().As4()
	cfg[dhcpv4.OptionSubnetMask.Code()] = mask[:]
	bcast := sc.Broadcast().As4()
	cfg[dhcpv4.OptionBroadcastAddress.Code()] = bcast[:]
	if len(sc.Routers) > 0 {
		cfg[dhcpv4.OptionRouter.Code()] = addrBytes(sc.Routers)
	}
	if len(sc.DNSServers) > 0 {
		cfg[dhcpv4.OptionDomainNameServer.Code()] = addrBytes(sc.DNSServers)
	}
	if len(sc.NTPServers) > 0 {
		cfg[dhcpv4.OptionNTPServers.Code()] = addrBytes(sc.NTPServers)
	}
	if sc.DomainName != "" {
		cfg[dhcpv4.OptionDomainName.Code()] = []byte(sc.DomainName)
	}
	if sc.MTU > 0 {
		cfg[dhcpv4.OptionInterfaceMTU.Code()] = binary.BigEndian.AppendUint16(nil, uint16(sc.MTU))
	}
	lease := map[uint8][]byte{
		dhcpv4.OptionIPAddressLeaseTime.Code(): seconds(sc.LeaseTime),
		dhcpv4.OptionRenewTimeValue.Code():     seconds(sc.LeaseTime / 2),
		dhcpv4.OptionRebindingTimeValue.Code(): seconds(sc.LeaseTime * 7 / 8),
	}
	return subnetOptions{config: cfg, lease: lease}
}

func addrBytes(addrs []netip.Addr) []byte {
	out := make([]byte, 0, 4*len(addrs))
	for _, a := range addrs {
		b := a.As4()
		out = append(out, b[:]...)
	}
	return out
}

func seconds(d time.Duration) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(d/time.Second))
}
