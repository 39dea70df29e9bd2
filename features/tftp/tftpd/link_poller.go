package tftpd

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pollerLink is a net.UDPConn: reads park the goroutine in the Go netpoller, which
// scales to hundreds of concurrent transfers on a few threads. Windows leave in one
// sendmmsg(2) call.
type pollerLink struct {
	conn     *net.UDPConn
	batch    batchWriter
	msgs     []ipv4.Message
	single   []byte
	deadline time.Time // read deadline currently set on conn
}

// batchWriter is sendmmsg(2).
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func dialPoller(local netip.Addr, remote netip.AddrPort) (*pollerLink, error) {
	laddr := &net.UDPAddr{}
	if local.IsValid() {
		laddr.IP = local.AsSlice()
	}
	conn, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(remote))
	if err != nil {
		return nil, fmt.Errorf("socket for %s: %w", remote, err)
	}
	l := &pollerLink{conn: conn}
	if remote.Addr().Is4() {
		l.batch = ipv4.NewPacketConn(conn)
	} else {
		l.batch = ipv6.NewPacketConn(conn)
	}
	return l, nil
}

func (l *pollerLink) write(pkt []byte) error {
	_, err := l.conn.Write(pkt)
	return err
}

func (l *pollerLink) writeBlocks(blocks []dataBlock) error {
	if len(blocks) == 1 { // lockstep: one copy beats a batch call
		b := blocks[0]
		l.single = append(append(l.single[:0], b.hdr...), b.data...)
		return l.write(l.single)
	}
	if cap(l.msgs) < len(blocks) {
		l.msgs = make([]ipv4.Message, len(blocks))
		for i := range l.msgs {
			l.msgs[i].Buffers = make([][]byte, 2)
		}
	}
	msgs := l.msgs[:len(blocks)]
	for i, b := range blocks {
		msgs[i].Buffers[0], msgs[i].Buffers[1] = b.hdr, b.data
	}
	for sent := 0; sent < len(msgs); {
		n, err := l.batch.WriteBatch(msgs[sent:], 0)
		if err != nil {
			return err
		}
		sent += n
	}
	return nil
}

func (l *pollerLink) read(b []byte, deadline time.Time) (int, error) {
	if !deadline.Equal(l.deadline) {
		l.deadline = deadline
		if err := l.conn.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
	}
	return l.conn.Read(b)
}

func (l *pollerLink) interrupt() { l.conn.Close() } // net.Conn is safe to close from any goroutine

func (l *pollerLink) close() { l.conn.Close() }
