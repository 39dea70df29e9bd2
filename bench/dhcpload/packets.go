package main

import (
	"encoding/binary"
	"net/netip"
)

// DHCPv4 wire layout (RFC 2131 §2): the fixed header is 236 bytes, then the magic
// cookie and the options. The generator writes and reads packets by offset so that
// building a DISCOVER or answering an OFFER costs a copy and a few stores, which
// keeps the load generator cheaper than the servers it measures.
const (
	offOp     = 0
	offHops   = 3
	offXid    = 4
	offYiaddr = 16
	offGiaddr = 24
	offChaddr = 28
	offCookie = 236
	offOpts   = 240

	packetLen = 300 // BOOTP minimum; relays and servers expect at least this

	msgDiscover = 1
	msgOffer    = 2
	msgRequest  = 3
	msgAck      = 5
	msgNak      = 6
)

var magicCookie = [4]byte{99, 130, 83, 99}

// header writes the BOOTREQUEST header of one relayed client: xid names the
// exchange, the MAC is derived from it so every exchange is a new client.
func header(b []byte, xid uint32, giaddr netip.Addr) {
	clear(b[:packetLen])
	b[offOp], b[1], b[2], b[offHops] = 1, 1, 6, 1 // BOOTREQUEST, Ethernet, MAC length, one relay hop
	binary.BigEndian.PutUint32(b[offXid:], xid)
	g := giaddr.As4()
	copy(b[offGiaddr:], g[:])
	b[offChaddr], b[offChaddr+1] = 0x02, 0x1d // locally administered
	binary.BigEndian.PutUint32(b[offChaddr+2:], xid)
	copy(b[offCookie:], magicCookie[:])
}

// discover writes a DHCPDISCOVER for exchange xid into b and returns its length.
func discover(b []byte, xid uint32, giaddr netip.Addr) int {
	header(b, xid, giaddr)
	o := offOpts
	o += copy(b[o:], []byte{53, 1, msgDiscover})
	o += copy(b[o:], []byte{55, 4, 1, 3, 6, 51}) // subnet mask, router, DNS, lease time
	b[o] = 255
	return packetLen
}

// request writes the DHCPREQUEST that accepts an offer of ip from server.
func request(b []byte, xid uint32, giaddr, ip, server netip.Addr) int {
	header(b, xid, giaddr)
	o := offOpts
	o += copy(b[o:], []byte{53, 1, msgRequest})
	a, s := ip.As4(), server.As4()
	o += copy(b[o:], []byte{50, 4, a[0], a[1], a[2], a[3]})
	o += copy(b[o:], []byte{54, 4, s[0], s[1], s[2], s[3]})
	o += copy(b[o:], []byte{55, 4, 1, 3, 6, 51})
	b[o] = 255
	return packetLen
}

// reply is what the generator needs from a server's answer.
type reply struct {
	xid    uint32
	kind   byte
	yiaddr netip.Addr
	server netip.Addr
}

// parseReply reads a BOOTREPLY; ok is false for anything else or a truncated packet.
func parseReply(b []byte) (r reply, ok bool) {
	if len(b) < offOpts || b[offOp] != 2 || [4]byte(b[offCookie:offOpts]) != magicCookie {
		return r, false
	}
	r.xid = binary.BigEndian.Uint32(b[offXid:])
	r.yiaddr = netip.AddrFrom4([4]byte(b[offYiaddr : offYiaddr+4]))
	for o := offOpts; o < len(b); {
		code := b[o]
		if code == 255 {
			break
		}
		if code == 0 {
			o++
			continue
		}
		if o+2 > len(b) || o+2+int(b[o+1]) > len(b) {
			return r, false
		}
		val := b[o+2 : o+2+int(b[o+1])]
		switch {
		case code == 53 && len(val) == 1:
			r.kind = val[0]
		case code == 54 && len(val) == 4:
			r.server = netip.AddrFrom4([4]byte(val))
		}
		o += 2 + len(val)
	}
	return r, r.kind != 0
}
