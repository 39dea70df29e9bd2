package embedded

import (
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

const (
	serverPort = 67
	clientPort = 68
)

// destination is where a reply goes.
type destination struct {
	addr netip.AddrPort
	// broadcast: to 255.255.255.255 out of the interface the request came in on.
	broadcast bool
	// broadcastFlag: set the reply's broadcast bit (a NAK through a relay, so the
	// relay broadcasts it to a client whose address is wrong).
	broadcastFlag bool
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// replyDestination routes a reply per RFC 2131 §4.1:
//   - giaddr set: to the relay's server port, and a NAK gets the broadcast bit;
//   - a NAK: broadcast, the client's address is not to be trusted;
//   - ciaddr set (RENEWING, REBINDING, INFORM): unicast to ciaddr;
//   - broadcast bit set: broadcast;
//   - otherwise the RFC asks for a unicast to yiaddr at chaddr, which needs a raw
//     socket or an ARP entry made for an address the client does not have yet. We
//     broadcast instead, which every client accepts (it is what it gets when it sets
//     the broadcast bit), at the cost of other hosts on the link seeing the reply.
func replyDestination(req *dhcpv4.DHCPv4, nak bool) destination {
	if giaddr := addr4(req.GatewayIPAddr); giaddr.IsValid() && !giaddr.IsUnspecified() {
		return destination{addr: netip.AddrPortFrom(giaddr, serverPort), broadcastFlag: nak}
	}
	if nak {
		return destination{addr: netip.AddrPortFrom(limitedBroadcast, clientPort), broadcast: true}
	}
	if ciaddr := addr4(req.ClientIPAddr); ciaddr.IsValid() && !ciaddr.IsUnspecified() {
		return destination{addr: netip.AddrPortFrom(ciaddr, clientPort)}
	}
	return destination{addr: netip.AddrPortFrom(limitedBroadcast, clientPort), broadcast: true}
}
