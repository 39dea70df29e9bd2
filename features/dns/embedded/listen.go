package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const (
	tcpIdleTimeout = 10 * time.Second
	maxTCPConns    = 256
)

// listener serves a Handler on UDP and TCP. It opens one UDP socket per CPU on the same
// port (SO_REUSEPORT) with one goroutine each reading and answering in turn, which
// spreads the load without a goroutine per packet.
type listener struct {
	h    *Handler
	udp  []*net.UDPConn
	tcp  net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
	done chan struct{}
}

// listen binds addr and starts serving. With port 0 the UDP socket picks the port and
// TCP must then get the same one, which another program may hold: a fresh pick is tried
// a few times before giving up.
func listen(ctx context.Context, h *Handler, addr string) (*listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for try := 1; ; try++ {
		l, err := listenOnce(ctx, h, addr)
		if err == nil || port != "0" || try == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return l, err
		}
	}
}

// listenOnce binds UDP then TCP on the port UDP got.
func listenOnce(ctx context.Context, h *Handler, addr string) (*listener, error) {
	l := &listener{h: h, conn: map[net.Conn]struct{}{}, done: make(chan struct{})}
	lc := net.ListenConfig{Control: reusePort}
	sockets := 1
	if reusePortSupported {
		sockets = runtime.GOMAXPROCS(0)
	}
	for i := 0; i < sockets; i++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("listening on udp %s: %w", addr, err)
		}
		conn := pc.(*net.UDPConn)
		l.udp = append(l.udp, conn)
		addr = conn.LocalAddr().String() // port 0: the others join the port the first got
	}
	tl, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		l.close()
		return nil, fmt.Errorf("listening on tcp %s: %w", addr, err)
	}
	l.tcp = tl
	wildcard := l.udp[0].LocalAddr().(*net.UDPAddr).IP.IsUnspecified()
	for _, conn := range l.udp {
		l.wg.Add(1)
		if wildcard {
			go l.serveUDPWildcard(conn)
		} else {
			go l.serveUDP(conn)
		}
	}
	l.wg.Add(1)
	go l.serveTCP()
	return l, nil
}

// Addr is the bound address (the port when :listen: asked for port 0).
func (l *listener) Addr() string { return l.udp[0].LocalAddr().String() }

// udpBatch is how many datagrams one recvmmsg/sendmmsg moves: under load, one system
// call per batch instead of two per query.
const udpBatch = 32

// batchConn is what x/net's ipv4 and ipv6 packet conns offer on Linux.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func (l *listener) serveUDP(conn *net.UDPConn) {
	defer l.wg.Done()
	var bc batchConn = ipv4.NewPacketConn(conn)
	if conn.LocalAddr().(*net.UDPAddr).IP.To4() == nil {
		bc = ipv6.NewPacketConn(conn)
	}
	in, out := make([]ipv4.Message, udpBatch), make([]ipv4.Message, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 65535)}
		out[i].Buffers = [][]byte{make([]byte, 0, 4096)}
	}
	s := newScratch()
	for {
		n, err := bc.ReadBatch(in, 0)
		if err != nil {
			if l.closed() {
				return
			}
			continue
		}
		k := 0
		for _, m := range in[:n] {
			reply := l.h.Handle(m.Buffers[0][:m.N], false, s)
			if reply == nil {
				continue
			}
			out[k].Buffers[0] = append(out[k].Buffers[0][:0], reply...)
			out[k].Addr = m.Addr
			k++
		}
		l.h.flush(s)
		for sent := 0; sent < k; {
			m, err := bc.WriteBatch(out[sent:k], 0)
			if err != nil {
				break // as if lost on the way: the client asks again
			}
			sent += m
		}
	}
}

// serveUDPWildcard is serveUDP for a socket bound to every address: the reply must
// leave from the address the query came to, which only the packet info tells.
func (l *listener) serveUDPWildcard(conn *net.UDPConn) {
	defer l.wg.Done()
	v4, v6 := ipv4.NewPacketConn(conn), ipv6.NewPacketConn(conn)
	_ = v4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	_ = v6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	buf, oob := make([]byte, 65535), make([]byte, 512)
	s := newScratch()
	for {
		n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if l.closed() {
				return
			}
			continue
		}
		reply := l.h.Handle(buf[:n], false, s)
		l.h.flush(s)
		if reply != nil {
			_, _, _ = conn.WriteMsgUDPAddrPort(reply, replySource(oob[:oobn]), from)
		}
	}
}

// replySource turns the destination of a received packet into the control message
// that makes the reply leave from it.
func replySource(oob []byte) []byte {
	var cm4 ipv4.ControlMessage
	if cm4.Parse(oob) == nil && cm4.Dst != nil && cm4.Dst.To4() != nil {
		return (&ipv4.ControlMessage{Src: cm4.Dst}).Marshal()
	}
	var cm6 ipv6.ControlMessage
	if cm6.Parse(oob) == nil && cm6.Dst != nil {
		return (&ipv6.ControlMessage{Src: cm6.Dst}).Marshal()
	}
	return nil
}

func (l *listener) serveTCP() {
	defer l.wg.Done()
	for {
		c, err := l.tcp.Accept()
		if err != nil {
			if l.closed() {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: do not spin
			continue
		}
		if !l.track(c) {
			c.Close()
			continue
		}
		l.wg.Add(1)
		go l.serveConn(c)
	}
}

// track registers c for Stop to close; false when too many are open or stopping.
func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed() || len(l.conn) >= maxTCPConns {
		return false
	}
	l.conn[c] = struct{}{}
	return true
}

// serveConn answers length-prefixed messages (RFC 1035 §4.2.2) until the client
// closes or stays idle.
func (l *listener) serveConn(c net.Conn) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.conn, c)
		l.mu.Unlock()
		c.Close()
	}()
	s := newScratch()
	var size [2]byte
	buf := make([]byte, 65535)
	for {
		_ = c.SetDeadline(time.Now().Add(tcpIdleTimeout))
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		msg := buf[:binary.BigEndian.Uint16(size[:])]
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		reply := l.h.Handle(msg, true, s)
		l.h.flush(s)
		if reply == nil {
			continue
		}
		out := make([]byte, 2+len(reply))
		binary.BigEndian.PutUint16(out, uint16(len(reply)))
		copy(out[2:], reply)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (l *listener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// close stops accepting and closes every socket and connection.
func (l *listener) close() {
	l.mu.Lock()
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	for c := range l.conn {
		c.Close()
	}
	l.mu.Unlock()
	for _, u := range l.udp {
		u.Close()
	}
	if l.tcp != nil {
		l.tcp.Close()
	}
}

// stop closes everything and waits for the goroutines, or for ctx.
func (l *listener) stop(ctx context.Context) error {
	l.close()
	waited := make(chan struct{})
	go func() { l.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return errors.New("dns_embedded: listeners did not stop in time")
	}
}
