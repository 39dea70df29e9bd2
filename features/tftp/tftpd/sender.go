package tftpd

import (
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchWriter is sendmmsg(2): a whole window leaves in one system call.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// sender puts DATA packets on a connected socket. Lockstep blocks are copied into one
// packet buffer; window blocks go out as header+content iovecs straight from the
// transfer's chunk, without copying.
type sender struct {
	conn   *net.UDPConn
	raw    syscall.RawConn
	batch  batchWriter
	single []byte
	hdrs   []byte
	msgs   []ipv4.Message
	n      int
}

func newSender(conn *net.UDPConn, window int) (*sender, error) {
	s := &sender{conn: conn}
	if raw, err := conn.SyscallConn(); err == nil {
		s.raw = raw
	}
	if window == 1 {
		return s, nil
	}
	if addr, ok := conn.LocalAddr().(*net.UDPAddr); ok && addr.IP.To4() == nil {
		s.batch = ipv6.NewPacketConn(conn)
	} else {
		s.batch = ipv4.NewPacketConn(conn)
	}
	s.hdrs = make([]byte, 4*window)
	s.msgs = make([]ipv4.Message, window)
	for i := range s.msgs {
		s.msgs[i].Buffers = make([][]byte, 2)
	}
	return s, nil
}

// add queues block (wire number) with its data; data must stay valid until flush.
func (s *sender) add(block uint16, data []byte) {
	if s.batch == nil {
		if cap(s.single) < 4+len(data) {
			s.single = make([]byte, 4+len(data), 4+max(len(data), defaultBlockSize))
		}
		s.single = s.single[:4+len(data)]
		putDataHeader(s.single, block)
		copy(s.single[4:], data)
		s.n = 1
		return
	}
	hdr := s.hdrs[4*s.n : 4*s.n+4]
	putDataHeader(hdr, block)
	s.msgs[s.n].Buffers[0] = hdr
	s.msgs[s.n].Buffers[1] = data
	s.n++
}

// flush sends what add queued.
func (s *sender) flush() error {
	n := s.n
	s.n = 0
	if s.batch == nil {
		if _, err := s.conn.Write(s.single); err != nil {
			return fmt.Errorf("send block: %w", err)
		}
		return nil
	}
	for sent := 0; sent < n; {
		k, err := s.batch.WriteBatch(s.msgs[sent:n], 0)
		if err != nil {
			return fmt.Errorf("send window: %w", err)
		}
		sent += k
	}
	return nil
}

// read receives the client's next packet. With a spin budget it first polls the
// socket for that long before parking in the netpoller: in lockstep the ACK comes back
// within microseconds, and parking and waking a goroutine costs about as much as the
// whole round trip. The server only grants a budget while few transfers run.
func (s *sender) read(b []byte, spin time.Duration) (int, error) {
	if spin <= 0 || s.raw == nil {
		return s.conn.Read(b)
	}
	var n int
	var rerr error
	until := time.Now().Add(spin)
	spinning := true
	err := s.raw.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), b)
			if rerr != syscall.EAGAIN {
				return true
			}
			if !spinning || time.Now().After(until) {
				spinning = false
				return false
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, fmt.Errorf("read: %w", rerr)
	}
	return n, nil
}
