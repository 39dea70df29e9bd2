// Command dhcpgap measures how long new DHCP clients go unserved when a server of an
// HA pair dies. It acts as a relay on one segment: every -interval it broadcasts the
// DISCOVER of a new client (so every server on the segment hears it), answers the
// first OFFER with a broadcast REQUEST naming that server, and notes when the ACK
// came. At the end it prints one line per client: "<discover unix ns> <ack unix ns>"
// (ack 0 when none came). bench/dhcp-ha.sh kills a server meanwhile and computes the
// gap: from the kill to the first ACK of a client that began after it.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

const (
	offXid, offYiaddr, offGiaddr, offChaddr, offCookie, offOpts = 4, 16, 24, 28, 236, 240
	packetLen                                                   = 300
)

var cookie = [4]byte{99, 130, 83, 99}

type client struct{ discoverAt, ackAt int64 }

func main() {
	local := flag.String("local", "", "relay address (giaddr); replies come to its port 67")
	dev := flag.String("dev", "", "interface the broadcasts leave by")
	interval := flag.Duration("interval", 10*time.Millisecond, "time between new clients")
	duration := flag.Duration("duration", 10*time.Second, "how long to start new clients")
	flag.Parse()
	giaddr, err := netip.ParseAddr(*local)
	if err != nil || !giaddr.Is4() || *dev == "" {
		fail(fmt.Errorf("need -local IPv4 and -dev"))
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
			if serr == nil {
				serr = syscall.BindToDevice(int(fd), *dev)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(nil, "udp4", netip.AddrPortFrom(giaddr, 67).String())
	if err != nil {
		fail(err)
	}
	conn := pc.(*net.UDPConn)
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	total := int(*duration / *interval)
	clients := make([]client, total+1)
	var mu sync.Mutex

	go func() { // replies: OFFER -> REQUEST, ACK -> note the time
		buf := make([]byte, 1500)
		out := make([]byte, packetLen)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			xid, kind, yiaddr, server, ok := parse(buf[:n])
			if !ok || xid == 0 || int(xid) > total {
				continue
			}
			switch kind {
			case 2: // OFFER: the first one wins, as a client does
				mu.Lock()
				if clients[xid].ackAt == 0 {
					clients[xid].ackAt = -1 // requested
					mu.Unlock()
					build(out, xid, giaddr, 3, yiaddr, server)
					_, _ = conn.WriteToUDP(out, bcast)
				} else {
					mu.Unlock()
				}
			case 5:
				mu.Lock()
				if clients[xid].ackAt <= 0 {
					clients[xid].ackAt = now
				}
				mu.Unlock()
			}
		}
	}()

	pkt := make([]byte, packetLen)
	start := time.Now()
	for i := 1; i <= total; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * *interval)))
		build(pkt, uint32(i), giaddr, 1, netip.Addr{}, netip.Addr{})
		mu.Lock()
		clients[i].discoverAt = time.Now().UnixNano()
		mu.Unlock()
		if _, err := conn.WriteToUDP(pkt, bcast); err != nil {
			fail(err)
		}
	}
	time.Sleep(time.Second) // the last clients' replies
	conn.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, c := range clients[1:] {
		fmt.Println(c.discoverAt, max(c.ackAt, 0))
	}
}

// build writes a relayed BOOTREQUEST of message type kind for client xid (its MAC
// derives from xid, so each xid is a new client); a REQUEST names ip and server.
func build(b []byte, xid uint32, giaddr netip.Addr, kind byte, ip, server netip.Addr) {
	clear(b)
	b[0], b[1], b[2], b[3] = 1, 1, 6, 1
	binary.BigEndian.PutUint32(b[offXid:], xid)
	g := giaddr.As4()
	copy(b[offGiaddr:], g[:])
	b[offChaddr], b[offChaddr+1] = 0x02, 0x9a // locally administered, apart from dhcpload's
	binary.BigEndian.PutUint32(b[offChaddr+2:], xid)
	copy(b[offCookie:], cookie[:])
	o := offOpts + copy(b[offOpts:], []byte{53, 1, kind})
	if kind == 3 {
		a, s := ip.As4(), server.As4()
		o += copy(b[o:], []byte{50, 4, a[0], a[1], a[2], a[3], 54, 4, s[0], s[1], s[2], s[3]})
	}
	b[o] = 255
}

// parse reads a BOOTREPLY's xid, message type, yiaddr and server identifier.
func parse(b []byte) (xid uint32, kind byte, yiaddr, server netip.Addr, ok bool) {
	if len(b) < offOpts || b[0] != 2 || [4]byte(b[offCookie:offOpts]) != cookie {
		return
	}
	xid = binary.BigEndian.Uint32(b[offXid:])
	yiaddr = netip.AddrFrom4([4]byte(b[offYiaddr : offYiaddr+4]))
	for o := offOpts; o+1 < len(b) && b[o] != 255; {
		if b[o] == 0 {
			o++
			continue
		}
		l := int(b[o+1])
		if o+2+l > len(b) {
			return
		}
		v := b[o+2 : o+2+l]
		switch {
		case b[o] == 53 && l == 1:
			kind = v[0]
		case b[o] == 54 && l == 4:
			server = netip.AddrFrom4([4]byte(v))
		}
		o += 2 + l
	}
	return xid, kind, yiaddr, server, kind != 0
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dhcpgap:", err)
	os.Exit(1)
}
