package pxeboot

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NewNetns makes network namespace <prefix>-<pid> holding one tap for the guest, with
// serverIP/24 on it; namespace and tap are deleted when the test ends. Each test binary
// has its own pid, so packages running at the same time do not clash.
func NewNetns(t *testing.T, prefix, serverIP string) (ns, tap string) {
	t.Helper()
	ns = fmt.Sprintf("%s-%d", prefix, os.Getpid())
	tap = prefix + "tap0"
	_ = exec.Command("ip", "netns", "del", ns).Run() // left over from a killed run
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap")
	run(t, "ip", "-n", ns, "addr", "add", serverIP+"/24", "dev", tap)
	// A fixed link-local address without DAD, so the router advertisements have a
	// source the moment QEMU brings the carrier up.
	run(t, "ip", "-n", ns, "addr", "add", "fe80::1/64", "dev", tap, "nodad")
	run(t, "ip", "-n", ns, "link", "set", tap, "up")
	return ns, tap
}

// InNS runs fn on a thread inside ns; sockets fn opens stay in ns.
func InNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		fd, err := unix.Open(filepath.Join("/var/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// DialIn is a DialContext for http.Transport that connects from inside ns, so the
// test talks to servers listening only there.
func DialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := InNS(ns, func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// Command runs name inside ns (`ip netns exec` execs it, so the pid is name's own).
func Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// StartRouterAdvertiser sends an empty router advertisement (no prefix, not a default
// router, no DHCPv6) every 500 ms: iPXE then ends IPv6 autoconfiguration at once
// instead of waiting about 13 s for one (peers.md §6b).
func StartRouterAdvertiser(t *testing.T, ns, tap string) {
	t.Helper()
	var conn net.PacketConn
	err := InNS(ns, func() error {
		c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			return err
		}
		conn = c
		sc, err := c.(*net.IPConn).SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := sc.Control(func(fd uintptr) {
			// RFC 4861 6.1.2: receivers drop advertisements whose hop limit is not 255.
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255)
		}); err != nil {
			return err
		}
		return serr
	})
	if err != nil {
		t.Fatalf("router advertiser: %v", err)
	}
	// type 134, code 0, checksum (the kernel fills it), hop limit 64, flags 0,
	// router lifetime 0, reachable time 0, retrans timer 0.
	ra := []byte{134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	dst := &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: tap}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = conn.WriteTo(ra, dst) // fails until QEMU opens the tap; that is fine
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		conn.Close()
	})
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
