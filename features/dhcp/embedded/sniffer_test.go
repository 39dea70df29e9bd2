package embedded_test

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// ackSniffer records every DHCPACK seen on an interface: the client-side truth of
// which leases the server acknowledged.
type ackSniffer struct {
	fd           int
	stopCh, done chan struct{}
	once         sync.Once

	mu   sync.Mutex
	acks map[string]string // MAC -> IP of its last ACK
	ips  map[string]map[string]bool
}

// sniffACKs opens a packet socket on ifName inside ns.
func sniffACKs(t testing.TB, ns, ifName string) *ackSniffer {
	t.Helper()
	s := &ackSniffer{stopCh: make(chan struct{}), done: make(chan struct{}), acks: map[string]string{}, ips: map[string]map[string]bool{}}
	inNS(t, ns, func() {
		ifc, err := net.InterfaceByName(ifName)
		if err != nil {
			t.Fatal(err)
		}
		proto := int(htons(unix.ETH_P_IP))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifc.Index}); err != nil {
			t.Fatal(err)
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		s.fd = fd
	})
	go s.loop()
	t.Cleanup(s.close)
	return s
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *ackSniffer) loop() {
	defer close(s.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-s.stopCh:
			return
		default:
		}
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			continue // timeout: look at stop again
		}
		s.parse(buf[:n])
	}
}

func (s *ackSniffer) parse(p []byte) {
	if len(p) < 28 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_UDP {
		return
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+8 || binary.BigEndian.Uint16(p[ihl:]) != 67 {
		return
	}
	reply, err := dhcpv4.FromBytes(p[ihl+8:])
	if err != nil || reply.OpCode != dhcpv4.OpcodeBootReply || reply.MessageType() != dhcpv4.MessageTypeAck {
		return
	}
	mac, ip := reply.ClientHWAddr.String(), reply.YourIPAddr.String()
	s.mu.Lock()
	s.acks[mac] = ip
	if s.ips[ip] == nil {
		s.ips[ip] = map[string]bool{}
	}
	s.ips[ip][mac] = true
	s.mu.Unlock()
}

func (s *ackSniffer) close() {
	s.once.Do(func() {
		close(s.stopCh)
		<-s.done
		unix.Close(s.fd)
	})
}

// clients is how many clients were ACKed so far.
func (s *ackSniffer) clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acks)
}

// waitClients waits until n clients were ACKed, the load generator ended (ended
// closed) or 30 s passed: a test that kills a server mid-load kills it once the
// load is under way, however slowly a loaded machine started the generator.
func (s *ackSniffer) waitClients(n int, ended <-chan struct{}) {
	for deadline := time.Now().Add(30 * time.Second); s.clients() < n && time.Now().Before(deadline); {
		select {
		case <-ended:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// result stops the sniffer and returns MAC -> last ACKed IP, and IP -> MACs.
func (s *ackSniffer) result() (map[string]string, map[string]map[string]bool) {
	time.Sleep(200 * time.Millisecond) // let the last packets in
	s.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks, s.ips
}
