package zones

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/pxeboot"
)

// The zones' addresses. Only CORE–DMZ and DMZ–PFS are linked; the DMZ forwards nothing.
const (
	coreIP      = "10.213.1.1" // CORE, on the CORE–DMZ link
	dmzCoreSide = "10.213.1.2" // the DMZ relay, towards CORE
	dmzPFSSide  = "10.213.2.1" // the DMZ relay, towards PFS
	pfsIP       = "10.213.2.2" // the PFS proxy, towards DMZ
	pfsLanIP    = "10.213.3.1" // the PFS proxy on the hosts' LAN (a tap: DHCP, DNS, TFTP, templates)
	puppetIP    = "10.213.3.7" // a Puppet server in PFS posting facts and reports
	pfsNetwork  = "10.213.3.0"
)

// zones are the three namespaces of one test run.
type zones struct{ core, dmz, pfs, tap string }

// requireRoot skips unless network namespaces can be made here.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the zones test needs root for network namespaces (run as root, as CI does)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not installed (apt-get install iproute2): no network namespaces")
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		t.Skipf("ip netns does not work here: %v %s", err, out)
	}
}

// newZones makes the namespaces zc-, zd- and zp-<pid>, the veth links and routes: CORE
// and PFS route everything through the DMZ, which has forwarding off, so the only way
// between CORE and PFS is a process in the DMZ.
func newZones(t *testing.T) *zones {
	t.Helper()
	pid := os.Getpid()
	z := &zones{core: fmt.Sprintf("zc-%d", pid), dmz: fmt.Sprintf("zd-%d", pid), pfs: fmt.Sprintf("zp-%d", pid), tap: "zptap0"}
	for _, ns := range []string{z.core, z.dmz, z.pfs} {
		_ = exec.Command("ip", "netns", "del", ns).Run() // left over from a killed run
		run(t, "ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	link := func(a, aIf, aIP, b, bIf, bIP string) {
		run(t, "ip", "link", "add", aIf, "netns", a, "type", "veth", "peer", "name", bIf, "netns", b)
		run(t, "ip", "-n", a, "addr", "add", aIP+"/24", "dev", aIf)
		run(t, "ip", "-n", b, "addr", "add", bIP+"/24", "dev", bIf)
		run(t, "ip", "-n", a, "link", "set", aIf, "up")
		run(t, "ip", "-n", b, "link", "set", bIf, "up")
	}
	link(z.core, "zc0", coreIP, z.dmz, "zd0", dmzCoreSide)
	link(z.dmz, "zd1", dmzPFSSide, z.pfs, "zp0", pfsIP)
	run(t, "ip", "netns", "exec", z.dmz, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0")
	run(t, "ip", "-n", z.core, "route", "add", "default", "via", dmzCoreSide)
	run(t, "ip", "-n", z.pfs, "route", "add", "default", "via", dmzPFSSide)
	// The hosts' LAN in PFS: a tap a VM can use; the Puppet server's address on lo.
	run(t, "ip", "-n", z.pfs, "tuntap", "add", "dev", z.tap, "mode", "tap")
	run(t, "ip", "-n", z.pfs, "addr", "add", pfsLanIP+"/24", "dev", z.tap)
	run(t, "ip", "-n", z.pfs, "link", "set", z.tap, "up")
	run(t, "ip", "-n", z.pfs, "addr", "add", puppetIP+"/32", "dev", "lo")
	return z
}

// dialIn is an http.Transport DialContext connecting from inside ns, from local
// address from when it is not empty.
func dialIn(ns, from string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		if from != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
		}
		var c net.Conn
		err := pxeboot.InNS(ns, func() (err error) {
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// connectFrom opens a TCP connection from ns to addr and closes it: nil when it
// could connect.
func connectFrom(ns, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := dialIn(ns, "")(ctx, "tcp", addr)
	if err == nil {
		c.Close()
	}
	return err
}

// inZone is a command run inside ns (`ip netns exec` execs it: the pid is its own).
var inZone = pxeboot.Command

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
