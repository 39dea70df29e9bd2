package main

import (
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var giaddr = netip.MustParseAddr("10.99.0.2")

// The hand-built packets must be what a DHCP library reads as a relayed
// DISCOVER/REQUEST, or the benchmark would measure error paths.
func TestPacketsParseAsRelayedRequests(t *testing.T) {
	b := make([]byte, packetLen)
	d, err := dhcpv4.FromBytes(b[:discover(b, 0x01020304, giaddr)])
	if err != nil {
		t.Fatal(err)
	}
	if d.MessageType() != dhcpv4.MessageTypeDiscover || d.TransactionID != [4]byte{1, 2, 3, 4} ||
		!d.GatewayIPAddr.Equal(net.IP{10, 99, 0, 2}) || d.HopCount != 1 || d.ClientHWAddr.String() != "02:1d:01:02:03:04" {
		t.Fatalf("discover = %s", d.Summary())
	}

	ip, server := netip.MustParseAddr("10.96.1.7"), netip.MustParseAddr("10.99.0.1")
	r, err := dhcpv4.FromBytes(b[:request(b, 0x01020304, giaddr, ip, server)])
	if err != nil {
		t.Fatal(err)
	}
	if r.MessageType() != dhcpv4.MessageTypeRequest || !r.RequestedIPAddress().Equal(net.IP{10, 96, 1, 7}) ||
		!r.ServerIdentifier().Equal(net.IP{10, 99, 0, 1}) || r.ClientHWAddr.String() != "02:1d:01:02:03:04" {
		t.Fatalf("request = %s", r.Summary())
	}
}

func TestParseReplyReadsALibraryOffer(t *testing.T) {
	req, _ := dhcpv4.New(dhcpv4.WithTransactionID([4]byte{0, 0, 0, 9}))
	offer, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithYourIP(net.IP{10, 96, 1, 9}),
		dhcpv4.WithServerIP(net.IP{10, 99, 0, 1}),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP{10, 99, 0, 1})))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := parseReply(offer.ToBytes())
	want := reply{xid: 9, kind: msgOffer, yiaddr: netip.MustParseAddr("10.96.1.9"), server: netip.MustParseAddr("10.99.0.1")}
	if !ok || r != want {
		t.Fatalf("parseReply = %+v, %v; want %+v", r, ok, want)
	}
}

func TestParseReplyRefusesRequestsAndTruncation(t *testing.T) {
	b := make([]byte, packetLen)
	n := discover(b, 1, giaddr)
	if _, ok := parseReply(b[:n]); ok {
		t.Fatal("a BOOTREQUEST was taken for a reply")
	}
	b[offOp] = 2
	b[offOpts+1] = 200 // option length past the end
	if _, ok := parseReply(b[:n]); ok {
		t.Fatal("an option running past the packet was accepted")
	}
	for i := range offOpts {
		if _, ok := parseReply(b[:i]); ok {
			t.Fatalf("a %d-byte packet was accepted", i)
		}
	}
}
