package embedded

import (
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestReplyDestination(t *testing.T) {
	bcast := netip.MustParseAddrPort("255.255.255.255:68")
	cases := []struct {
		name          string
		giaddr        string
		ciaddr        string
		broadcastBit  bool
		reply         dhcpv4.MessageType
		want          netip.AddrPort
		wantBroadcast bool
		wantFlag      bool
	}{
		{"relayed offer goes to the relay's server port", "10.98.0.1", "", false, dhcpv4.MessageTypeOffer, netip.MustParseAddrPort("10.98.0.1:67"), false, false},
		{"relayed ACK ignores ciaddr", "10.98.0.1", "10.98.0.5", false, dhcpv4.MessageTypeAck, netip.MustParseAddrPort("10.98.0.1:67"), false, false},
		{"relayed NAK gets the broadcast bit", "10.98.0.1", "", false, dhcpv4.MessageTypeNak, netip.MustParseAddrPort("10.98.0.1:67"), false, true},
		{"NAK is broadcast even with ciaddr", "", "10.99.1.5", false, dhcpv4.MessageTypeNak, bcast, true, false},
		{"renewal ACK is unicast to ciaddr", "", "10.99.1.5", false, dhcpv4.MessageTypeAck, netip.MustParseAddrPort("10.99.1.5:68"), false, false},
		{"INFORM answer is unicast to ciaddr", "", "10.99.1.6", true, dhcpv4.MessageTypeAck, netip.MustParseAddrPort("10.99.1.6:68"), false, false},
		{"broadcast bit asks for broadcast", "", "", true, dhcpv4.MessageTypeOffer, bcast, true, false},
		{"no address, no bit: broadcast instead of raw unicast", "", "", false, dhcpv4.MessageTypeOffer, bcast, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithBroadcast(c.broadcastBit))
			if err != nil {
				t.Fatal(err)
			}
			if c.giaddr != "" {
				req.GatewayIPAddr = net.ParseIP(c.giaddr)
			}
			if c.ciaddr != "" {
				req.ClientIPAddr = net.ParseIP(c.ciaddr)
			}
			got := replyDestination(req, c.reply == dhcpv4.MessageTypeNak)
			if got.addr != c.want || got.broadcast != c.wantBroadcast || got.broadcastFlag != c.wantFlag {
				t.Fatalf("got %+v, want addr %s broadcast %v flag %v", got, c.want, c.wantBroadcast, c.wantFlag)
			}
		})
	}
}
