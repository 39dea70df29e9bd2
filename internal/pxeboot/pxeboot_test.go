package pxeboot_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	guestMAC  = "52:54:00:99:00:01"
	guestIP   = "10.98.0.50"
	serverIP  = "10.98.0.1"
	pxelinux  = "/usr/lib/PXELINUX/pxelinux.0"
	ldlinux   = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	apiAddr   = "127.0.0.1:8000" // loopback of the test namespace, not the host's
	bootLimit = 60 * time.Second
)

// TestPXEBootFromProxy boots QEMU's BIOS + iPXE client on a tap inside a fresh network
// namespace, served only by the proxy binary running in that namespace.
func TestPXEBootFromProxy(t *testing.T) {
	qemu := requirements(t)
	ns, tap := newNetns(t)
	startRouterAdvertiser(t, ns, tap)

	dir := t.TempDir()
	tftproot := filepath.Join(dir, "tftpboot")
	for _, f := range []string{pxelinux, ldlinux} {
		copyFile(t, f, filepath.Join(tftproot, filepath.Base(f)))
	}
	api, _ := startProxy(t, ns, tap, dir, tftproot, proxyConfig{
		bindHosts: []string{"127.0.0.1"},
		subnet:    "    :filename: pxelinux.0\n",
	})

	// What Foreman sends when a host is built: the reservation, then the per-MAC config.
	marker := fmt.Sprintf("SPPXE-MARKER-%d-%d", os.Getpid(), time.Now().UnixNano())
	api.post(t, "/dhcp/10.98.0.0", url.Values{
		"mac": {guestMAC}, "ip": {guestIP}, "hostname": {"pxe-guest.example.test"},
		"nextServer": {serverIP}, "filename": {"pxelinux.0"},
	})
	api.post(t, "/tftp/PXELinux/"+guestMAC, url.Values{"pxeconfig": {
		"SERIAL 0 115200\nSAY " + marker + " per-MAC config loaded\nDEFAULT local\nPROMPT 0\nTIMEOUT 1\nLABEL local\n  LOCALBOOT -1\n",
	}})

	console := bootBIOS(t, qemu, ns, tap, marker)
	if !strings.Contains(console, "net0: "+guestIP+"/") {
		t.Fatalf("iPXE did not get the reserved address %s:\n%s", guestIP, console)
	}
	if !strings.Contains(console, "tftp://"+serverIP+"/pxelinux.0") {
		t.Fatalf("iPXE did not fetch pxelinux.0 from %s:\n%s", serverIP, console)
	}
}

// requirements skips unless the test can make namespaces and the PXE peers are installed.
func requirements(t *testing.T) string {
	t.Helper()
	qemu := requireQEMU(t)
	for _, f := range []string{pxelinux, ldlinux} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s missing (apt-get install pxelinux syslinux-common)", f)
		}
	}
	return qemu
}

// requireQEMU skips unless the test runs as root with ip and qemu installed.
func requireQEMU(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("PXE test needs root for network namespaces and taps")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not installed (apt-get install iproute2)")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (apt-get install qemu-system-x86 ipxe-qemu)")
	}
	return qemu
}

// newNetns makes namespace sppxe-<pid> with a tap for the guest; it is deleted (with
// the tap) when the test ends.
func newNetns(t *testing.T) (ns, tap string) {
	t.Helper()
	ns = fmt.Sprintf("sppxe-%d", os.Getpid())
	tap = "sppxetap0"
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

// inNS runs fn on a thread inside ns; sockets fn opens stay in ns.
func inNS(ns string, fn func() error) error {
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

// startRouterAdvertiser sends an empty router advertisement (no prefix, not a default
// router, no DHCPv6) every 500 ms: iPXE then ends IPv6 autoconfiguration at once
// instead of waiting about 13 s for one (peers.md §6b).
func startRouterAdvertiser(t *testing.T, ns, tap string) {
	t.Helper()
	var conn net.PacketConn
	err := inNS(ns, func() error {
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

// apiClient talks to the proxy's REST API on the namespace's loopback.
type apiClient struct{ http *http.Client }

func (a apiClient) post(t *testing.T, path string, form url.Values) {
	t.Helper()
	resp, err := a.http.PostForm("http://"+apiAddr+path, form)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
}

// proxyConfig is what differs between the boot flows.
type proxyConfig struct {
	bindHosts []string          // HTTP listeners; add serverIP when the guest uses HTTP
	subnet    string            // extra YAML keys of the 10.98.0.0 subnet (boot files)
	settings  map[string]string // extra settings.d files by name
	features  []string          // features that must be running besides dhcp and tftp
	global    string            // extra settings.yml lines
}

// startProxy builds the real binary and runs it inside ns: the embedded TFTP server
// opens a socket per transfer, so the whole process has to live in the namespace.
// It returns the API client and the proxy's log.
func startProxy(t *testing.T, ns, tap, dir, tftproot string, pc proxyConfig) (apiClient, *syncBuffer) {
	t.Helper()
	bin := filepath.Join(dir, "smart-proxy")
	build := exec.Command("go", "build", "-o", bin, "github.com/smartproxy/smartproxy/cmd/smart-proxy")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sd := filepath.Join(dir, "settings.d")
	writeFile(t, filepath.Join(dir, "settings.yml"), fmt.Sprintf(
		":settings_directory: %s\n:http_port: 8000\n:bind_host: ['%s']\n:log_file: STDOUT\n:log_level: DEBUG\n%s",
		sd, strings.Join(pc.bindHosts, "', '"), pc.global))
	writeFile(t, filepath.Join(sd, "dhcp.yml"), ":enabled: true\n:ping_free_ip: false\n")
	writeFile(t, filepath.Join(sd, "dhcp_embedded.yml"), fmt.Sprintf(`:interfaces: [%s]
:state_dir: %s
:fsync: false
:subnets:
  - :network: 10.98.0.0
    :netmask: 255.255.255.0
    :routers: [%s]
    :next_server: %s
%s`, tap, filepath.Join(dir, "dhcpstate"), serverIP, serverIP, pc.subnet))
	writeFile(t, filepath.Join(sd, "tftp.yml"), fmt.Sprintf(":enabled: true\n:tftproot: %s\n:listen: %s:69\n", tftproot, serverIP))
	for name, content := range pc.settings {
		writeFile(t, filepath.Join(sd, name), content)
	}

	logBuf := &syncBuffer{}
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "--settings", filepath.Join(dir, "settings.yml"))
	cmd.Stdout = logBuf
	cmd.Stderr = logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		waited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("proxy log:\n%s", logBuf.String())
		}
	})

	api := apiClient{http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNS(ns, func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}}
	// Ready when all features report running; a failed feature fails the test now.
	want := append([]string{"dhcp", "tftp"}, pc.features...)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := api.http.Get("http://" + apiAddr + "/features")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && containsAll(body, want) {
				return api, logBuf
			}
			if time.Now().After(deadline) {
				t.Fatalf("features: %d %s\nlog:\n%s", resp.StatusCode, body, logBuf.String())
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("proxy did not come up: %v\nlog:\n%s", err, logBuf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containsAll reports whether the /features body names every feature in want.
func containsAll(body []byte, want []string) bool {
	for _, f := range want {
		if !bytes.Contains(body, []byte(`"`+f+`"`)) {
			return false
		}
	}
	return true
}

// bootGuest runs qemu with args inside ns and returns its console once marker shows
// up (or fails the test after limit).
func bootGuest(t *testing.T, ns, marker string, limit time.Duration, qemu string, args ...string) string {
	t.Helper()
	// timeout is a backstop for a test binary killed before its cleanups run.
	timeout := fmt.Sprint(int((limit + 30*time.Second).Seconds()))
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "timeout", timeout, qemu}, args...)...)
	// Its own process group, so a stuck qemu can be killed with timeout by PID.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	t.Cleanup(func() {
		// timeout passes SIGTERM on to qemu and reaps it, so no zombie is left behind.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-waited
		}
	})

	var console syncBuffer
	found := make(chan struct{})
	go func() {
		defer close(waited)
		var once sync.Once
		sc := bufio.NewScanner(stdout)
		sc.Split(scanConsole)
		for sc.Scan() {
			console.Write(append(sc.Bytes(), '\n'))
			if strings.Contains(sc.Text(), marker) {
				once.Do(func() { close(found) })
			}
		}
		_ = cmd.Wait()
	}()
	start := time.Now()
	select {
	case <-found:
		t.Logf("marker after %v", time.Since(start).Round(100*time.Millisecond))
		return console.String()
	case <-waited:
		t.Fatalf("qemu exited before the marker:\n%s", console.String())
	case <-time.After(limit):
		t.Fatalf("no marker after %v:\n%s", limit, console.String())
	}
	return ""
}

// scanConsole splits the serial console on \n and \r, since firmware redraws lines.
func scanConsole(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// syncBuffer is a bytes.Buffer shared by a writer goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b))
}

// TestIPXEConfigFromProxy boots the iPXE option ROM, which the embedded DHCP server
// recognises by its user class and sends to :ipxe_filename: over TFTP; that script
// chains pxelinux.cfg/01-${mac:hexhyp}.ipxe, the file POST /tftp/iPXE/<mac> wrote.
func TestIPXEConfigFromProxy(t *testing.T) {
	qemu := requireQEMU(t)
	ns, tap := newNetns(t)
	startRouterAdvertiser(t, ns, tap)

	dir := t.TempDir()
	tftproot := filepath.Join(dir, "tftpboot")
	writeFile(t, filepath.Join(tftproot, "chain.ipxe"), "#!ipxe\nchain pxelinux.cfg/01-${mac:hexhyp}.ipxe\n")
	api, proxyLog := startProxy(t, ns, tap, dir, tftproot, proxyConfig{
		bindHosts: []string{"127.0.0.1"},
		subnet:    "    :filename: pxelinux.0\n    :ipxe_filename: chain.ipxe\n",
	})
	marker := fmt.Sprintf("SPIPXE-MARKER-%d-%d", os.Getpid(), time.Now().UnixNano())
	api.post(t, "/dhcp/10.98.0.0", url.Values{
		"mac": {guestMAC}, "ip": {guestIP}, "hostname": {"ipxe-guest.example.test"},
		"nextServer": {serverIP},
	})
	api.post(t, "/tftp/iPXE/"+guestMAC, url.Values{"pxeconfig": {"#!ipxe\necho " + marker + " mac=${mac}\n"}})

	console := bootBIOS(t, qemu, ns, tap, marker)
	if !strings.Contains(console, marker+" mac="+guestMAC) {
		t.Fatalf("iPXE did not run the per-MAC script:\n%s", console)
	}
	waitLog(t, proxyLog, `TFTP: sent "chain.ipxe"`)
	waitLog(t, proxyLog, `TFTP: sent "pxelinux.cfg/01-`+strings.ReplaceAll(guestMAC, ":", "-")+`.ipxe"`)
}

// bootBIOS boots SeaBIOS (under TCG) from the network on tap through the NIC's iPXE
// option ROM, until marker shows on the console.
func bootBIOS(t *testing.T, qemu, ns, tap, marker string) string {
	t.Helper()
	return bootGuest(t, ns, marker, bootLimit, qemu,
		"-accel", "tcg", "-m", "128", "-nographic", "-no-reboot", "-boot", "n",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+guestMAC)
}
