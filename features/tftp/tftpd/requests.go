package tftpd

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// newRequestReader asks the kernel for each request's destination address.
func newRequestReader(conn *net.UDPConn) requestReader {
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		pc := ipv4.NewPacketConn(conn)
		if pc.SetControlMessage(ipv4.FlagDst, true) == nil {
			return v4Reader{pc}
		}
	} else {
		pc := ipv6.NewPacketConn(conn)
		if pc.SetControlMessage(ipv6.FlagDst, true) == nil {
			return v6Reader{pc}
		}
	}
	return plainReader{conn}
}

type v4Reader struct{ pc *ipv4.PacketConn }

func (r v4Reader) read(b []byte) (int, netip.Addr, netip.AddrPort, error) {
	n, cm, src, err := r.pc.ReadFrom(b)
	if err != nil {
		return 0, netip.Addr{}, netip.AddrPort{}, err
	}
	var local netip.Addr
	if cm != nil {
		local, _ = netip.AddrFromSlice(cm.Dst.To4())
	}
	return n, local, udpAddrPort(src), nil
}

type v6Reader struct{ pc *ipv6.PacketConn }

func (r v6Reader) read(b []byte) (int, netip.Addr, netip.AddrPort, error) {
	n, cm, src, err := r.pc.ReadFrom(b)
	if err != nil {
		return 0, netip.Addr{}, netip.AddrPort{}, err
	}
	var local netip.Addr
	if cm != nil {
		local, _ = netip.AddrFromSlice(cm.Dst)
	}
	return n, local, udpAddrPort(src), nil
}

type plainReader struct{ conn *net.UDPConn }

func (r plainReader) read(b []byte) (int, netip.Addr, netip.AddrPort, error) {
	n, src, err := r.conn.ReadFromUDPAddrPort(b)
	return n, netip.Addr{}, src, err
}

func udpAddrPort(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort()
	}
	return netip.AddrPort{}
}
