package main

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// A REQUEST names the offered address and the offering server, comes from the relay
// and carries the client's MAC derived from its xid; a reply built the same way
// (op 2) parses back to the same fields, and a truncated one is refused.
func TestBuildAndParse(t *testing.T) {
	relay, ip, server := netip.MustParseAddr("10.99.0.3"), netip.MustParseAddr("10.96.1.7"), netip.MustParseAddr("10.99.0.2")
	b := make([]byte, packetLen)
	build(b, 42, relay, 3, ip, server)
	if b[0] != 1 || binary.BigEndian.Uint32(b[offXid:]) != 42 || netip.AddrFrom4([4]byte(b[offGiaddr:offGiaddr+4])) != relay {
		t.Fatalf("header: op %d xid %d giaddr %v", b[0], binary.BigEndian.Uint32(b[offXid:]), b[offGiaddr:offGiaddr+4])
	}
	if binary.BigEndian.Uint32(b[offChaddr+2:]) != 42 {
		t.Fatal("the MAC does not derive from the xid")
	}
	b[0] = 2 // as a server's reply
	copy(b[offYiaddr:], ip.AsSlice())
	xid, kind, yiaddr, srv, ok := parse(b)
	if !ok || xid != 42 || kind != 3 || yiaddr != ip || srv != server {
		t.Fatalf("parse: %d %d %v %v %v", xid, kind, yiaddr, srv, ok)
	}
	if _, _, _, _, ok := parse(b[:offOpts+5]); ok { // cut inside option 50
		t.Fatal("a reply cut inside an option was accepted")
	}
}
