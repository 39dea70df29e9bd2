package tftpd

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fastWait bounds how long a direct read blocks while holding its scheduler slot.
const fastWait = 2 * time.Millisecond

// directLink is a blocking socket outside the Go netpoller, read by a goroutine
// locked to its thread. In lockstep every block waits for an ACK that a local client
// sends within microseconds; a thread asleep in read(2) is woken by the kernel
// straight from the socket, like tftpd-hpa, where a netpoller wait costs an epoll
// wake-up of another thread and a hand-over, which measured slower than tftpd-hpa.
//
// The read is a raw system call (the runtime is not told), bounded by SO_RCVTIMEO =
// fastWait, so the goroutine keeps its P for at most that long; a client slower than
// that is waited for with an ordinary blocking call that releases the P, and the
// transfer stays on that slower path for a while. The server hands out direct links
// only while fewer transfers run than it has Ps, so one P is always free.
type directLink struct {
	fd      int
	gso     bool // UDP_SEGMENT works for this socket (until it fails once)
	slow    int  // reads left on the ordinary path after the client was slow
	timeout time.Duration

	mu     sync.Mutex
	closed bool

	bufs   [][]byte
	single []byte
}

func dialDirect(local netip.Addr, remote netip.AddrPort) (*directLink, error) {
	family := unix.AF_INET6
	if remote.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0) // blocking
	if err != nil {
		return nil, fmt.Errorf("socket for %s: %w", remote, err)
	}
	l := &directLink{fd: fd, gso: true}
	fail := func(op string, err error) (*directLink, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s for %s: %w", op, remote, err)
	}
	if local.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(local, 0), family)); err != nil {
			return fail("bind", err)
		}
	}
	if err := unix.Connect(fd, sockaddr(remote, family)); err != nil {
		return fail("connect", err)
	}
	if err := l.setTimeout(fastWait); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	return l, nil
}

func sockaddr(ap netip.AddrPort, family int) unix.Sockaddr {
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func (l *directLink) setTimeout(d time.Duration) error {
	if d == l.timeout {
		return nil
	}
	l.timeout = d
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return unix.SetsockoptTimeval(l.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func (l *directLink) write(pkt []byte) error {
	_, err := unix.Write(l.fd, pkt)
	return err
}

// writeBlocks sends a window with UDP generic segmentation offload: the headers and
// payloads go as one iovec list and the kernel cuts it into datagrams of one block
// each, one system call per 64 KiB. Without GSO (old kernel, datagram larger than the
// path MTU) each block is one writev(2).
func (l *directLink) writeBlocks(blocks []dataBlock) error {
	for len(blocks) > 0 {
		n := 1
		if l.gso && len(blocks) > 1 {
			seg := len(blocks[0].hdr) + len(blocks[0].data)
			n = min(len(blocks), 64, max(1, 65000/seg))
		}
		if err := l.send(blocks[:n]); err != nil {
			if n > 1 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EIO) || errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EMSGSIZE)) {
				l.gso = false
				continue
			}
			return err
		}
		blocks = blocks[n:]
	}
	return nil
}

// send writes blocks as one datagram (one block) or one GSO super-datagram.
func (l *directLink) send(blocks []dataBlock) error {
	if len(blocks) == 1 { // lockstep: copying 4+blksize bytes is cheaper than sendmsg's setup
		b := blocks[0]
		l.single = append(append(l.single[:0], b.hdr...), b.data...)
		return l.write(l.single)
	}
	l.bufs = l.bufs[:0]
	for _, b := range blocks {
		l.bufs = append(l.bufs, b.hdr, b.data)
	}
	var oob []byte
	if len(blocks) > 1 {
		oob = gsoControl(len(blocks[0].hdr) + len(blocks[0].data))
	}
	_, err := unix.SendmsgBuffers(l.fd, l.bufs, oob, nil, 0)
	return err
}

// gsoControl is the UDP_SEGMENT control message: the size of each datagram.
func gsoControl(segment int) []byte {
	b := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = uint16(segment)
	return b
}

func (l *directLink) read(b []byte, deadline time.Time) (int, error) {
	if l.slow == 0 {
		if err := l.setTimeout(fastWait); err != nil {
			return 0, err
		}
		for {
			r, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(l.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
			switch errno {
			case 0:
				return l.eof(int(r))
			case unix.EINTR:
				runtime.Gosched() // a preemption request: let the scheduler have the P
				continue
			case unix.EAGAIN:
				l.slow = 256 // the client is not that fast: stop holding the P for it
			default:
				return 0, errno
			}
			break
		}
	} else {
		l.slow--
	}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		if err := l.setTimeout(max(left, time.Microsecond)); err != nil {
			return 0, err
		}
		n, err := unix.Read(l.fd, b)
		switch {
		case err == nil:
			return l.eof(n)
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		default:
			return 0, err
		}
	}
}

// eof: a zero-length read on a shut-down socket is the interrupt; an empty datagram
// from the client is ignored by the caller like any malformed packet.
func (l *directLink) eof(n int) (int, error) {
	if n == 0 {
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return 0, errStopped
		}
	}
	return n, nil
}

// interrupt shuts the socket down, which wakes a blocked read(2) (closing the fd from
// another thread would not).
func (l *directLink) interrupt() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		_ = unix.Shutdown(l.fd, unix.SHUT_RDWR)
	}
}

func (l *directLink) close() {
	l.interrupt()
	unix.Close(l.fd)
}

// errStopped is a read cut short by Shutdown.
var errStopped = errors.New("server shutting down")
