package embedded

import (
	"net"

	"golang.org/x/net/ipv4"
)

// batchSize bounds how many datagrams one recvmmsg or sendmmsg moves: under load
// one system call then carries many packets.
const batchSize = 64

// sender collects replies and sends them with one sendmmsg. Each goroutine that
// sends (the read loop, the committer) owns one, so it has no lock.
type sender struct {
	srv  *server
	msgs []ipv4.Message
}

func newSender(srv *server) *sender {
	return &sender{srv: srv, msgs: make([]ipv4.Message, 0, batchSize)}
}

// add queues a reply; a broadcast leaves through the interface the request came in on.
func (b *sender) add(out outcome, ifIndex int) {
	m := ipv4.Message{
		Buffers: [][]byte{out.reply},
		Addr:    &net.UDPAddr{IP: out.dst.addr.Addr().AsSlice(), Port: int(out.dst.addr.Port())},
	}
	if out.dst.broadcast {
		m.OOB = (&ipv4.ControlMessage{IfIndex: ifIndex}).Marshal()
	}
	b.msgs = append(b.msgs, m)
	if len(b.msgs) == batchSize {
		b.flush()
	}
}

// flush sends what is queued. A reply that cannot be sent is logged and dropped;
// the client will ask again.
func (b *sender) flush() {
	msgs := b.msgs
	for len(msgs) > 0 {
		n, err := b.srv.conn.WriteBatch(msgs, 0)
		n = max(n, 0) // a failed sendmmsg reports -1
		b.srv.stats.replies.Add(uint64(n))
		msgs = msgs[n:]
		if err != nil && len(msgs) > 0 {
			// Skip the datagram the kernel refused and go on with the rest.
			b.srv.log.Warnf("DHCP reply to %s: %v", msgs[0].Addr, err)
			msgs = msgs[1:]
		}
	}
	clear(b.msgs)
	b.msgs = b.msgs[:0]
}
